"""One encoder call split over several threads, so that many cameras use every core.

Exports :class:`EncodePool`.

The run loop encodes the fresh frames of every source in one call
(:func:`pipelines.core.runner.run_sources`). With one intra-op thread (``model.encoder.threads: 1``,
the default, which stays fast on a busy CPU) that call uses one core however many cameras there
are, and with eight cameras it is the bottleneck while the other core idles. An
:class:`EncodePool` of ``workers`` threads cuts a batch into up to ``workers`` contiguous chunks
of at least ``min_chunk`` frames and encodes them at once: the runtimes (onnxruntime, torch)
release the GIL while they compute, and the ``lite`` features of a frame do not depend on the
batch it came in (bit for bit), so the captions are unchanged. A batch too small to split is
encoded on the caller's thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["EncodePool"]


class EncodePool:
    """``encode_frames`` behind ``workers`` threads (0: one per core); call it like ``encode_frames``.
    Leaving ``with`` closes it.

    min_chunk: The fewest frames a thread is given (default 2): splitting smaller batches costs
        more in hand-overs than it saves.
    """

    def __init__(self, encode_frames: Callable[[list[np.ndarray]], np.ndarray], workers: int, min_chunk: int = 2):
        self.encode_frames = encode_frames
        self.workers = workers or os.cpu_count() or 1
        self.min_chunk = min_chunk
        self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="encode") if self.workers > 1 else None

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        chunks = min(self.workers, len(images) // self.min_chunk)
        if self._pool is None or chunks < 2:
            return self.encode_frames(list(images))
        bounds = np.linspace(0, len(images), chunks + 1).astype(int)  # contiguous, as even as can be
        parts = [list(images[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        futures = [self._pool.submit(self.encode_frames, part) for part in parts[1:]]
        first = self.encode_frames(parts[0])  # the caller's thread is one of the workers
        return np.concatenate([first, *(f.result() for f in futures)])

    def __enter__(self) -> EncodePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the threads (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
