"""Vocode mel spectrograms with an ONNX export of a vocfw vocoder, without vocfw or torch.

``vocfw export onnx`` copies this file, as ``vocode.py``, into the export folder beside the
graphs (``condition.onnx``, ``step.onnx`` and, for a sampler with a prior, ``prior.onnx``) and
``vocoder.json`` (the features and the sampler's loop with its coefficients). It needs only
numpy and onnxruntime::

    from vocode import OnnxVocoder
    vocoder = OnnxVocoder("export_folder")
    audio = vocoder(mel, seed=0)  # (T * hop,) float32 in [-1, 1]

or, from a shell: ``python vocode.py mel.npy out.wav [--seed 0]``.

Given the same noise (``noise=``: the standard normal draws in the order the sampler makes
them), the output equals the vocfw sampler's on the same mel to float32 rounding. Drawn from a
seed, the noise comes from numpy's generator, so it is not the noise torch would draw.
"""

from __future__ import annotations

import argparse
import json
import wave
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

PLAN_FILE = "vocoder.json"
FORMAT = 1  # the version of vocoder.json this runtime reads

Network = Callable[[np.ndarray, float], np.ndarray]
Draw = Callable[[], np.ndarray]


def _ancestral(x: np.ndarray, step: dict, network: Network, draw: Draw) -> np.ndarray:
    """DDPM's update (its ancestral sampling, any prior in ``draw``)."""
    x = step["c1"] * (x - step["c2"] * network(x, step["time"]))
    if step["sigma"] > 0.0:
        x = x + step["sigma"] * draw()
    return np.clip(x, -1.0, 1.0)


def _ddim(x: np.ndarray, step: dict, network: Network, draw: Draw) -> np.ndarray:
    """DDIM's update, its clean estimate clipped to [-1, 1]."""
    eps = network(x, step["time"])
    clean = np.clip((x - step["noise_scale"] * eps) / step["signal_scale"], -1.0, 1.0)
    x = step["clean_scale"] * clean + step["eps_scale"] * eps
    if step["sigma"] > 0.0:
        x = x + step["sigma"] * draw()
    return x


def _euler(x: np.ndarray, step: dict, network: Network, draw: Draw) -> np.ndarray:
    """One Euler step of the flow."""
    return x + step["step"] * network(x, step["time"])


def _midpoint(x: np.ndarray, step: dict, network: Network, draw: Draw) -> np.ndarray:
    """One midpoint step of the flow."""
    middle = x + step["half"] * network(x, step["time"])
    return x + step["step"] * network(middle, step["middle"])


LOOPS = {"ancestral": _ancestral, "ddim": _ddim, "euler": _euler, "midpoint": _midpoint}


class OnnxVocoder:
    """An exported vocoder, ready to call.

    Args:
        folder: the export folder.
        providers: onnxruntime execution providers (default: the CPU).
        threads: threads per graph (default: onnxruntime's choice).

    Attributes:
        sample_rate: Hz of the audio made.
        hop_length: samples per mel frame.
        n_mels: mel bands expected.
        noise_draws: standard normal (B, N) draws one call makes.

    Raises:
        ValueError: ``vocoder.json`` is of another format or loop.
    """

    def __init__(self, folder: str | Path, providers: Sequence[str] | None = None,
                 threads: int | None = None) -> None:
        import onnxruntime as ort  # here, so that importing this file needs only numpy

        folder = Path(folder)
        self.plan = json.loads((folder / PLAN_FILE).read_text(encoding="utf-8"))
        if self.plan.get("format") != FORMAT or self.plan.get("loop") not in LOOPS:
            raise ValueError(f"{folder / PLAN_FILE}: expected format {FORMAT} with a loop of "
                             f"{sorted(LOOPS)}, got format {self.plan.get('format')!r} and loop "
                             f"{self.plan.get('loop')!r}")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = list(providers or ["CPUExecutionProvider"])

        def session(name: str | None) -> ort.InferenceSession | None:
            if name is None:
                return None
            return ort.InferenceSession(str(folder / name), options, providers=providers)

        graphs = self.plan["graphs"]
        self._condition = session(graphs["condition"])
        self._step = session(graphs["step"])
        self._prior = session(graphs.get("prior"))
        self.sample_rate = int(self.plan["features"]["sample_rate"])
        self.hop_length, self.n_mels = int(self.plan["hop_length"]), int(self.plan["n_mels"])
        self.noise_draws = int(self.plan["noise_draws"])

    def __call__(self, mel: np.ndarray, noise: Sequence[np.ndarray] | None = None,
                 seed: int | None = None) -> np.ndarray:
        """Vocode one mel, or a batch of mels of one length.

        Args:
            mel: (M, T) or (B, M, T) log-mel in the run's feature scale.
            noise: ``noise_draws`` standard normal arrays of the output's shape, (N,) or (B, N)
                with N = T * hop_length, used in order: the initial noise, then each draw the
                sampler makes (``None``: drawn from numpy's generator seeded with ``seed``).
            seed: seed of the drawn noise (``None``: fresh entropy).

        Returns:
            (N,) or (B, N) float32 waveform in [-1, 1].

        Raises:
            ValueError: a mel of the wrong shape or with non-finite values, or noise of the
                wrong count or shape.
        """
        batch = self._check_mel(mel)  # (B, M, T)
        shape = (batch.shape[0], batch.shape[2] * self.hop_length)
        audio = self._sample(batch, self._draws(noise, seed, shape, np.ndim(mel) == 2))
        return audio[0] if np.ndim(mel) == 2 else audio

    def _check_mel(self, mel: np.ndarray) -> np.ndarray:
        """(M, T) or (B, M, T) mel -> (B, M, T) float32, checked."""
        array = np.asarray(mel, dtype=np.float32)
        batch = array[None] if array.ndim == 2 else array
        if batch.ndim != 3 or batch.shape[1] != self.n_mels or batch.shape[2] < 2:
            raise ValueError(f"mel: expected (n_mels={self.n_mels}, frames >= 2) or (batch, "
                             f"{self.n_mels}, frames), got shape {array.shape}")
        if not np.all(np.isfinite(batch)):
            raise ValueError("mel: contains NaN or infinite values")
        return np.ascontiguousarray(batch)

    def _draws(self, noise: Sequence[np.ndarray] | None, seed: int | None,
               shape: tuple[int, int], single: bool) -> Iterator[np.ndarray]:
        """The (B, N) float32 standard normal draws of one call, given or seeded."""
        if noise is None:
            rng = np.random.default_rng(seed)
            return (rng.standard_normal(shape, dtype=np.float32) for _ in range(self.noise_draws))
        if len(noise) != self.noise_draws:
            raise ValueError(f"noise: expected {self.noise_draws} arrays (the initial noise and "
                             f"each draw of {self.plan['sampler']}), got {len(noise)}")
        draws = [np.asarray(z, dtype=np.float32) for z in noise]
        draws = [z[None] if single and z.shape == shape[1:] else z for z in draws]
        for index, z in enumerate(draws):
            if z.shape != shape:
                raise ValueError(f"noise[{index}]: expected shape {shape[1:] if single else shape}"
                                 f" for this mel, got {np.shape(noise[index])}")
        return iter(draws)

    def _sample(self, mel: np.ndarray, draws: Iterator[np.ndarray]) -> np.ndarray:
        """Run the sampler's loop on (B, M, T) mels; returns (B, N) float32 audio."""
        outputs = self._condition.run(None, {"mel": mel})
        condition = {f"condition_{i}": value for i, value in enumerate(outputs)}

        def network(x: np.ndarray, time: float) -> np.ndarray:
            feed = {"audio": x, "time": np.array([time], dtype=np.float32), **condition}
            return self._step.run(None, feed)[0]  # (B, N)

        def draw() -> np.ndarray:
            z = next(draws)  # (B, N)
            return z if self._prior is None else self._prior.run(None, {"mel": mel,
                                                                        "noise": z})[0]

        update = LOOPS[self.plan["loop"]]
        x = draw()  # (B, N)
        for step in self.plan["steps"]:
            x = update(x, step, network, draw).astype(np.float32, copy=False)
        return np.clip(x, -1.0, 1.0) if self.plan["loop"] in ("euler", "midpoint") else x


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (N,) audio in [-1, 1] as 16-bit mono PCM WAV."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def main(argv: Sequence[str] | None = None) -> int:
    """``python vocode.py MEL.npy OUT.wav [--seed S] [--folder DIR]``; returns 0."""
    parser = argparse.ArgumentParser(description="Vocode an (n_mels, frames) .npy log-mel")
    parser.add_argument("mel", type=Path, help="(n_mels, frames) float .npy file")
    parser.add_argument("output", type=Path, help="the .wav file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of numpy's noise")
    parser.add_argument("--folder", type=Path, default=Path(__file__).resolve().parent,
                        help="the export folder (default: this file's)")
    args = parser.parse_args(argv)
    vocoder = OnnxVocoder(args.folder)
    audio = vocoder(np.load(args.mel, allow_pickle=False), seed=args.seed)
    write_wav(args.output, audio, vocoder.sample_rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
