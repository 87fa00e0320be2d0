"""Texts and their unit embeddings in the Y-space, with a bounded on-disk cache.

Exports :class:`ImagenetClass`, :func:`imagenet_classes`, :class:`ClassNames`,
:func:`imagenet_class_names`, :class:`TextBank` and :class:`EmbeddingCache`.

:class:`ClassNames` is what an encoder with a classifier says about its classes (the label
bridge embeds their prompts; the retrieval bank shows their labels): the ImageNet classes of
``lite``, the checkpoint's ``id2label`` of a ``vjepa2`` classifier.

Embedding the 1000 ImageNet class prompts takes seconds on a small CPU, so results are cached
under ``$XDG_CACHE_HOME/jepa-stream`` (default ``~/.cache/jepa-stream``), keyed by the encoder's
identity and the exact texts. The cache keeps at most ``max_files`` entries, oldest evicted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from models.cache import cache_root

__all__ = ["ImagenetClass", "imagenet_classes", "ClassNames", "imagenet_class_names", "TextBank", "EmbeddingCache"]


@dataclass(frozen=True)
class ImagenetClass:
    index: int
    wnid: str
    lemmas: tuple[str, ...]

    @property
    def name(self) -> str:
        """The first lemma, as shown to people ("tabby" for "tabby, tabby cat")."""
        return self.lemmas[0]


def imagenet_classes() -> list[ImagenetClass]:
    """The 1000 ImageNet-1k classes in the order of the classifier's outputs."""
    text = resources.files("models").joinpath("data/imagenet_classes.tsv").read_text(encoding="utf-8")
    classes = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            index, wnid, lemmas = line.split("\t")
            classes.append(ImagenetClass(int(index), wnid, tuple(s.strip() for s in lemmas.split(","))))
    if [c.index for c in classes] != list(range(1000)):
        raise RuntimeError("models/data/imagenet_classes.tsv is damaged: expected classes 0..999 in order")
    return classes


@dataclass(frozen=True)
class ClassNames:
    """A classifier's classes in the order of its outputs: ``labels`` as shown to people,
    ``phrases`` what goes into a prompt's ``{}``, and ``prompt`` the template they read best in."""

    labels: tuple[str, ...]
    phrases: tuple[str, ...]
    prompt: str

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("a classifier needs at least one class")
        if len(self.labels) != len(self.phrases):
            raise ValueError(f"{len(self.labels)} class labels but {len(self.phrases)} phrases")

    def __len__(self) -> int:
        return len(self.labels)

    def prompts(self, template: str = "") -> list[str]:
        """Each class's prompt, in ``template`` (empty: the classes' own)."""
        return [(template or self.prompt).format(p) for p in self.phrases]


def imagenet_class_names() -> ClassNames:
    """The ImageNet-1k classes: the first lemma shown, the first two in the prompt."""
    classes = imagenet_classes()
    return ClassNames(tuple(c.name for c in classes), tuple(", ".join(c.lemmas[:2]) for c in classes), "a photo of a {}.")


@dataclass(frozen=True)
class TextBank:
    """Display texts and their unit embeddings ``(N, D)``, row for row."""

    texts: tuple[str, ...]
    embeddings: np.ndarray

    def __post_init__(self) -> None:
        if self.embeddings.shape[0] != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {self.embeddings.shape[0]} embeddings")

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: "TextBank") -> "TextBank":
        return TextBank(self.texts + other.texts, np.concatenate([self.embeddings, other.embeddings]))


class EmbeddingCache:
    """``get(identity, texts, compute)`` returns ``compute(texts)``, from disk when seen before."""

    def __init__(self, directory: str | Path | None = None, max_files: int = 32):
        self.directory = Path(cache_root() if directory is None else directory)
        self.max_files = max_files

    def get(self, identity: str, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        digest = hashlib.sha256("\n".join([identity, *texts]).encode()).hexdigest()[:32]
        path = self.directory / f"text-{digest}.npy"
        try:
            cached = np.load(path)
            if cached.shape[0] == len(texts):
                return cached
        except (OSError, ValueError):
            pass  # absent or unreadable: recompute and overwrite
        values = np.asarray(compute(list(texts)), dtype=np.float32)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, values)
            os.replace(tmp, path)
            self._evict()
        except OSError:
            pass  # a read-only home only costs the recomputation next time
        return values

    def _evict(self) -> None:
        entries = sorted(self.directory.glob("text-*.npy"), key=lambda p: p.stat().st_mtime)
        for stale in entries[: max(0, len(entries) - self.max_files)]:
            stale.unlink(missing_ok=True)
