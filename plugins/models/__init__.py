"""The built-in vocoder architectures and their checkpoint converters."""

from vocfw.core import hookimpl
from vocfw.core.converters import Converter
from vocfw.core.model import Vocoder
from vocfw.plugins.models.diffwave import DiffWave
from vocfw.plugins.models.diffwave_convert import export_lmnt, import_amphion, import_lmnt
from vocfw.plugins.models.framewave import FrameWave
from vocfw.plugins.models.wavegrad import WaveGrad
from vocfw.plugins.models.wavegrad_convert import export_lmnt_wavegrad, import_lmnt_wavegrad


@hookimpl
def vocfw_register_models() -> list[type[Vocoder]]:
    return [DiffWave, WaveGrad, FrameWave]


@hookimpl
def vocfw_register_converters() -> list[Converter]:
    return [
        Converter("lmnt", "import", import_lmnt,
                  "lmnt-com/diffwave weights.pt -> vocfw run directory"),
        Converter("amphion", "import", import_amphion,
                  "Amphion DiffWave checkpoint folder -> vocfw run directory"),
        Converter("export-lmnt", "export", export_lmnt,
                  "vocfw run or checkpoint -> lmnt-com/diffwave weights.pt"),
        Converter("lmnt-wavegrad", "import", import_lmnt_wavegrad,
                  "lmnt-com/wavegrad weights.pt -> vocfw run directory"),
        Converter("export-lmnt-wavegrad", "export", export_lmnt_wavegrad,
                  "vocfw WaveGrad run or checkpoint -> lmnt-com/wavegrad weights.pt"),
    ]
