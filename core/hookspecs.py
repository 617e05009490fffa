"""The hook specifications every vocfw plugin implements.

A plugin is a module (named by an entry point in the ``vocfw`` group) whose functions carry
the :data:`hookimpl` marker. The corpus, model and sampler hooks return lists of classes;
the registry checks them and makes them selectable by name in configs and on the command
line. The converter hook returns :class:`~vocfw.core.converters.Converter` records, each a
``vocfw convert`` subcommand. A plugin implementing a ``vocfw_*`` hook that no spec declares
is reported and left out. Hooks are always called with keyword arguments; an implementation
may accept fewer arguments than its spec, so a spec can grow without breaking older plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from vocfw.core.converters import Converter
    from vocfw.core.corpus import Corpus
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
