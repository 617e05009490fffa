"""Building the plugin manager: built-in and third-party plugins from the ``vocfw`` entry points.

No manager exists at import time; :func:`get_plugin_manager` makes a fresh one each call.

Environment variables:
    VOCFW_DISABLE_PLUGIN_AUTOLOAD: when set to a non-empty value, only vocfw's own entry
        points are loaded (third-party distributions are ignored).
    VOCFW_BLOCK_PLUGINS: comma-separated entry-point or distribution names never to load.
    VOCFW_TRACE_PLUGINS: when set, every hook call is traced to standard error.
"""

from __future__ import annotations

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
        plugin: entry-point (plugin) name.
        distribution: name of the distribution that declared it.
        message: what went wrong.
    """

    plugin: str
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from distribution {self.distribution!r}: {self.message}"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which plugins failed to load."""

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.failures: list[PluginFailure] = []

    def distribution_of(self, plugin_name: str) -> tuple[str, str]:
        """Return the (distribution name, version) that declared a registered plugin."""
        plugin = self.get_plugin(plugin_name)
        for registered, dist in self.list_plugin_distinfo():
            if registered is plugin:
                return dist.metadata["Name"], dist.version
        return "unknown", ""


def _distribution_name(ep: EntryPoint) -> str:
    return ep.dist.metadata["Name"] if ep.dist is not None else "unknown"


def _blocked_names() -> set[str]:
    raw = os.environ.get("VOCFW_BLOCK_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def get_plugin_manager() -> PluginManager:
    """Create a plugin manager with every plugin of the ``vocfw`` entry-point group loaded.

    A plugin whose import raises is recorded in ``manager.failures`` (named by its entry point
    and distribution) and the others still load.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    own_only = bool(os.environ.get("VOCFW_DISABLE_PLUGIN_AUTOLOAD"))
    blocked = _blocked_names()
    seen: set[str] = set()
    # vocfw's own plugins first, so a clashing third-party class is the one rejected
    ordered = sorted(
        entry_points(group=GROUP),
        key=lambda e: (_distribution_name(e) != OWN_DISTRIBUTION, _distribution_name(e), e.name),
    )
    for ep in ordered:
        dist = _distribution_name(ep)
        if ep.name in seen:
            continue
        seen.add(ep.name)
        if own_only and dist != OWN_DISTRIBUTION:
            continue
        if ep.name in blocked or dist in blocked:
            pm.set_blocked(ep.name)
            continue
        try:
            pm.load_setuptools_entrypoints(GROUP, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not stop the others
            pm.failures.append(PluginFailure(ep.name, dist, f"failed to load: {exc!r}"))
    pm.check_pending()
    if os.environ.get("VOCFW_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm
