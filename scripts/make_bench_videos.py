"""Build the bench videos and their ground truth from scikit-image's sample photos.

    python scripts/make_bench_videos.py [--out bench-videos]

Writes, each with ``NAME.gt.json`` beside it (``{"boundaries": [...], "duration": ...}``):

* ``multiscene.mp4`` (120 s): nine shots of 8–20 s with long static stretches, slow camera
  motion, small shake, exposure drift and sensor noise; the cuts are the only changes of meaning.
* ``static_exposure.mp4`` (30 s): one static scene under a ±15 % exposure drift (0.85 → 1.15)
  with sensor noise (σ = 4 grey levels) and 1.5 px shake: any change-decode is a false alarm.
* ``repeat.mp4`` (40 s): the same 5 s clip of one scene played eight times back to back (each
  repeat is a hard cut to identical content): a repeated clip must not fire.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # videokit, the tests' video maker

from videokit import Shot, write_video  # noqa: E402


def _photos() -> dict:
    return {n: getattr(skimage.data, n)() for n in ("chelsea", "coffee", "rocket", "camera", "astronaut", "clock", "coins", "moon", "retina")}


def multiscene(p: dict) -> list[Shot]:
    return [
        Shot(p["chelsea"], 14.0, zoom=(1.0, 0.85), pan=0.3, shake_px=1.5),
        Shot(p["coffee"], 10.0, zoom=(0.9, 0.9), pan=0.0, exposure=(0.9, 1.1), noise=3.0),
        Shot(p["rocket"], 18.0, zoom=(1.0, 0.8), pan=0.4, noise=2.0, seed=1),
        Shot(p["camera"], 12.0, zoom=(0.9, 0.9), pan=0.0, shake_px=1.5),
        Shot(p["astronaut"], 16.0, zoom=(1.0, 0.8), pan=-0.3, exposure=(1.05, 0.9)),
        Shot(p["clock"], 8.0, zoom=(0.95, 0.95), pan=0.0, noise=3.0, seed=2),
        Shot(p["coins"], 14.0, zoom=(1.0, 0.85), pan=0.3),
        Shot(p["retina"], 12.0, zoom=(0.9, 0.8), pan=0.2, noise=2.0, seed=3),
        Shot(p["coffee"], 16.0, zoom=(1.0, 0.8), pan=-0.4, shake_px=1.0),
    ]


def static_exposure(p: dict) -> list[Shot]:
    return [Shot(p["coffee"], 30.0, zoom=(0.9, 0.9), pan=0.0, exposure=(0.85, 1.15), noise=4.0, shake_px=1.5, seed=7)]


def repeat(p: dict) -> list[Shot]:
    return [Shot(p["chelsea"], 5.0, zoom=(1.0, 0.9), pan=0.3, shake_px=1.0)] * 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-videos", help="output folder (default: bench-videos)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos = _photos()
    for name, shots, no_cuts in (("multiscene", multiscene(photos), False), ("static_exposure", static_exposure(photos), True), ("repeat", repeat(photos), True)):
        truth = write_video(out / f"{name}.mp4", shots, size=(640, 360), fps=25, crf=26)
        if no_cuts:  # the repeats are cuts to the same content: no change of meaning
            truth = {"boundaries": [], "duration": truth["duration"]}
        (out / f"{name}.gt.json").write_text(json.dumps(truth) + "\n")
        print(f"{out / (name + '.mp4')}: {truth}")


if __name__ == "__main__":
    main()
