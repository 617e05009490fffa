"""What ``vocfw plugins`` shows: each plugin, its distribution, and the classes it registered."""

from __future__ import annotations

from vocfw.core.registry import KINDS, NOUNS, Registry


def plugin_listing(registry: Registry) -> dict:
    """Every discovered plugin with its distribution, version and registered classes.

    A plugin that registered nothing is listed with empty lists.

    Returns:
        ``{"plugins": [{"plugin", "entry_point", "distribution", "version", "corpora",
        "models", "samplers", "distillers", "converters"}], "failures": [{"plugin", "distribution",
        "message"}]}`` where each kind lists ``{"name", "class", "module"}`` and each
        converter ``{"name", "direction", "function"}``.
    """
    plugins = {
        name: {"plugin": name, "entry_point": source.entry_point,
               "distribution": source.distribution, "version": source.version,
               **{kind: [] for kind in (*KINDS, "converters")}}
        for name, source in registry.plugins.items()
    }
    for kind in KINDS:
        for key, entry in sorted(registry.entries[kind].items()):
            record = plugins.setdefault(entry.plugin, {
                "plugin": entry.plugin, "entry_point": entry.plugin,
                "distribution": entry.distribution, "version": entry.version,
                **{k: [] for k in (*KINDS, "converters")}})
            record[kind].append({"name": key, "class": entry.cls.__name__, "module": entry.module})
    for name, entry in sorted(registry.converters.items()):
        function = entry.converter.function
        plugins[entry.plugin]["converters"].append({
            "name": name, "direction": entry.converter.direction,
            "function": f"{function.__module__}.{function.__qualname__}"})
    failures = [
        {"plugin": f.plugin, "distribution": f.distribution, "message": f.message}
        for f in registry.failures
    ]
    return {"plugins": list(plugins.values()), "failures": failures}


def plugin_table(listing: dict) -> str:
    """The listing as readable text."""
    lines: list[str] = []
    for plugin in listing["plugins"]:
        lines.append(
            f"{plugin['plugin']}  (distribution {plugin['distribution']} {plugin['version']})"
        )
        items = [(kind, item) for kind in KINDS for item in plugin[kind]]
        if not items and not plugin["converters"]:
            lines.append("  registers nothing")
        for kind, item in items:
            lines.append(f"  {NOUNS[kind]:<10}{item['name']:<15} "
                         f"{item['module']}.{item['class']}")
        for item in plugin["converters"]:
            lines.append(f"  {'convert':<10}{item['name']:<15} {item['direction']}: "
                         f"{item['function']}")
    for failure in listing["failures"]:
        lines.append(
            f"FAILED  {failure['plugin']} (distribution {failure['distribution']}): "
            f"{failure['message']}"
        )
    return "\n".join(lines)
