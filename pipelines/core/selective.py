"""The selective-decoding step: frames in, clip results out, text decoded only on drift.

Exports :class:`PipelineStats`, :class:`ClipResult` and :class:`SelectivePipeline`.

One :class:`SelectivePipeline` per source holds that source's state (clip buffer, feature
cache, drift reference). It is sans-I/O and single-threaded: the caller pushes one sampled
frame, encodes the frames the pipeline asks for, completes the step with their features, and
gets a :class:`ClipResult` for each clip the frame closed: the clip's embedding (the
continuous stream) and, when drift fired, the :class:`~pipelines.core.caption.Caption` (the runner
publishes it as a ``caption`` event).

A frame marked ``resumed`` (a live source back after a reconnect) starts the clips afresh (no
clip spans the gap) and resets the drift detector; the first complete clip after it (a full
``window_s`` of frames from the resume on) gets a caption with reason ``resume``, and the
partial clips before it are not given to the detector.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from pipelines.core.change_point import newest_segment
from pipelines.core.clips import ClipAssembler, ClipConfig, ClipWindow
from pipelines.core.drift import DriftConfig, DriftDetector, Reason
from pipelines.histogram import Histogram
from pipelines.percentiles import percentile
from pipelines.core.caption import Caption, StageLatency
from pipelines.profiles import ModelStack
from streamer.capture.frames import Frame

__all__ = ["PipelineStats", "ClipResult", "SelectivePipeline"]

# Per-stage latencies kept for percentiles: the most recent this many clips.
LATENCY_HISTORY = 4096


@dataclass
class PipelineStats:
    """Running counts for one source. Latency histories are bounded to :data:`LATENCY_HISTORY`.

    ``decodes_by_reason`` counts decodes per drift reason (``start``, ``change``, ``heartbeat``, ``resume``);
    ``drift`` is the newest clip's drift statistic and ``threshold`` the enter threshold then in
    effect; ``step_seconds`` holds every clip's step
    latency in fixed buckets (what ``/metrics`` exposes; the deques feed the percentiles)."""

    frames: int = 0
    clips: int = 0
    decodes: int = 0
    first_t: float | None = None
    last_t: float = 0.0
    step_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))  # encode+predict+drift
    decode_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))
    decodes_by_reason: Counter = field(default_factory=Counter)
    drift: float = 0.0
    threshold: float = 0.0
    step_seconds: Histogram = field(default_factory=Histogram)

    @property
    def media_s(self) -> float:
        return 0.0 if self.first_t is None else self.last_t - self.first_t

    def percentile(self, which: str, q: float) -> float:
        """The ``q``-th percentile of the history ``which`` (``"step_ms"`` or ``"decode_ms"``), unrounded; 0.0 while empty."""
        return percentile(getattr(self, which), q, ndigits=None, empty=0.0)


@dataclass(frozen=True)
class ClipResult:
    """One clip through the step. ``embedding`` is the clip's unit vector in the text space
    ``(D,)``; ``caption`` is set only when the drift detector fired for this clip. What the
    detector read is kept for the bench, which replays other detectors on it: ``current``, the
    embedding of the newest frames ``(D,)``, and ``new_frames``, the visual features of the
    frames new in this clip ``(n, F)``. ``caption_frames`` are the frames the caption describes
    (its ``[t_start, t_end]``, oldest first), for what follows a caption (a snapshot, a VLM);
    empty without a caption. ``clip_frames`` are all the clip's frames, oldest first (what the
    baseline VLM is shown)."""

    source: str
    t_start: float
    t_end: float
    embedding: np.ndarray
    drift: float
    threshold: float  # the detector's enter threshold in force for this clip
    step_ms: float
    caption: Caption | None
    current: np.ndarray | None = None
    new_frames: np.ndarray | None = None
    caption_frames: tuple[Frame, ...] = ()
    clip_frames: tuple[Frame, ...] = ()


class SelectivePipeline:
    """One source's selective path, sans-I/O: the caller moves the data, the pipeline decides.

    The protocol, one frame at a time::

        todo = pipeline.push(frame)             # frames whose features the encoder must compute
        results = pipeline.complete(features)   # their features (len(todo), F) → finished clips

    so that a runner with several sources can encode the fresh frames of all of them in one
    batch. :meth:`feed` is the same for one source with the pipeline's own encoder.
    """

    def __init__(self, source: str, models: ModelStack, clip: ClipConfig, drift: DriftConfig):
        self.source = source
        self.models = models
        self.assembler = ClipAssembler(clip)
        self.caption_window_s = clip.caption_window_s
        self.detector = DriftDetector(drift)
        self.stats = PipelineStats()
        self._features: dict[int, np.ndarray] = {}  # frame index → features, for frames still in a window
        self._pending_drops = 0
        self._newest_seen = -1  # index of the newest frame the detector has read
        self._closed: list[ClipWindow] = []  # clips the last push closed, waiting for complete()
        self._todo: list[Frame] = []
        self._resume_at: float | None = None  # a reconnect: the first clip from here on fires `resume`

    def push(self, frame: Frame, dropped_frames: int = 0) -> list[Frame]:
        """Add one sampled frame; return the frames the encoder must compute features of (each
        once, none for a clip encoder) before :meth:`complete`.

        ``dropped_frames`` is how many frames the capture buffer dropped since the last call;
        it is reported on the next caption.
        """
        if self._closed:
            raise RuntimeError("push() twice without complete()")
        st = self.stats
        st.frames += 1
        if st.first_t is None:
            st.first_t = frame.pts
        st.last_t = frame.pts
        self._pending_drops += dropped_frames
        if frame.resumed:  # a gap in coverage: no clip spans it, and the drift reference starts afresh
            self.assembler = ClipAssembler(self.assembler.config)
            self.detector.resume()
            self._resume_at = frame.pts
        self._closed = self.assembler.push(frame)
        fresh: dict[int, Frame] = {}
        if self.models.encode_frames is not None:
            for clip in self._closed:
                for f in clip.frames:
                    if f.index not in self._features:
                        fresh[f.index] = f
        self._todo = list(fresh.values())
        return self._todo

    def complete(self, features, encode_ms: float = 0.0) -> list[ClipResult]:
        """Take the features ``(len(todo), F)`` of the frames :meth:`push` returned; return the
        results of the clips that frame closed, oldest first. ``encode_ms`` is the time the
        caller spent encoding them (reported as the ``encode`` stage of the first clip)."""
        for f, feats in zip(self._todo, features, strict=True):
            self._features[f.index] = feats
        clips, self._closed, self._todo = self._closed, [], []
        return [self._finish_clip(clip, encode_ms if i == 0 else 0.0) for i, clip in enumerate(clips)]

    def feed(self, frame: Frame, dropped_frames: int = 0) -> list[ClipResult]:
        """:meth:`push` and :meth:`complete` with the pipeline's own encoder (one source)."""
        todo = self.push(frame, dropped_frames)
        encode_start = time.perf_counter()
        features = self.models.encode_frames([f.image for f in todo]) if todo else []
        return self.complete(features, (time.perf_counter() - encode_start) * 1e3)

    def _finish_clip(self, clip: ClipWindow, encode_ms: float) -> ClipResult:
        """Predict, run the drift detector and, if it fires, decode. ``encode_ms`` is the time
        spent encoding this clip's fresh frames (reported as the ``encode`` stage)."""
        start = time.perf_counter() - encode_ms / 1e3
        oldest = clip.frames[0].index
        for index in [i for i in self._features if i < oldest]:
            del self._features[index]
        tokens, frame_of_token = self._tokens(clip)  # (N, F), (N,)
        encoded = time.perf_counter()
        caption_start = max(clip.t_start, clip.t_end - self.caption_window_s)
        recent = [i for i, f in enumerate(clip.frames) if f.pts >= caption_start - 1e-9] or [len(clip.frames) - 1]
        y_clip = self.models.predict(tokens)  # (D,)
        rows = np.flatnonzero(np.isin(frame_of_token, recent))  # token rows of the newest frames
        if rows.size == 0:
            rows = np.flatnonzero(frame_of_token == frame_of_token.max())
        y_now = y_clip if len(rows) == len(tokens) else self.models.predict(tokens[rows])  # (D,)
        predicted = time.perf_counter()
        decision = new_frames = None
        if self._resume_at is None or clip.t_start >= self._resume_at - 1e-9:  # not a partial clip after a resume
            self._resume_at = None
            new_frames = self._new_frame_vectors(clip, tokens, frame_of_token)
            decision = self.detector.feed(clip.t_end, y_clip, current=y_now, frames=new_frames)
        step_ms = (time.perf_counter() - start) * 1e3
        self.stats.clips += 1
        self.stats.step_ms.append(step_ms)
        self.stats.step_seconds.observe(step_ms / 1e3)
        self.stats.drift, self.stats.threshold = self.detector.last_drift, self.detector.enter_threshold
        result = ClipResult(self.source, clip.t_start, clip.t_end, y_clip, self.detector.last_drift,
                            self.detector.enter_threshold, step_ms, None, y_now, new_frames, clip_frames=tuple(clip.frames))
        if decision is None:
            return result
        before_decode = time.perf_counter()
        if decision.reason is Reason.CHANGE:  # describe the new scene only, not the shot before the cut
            recent, y_now, caption_start = self._after_the_cut(clip, tokens, frame_of_token, recent, y_now, caption_start)
        decoded = self.models.decoder.decode(y_now)
        done = time.perf_counter()
        self.stats.decodes += 1
        self.stats.decodes_by_reason[decision.reason.value] += 1
        self.stats.decode_ms.append((done - before_decode) * 1e3)
        dropped, self._pending_drops = self._pending_drops, 0
        caption = Caption(
            source=self.source,
            t=decision.t,
            t_start=caption_start,
            t_end=clip.t_end,
            wall_time=time.time(),
            text=decoded.text,
            labels=decoded.labels,
            drift=decision.drift,
            reason=decision.reason.value,
            threshold=decision.threshold,
            latency=StageLatency(
                encode=(encoded - start) * 1e3,
                predict=(predicted - encoded) * 1e3,
                decode=(done - before_decode) * 1e3,
                total=(done - start) * 1e3,
            ),
            dropped_frames=dropped,
        )
        return dataclasses.replace(result, caption=caption, caption_frames=tuple(clip.frames[i] for i in recent))

    def _tokens(self, clip: ClipWindow) -> tuple[np.ndarray, np.ndarray]:
        """The clip's visual tokens ``(N, F)`` and the frame position of each ``(N,)``: a clip
        encoder (vjepa2) encodes the whole window at once; a frame encoder's are cached per frame."""
        if self.models.encode_frames is None:
            encoded_clip = self.models.encode_clip([f.image for f in clip.frames])
            return encoded_clip.tokens, encoded_clip.frame_of_token
        tokens = np.stack([self._features[f.index] for f in clip.frames])  # (T, F)
        return tokens, np.arange(len(clip.frames))  # (T,)

    def _after_the_cut(self, clip: ClipWindow, tokens: np.ndarray, frame_of_token: np.ndarray, recent: list[int],
                       y_now: np.ndarray, caption_start: float) -> tuple[list[int], np.ndarray, float]:
        """The caption's frames (indices into the clip), their embedding ``(D,)`` and where they
        begin (media s) when only the frames after the clip's one clear boundary
        (:func:`newest_segment`) are kept; ``recent``, ``y_now`` and ``caption_start`` as they are
        where there is none or it lies before them."""
        positions = np.unique(frame_of_token)  # a clip encoder's token belongs to the newest frame of its tubelet
        per_position = np.stack([tokens[frame_of_token == p].mean(axis=0) for p in positions])  # (P, F)
        split = newest_segment(per_position)
        if split == 0:
            return recent, y_now, caption_start
        first = int(positions[split - 1]) + 1  # the first frame after the boundary
        after = [i for i in recent if i >= first]
        if not after or after == recent:
            return recent, y_now, caption_start
        return after, self.models.predict(tokens[frame_of_token >= first]), max(caption_start, clip.frames[after[0]].pts)

    def _new_frame_vectors(self, clip: ClipWindow, tokens: np.ndarray, frame_of_token: np.ndarray) -> np.ndarray:
        """Visual features ``(n, F)`` of the clip's frames the detector has not read yet: one
        vector per frame that has tokens (the mean of its tokens; a clip encoder that groups
        frames into tubelets gives one per tubelet)."""
        first_new = next((i for i, f in enumerate(clip.frames) if f.index > self._newest_seen), len(clip.frames) - 1)
        self._newest_seen = clip.frames[-1].index
        positions = np.unique(frame_of_token)
        new = positions[positions >= first_new]
        if new.size == 0:
            new = positions[-1:]
        return np.stack([tokens[frame_of_token == p].mean(axis=0) for p in new])  # (n, F)
