"""Video sources: decoded, timestamped, sampled frames from a file through PyAV.

Exports :class:`RateSampler`, :class:`VideoFileSource`,
:func:`first_video_stream` and :func:`frame_to_rgb`.

Sampling happens here, at the edge: frames the pipeline will not look at are decoded (H.264
needs them) but never converted to RGB, which is most of the cost of a 25 fps stream analysed
at 4 fps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from streamer.capture.frames import Frame, SourceError
from streamer.redact import redact

__all__ = ["RateSampler", "VideoFileSource", "first_video_stream", "frame_to_rgb"]

# A stream that stops this much earlier than its container says was cut short.
_TRUNCATION_TOLERANCE_S = 1.0


class RateSampler:
    """Keeps at most ``fps`` frames per second of media time: the first frame of each slot.

    Slots are ``[k / fps, (k + 1) / fps)``; a frame is kept when it is the first to land in a
    slot later than the last kept one. ``fps <= 0`` keeps every frame.
    """

    def __init__(self, fps: float):
        self.fps = fps
        self._last_slot = -math.inf

    def keep(self, pts: float) -> bool:
        if self.fps <= 0:
            return True
        slot = math.floor(pts * self.fps + 1e-6)
        if slot > self._last_slot:
            self._last_slot = slot
            return True
        return False


class VideoFileSource:
    """Frames of a video file decoded by PyAV, sampled to ``sample_fps``.

    ``pts`` of every frame is media seconds from the stream's start, forced monotonic (a frame
    without a timestamp, or one that goes backwards, is placed one frame period after the
    previous; so a stream with no timestamps at all, such as raw ``.h264``, is timed by its
    frame rate from 0). Frames are scaled so the longer side is at most ``max_side`` pixels (0 keeps the
    size). Errors are :class:`SourceError` with one-line messages: a missing file, a file that
    is not a video, and damage or truncation found while decoding. Frames decoded before the
    damage have already been yielded.
    """

    def __init__(self, path: str | Path, source_id: str = "file", sample_fps: float = 4.0, max_side: int = 640):
        self.path = Path(path)
        self.source_id = source_id
        self.sample_fps = sample_fps
        self.max_side = max_side
        self._container: av.container.InputContainer | None = None
        self.frame_rate: float = 0.0
        self.duration: float | None = None

    def open(self) -> None:
        """Open the file and its first video stream; raise :class:`SourceError` if impossible."""
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a regular file")
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise SourceError(f"{self.path}: not a readable video ({_reason(exc)})") from None
        stream = first_video_stream(container, f"{self.path}:")
        self.frame_rate = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration is not None and stream.time_base is not None:
            self.duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            self.duration = container.duration / av.time_base
        self._container = container

    def open_and_close(self) -> None:
        """Check that the file opens as a video (raise :class:`SourceError` if not); keep nothing open."""
        self.open()
        self.close()

    def frames(self) -> Iterator[Frame]:
        """Decode to the end, yielding sampled frames; raise :class:`SourceError` on damage."""
        if self._container is None:
            self.open()
        container = self._container
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        period = 1.0 / self.frame_rate
        sampler = RateSampler(self.sample_fps)
        last_pts = -period  # a first frame without a timestamp lands at 0
        index = -1
        try:
            for vf in container.decode(stream):
                index += 1
                pts = vf.time - start if vf.time is not None else last_pts + period
                if pts <= last_pts:
                    pts = last_pts + period
                last_pts = pts
                if sampler.keep(pts):
                    yield Frame(self.source_id, index, pts, time.time(), frame_to_rgb(vf, self.max_side))
        except av.FFmpegError as exc:
            where = f" at {max(last_pts, 0.0):.2f} s" if index >= 0 else ""
            raise SourceError(f"{self.path}: damaged or truncated video{where} ({_reason(exc)})") from None
        if index < 0:
            raise SourceError(f"{self.path}: no decodable video frames")
        if self.duration and last_pts + period < self.duration - _TRUNCATION_TOLERANCE_S:
            raise SourceError(
                f"{self.path}: truncated video: frames end at {last_pts + period:.2f} s of {self.duration:.2f} s"
            )

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def first_video_stream(container: av.container.InputContainer, where: str) -> av.VideoStream:
    """The container's first video stream, set to decode on FFmpeg's own threads; without one,
    close the container and raise :class:`SourceError` ("<where> no video stream")."""
    if not container.streams.video:
        container.close()
        raise SourceError(f"{where} no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def frame_to_rgb(vf: av.VideoFrame, max_side: int) -> np.ndarray:
    """``vf`` as RGB ``uint8`` ``(H, W, 3)`` the way it is meant to be seen, scaled so its longer
    side is at most ``max_side`` (0: as is).

    A display matrix (a phone video stored sideways) is applied: the image is turned by its
    rotation, to the nearest quarter turn. Mirroring in the matrix is not applied.
    """
    w, h = vf.width, vf.height
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = max(2, round(w * scale)), max(2, round(h * scale))
        rgb = vf.to_ndarray(format="rgb24", width=w, height=h)
    else:
        rgb = vf.to_ndarray(format="rgb24")
    quarter_turns = round(vf.rotation / 90) % 4  # counter-clockwise, as np.rot90 turns
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _reason(exc: av.FFmpegError) -> str:
    """FFmpeg's own words for ``exc`` without PyAV's errno and repeated file name (a URL's
    password hidden, should the name still be in them)."""
    return redact((exc.strerror or str(exc)).strip().rstrip(".").lower())
