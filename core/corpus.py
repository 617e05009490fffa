"""The corpus contract: a raw corpus tree on disk becomes a list of utterance records.

A corpus plugin reads a corpus exactly as it is downloaded and never writes into it. It
decides uids, singers and the train/test split; the preprocessing engine measures durations,
extracts features and writes the processed folder.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from vocfw.core.errors import VocfwError

SPLITS = ("train", "test", "valid")
MAX_UID_BYTES = 200  # uids become file names ({uid}.npy, {uid}.wav)


def uid_problem(uid: str) -> str | None:
    """Why ``uid`` cannot be an utterance id (a file name), or ``None`` if it can."""
    if "/" in uid or "\\" in uid or "\0" in uid or uid in ("", ".", ".."):
        return f"uid {uid!r} is not a safe file name"
    if len(uid.encode("utf-8", errors="surrogatepass")) > MAX_UID_BYTES:
        return f"uid {uid[:40]!r}... is longer than {MAX_UID_BYTES} bytes"
    return None


class CorpusLayoutError(VocfwError, FileNotFoundError):
    """A corpus root or a required metadata file is missing, or the tree holds no utterances."""

    def __init__(self, corpus: str, path: Path | str, expected: str) -> None:
        self.corpus, self.path, self.expected = corpus, Path(path), expected
        super().__init__(f"{corpus}: {path}: {expected}")


class UtteranceError(VocfwError, ValueError):
    """A corpus loader yielded an utterance record that cannot be used: a split that is not one
    of :data:`SPLITS`, a uid that is not a safe file name, or a uid already taken."""


@dataclass(frozen=True)
class Utterance:
    """One training or test item.

    Attributes:
        dataset: the configured dataset name (``opencpop``, ``ljspeech``, ...).
        singer: singer or speaker label, local to the dataset.
        uid: utterance id, unique within the dataset and safe as a file name.
        path: absolute path of the source audio file.
        split: ``train``, ``test`` or ``valid``.
        start: segment start in seconds within ``path`` (``None``: from the beginning).
        end: segment end in seconds (``None``: to the end of the file).
        song: song name, for corpora that have one.
        text: transcript, for corpora that have one.

    Raises:
        UtteranceError: ``split`` is not one of :data:`SPLITS`, or ``uid`` is not a safe file
            name (naming ``path``).
    """

    dataset: str
    singer: str
    uid: str
    path: Path
    split: str
    start: float | None = None
    end: float | None = None
    song: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise UtteranceError(f"{self.path}: utterance {self.uid!r}: split must be one of "
                                 f"{SPLITS}, got {self.split!r}")
        problem = uid_problem(self.uid)
        if problem is not None:
            raise UtteranceError(f"{self.path}: utterance: {problem}")


@dataclass(frozen=True)
class SkippedItem:
    """An input that was left out, and why."""

    path: Path
    reason: str
    uid: str | None = None


@dataclass
class Corpus(abc.ABC):
    """Base class of dataset loaders.

    Subclasses set ``name`` (the config key, for example ``vctk``) and implement
    :meth:`utterances`. ``root`` may be the documented corpus root or, where the corpus
    documents one, the sub-folder the reference recipe expected (named by ``inner_folder``);
    :meth:`locate_root` finds the folder the loader needs.

    Args:
        root: where the corpus was downloaded.
        dataset: the dataset name written into records and the processed folder (defaults to
            ``name``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    inner_folder: ClassVar[str] = ""

    root: Path
    dataset: str = ""
    skipped: list[SkippedItem] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().absolute()
        self.dataset = self.dataset or self.name
        if not self.root.is_dir():
            raise CorpusLayoutError(self.name, self.root, "the corpus folder does not exist")
        self.root = self.locate_root(self.root)

    def locate_root(self, root: Path) -> Path:
        """Return the folder the loader reads from, given what the user pointed at.

        By default that is ``root / inner_folder`` when the class names one and it exists
        (the user pointed at the corpus root), else ``root`` itself.
        """
        inner = root / self.inner_folder
        return inner if self.inner_folder and inner.is_dir() else root

    def require(self, path: Path, expected: str) -> Path:
        """Return ``path`` if it exists, else raise :class:`CorpusLayoutError`."""
        if not path.exists():
            raise CorpusLayoutError(self.name, path, expected)
        return path

    def skip(self, path: Path, reason: str, uid: str | None = None) -> None:
        """Record an input that is left out; the preprocessing report lists it."""
        self.skipped.append(SkippedItem(Path(path), reason, uid))

    @abc.abstractmethod
    def utterances(self) -> list[Utterance]:
        """Read the corpus tree.

        Returns:
            Every utterance with its split, in a deterministic order.

        Raises:
            CorpusLayoutError: a required file is missing or the tree is not laid out as
                documented.
        """
