"""What training shows: TensorBoard scalars, and evaluation audio with its mel spectrograms
(in TensorBoard and on a report page per checkpoint).

Everything here runs on the main process only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter

from vocfw.core.atomic import write_wav
from vocfw.core.audio.mel import MelConfig, MelSpectrogram
from vocfw.core.data.dataset import Item, load_item
from vocfw.core.evaluate import metrics
from vocfw.core.evaluate.report_html import ReportRow, write_mel_images, write_report
from vocfw.core.model import Vocoder
from vocfw.core.runs.run_dir import LOG_DIR
from vocfw.core.runs.train_state import EVAL_AUDIO_INFIX
from vocfw.core.sampler import Sampler

REPORT_COLUMNS = ("mstft", "mel_l1")


def mel_figure(truth: np.ndarray, predicted: np.ndarray, title: str) -> Figure:
    """Ground-truth and vocoded (M, T) mels, one above the other, on one colour scale.

    Built without pyplot, so no display backend is involved.
    """
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    fig = Figure(figsize=(8, 5))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, mel, name in zip(axes, (truth, predicted), ("ground truth", "vocoded"), strict=True):
        image = ax.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high)
        ax.set_title(f"{title}: {name}")
        ax.set_ylabel("mel band")
    axes[-1].set_xlabel("frame")
    fig.colorbar(image, ax=list(axes))
    return fig


class TrainLogger:
    """TensorBoard event files under ``{run_dir}/log`` and evaluation audio beside checkpoints.

    Args:
        run_dir: the run directory.
        features: the mel settings (sample rate, mel of the vocoded audio).
        purge_step: on resume, events a killed run logged after this step are dropped.
    """

    def __init__(self, run_dir: Path, features: MelConfig, purge_step: int | None = None) -> None:
        self.writer = SummaryWriter(str(run_dir / LOG_DIR), purge_step=purge_step)
        self.features = features
        self.mel = MelSpectrogram(features)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Log scalars at ``step``."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def eval_audio(
        self,
        model: Vocoder,
        sampler: Sampler,
        items: list[Item],
        checkpoint: Path,
        step: int,
        max_seconds: float,
        seed: int,
    ) -> None:
        """Vocode one validation utterance per dataset and log it beside its ground truth.

        Writes ``{checkpoint}_eval_audio_{dataset}.wav`` and ``..._gt.wav`` next to the
        checkpoint folder with their mel images (``..._mel.png``, ``..._gt_mel.png``) and the
        page ``{checkpoint}_eval_audio_report.html`` listening to all of them, and logs both
        clips and their two mels to TensorBoard.

        Args:
            model: the network to vocode with (its EMA copy when training keeps one).
            sampler: the diffusion process.
            items: the evaluation utterances.
            checkpoint: the checkpoint folder the audio belongs to.
            step: the global step for TensorBoard.
            max_seconds: only the first this many seconds of each utterance are vocoded.
            seed: seed of the sampling noise (the same at every checkpoint).
        """
        rate, hop = self.features.sample_rate, self.features.hop_length
        device = next(model.parameters()).device
        max_frames = max(1, int(max_seconds * rate / hop))
        was_training = model.training
        model.eval()
        rows = []
        for item in items:
            mel, audio = load_item(item, self.features.n_mels)
            mel = torch.from_numpy(mel[:, :max_frames]).to(device)  # (M, T)
            truth = audio[: mel.shape[1] * hop]  # (N,)
            generator = torch.Generator(device=device).manual_seed(seed)
            predicted = sampler.sample(model, mel[None], generator=generator)[0].float().cpu()
            stem = checkpoint.parent / f"{checkpoint.name}{EVAL_AUDIO_INFIX}{item.dataset}"
            write_wav(stem.with_name(stem.name + ".wav"), predicted.numpy(), rate)
            write_wav(stem.with_name(stem.name + "_gt.wav"), truth, rate)
            rows.append(self._report_row(stem, item, truth, predicted.numpy()))
            tag = f"eval/{item.dataset}"
            self.writer.add_audio(f"{tag}/vocoded", predicted.clamp(-1, 1), step, rate)
            self.writer.add_audio(f"{tag}/ground_truth", torch.from_numpy(truth), step, rate)
            predicted_mel = self.mel(predicted).numpy()  # (M, T')
            fig = mel_figure(mel.cpu().numpy(), predicted_mel, item.uid)
            self.writer.add_figure(f"{tag}/mel", fig, step, close=False)
        model.train(was_training)
        self.writer.flush()
        write_report(checkpoint.parent / f"{checkpoint.name}{EVAL_AUDIO_INFIX}report.html",
                     f"vocfw fit: {checkpoint.name} (step {step})", rows, REPORT_COLUMNS,
                     notes=[f"evaluation audio of {checkpoint.parent.parent}"])

    def _report_row(self, stem: Path, item: Item, truth: np.ndarray,
                    predicted: np.ndarray) -> ReportRow:
        """Mel images and the cheap metrics of one evaluation clip, as a report row."""
        rate, length = self.features.sample_rate, min(truth.size, predicted.size)
        truth, predicted = truth[:length], predicted[:length]
        paths = [stem.with_name(stem.name + suffix)
                 for suffix in ("_gt.wav", ".wav", "_gt_mel.png", "_mel.png")]
        write_mel_images(truth, predicted, rate, paths[2], paths[3])
        scores = {"mstft": metrics.mstft_distance(truth, predicted),
                  "mel_l1": metrics.log_mel_l1(truth, predicted, rate)}
        return ReportRow(f"{item.dataset}: {item.uid}", scores, *paths)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
