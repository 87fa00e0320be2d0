"""The training data of ``jepa-stream train-predictor``: (video span, caption) pairs and their visual tokens.

Exports :class:`Pair`, :func:`read_pairs`, :func:`split_pairs`, :func:`read_spans` and :func:`encode_pairs`.

``pairs.jsonl`` holds one object per line: ``{"video": "a.mp4", "start": 3.0, "end": 5.0,
"caption": "a cat on a sofa"}`` (``video`` relative to the JSONL file's folder), with an
optional ``"split": "train" | "val"``; without any ``split``, a seeded ``holdout`` fraction of
the pairs is held out. Each clip is encoded once by the frozen X-encoder and its tokens are
cached in a safetensors file keyed by the video (path, size, mtime), the span, the encoder and
the sampling, so later runs reuse them.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.errors import DataError

__all__ = ["MAX_CLIP_FRAMES", "Pair", "read_pairs", "split_pairs", "read_spans", "encode_pairs"]

MAX_CLIP_FRAMES = 16  # frames read per span (evenly spread) for encoders that take frames one by one


@dataclass(frozen=True)
class Pair:
    """One line of ``pairs.jsonl``: ``video`` resolved against the file's folder, the span in seconds,
    the stripped caption and the split it names (``None`` when it names none)."""

    video: Path
    start: float
    end: float
    caption: str
    split: str | None


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a JSONL file; a bad line is a :class:`~pipelines.errors.DataError` naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read training pairs ({exc.strerror or exc})") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object")
        unknown = set(row) - {"video", "start", "end", "caption", "split"}
        if unknown:
            raise DataError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: caption, end, split, start, video)")
        try:
            video, start, end, caption = row["video"], float(row["start"]), float(row["end"]), row["caption"]
        except KeyError as exc:
            raise DataError(f"{where}: missing {exc.args[0]!r}") from None
        except (TypeError, ValueError):
            raise DataError(f"{where}: start and end must be numbers") from None
        if not isinstance(caption, str) or not caption.strip() or not isinstance(video, str):
            raise DataError(f"{where}: video and caption must be non-empty strings")
        if not 0 <= start < end:
            raise DataError(f"{where}: need 0 <= start < end, got {start}..{end}")
        split = row.get("split")
        if split not in (None, "train", "val"):
            raise DataError(f"{where}: split must be train or val, got {split!r}")
        video_path = Path(video) if Path(video).is_absolute() else path.parent / video
        if not video_path.is_file():
            raise DataError(f"{where}: {video_path}: no such video")
        pairs.append(Pair(video_path, start, end, caption.strip(), split))
    if len(pairs) < 4:
        raise DataError(f"{path}: need at least 4 pairs, found {len(pairs)}")
    return pairs


def split_pairs(pairs: list[Pair], holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and the held-out pairs: by their ``split`` when any pair names one,
    else a ``seed``-shuffled ``holdout`` fraction (at least one) held out; both must be non-empty."""
    if any(p.split for p in pairs):
        train = [i for i, p in enumerate(pairs) if p.split != "val"]
        val = [i for i, p in enumerate(pairs) if p.split == "val"]
    else:
        order = list(range(len(pairs)))
        random.Random(seed).shuffle(order)
        n_val = max(1, round(holdout * len(pairs)))
        val, train = sorted(order[:n_val]), sorted(order[n_val:])
    if not train or not val:
        raise DataError("training pairs: need both a training and a held-out (val) split")
    return train, val


def read_spans(pairs: list[Pair], fps: float, max_side: int, max_frames: int) -> dict[int, list[np.ndarray]]:
    """Frames of every pair's span, each video decoded once: ``{pair index: [(H, W, 3) uint8, …]}``."""
    from streamer.capture.frames import SourceError
    from streamer.capture.sources import VideoFileSource

    by_video: dict[Path, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        by_video[p.video].append(i)
    spans: dict[int, list[tuple[float, np.ndarray]]] = {i: [] for i in range(len(pairs))}
    for video, members in by_video.items():
        source = VideoFileSource(video, source_id=video.stem, sample_fps=fps, max_side=max_side)
        try:
            source.open()
            last_end = max(pairs[i].end for i in members)
            for frame in source.frames():
                if frame.pts >= last_end:
                    break
                for i in members:
                    if pairs[i].start - 1e-6 <= frame.pts < pairs[i].end:
                        spans[i].append((frame.pts, frame.image))
        except SourceError as exc:
            raise DataError(str(exc)) from None
        finally:
            source.close()
    out = {}
    for i, frames in spans.items():
        if not frames:
            p = pairs[i]
            raise DataError(f"{p.video}: no frames between {p.start} s and {p.end} s")
        keep = np.unique(np.round(np.linspace(0, len(frames) - 1, min(max_frames, len(frames)))).astype(int))
        out[i] = [frames[k][1] for k in keep]
    return out


def _clip_key(pair: Pair, encoder_name: str, fps: float, max_side: int, max_frames: int) -> str:
    stat = pair.video.stat()
    ident = f"{pair.video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{pair.start}|{pair.end}|{encoder_name}|{fps}|{max_side}|{max_frames}"
    return hashlib.sha1(ident.encode()).hexdigest()[:20]


def encode_pairs(
    pairs, encoder, fps: float, max_side: int, max_frames: int, cache_path: Path, log=print, max_tokens: int = 64
) -> list[torch.Tensor]:
    """Visual tokens ``(N_i, F)`` of every pair, from the cache file or the encoder (then cached).

    Sequences longer than ``max_tokens`` are cached average-pooled to that length, exactly as the
    predictor (``max_visual_tokens``) would pool them: a ViT-L clip is 8192 tokens, 32 MB."""
    from safetensors.torch import load_file, save_file

    cache = load_file(str(cache_path)) if cache_path.is_file() else {}
    keys = [_clip_key(p, encoder.name.split("/")[0], fps, max_side, max_frames) + f"-{max_tokens}" for p in pairs]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo:
        log(f"encoding {len(todo)} clips with {encoder.name} ({len(pairs) - len(todo)} cached)")
        started = time.monotonic()
        frames = read_spans([pairs[i] for i in todo], fps, max_side, max_frames)
        for j, i in enumerate(todo):
            t = torch.from_numpy(np.ascontiguousarray(encoder.encode_clip(frames[j]).tokens))  # (N, F)
            if t.shape[0] > max_tokens:
                t = F.adaptive_avg_pool1d(t.T[None], max_tokens)[0].T.contiguous()  # (max_tokens, F)
            cache[keys[i]] = t
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        save_file(cache, str(cache_path))
        log(f"encoded in {time.monotonic() - started:.1f} s; tokens cached in {cache_path}")
    return [cache[k].float() for k in keys]
