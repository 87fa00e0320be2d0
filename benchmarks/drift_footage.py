"""Frame features of the bench's real clips, encoded once and cached (a helper of
``bench_drift_arrangements.py``).

Exports :data:`FPS`, :data:`ALONE_S`, :data:`BUSY`, :func:`load_features`.

Every clip of ``scripts/make_real_bench.py`` is decoded, fitted to 640×360 as the bench videos
are, sampled at :data:`FPS` (the default sampling) on its ping-pong time line for
:data:`ALONE_S` seconds, and encoded by the configured X-encoder into unit frame features. Two
one-scene negatives are built as ``make_real_bench.py`` builds them: ``handheld`` (the virtual
hand-held camera over bigbuckbunny) and ``exposure`` (tree.avi before the hand under exposure
drift and sensor noise); both effects run at 25 fps and every 25/4-th frame is kept. The tree's
hand is two arrays: ``tree`` (before the hand, ping-pong) and ``tree_hand`` (from the hand on,
played once). The result is written to one ``.npz`` (about 12 MB) and read back on later runs,
so statistics are compared offline on the same streams without decoding or encoding again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from make_real_bench import TREE_HAND_S, Segment, exposure_drift, fit, handheld, load_clip, sources  # noqa: E402

__all__ = ["FPS", "ALONE_S", "BUSY", "load_features"]

FPS = 4  # the default sampling: two new frames per 0.5 s sample
ALONE_S = 60.0  # seconds of each clip alone
SOURCE_FPS = 25  # the rate the effects run at, as in the bench videos
EXCERPTS = {  # clip → the excerpt that stands for it, as in the bench videos
    "bigbuckbunny": Segment("bigbuckbunny"),
    "bikes": Segment("bikes"),
    "carphone": Segment("carphone"),
    "Megamind": Segment("Megamind", 0.6, excerpt_s=10.48),
    "vtest": Segment("vtest", 30.0, excerpt_s=20.0),
    "box": Segment("box"),
    "cup": Segment("cup"),
}
# Clips whose own variability is large: a fast-cut montage, a shot/reverse-shot dialogue,
# people walking past a fixed camera, a moving hand-held camera.
BUSY = ("bikes", "Megamind", "vtest", "handheld")


def _encode(models, images: list[np.ndarray]) -> np.ndarray:
    x = np.concatenate([models.encode_frames(images[i : i + 16]) for i in range(0, len(images), 16)])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _sampled(clip, n: int) -> list[np.ndarray]:
    return [fit(clip.at(i / FPS), (640, 360)) for i in range(n)]


def _with_effect(clip, effect, n: int) -> list[np.ndarray]:
    """``n`` samples at :data:`FPS` of ``effect`` run over the clip at :data:`SOURCE_FPS`."""
    total = int(n * SOURCE_FPS / FPS)
    keep = {int(k * SOURCE_FPS / FPS) for k in range(n)}
    frames = effect((clip.at(i / SOURCE_FPS) for i in range(total)), total)
    return [fit(f, (640, 360)) for i, f in enumerate(frames) if i in keep]


def _build(models) -> dict[str, np.ndarray]:
    paths, n = sources(), int(ALONE_S * FPS)
    out = {}
    for name, seg in EXCERPTS.items():
        out[name] = _encode(models, _sampled(load_clip(paths[name], seg), n))
        print(f"encoded {name}", file=sys.stderr)
    bunny = load_clip(paths["bigbuckbunny"], Segment("bigbuckbunny", 0.0, 30.0))
    out["handheld"] = _encode(models, _with_effect(bunny, handheld, n))
    before = load_clip(paths["tree"], Segment("tree", 0.0, excerpt_s=TREE_HAND_S - 0.5))
    out["tree"] = _encode(models, _sampled(before, n))
    still = load_clip(paths["tree"], Segment("tree", 0.0, 30.0, excerpt_s=20.0))
    out["exposure"] = _encode(models, _with_effect(still, exposure_drift, n))
    hand = load_clip(paths["tree"], Segment("tree", TREE_HAND_S))
    out["tree_hand"] = _encode(models, _sampled(hand, int(hand.span_s * FPS)))
    print("encoded the built negatives and the tree", file=sys.stderr)
    return out


def load_features(cache: Path, models_factory) -> dict[str, np.ndarray]:
    """The features above: read from ``cache`` when it exists, else built with
    ``models_factory()`` and written there."""
    if cache.is_file():
        with np.load(cache) as data:
            return {k: data[k] for k in data.files}
    out = _build(models_factory())
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out
