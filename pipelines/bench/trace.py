"""The bench's one decoding pass per video: every clip the selective pipeline closes, recorded.

Exports :class:`VideoTrace` and :func:`trace_video`.

:func:`trace_video` decodes a file once (sampled as the config says), runs the selective
pipeline over it and keeps, per clip, what every strategy later reads: the clip embedding, the
detector's inputs (newest frames' embedding, new visual features), its drift and thresholds and
the per-stage timings; plus the selective path's own captions and the newest frame of the few
clips the baseline VLM will caption (``BenchOptions.baseline_clips``, spread evenly), and with
``model.decoder.type: vlm`` the newest frame of each caption (for the decoder cost). Encode and
predict time is timed around the models and shared evenly between the clips one frame closed.
A video may have at most :data:`~pipelines.bench.reference.MAX_WARD_CLIPS` clips (the offline
Ward reference is quadratic); more is a :class:`~pipelines.config.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.bench.options import BenchOptions
from pipelines.bench.reference import MAX_WARD_CLIPS
from streamer.feed.events import caption_event

__all__ = ["VideoTrace", "trace_video"]


@dataclass
class VideoTrace:
    """Everything one pass over a video recorded, one entry per clip (bounded by MAX_WARD_CLIPS)."""

    name: str
    path: str
    truth: dict | None
    times: list[float] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    currents: list[np.ndarray] = field(default_factory=list)  # newest frames' embedding, per clip
    new_frames: list[np.ndarray] = field(default_factory=list)  # visual features (n, F) new in each clip
    peers: list = field(default_factory=list)  # PeerResult per shot-boundary detector
    drift: list[float] = field(default_factory=list)
    enter: list[float] = field(default_factory=list)
    exit: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    predict_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)  # encode + predict + drift
    captions: list[dict] = field(default_factory=list)  # the selective path's caption events
    caption_clip: list[int] = field(default_factory=list)  # clip index of each caption
    baseline_images: dict[int, np.ndarray] = field(default_factory=dict)  # clip index → newest frame
    caption_images: list[np.ndarray] = field(default_factory=list)  # newest frame of each caption (bench --decoder vlm)
    media_s: float = 0.0
    wall_s: float = 0.0
    frames: int = 0
    stride_s: float = 0.5


def _timed(models, timer: dict[str, float]):
    """``models`` whose encoder and predictor add their milliseconds to ``timer`` (``encode``, ``predict``)."""

    def timed(fn, key):
        def wrapper(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            timer[key] += (time.perf_counter() - t0) * 1e3
            return out

        return wrapper

    return dataclasses.replace(
        models,
        encode_frames=timed(models.encode_frames, "encode") if models.encode_frames else None,
        predict=timed(models.predict, "predict"),
        **({"encode_clip": timed(models.encode_clip, "encode")} if getattr(models, "encode_clip", None) else {}),
    )


def _record(trace: VideoTrace, r, detector, share: dict[str, float], keep_caption_images: bool, path: Path) -> int:
    """Add clip result ``r`` (with the detector's thresholds then and its ``share`` of the timings) to ``trace``; its index."""
    i = len(trace.times)
    if i >= MAX_WARD_CLIPS:
        from pipelines.config import ConfigError

        raise ConfigError(f"{path}: more than {MAX_WARD_CLIPS} clips; bench a shorter video")
    trace.times.append(r.t_end)
    trace.embeddings.append(r.embedding.astype(np.float32))
    trace.currents.append(r.current.astype(np.float32))
    trace.new_frames.append(r.new_frames.astype(np.float32))
    trace.drift.append(r.drift)
    trace.enter.append(detector.enter_threshold)
    trace.exit.append(detector.exit_threshold)
    trace.encode_ms.append(share["encode"])
    trace.predict_ms.append(share["predict"])
    trace.step_ms.append(r.step_ms)
    if r.caption is not None:
        trace.captions.append(caption_event(r.caption))
        trace.caption_clip.append(i)
        if keep_caption_images:
            trace.caption_images.append(r.caption_frames[-1].image)
    return i


def trace_video(path: str | Path, config, models, options: BenchOptions, truth: dict | None = None, progress=None) -> VideoTrace:
    """Decode ``path`` once and run the selective pipeline over it, recording every clip."""
    from pipelines.core.selective import SelectivePipeline
    from streamer.capture.sources import VideoFileSource

    path = Path(path)
    name = path.stem or "video"
    source = VideoFileSource(path, source_id=name, sample_fps=config.sampling.fps, max_side=config.sampling.max_side)
    source.open()
    timer = {"encode": 0.0, "predict": 0.0}
    timed_models = _timed(models, timer)
    pipeline = SelectivePipeline(name, timed_models, config.clip, config.drift)
    keep_caption_images = config.model.decoder.type.value == "vlm"  # for the decoder cost (few frames: one per caption)
    trace = VideoTrace(name, str(path), truth, stride_s=config.clip.stride_s)
    expected = (source.duration or 0.0) / config.clip.stride_s
    every = max(1, math.ceil(expected / options.baseline_clips)) if options.baseline_clips and expected else 1
    last_frame = None
    started = time.perf_counter()
    try:
        for frame in source.frames():
            results = pipeline.feed(frame)
            if results:
                share = {k: v / len(results) for k, v in timer.items()}
                timer.update(encode=0.0, predict=0.0)
                for r in results:
                    i = _record(trace, r, pipeline.detector, share, keep_caption_images, path)
                    if options.baseline_clips and i % every == every // 2 and last_frame is not None and len(trace.baseline_images) < options.baseline_clips:
                        trace.baseline_images[i] = last_frame.image
            last_frame = frame
            if progress:
                progress.update(pipeline.stats.last_t, pipeline.stats.decodes)
    finally:
        source.close()
    trace.wall_s = time.perf_counter() - started
    trace.media_s = pipeline.stats.media_s
    trace.frames = pipeline.stats.frames
    if progress:
        progress.done(pipeline.stats.last_t, pipeline.stats.decodes)
        if not progress.tty:  # a log gets one closing line per video, however short the run
            progress.stream.write(
                f"{name}: {trace.media_s:.1f} s done, {pipeline.stats.decodes} captions, "
                f"{trace.media_s / max(trace.wall_s, 1e-9):.1f}x real time\n"
            )
            progress.stream.flush()
    return trace
