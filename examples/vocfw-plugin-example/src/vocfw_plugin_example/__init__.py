"""An example vocfw plugin: one model, one sampler and one corpus, registered by hooks."""

from vocfw.core import hookimpl
from vocfw.core.corpus import Corpus
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler
from vocfw_plugin_example.corpus import SpeakerClips
from vocfw_plugin_example.model import TinyWave
from vocfw_plugin_example.sampler import CosineDiffusion


@hookimpl
def vocfw_register_corpora() -> list[type[Corpus]]:
    return [SpeakerClips]


@hookimpl
def vocfw_register_models() -> list[type[Vocoder]]:
    return [TinyWave]


@hookimpl
def vocfw_register_samplers() -> list[type[Sampler]]:
    return [CosineDiffusion]
