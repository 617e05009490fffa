"""The built-in corpus loaders: the thirteen recipe corpora and a generic audio folder."""

from vocfw.core import hookimpl
from vocfw.core.corpus import Corpus
from vocfw.plugins.datasets.csd import CSD
from vocfw.plugins.datasets.folder import AudioFolder
from vocfw.plugins.datasets.kising import KiSing
from vocfw.plugins.datasets.libritts import LibriTTS
from vocfw.plugins.datasets.ljspeech import LJSpeech
from vocfw.plugins.datasets.m4singer import M4Singer
from vocfw.plugins.datasets.nus48e import NUS48E
from vocfw.plugins.datasets.opencpop import Opencpop
from vocfw.plugins.datasets.opensinger import OpenSinger
from vocfw.plugins.datasets.opera import Opera
from vocfw.plugins.datasets.pjs import PJS
from vocfw.plugins.datasets.popbutfy import PopBuTFy
from vocfw.plugins.datasets.popcs import PopCS
from vocfw.plugins.datasets.vctk import VCTK

CORPORA: list[type[Corpus]] = [
    CSD, KiSing, M4Singer, NUS48E, Opencpop, OpenSinger, Opera, PJS, PopBuTFy, PopCS,
    LJSpeech, VCTK, LibriTTS, AudioFolder,
]


@hookimpl
def vocfw_register_corpora() -> list[type[Corpus]]:
    return CORPORA
