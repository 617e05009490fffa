"""The ``data`` section of a config: which corpora, where their features go, which features."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocfw.core.audio.mel import MelConfig
from vocfw.core.corpus import Corpus
from vocfw.core.errors import SpecError, VocfwError
from vocfw.core.registry import Registry
from vocfw.core.settings import SettingError

CORPUS_KEYS = {"class_path", "init_args"}
# corpus option types checked before construction (a config's init_args are not typed by the
# parser): annotation -> the value types it accepts
OPTION_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,), float: (int, float), str: (str,), bool: (bool,),
}


class CorpusOverlapError(VocfwError, ValueError):
    """Preprocessing would write into a corpus folder, or into a folder holding one."""


@dataclass
class DataConfig:
    """Corpora to use and how their features are made.

    Args:
        datasets: dataset name -> corpus folder as downloaded, or ``{class_path, init_args}``
            with the folder as ``init_args.root`` and any other constructor option of the
            corpus beside it. With a folder, the name selects the loader (``ljspeech``,
            ``vctk``, ...; a name that starts with a loader's name uses that loader:
            ``opencpop_v2``, ``folder_mine``); ``class_path`` is a registered corpus's name
            (``folder``) or class name (``AudioFolder``).
        processed_dir: where preprocessing writes ``{processed_dir}/{dataset}/``.
        features: mel-spectrogram settings, shared by preprocessing, the model and inference.
        min_duration: drop utterances shorter than this many seconds (``None``: keep all).
        max_duration: drop utterances longer than this many seconds (``None``: keep all).

    Raises:
        SpecError: a ``datasets`` entry that is neither a folder nor a corpus spec.
        SettingError: ``min_duration`` is greater than ``max_duration``.
    """

    datasets: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    processed_dir: str = "data"
    features: MelConfig = field(default_factory=MelConfig)
    min_duration: float | None = None
    max_duration: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.datasets.items():
            _check_dataset_entry(name, value)
        low, high = self.min_duration, self.max_duration
        if low is not None and high is not None and low > high:
            raise SettingError(
                f"data.min_duration ({low}) is greater than data.max_duration ({high}): every "
                f"utterance would be dropped"
            )

    def dataset_dir(self, dataset: str) -> Path:
        """``{processed_dir}/{dataset}``."""
        return Path(self.processed_dir) / dataset

    def check_outputs_outside_corpora(self) -> None:
        """Refuse output folders that would write into a corpus or over one.

        Each ``{processed_dir}/{dataset}`` must lie outside every corpus folder, and no corpus
        folder may lie inside one of them (preprocessing writes ``mels/``, ``audios/`` and the
        split files there and removes its own leftovers).

        Raises:
            CorpusOverlapError: naming the option, the output folder and the corpus folder.
        """
        roots = {name: corpus_root(value) for name, value in self.datasets.items()}
        for name in self.datasets:
            out = self.dataset_dir(name)
            for other, root in roots.items():
                if _within(out, root):
                    raise CorpusOverlapError(
                        f"data.processed_dir: {self.processed_dir} puts the output of dataset "
                        f"{name!r} ({out}) inside the corpus folder {root} of "
                        f"data.datasets.{other}; corpora are only read: choose a "
                        f"processed_dir outside every corpus folder"
                    )
                if _within(root, out):
                    raise CorpusOverlapError(
                        f"data.datasets.{other}: the corpus folder {root} lies inside {out}, "
                        f"where preprocessing writes dataset {name!r}; move the corpus or "
                        f"choose another data.processed_dir"
                    )


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it (symbolic links followed)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def corpus_root(value: str | dict[str, Any]) -> Path:
    """The corpus folder of one (checked) ``data.datasets`` entry."""
    return Path(value if isinstance(value, str) else value["init_args"]["root"])


def _check_dataset_entry(name: str, value: Any) -> None:
    """Refuse a ``data.datasets`` value that is neither a folder nor a corpus spec."""
    where = f"data.datasets.{name}"
    if isinstance(value, str):
        return
    if not isinstance(value, dict) or "class_path" not in value or set(value) - CORPUS_KEYS:
        raise SpecError(f"{where}: expected a corpus folder or {{class_path, init_args}}, "
                        f"got {value!r}")
    init_args = value.get("init_args", {})
    if not isinstance(value["class_path"], str) or not isinstance(init_args, dict):
        raise SpecError(f"{where}: class_path must be a name and init_args a mapping")
    if not isinstance(init_args.get("root"), str):
        raise SpecError(f"{where}.init_args.root: expected the corpus folder")
    if init_args.get("dataset", name) != name:
        raise SpecError(f"{where}.init_args.dataset: the dataset name is the key {name!r}")


def build_corpus(name: str, value: str | dict[str, Any], registry: Registry) -> Corpus:
    """The corpus of one ``data.datasets`` entry, reading the tree under dataset name ``name``.

    Raises:
        SpecError: an unregistered class, or an option the corpus does not take or of
            another type than it declares.
        SettingError: an option value the corpus refuses.
        UnknownKeyError: a folder under a dataset name that names no registered corpus.
        CorpusLayoutError: the folder does not exist.
    """
    if isinstance(value, str):
        return registry.corpus_for(name)(Path(value), dataset=name)
    cls = registry.resolve("corpora", value["class_path"], f"data.datasets.{name}.class_path")
    init_args = {**value.get("init_args", {}), "dataset": name}
    try:
        inspect.signature(cls).bind(**init_args)
    except TypeError as exc:
        options = ", ".join(inspect.signature(cls).parameters)
        raise SpecError(f"data.datasets.{name}.init_args: {exc} ({cls.__name__} takes "
                        f"{options})") from None
    _check_option_types(name, cls, init_args)
    try:
        return cls(**init_args)
    except SettingError as exc:
        raise SettingError(f"data.datasets.{name}.init_args: {exc}") from None


def _check_option_types(name: str, cls: type[Corpus], init_args: dict[str, Any]) -> None:
    """Refuse an option whose value is not of the plain type (int, float, str, bool) the corpus
    class declares for it; options of other declared types are left to the class."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # annotations this module cannot resolve: not checked
        return
    for key, value in init_args.items():
        accepted = OPTION_TYPES.get(hints.get(key))
        if accepted is None:
            continue
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise SpecError(f"data.datasets.{name}.init_args.{key}: expected "
                            f"{hints[key].__name__}, got {value!r}")
