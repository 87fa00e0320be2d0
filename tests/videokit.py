"""Make real videos from still photos: camera motion, hard cuts, exposure drift, sensor noise.

Exports :class:`Shot`, :func:`render_shot` and :func:`write_video`.

Tests, the demo and bench-video scripts and the benchmarks use this to get videos whose scene
boundaries are known exactly. It is a test fixture, so it lives under ``tests/`` and is not part
of the installed packages: tests import it as ``videokit`` (pytest puts ``tests/`` on the path,
as for ``testlimits``); ``scripts/`` and ``benchmarks/``, which run from a clone, put ``tests/``
on ``sys.path`` first. Each :class:`Shot` shows one photo through a moving virtual camera (a crop window that
pans and zooms over the photo), so consecutive frames differ as they would from a real camera
while the meaning stays put until the next cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

__all__ = ["Shot", "render_shot", "write_video"]


@dataclass(frozen=True)
class Shot:
    """One continuous shot of ``photo`` (RGB or grey ``uint8``) lasting ``duration_s``.

    ``zoom`` is the crop size at the start and end as a fraction of the largest crop with the
    output's aspect ratio (1.0 = whole photo); ``pan`` moves the crop centre from one side to the
    other by that fraction of the free room; ``shake_px`` adds a deterministic jitter;
    ``exposure`` is the gain at the start and end (a ±15 % drift is ``(0.85, 1.15)``);
    ``noise`` is the standard deviation of Gaussian sensor noise in grey levels.
    """

    photo: np.ndarray
    duration_s: float
    zoom: tuple[float, float] = (1.0, 0.8)
    pan: float = 0.5
    shake_px: float = 0.0
    exposure: tuple[float, float] = (1.0, 1.0)
    noise: float = 0.0
    seed: int = 0


def _rgb(photo: np.ndarray) -> np.ndarray:
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    return np.ascontiguousarray(photo[..., :3]).astype(np.uint8)


def render_shot(shot: Shot, size: tuple[int, int], fps: float) -> Iterator[np.ndarray]:
    """Yield the ``round(duration_s * fps)`` RGB frames of ``shot`` at ``size`` = (width, height)."""
    photo = _rgb(shot.photo)
    ph, pw = photo.shape[:2]
    width, height = size
    aspect = width / height
    full_w = min(pw, ph * aspect)  # largest crop with the output's aspect ratio
    n = max(1, round(shot.duration_s * fps))
    rng = np.random.default_rng(shot.seed)
    for i in range(n):
        a = i / max(1, n - 1)
        zoom = shot.zoom[0] + (shot.zoom[1] - shot.zoom[0]) * a
        cw, ch = full_w * zoom, full_w * zoom / aspect
        room_x, room_y = pw - cw, ph - ch
        cx = pw / 2 + shot.pan * room_x * (a - 0.5)
        cy = ph / 2 + 0.25 * shot.pan * room_y * (0.5 - a)
        if shot.shake_px:
            cx += shot.shake_px * np.sin(1.7 * i)
            cy += shot.shake_px * np.cos(2.3 * i)
        cx = float(np.clip(cx, cw / 2, pw - cw / 2))
        cy = float(np.clip(cy, ch / 2, ph - ch / 2))
        # Affine map from the crop window onto the output frame (sub-pixel, so motion is smooth).
        s = width / cw
        m = np.array([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]], dtype=np.float32)
        frame = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gain = shot.exposure[0] + (shot.exposure[1] - shot.exposure[0]) * a
        if gain != 1.0 or shot.noise:
            f = frame.astype(np.float32) * gain
            if shot.noise:
                f += rng.normal(0.0, shot.noise, f.shape).astype(np.float32)
            frame = np.clip(f, 0, 255).astype(np.uint8)
        yield frame


def write_video(
    path: str | Path,
    shots: Sequence[Shot],
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    crf: int = 23,
    faststart: bool = True,
    gop: int | None = None,
) -> dict:
    """Encode ``shots`` back to back as H.264 (yuv420p) into ``path``.

    Returns the ground truth ``{"boundaries": [...], "duration": ...}`` in seconds: a boundary
    is the media time of the first frame of every shot after the first. ``faststart`` puts the
    MP4 index at the front, as streaming servers do. ``gop`` defaults to two seconds.
    """
    path = Path(path)
    boundaries: list[float] = []
    frames_written = 0
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart and path.suffix == ".mp4" else {}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "g": str(gop or 2 * fps)}
        for k, shot in enumerate(shots):
            if k:
                boundaries.append(round(frames_written / fps, 6))
            for image in render_shot(shot, size, fps):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = frames_written
                for packet in stream.encode(frame):
                    out.mux(packet)
                frames_written += 1
        for packet in stream.encode():
            out.mux(packet)
    return {"boundaries": boundaries, "duration": round(frames_written / fps, 6)}
