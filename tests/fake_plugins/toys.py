"""A third-party plugin registering one corpus, one model and one sampler (test source)."""

import torch

from vocfw.core import hookimpl
from vocfw.core.corpus import Corpus
from vocfw.core.model import Vocoder
from vocfw.core.sampler import Sampler


class ToyCorpus(Corpus):
    name = "toycorpus"

    def utterances(self):
        return []


class ToyVocoder(Vocoder):
    def __init__(self, n_mels: int = 100, hop_length: int = 256, width: int = 4):
        super().__init__()
        self.n_mels, self.hop_length = n_mels, hop_length
        self.scale = torch.nn.Parameter(torch.ones(width))

    def condition(self, mel):
        return mel

    def denoise(self, audio, step, condition):
        return audio * self.scale.mean()


class ToySampler(Sampler):
    def __init__(self, steps: int = 3):
        self.steps = steps

    def training_loss(self, model, audio, mel, generator=None):
        return model(audio, torch.zeros(audio.shape[0]), mel).abs().mean()

    def sample(self, model, mel, generator=None):
        return torch.zeros(mel.shape[0], mel.shape[-1] * model.hop_length)

    def incompatibility(self, trained):
        return None  # its silence needs no training process: it vocodes any run


@hookimpl
def vocfw_register_corpora():
    return [ToyCorpus]


@hookimpl
def vocfw_register_models():
    return [ToyVocoder]


@hookimpl
def vocfw_register_samplers():
    return [ToySampler]
