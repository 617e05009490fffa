"""Building the plugin manager: built-in and third-party plugins from the ``vocfw`` entry points.

No manager exists at import time; :func:`get_plugin_manager` makes a fresh one each call.
Every entry point is registered under ``"{distribution}:{entry point}"``, so two distributions
can never replace each other's plugin; vocfw's own entry points come first and carry names no
other package would pick (``vocfw-builtin-models``, ...). An entry-point name declared by two
distributions is a reported failure naming both; the first one declared stays in place.

Environment variables:
    VOCFW_DISABLE_PLUGIN_AUTOLOAD: when set to a non-empty value, only vocfw's own entry
        points are loaded (third-party distributions are ignored).
    VOCFW_BLOCK_PLUGINS: comma-separated entry-point, distribution or ``dist:entry`` names
        never to load.
    VOCFW_TRACE_PLUGINS: when set, every hook call is traced to standard error.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import pluggy

from vocfw.core import hookspecs

GROUP = hookspecs.PROJECT
OWN_DISTRIBUTION = "vocfw"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or whose registration was rejected.

    Attributes:
        plugin: plugin name (``distribution:entry point``).
        distribution: name of the distribution that declared it.
        message: what went wrong.
    """

    plugin: str
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from distribution {self.distribution!r}: {self.message}"


@dataclass(frozen=True)
class PluginSource:
    """Where a registered plugin came from.

    Attributes:
        entry_point: the entry-point name in the ``vocfw`` group.
        distribution: the distribution that declared it.
        version: that distribution's version.
    """

    entry_point: str
    distribution: str
    version: str


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and which ones failed."""

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.failures: list[PluginFailure] = []
        self.sources: dict[str, PluginSource] = {}

    def distribution_of(self, plugin_name: str) -> tuple[str, str]:
        """Return the (distribution name, version) that declared a registered plugin."""
        source = self.sources.get(plugin_name)
        return (source.distribution, source.version) if source else ("unknown", "")


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    if ep.dist is None:
        return "unknown", ""
    return ep.dist.metadata["Name"], ep.dist.version


def _blocked_names() -> set[str]:
    raw = os.environ.get("VOCFW_BLOCK_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _ordered_entry_points() -> list[EntryPoint]:
    """The group's entry points, vocfw's own first, then by distribution and name."""
    unique = {(_distribution(ep)[0], ep.name, ep.value): ep for ep in entry_points(group=GROUP)}
    return sorted(
        unique.values(),
        key=lambda e: (_distribution(e)[0] != OWN_DISTRIBUTION, _distribution(e)[0], e.name),
    )


def _load(pm: PluginManager, ep: EntryPoint, name: str, dist: str) -> None:
    """Import one entry point's module and register it, recording a failure instead of raising."""
    try:
        module = importlib.import_module(ep.value.split(":")[0].strip())
        pm.register(module, name=name)
    except Exception as exc:  # a broken third-party plugin must not stop the others
        pm.failures.append(PluginFailure(name, dist, f"failed to load: {exc!r}"))


def _drop_unknown_hooks(pm: PluginManager) -> None:
    """Unregister, as a recorded failure, a plugin implementing a hook no spec declares (a
    misspelt ``vocfw_register_*``), so it cannot stop the other plugins from loading."""
    for hook_name, caller in list(vars(pm.hook).items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook or pm.get_plugin(impl.plugin_name) is None:
                continue
            dist, _ = pm.distribution_of(impl.plugin_name)
            pm.failures.append(PluginFailure(impl.plugin_name, dist, (
                f"implements {hook_name}, which is not a vocfw hook (known: "
                f"{', '.join(sorted(n for n, c in vars(pm.hook).items() if c.has_spec()))})"
            )))
            pm.unregister(name=impl.plugin_name)
            pm.sources.pop(impl.plugin_name, None)


def get_plugin_manager() -> PluginManager:
    """Create a plugin manager with every plugin of the ``vocfw`` entry-point group loaded.

    A plugin whose import raises, or whose entry-point name another distribution already
    declared, is recorded in ``manager.failures`` (naming the distributions) and the others
    still load.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    own_only = bool(os.environ.get("VOCFW_DISABLE_PLUGIN_AUTOLOAD"))
    blocked = _blocked_names()
    declared: dict[str, str] = {}  # entry-point name -> distribution that declared it first
    for ep in _ordered_entry_points():
        dist, version = _distribution(ep)
        name = f"{dist}:{ep.name}"
        if (own_only and dist != OWN_DISTRIBUTION) or {ep.name, dist, name} & blocked:
            continue
        first = declared.setdefault(ep.name, dist)
        if first != dist:
            pm.failures.append(PluginFailure(name, dist, (
                f"entry point {ep.name!r} is also declared by distribution {first!r}; "
                f"the plugin of {first!r} stays, rename the entry point of {dist!r}"
            )))
            continue
        pm.sources[name] = PluginSource(ep.name, dist, version)
        _load(pm, ep, name, dist)
        if pm.get_plugin(name) is None:
            del pm.sources[name]
    _drop_unknown_hooks(pm)
    pm.check_pending()
    if os.environ.get("VOCFW_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm
