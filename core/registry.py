"""The registry: every corpus, model and sampler class and every checkpoint converter the
plugins registered, checked once.

The registry calls each ``vocfw_register_*`` hook implementation separately, so a class can
be traced to the distribution that registered it, and a broken plugin only loses its own
classes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from vocfw.core.converters import Converter
from vocfw.core.corpus import Corpus
from vocfw.core.model import Vocoder
from vocfw.core.plugins import PluginFailure, PluginManager, PluginSource, get_plugin_manager
from vocfw.core.sampler import Sampler

KINDS: dict[str, tuple[str, type]] = {
    "corpora": ("vocfw_register_corpora", Corpus),
    "models": ("vocfw_register_models", Vocoder),
    "samplers": ("vocfw_register_samplers", Sampler),
}


CONVERTER_HOOK = "vocfw_register_converters"


class RegistrationError(ValueError):
    """A class was rejected: wrong base class, abstract, or a name already taken."""


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
    """Registered classes by kind (``corpora``, ``models``, ``samplers``) and key.

    Corpora are keyed by their ``name`` attribute (the config key); models and samplers by
    class name (the short name in ``class_path``).
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
        """Return a registered class, or raise ``KeyError`` listing the known keys."""
        try:
            return self.entries[kind][key].cls
        except KeyError:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise KeyError(f"no {kind} entry named {key!r}; registered: {known}") from None

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
            raise KeyError(f"dataset {dataset!r} matches no registered corpus; known: {known}")
        return corpora[max(prefixes, key=len)].cls


def build_registry(pm: PluginManager | None = None) -> Registry:
    """Run every register hook once and collect the classes, recording rejected ones."""
    pm = pm or get_plugin_manager()
    registry = Registry(failures=list(pm.failures), plugins=dict(pm.sources))
    hooks = {hook_name: partial(registry.add, kind) for kind, (hook_name, _) in KINDS.items()}
    hooks[CONVERTER_HOOK] = registry.add_converter
    for hook_name, add in hooks.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order
            distribution, version = pm.distribution_of(impl.plugin_name)
            try:
                items = impl.function() or []
            except Exception as exc:
                registry.failures.append(
                    PluginFailure(impl.plugin_name, distribution, f"{hook_name} raised {exc!r}")
                )
                continue
            for item in items:
                try:
                    add(item, impl.plugin_name, distribution, version)
                except RegistrationError as exc:
                    failure = PluginFailure(impl.plugin_name, distribution, str(exc))
                    registry.failures.append(failure)
    return registry
