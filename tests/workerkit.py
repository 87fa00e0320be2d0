"""Workers as real ``jepa-stream run --bus`` processes, for tests and benchmarks.

Exports :data:`CAMERAS`, :func:`write_cameras`, :class:`Worker`, :func:`running_workers`,
:func:`wait_for`, :func:`split_evenly`, :func:`first_caption_after` and
:func:`assert_one_worker_per_camera`.

Each worker writes its events to its own ``--events-out`` file (flushed line by line), which is
what the checks read: the worker field, assigned/released statuses and caption times.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import testlimits
from testlimits import TIMEOUT_S
from videokit import Shot, write_video

__all__ = ["CAMERAS", "write_cameras", "Worker", "running_workers", "wait_for", "split_evenly",
           "first_caption_after", "assert_one_worker_per_camera"]

CAMERAS = ("cam0", "cam1", "cam2", "cam3")


def write_cameras(folder: Path, photos: dict, shot_s: float = 15.0, shots: int = 6) -> list[Path]:
    """One small video per camera of :data:`CAMERAS` (160x96, 8 fps: four play at real time on
    two cores), each ``shots`` changing scenes of ``shot_s`` seconds."""
    names = ("chelsea", "coffee", "rocket", "camera")
    paths = []
    for i in range(len(CAMERAS)):
        paths.append(folder / f"cam{i}.mp4")
        write_video(paths[-1], [Shot(photos[names[(i + k) % 4]], shot_s, seed=k) for k in range(shots)],
                    size=(160, 96), fps=8)
    return paths


class Worker:
    """One ``jepa-stream run --bus`` process and the events it wrote."""

    def __init__(self, name: str, config: Path, url: str, folder: Path):
        self.name, self.events_path = name, folder / f"{name}.jsonl"
        self.stderr = open(folder / f"{name}.err", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), "--bus", url,
             "--events-out", str(self.events_path)],
            stdout=subprocess.DEVNULL, stderr=self.stderr)

    def events(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is left out

    def held(self) -> set[str]:
        """Cameras whose last assigned/released status says this worker analyses them."""
        held = set()
        for e in self.events():
            if e["type"] == "status" and e["state"] in ("assigned", "released"):
                (held.add if e["state"] == "assigned" else held.discard)(e["source"])
        return held

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
        try:
            self.proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(TIMEOUT_S)
        self.stderr.close()


def _site(folder: Path, cameras: list[Path], worker: str, lease_s: float) -> Path:
    config = folder / f"{worker}.yaml"
    sources = "".join(f"  - {{id: {cid}, url: {path}}}\n" for cid, path in zip(CAMERAS, cameras))
    config.write_text(f"sources:\n{sources}cluster:\n  lease_timeout_s: {lease_s}\n  worker: {worker}\n"
                      f"feed:\n  log:\n    path: {folder / (worker + '.sqlite')}\n")
    return config


@contextlib.contextmanager
def running_workers(url: str, folder: Path, cameras: list[Path], *names: str, lease_s: float):
    """Start a worker per name on the engine at ``url`` (leases of ``lease_s``); stop them all after."""
    workers = []
    try:
        for name in names:
            workers.append(Worker(name, _site(folder, cameras, name, lease_s), url, folder))
        yield workers
    finally:
        for worker in workers:
            worker.stop()


wait_for = functools.partial(testlimits.wait_for, timeout_s=3 * TIMEOUT_S, step_s=0.2)
""":func:`testlimits.wait_for` with the cluster's longer deadline (leases, elections), polled every 0.2 s."""


def split_evenly(a: Worker, b: Worker) -> bool:
    """Whether ``a`` and ``b`` hold two cameras each, all four between them."""
    ha, hb = a.held(), b.held()
    return len(ha) == len(hb) == 2 and ha | hb == set(CAMERAS)


def first_caption_after(worker: Worker, camera: str, wall_time: float) -> float | None:
    """The wall time of ``worker``'s first caption of ``camera`` after ``wall_time``, if any."""
    times = [e["wall_time"] for e in worker.events()
             if e["type"] == "caption" and e["source"] == camera and e["wall_time"] > wall_time]
    return min(times) if times else None


def _tenures(events: list[dict]) -> list[tuple[str, str, list[float]]]:
    """(worker, camera, caption times) for each stretch between a worker's assigned and released."""
    open_, out = {}, []
    for e in sorted(events, key=lambda e: e["wall_time"]):
        key = (e.get("worker"), e["source"])
        if e["type"] == "status" and e["state"] == "assigned":
            open_[key] = []
        elif e["type"] == "status" and e["state"] == "released" and key in open_:
            out.append((*key, open_.pop(key)))
        elif e["type"] == "caption":
            assert key in open_, f"caption of {key[1]} by {key[0]} outside its assignment: {e}"
            open_[key].append(e["wall_time"])
    return out + [(*key, times) for key, times in open_.items()]


def assert_one_worker_per_camera(events: list[dict]) -> None:
    """No two workers' captions of one camera overlap in time: each tenure's first-to-last caption
    span is disjoint from every other worker's span for that camera."""
    spans = [(w, c, min(t), max(t)) for w, c, t in _tenures(events) if t]
    for w1, c1, start1, end1 in spans:
        for w2, c2, start2, end2 in spans:
            if c1 == c2 and w1 != w2:
                assert end1 < start2 or end2 < start1, f"{c1}: {w1} ({start1}..{end1}) and {w2} ({start2}..{end2}) overlap"
