"""The built-in distillation methods."""

from vocfw.core import hookimpl
from vocfw.core.distiller import Distiller
from vocfw.plugins.distillers.progressive import ProgressiveDistillation
from vocfw.plugins.distillers.reflow import Reflow


@hookimpl
def vocfw_register_distillers() -> list[type[Distiller]]:
    return [ProgressiveDistillation, Reflow]
