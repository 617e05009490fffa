"""The registry: every corpus, model, sampler and distiller class and every checkpoint converter
the plugins registered, checked once, and the one place a configured class name is resolved.

One registry per process, built on first use: :func:`current_registry` builds it from the
installed plugins and hands the same one to every later caller (the command line, component
building, vocoding, the Python API, converters, the contract kit), building again only when the
installed plugins change (the ``vocfw`` entry points or the ``VOCFW_*`` variables that choose
among them), so a plugin installed while a process runs is still seen. Functions that need the
registry take an optional ``registry`` argument defaulting to it; :func:`build_registry` always
builds a fresh one.

Each plugin's implementations of a ``vocfw_register_*`` hook are called through pluggy's hook
caller for that plugin alone (:meth:`pluggy.PluginManager.subset_hook_caller`), so a class is
traced to the distribution that registered it, a broken plugin only loses its own classes, and
``VOCFW_TRACE_PLUGINS`` traces every call.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import entry_points
from typing import Any

from vocfw.core.converters import Converter
from vocfw.core.corpus import Corpus
from vocfw.core.distiller import Distiller
from vocfw.core.errors import SpecError, VocfwError
from vocfw.core.model import Vocoder
from vocfw.core.plugins import (
    GROUP,
    PluginFailure,
    PluginManager,
    PluginSource,
    get_plugin_manager,
)
from vocfw.core.sampler import Sampler

KINDS: dict[str, tuple[str, type]] = {
    "corpora": ("vocfw_register_corpora", Corpus),
    "models": ("vocfw_register_models", Vocoder),
    "samplers": ("vocfw_register_samplers", Sampler),
    "distillers": ("vocfw_register_distillers", Distiller),
}


CONVERTER_HOOK = "vocfw_register_converters"


# the environment variables that choose which installed plugins load (see vocfw.core.plugins)
PLUGIN_VARIABLES = ("VOCFW_DISABLE_PLUGIN_AUTOLOAD", "VOCFW_BLOCK_PLUGINS")
NOUNS = {"corpora": "corpus", "models": "model", "samplers": "sampler",
         "distillers": "distiller"}


class RegistrationError(VocfwError, ValueError):
    """A class was rejected: wrong base class, abstract, or a name already taken."""


class UnknownKeyError(VocfwError, KeyError):
    """A key (class or dataset name) that no registered class has."""

    def __str__(self) -> str:  # the message itself, not KeyError's quoted repr of it
        return str(self.args[0]) if self.args else ""


def import_paths(cls: type) -> set[str]:
    """The names a registered class may be given by: its short name, its defining module's path
    and the path through every already imported parent package that re-exports it."""
    paths = {cls.__name__, f"{cls.__module__}.{cls.__qualname__}"}
    parts = cls.__module__.split(".")
    for end in range(1, len(parts)):
        package = sys.modules.get(".".join(parts[:end]))
        if package is not None and getattr(package, cls.__qualname__, None) is cls:
            paths.add(f"{'.'.join(parts[:end])}.{cls.__qualname__}")
    return paths


@dataclass(frozen=True)
class Entry:
    """One registered class and where it came from."""

    cls: type
    plugin: str
    distribution: str
    version: str

    @property
    def module(self) -> str:
        return self.cls.__module__


@dataclass(frozen=True)
class ConverterEntry:
    """One registered converter and where it came from."""

    converter: Converter
    plugin: str
    distribution: str
    version: str


@dataclass
class Registry:
    """Registered classes by kind (``corpora``, ``models``, ``samplers``, ``distillers``) and
    key.

    Corpora are keyed by their ``name`` attribute (the config key); the other kinds by class
    name (the short name in ``class_path``).
    """

    entries: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: dict[str, PluginSource] = field(default_factory=dict)
    converters: dict[str, ConverterEntry] = field(default_factory=dict)

    def add(self, kind: str, cls: Any, plugin: str, distribution: str, version: str = "") -> None:
        """Register one class, or raise :class:`RegistrationError` naming the distribution."""
        _, base = KINDS[kind]
        origin = f"plugin {plugin!r} of distribution {distribution!r}"
        if not (inspect.isclass(cls) and issubclass(cls, base)):
            raise RegistrationError(
                f"{origin} registered {cls!r} as one of the {kind}, but it is not a subclass "
                f"of {base.__module__}.{base.__name__}"
            )
        if inspect.isabstract(cls):
            raise RegistrationError(f"{origin} registered the abstract class {cls.__qualname__}")
        key = cls.name if kind == "corpora" else cls.__name__
        if not key:
            raise RegistrationError(f"{origin} registered {cls.__qualname__} without a name")
        taken = self.entries[kind].get(key)
        if taken is not None:
            raise RegistrationError(
                f"{origin} registered {kind[:-1] if kind != 'corpora' else 'corpus'} {key!r}, "
                f"which plugin {taken.plugin!r} of distribution {taken.distribution!r} "
                f"already registered ({taken.module}.{taken.cls.__qualname__})"
            )
        self.entries[kind][key] = Entry(cls, plugin, distribution, version)

    def add_converter(
        self, converter: Any, plugin: str, distribution: str, version: str = ""
    ) -> None:
        """Register one converter, or raise :class:`RegistrationError` naming the distribution."""
        origin = f"plugin {plugin!r} of distribution {distribution!r}"
        if not isinstance(converter, Converter):
            raise RegistrationError(
                f"{origin} registered {converter!r} as a converter, but it is not a "
                "vocfw.core.converters.Converter"
            )
        taken = self.converters.get(converter.name)
        if taken is not None:
            raise RegistrationError(
                f"{origin} registered converter {converter.name!r}, which plugin "
                f"{taken.plugin!r} of distribution {taken.distribution!r} already registered"
            )
        self.converters[converter.name] = ConverterEntry(converter, plugin, distribution, version)

    def get(self, kind: str, key: str) -> type:
        """Return a registered class, or raise :class:`UnknownKeyError` listing the known keys."""
        try:
            return self.entries[kind][key].cls
        except KeyError:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise UnknownKeyError(f"no {kind} entry named {key!r}; registered: {known}") from None

    def resolve(self, kind: str, name: Any, where: str) -> type:
        """The registered ``kind`` class a config names; nothing is imported.

        Args:
            kind: ``corpora``, ``models``, ``samplers`` or ``distillers``.
            name: its key (a corpus's ``name``, a class name) or one of its
                :func:`import_paths`.
            where: the file, key or option named in the error.

        Raises:
            SpecError: ``name`` is not a string naming a registered class of that kind.
        """
        entries = self.entries[kind]
        if isinstance(name, str) and name in entries:
            return entries[name].cls
        for entry in entries.values():
            if isinstance(name, str) and name in import_paths(entry.cls):
                return entry.cls
        known = ", ".join(sorted(entries)) or "none"
        raise SpecError(f"{where}: {name!r} is not a registered {NOUNS[kind]} (registered: "
                        f"{known}); nothing was imported")

    def import_paths(self) -> set[str]:
        """The dotted import paths of every registered class of every kind."""
        return {path for kind in KINDS for entry in self.entries[kind].values()
                for path in import_paths(entry.cls) if "." in path}

    def corpus_for(self, dataset: str) -> type[Corpus]:
        """The corpus class for a dataset key: an exact name, else the longest name it starts with.

        ``opencpop_v2`` or ``folder-mine`` thus use the ``opencpop`` and ``folder`` loaders.
        """
        corpora = self.entries["corpora"]
        if dataset in corpora:
            return corpora[dataset].cls
        prefixes = [name for name in corpora if dataset.startswith(name)]
        if not prefixes:
            known = ", ".join(sorted(corpora))
            raise UnknownKeyError(
                f"dataset {dataset!r} matches no registered corpus; known: {known}")
        return corpora[max(prefixes, key=len)].cls


def _registered_items(pm: PluginManager, hook_name: str, plugin_name: str) -> list:
    """What one plugin's implementations of ``hook_name`` return, called through pluggy's hook
    caller for that plugin alone (so hook tracing sees the call); the register hooks take no
    arguments."""
    others = [plugin for name, plugin in pm.list_name_plugin() if name != plugin_name]
    results = pm.subset_hook_caller(hook_name, remove_plugins=others)()
    return [item for result in results for item in result or []]


def build_registry(pm: PluginManager | None = None) -> Registry:
    """Run every register hook once and collect the classes, recording rejected ones."""
    pm = pm or get_plugin_manager()
    registry = Registry(failures=list(pm.failures), plugins=dict(pm.sources))
    hooks = {hook_name: partial(registry.add, kind) for kind, (hook_name, _) in KINDS.items()}
    hooks[CONVERTER_HOOK] = registry.add_converter
    for hook_name, add in hooks.items():
        implementers = dict.fromkeys(  # in registration order, each plugin once
            impl.plugin_name for impl in getattr(pm.hook, hook_name).get_hookimpls())
        for plugin_name in implementers:
            distribution, version = pm.distribution_of(plugin_name)
            try:
                items = _registered_items(pm, hook_name, plugin_name)
            except Exception as exc:
                registry.failures.append(
                    PluginFailure(plugin_name, distribution, f"{hook_name} raised {exc!r}")
                )
                continue
            for item in items:
                try:
                    add(item, plugin_name, distribution, version)
                except RegistrationError as exc:
                    registry.failures.append(PluginFailure(plugin_name, distribution, str(exc)))
    return registry


def _installed_plugins() -> tuple:
    """What decides which plugins load: the ``vocfw`` entry points and the plugin variables."""
    points = sorted((ep.name, ep.value, str(ep.dist and ep.dist.metadata["Name"]))
                    for ep in entry_points(group=GROUP))
    return (*points, *(os.environ.get(name, "") for name in PLUGIN_VARIABLES))


_current: tuple[tuple, Registry] | None = None  # (installed plugins, their registry)


def current_registry() -> Registry:
    """The process's registry: built on first use, and again only when the installed plugins
    (or the variables choosing among them) have changed since."""
    global _current
    installed = _installed_plugins()
    if _current is None or _current[0] != installed:
        _current = (installed, build_registry())
    return _current[1]
