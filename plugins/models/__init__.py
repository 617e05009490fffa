"""The built-in vocoder architectures."""

from vocfw.core import hookimpl
from vocfw.core.model import Vocoder
from vocfw.plugins.models.diffwave import DiffWave


@hookimpl
def vocfw_register_models() -> list[type[Vocoder]]:
    return [DiffWave]
