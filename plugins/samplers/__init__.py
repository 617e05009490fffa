"""The built-in diffusion processes."""

from vocfw.core import hookimpl
from vocfw.core.sampler import Sampler
from vocfw.plugins.samplers.ddim import DDIM
from vocfw.plugins.samplers.ddpm import DDPM
from vocfw.plugins.samplers.flow_matching import FlowMatching
from vocfw.plugins.samplers.priorgrad import PriorGrad
from vocfw.plugins.samplers.specgrad import SpecGrad
from vocfw.plugins.samplers.wavegrad import WaveGradDiffusion


@hookimpl
def vocfw_register_samplers() -> list[type[Sampler]]:
    return [DDPM, DDIM, PriorGrad, SpecGrad, WaveGradDiffusion, FlowMatching]
