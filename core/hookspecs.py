"""The hook specifications every vocfw plugin implements.

A plugin is a module (named by an entry point in the ``vocfw`` group) whose functions carry
the :data:`hookimpl` marker. The corpus, model, sampler and distiller hooks return lists of
classes; the registry checks them and makes them selectable by name in configs and on the
command line. The converter hook returns :class:`~vocfw.core.converters.Converter` records, each a
``vocfw convert`` subcommand. A plugin implementing a ``vocfw_*`` hook that no spec declares
is reported and left out.

How the registry calls them (:func:`vocfw.core.registry.build_registry`): once per registry,
one plugin at a time in registration order, each through pluggy's hook caller for that plugin
alone, so hook tracing (``VOCFW_TRACE_PLUGINS``) and monitoring see every call, each class is
attributed to the distribution that returned it, and an implementation that raises costs only
its own plugin's classes (recorded as a failure that ``vocfw plugins`` lists). pluggy calls an
implementation with keyword arguments, only those it declares, so a spec may grow without
breaking older plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from vocfw.core.converters import Converter
    from vocfw.core.corpus import Corpus
    from vocfw.core.distiller import Distiller
    from vocfw.core.model import Vocoder
    from vocfw.core.sampler import Sampler

PROJECT = "vocfw"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def vocfw_register_corpora() -> list[type[Corpus]]:
    """Register dataset loaders.

    Returns:
        Subclasses of :class:`vocfw.core.corpus.Corpus`. Each class's ``name`` is the key a
        config uses under ``data.datasets``; names must be unique across all plugins.
    """


@hookspec
def vocfw_register_models() -> list[type[Vocoder]]:
    """Register vocoder architectures.

    Returns:
        Subclasses of :class:`vocfw.core.model.Vocoder`. The class name is the short name a
        config's ``model.class_path`` may use; names must be unique across all plugins.
    """


@hookspec
def vocfw_register_samplers() -> list[type[Sampler]]:
    """Register diffusion processes (training objective plus reverse sampler).

    Returns:
        Subclasses of :class:`vocfw.core.sampler.Sampler`. The class name is the short name a
        config's ``sampler.class_path`` may use; names must be unique across all plugins.
    """


@hookspec
def vocfw_register_converters() -> list[Converter]:
    """Register checkpoint converters (import from and export to outside formats).

    Returns:
        :class:`vocfw.core.converters.Converter` records; each ``name`` becomes a
        ``vocfw convert`` subcommand and must be unique across all plugins.
    """


@hookspec
def vocfw_register_distillers() -> list[type[Distiller]]:
    """Register distillation methods (``vocfw distill --method``).

    Returns:
        Subclasses of :class:`vocfw.core.distiller.Distiller`. The class name is the short name
        ``method.class_path`` may use; names must be unique across all plugins.
    """
