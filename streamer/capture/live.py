"""Live sources, one connection each: network streams through PyAV, webcams through OpenCV.

Exports :class:`StreamSource`, :class:`WebcamSource` and :class:`MediaClock`.

A live source is one connection: :meth:`open` connects (raising :class:`SourceError` with a
one-line reason), :meth:`frames` yields sampled frames until the peer hangs up (it returns) or
the connection fails or stalls (:class:`SourceError`), and :meth:`close` releases everything.
Reconnecting is :mod:`streamer.capture.reconnect`'s job. ``pts`` starts near 0 on each connection and
is monotonic within it; the reconnecting wrapper keeps it monotonic across connections.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import av
import cv2
import numpy as np

from streamer.capture.capture_config import RtspTransport
from streamer.capture.frames import Frame, SourceError
from streamer.redact import redact
from streamer.capture.sources import RateSampler, _reason, first_video_stream, frame_to_rgb

__all__ = ["MediaClock", "StreamSource", "WebcamSource"]

# When a stream states no frame rate, a frame without a timestamp is placed this far after the last.
_FALLBACK_FPS = 25.0


class MediaClock:
    """Media time of one connection: 0 at the first frame, strictly increasing.

    A frame without a stamp is placed ``period`` after the last. A stamp that goes backwards or
    jumps forward by more than ``max_jump`` seconds (a camera clock reset or RTP wrap, which a
    live stream cannot really contain) re-anchors the clock: that frame lands ``period`` after
    the last and later frames keep their spacing from it.
    """

    def __init__(self, period: float, max_jump: float = math.inf):
        self.period = period
        self.max_jump = max_jump
        self.origin: float | None = None
        self.last = -math.inf

    def pts(self, stamp: float | None) -> float:
        """Media seconds for a frame stamped ``stamp`` (any unit-seconds clock, or ``None``)."""
        expected = 0.0 if self.last == -math.inf else self.last + self.period
        if stamp is None:
            pts = expected
        else:
            if self.origin is None:
                self.origin = stamp - expected
            pts = stamp - self.origin
            if pts <= self.last or pts - self.last > self.max_jump:
                self.origin = stamp - expected
                pts = expected
        self.last = pts
        return pts


class StreamSource:
    """One connection to an ``rtsp://`` or ``http(s)://`` stream, decoded by PyAV.

    ``open_timeout_s`` bounds connecting; a single read that waits longer than
    ``min(read_timeout_s, stall_timeout_s)`` fails the connection (at the first timeout: the
    partial frame FFmpeg returns when a read times out is not taken as data), and so does decoding no
    frame for ``stall_timeout_s`` while packets still arrive. A packet the decoder rejects as
    damaged is skipped. ``transport`` applies to RTSP;
    ``probe_s`` is FFmpeg's ``analyzeduration``. Timestamps go through :class:`MediaClock`
    with ``max_jump = stall_timeout_s``.
    Messages name the URL with any password replaced by ``***``.
    """

    def __init__(
        self,
        url: str,
        source_id: str,
        *,
        sample_fps: float = 4.0,
        max_side: int = 640,
        transport: RtspTransport = RtspTransport.TCP,
        open_timeout_s: float = 10.0,
        probe_s: float = 1.0,
        read_timeout_s: float = 5.0,
        stall_timeout_s: float = 10.0,
    ):
        self.url = url
        self.label = redact(url)
        self.source_id = source_id
        self.sample_fps = sample_fps
        self.max_side = max_side
        self.transport = RtspTransport(transport)
        self.open_timeout_s = open_timeout_s
        self.probe_s = probe_s
        self.read_timeout_s = min(read_timeout_s, stall_timeout_s)
        self.stall_timeout_s = stall_timeout_s
        self.frame_rate = 0.0
        self._container: av.container.InputContainer | None = None

    def open(self) -> None:
        """Connect and find the video stream; raise :class:`SourceError` ("cannot open …: reason")."""
        options = {"analyzeduration": str(round(self.probe_s * 1e6))}
        if self.url.lower().startswith("rtsp"):
            options["rtsp_transport"] = self.transport.value
        try:
            container = av.open(self.url, options=options, timeout=(self.open_timeout_s, self.read_timeout_s))
        except av.ExitError:
            raise SourceError(f"cannot open {self.label}: no answer within {self.open_timeout_s:g} s") from None
        except av.FFmpegError as exc:
            raise SourceError(f"cannot open {self.label}: {_reason(exc)}") from None
        stream = first_video_stream(container, f"cannot open {self.label}:")
        self.frame_rate = float(stream.average_rate or stream.guessed_rate or 0)
        self._container = container

    def frames(self) -> Iterator[Frame]:
        """Yield sampled frames until the stream ends; raise :class:`SourceError` on failure or stall."""
        if self._container is None:
            self.open()
        container = self._container
        stream = container.streams.video[0]
        clock = MediaClock(1.0 / (self.frame_rate or _FALLBACK_FPS), max_jump=self.stall_timeout_s)
        sampler = RateSampler(self.sample_fps)
        index = -1
        last_frame = waiting_since = time.monotonic()
        try:
            for packet in container.demux(stream):
                waited = time.monotonic() - waiting_since
                if waited >= self.read_timeout_s:  # a read timed out: FFmpeg handed over a half-received frame
                    raise SourceError(f"{self.label}: no data for {waited:.0f} s")
                try:
                    decoded = packet.decode()
                except av.InvalidDataError:  # damaged data (lost UDP packets): skip; a dead stream stalls
                    decoded = ()
                for vf in decoded:
                    index += 1
                    pts = clock.pts(vf.time)
                    if sampler.keep(pts):
                        yield Frame(self.source_id, index, pts, time.time(), frame_to_rgb(vf, self.max_side))
                    last_frame = time.monotonic()  # after the yield: a waiting reader is not a stall
                if time.monotonic() - last_frame > self.stall_timeout_s:
                    raise SourceError(f"{self.label}: stalled: no frame decoded for {self.stall_timeout_s:g} s")
                waiting_since = time.monotonic()
        except av.ExitError:
            raise SourceError(f"{self.label}: no data for {time.monotonic() - waiting_since:.0f} s") from None
        except av.FFmpegError as exc:
            raise SourceError(f"{self.label}: read failed ({_reason(exc)})") from None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class WebcamSource:
    """One session with a webcam (index or ``/dev/videoN``) through ``cv2.VideoCapture``.

    A ``str`` target other than a device path (a file or stream URL) is opened with OpenCV's
    FFmpeg backend, which is how the tests exercise this class without a camera. Every frame is
    grabbed; only sampled ones are retrieved and converted. ``pts`` is the capture clock
    (``time.monotonic()`` at grab) since the first frame, since OpenCV's per-backend timestamps
    are not dependable. A grab that fails (device unplugged or busy, read timed out, end of a
    file) ends the session with :class:`SourceError`. OpenCV applies
    ``min(read_timeout_s, stall_timeout_s)`` to a grab where the backend supports it (FFmpeg
    does; V4L2 uses its own select timeout).
    """

    def __init__(
        self,
        target: int | str,
        source_id: str,
        *,
        sample_fps: float = 4.0,
        max_side: int = 640,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        stall_timeout_s: float = 10.0,
    ):
        self.target = target
        self.label = f"webcam {target}" if isinstance(target, int) or target.startswith("/dev/") else redact(target)
        self.source_id = source_id
        self.sample_fps = sample_fps
        self.max_side = max_side
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = min(read_timeout_s, stall_timeout_s)
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the device; raise :class:`SourceError` ("cannot open webcam 0: …").

        OpenCV's own log is silenced first: it prints a dozen lines for every failed open,
        and the one-line :class:`SourceError` already says what went wrong.
        """
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        device = isinstance(self.target, int) or self.target.startswith("/dev/")
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(self.read_timeout_s * 1000),
        ]  # fmt: skip
        cap = (
            cv2.VideoCapture(self.target, cv2.CAP_ANY)
            if device
            else cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
        )
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.label}: no such device or it is busy")
        if device:
            cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.read_timeout_s * 1000)  # ignored where unsupported
        self._cap = cap

    def frames(self) -> Iterator[Frame]:
        """Yield sampled frames until the device stops delivering; raise :class:`SourceError` then."""
        if self._cap is None:
            self.open()
        cap = self._cap
        sampler = RateSampler(self.sample_fps)
        clock = MediaClock(1e-3)
        index = -1
        while True:
            if not cap.grab():
                raise SourceError(f"{self.label}: no frame (unplugged, busy, stalled or ended)")
            index += 1
            pts = clock.pts(time.monotonic())
            if not sampler.keep(pts):
                continue
            ok, bgr = cap.retrieve()
            if not ok:
                raise SourceError(f"{self.label}: frame {index} could not be decoded")
            yield Frame(self.source_id, index, pts, time.time(), self._to_rgb(bgr))

    def _to_rgb(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        if self.max_side and max(w, h) > self.max_side:
            scale = self.max_side / max(w, h)
            bgr = cv2.resize(bgr, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
