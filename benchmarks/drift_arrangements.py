"""Arrangements of the bench's real clips, and how a detector scores on them (a helper of
``bench_drift_arrangements.py``).

Exports :data:`FAMILIES`, :func:`arrangement`, :func:`long_shots`, :func:`changes` and :func:`score`.

An arrangement joins every clip of the cache once (the tree with its hand entering after 6–14 s
of its still view), each 6–20 s long from its start (played ping-pong beyond its excerpt; with
``once``, from 6 s or the excerpt's length up to the excerpt's length), in an order of one of four families, chosen
by ``seed // 2 % 4`` so that both halves of the seeds (even: tuning, odd: held out) hold every
family:

* ``random``: a random order.
* ``busy_ends``: a busy clip first and another last.
* ``busy_block``: the busy clips next to each other, the montage (bikes) twice in a row (the
  second copy from 30–60 % of its longest length on: a jump inside one scene, not a change).
* ``montage_static``: the montage twice in a row, then the tree's still view.

A true change is every join except the montage's own repeat, and the hand entering the tree's
view. Busy clips: :data:`drift_footage.BUSY` less the built hand-held one (which shows
bigbuckbunny, already in every arrangement).
"""

from __future__ import annotations

import numpy as np

from drift_footage import BUSY, FPS
from pipelines.bench.metrics import match_boundaries
from pipelines.core.drift import DriftConfig, DriftDetector, Reason

__all__ = ["FAMILIES", "arrangement", "long_shots", "changes", "score"]

# Megamind's shots in the cached excerpt (from 0.6 s): cuts at 3.0, 5.3 and 7.2 s; the shots
# alternate between the two speakers (shot/reverse-shot).
DIALOGUE_SHOTS_S = ((0.0, 3.0), (3.0, 5.3), (5.3, 7.2), (7.2, 10.48))

FAMILIES = ("random", "busy_ends", "busy_block", "montage_static")
SCENES = ("bigbuckbunny", "bikes", "carphone", "Megamind", "vtest", "box", "cup", "tree")
MONTAGE = "bikes"
SPANS = {"bigbuckbunny": 5.28, "bikes": 10.0, "carphone": 4.0, "Megamind": 10.48, "vtest": 20.0, "box": 15.18, "cup": 8.1}  # excerpt seconds
_BUSY = [b for b in BUSY if b in SCENES]


def _order(rng: np.random.Generator, family: str) -> list[str]:
    """Scene names in order; ``MONTAGE`` twice in a row where the family repeats it."""
    order = [str(x) for x in rng.permutation(SCENES)]
    if family == "busy_ends":
        first, last = (str(x) for x in rng.choice(_BUSY, 2, replace=False))
        rest = [x for x in order if x not in (first, last)]
        return [first, *rest, last]
    if family == "busy_block":
        block = [str(x) for x in rng.permutation(_BUSY)]
        block.insert(block.index(MONTAGE), MONTAGE)
        rest = [x for x in order if x not in _BUSY]
        at = int(rng.integers(0, len(rest) + 1))
        return rest[:at] + block + rest[at:]
    if family == "montage_static":
        rest = [x for x in order if x not in (MONTAGE, "tree")]
        at = int(rng.integers(0, len(rest) + 1))
        return rest[:at] + [MONTAGE, MONTAGE, "tree"] + rest[at:]
    return order


def arrangement(seed: int, feats: dict[str, np.ndarray], once: bool = False) -> tuple[str, np.ndarray, list[float]]:
    """``(family, frames (n, F), true change times)`` of arrangement ``seed``; ``once``: no clip
    longer than its excerpt (no ping-pong replay, which shows a scene's frames again)."""
    rng = np.random.default_rng(seed)
    family = FAMILIES[seed // 2 % len(FAMILIES)]
    parts, truth, n, previous = [], [], 0, None
    for name in _order(rng, family):
        if n and name != previous:
            truth.append(n / FPS)
        if name == "tree":
            lead = int(rng.uniform(6, 14) * FPS)
            parts += [feats["tree"][:lead], feats["tree_hand"]]
            truth.append((n + lead) / FPS)
            n += lead + len(feats["tree_hand"])
        else:
            longest = min(20.0, SPANS[name]) if once else 20.0
            take = int(rng.uniform(min(6.0, longest), longest) * FPS)
            start = int(rng.uniform(0.3, 0.6) * longest * FPS) if name == previous else 0  # the repeat: elsewhere in it
            parts.append(feats[name][start : start + take])
            n += take
        previous = name
    return family, np.concatenate(parts), truth


def long_shots(feats: dict[str, np.ndarray], shot_s: float, total_s: float | None = None) -> np.ndarray:
    """The dialogue with every shot held ``shot_s`` seconds (its frames played ping-pong), in
    order: a scene whose first reverse shot comes after ``shot_s`` of the first speaker alone.
    ``total_s``: the four shots again and again for that long (cuts back to shots already
    seen), instead of once each."""
    count = len(DIALOGUE_SHOTS_S) if total_s is None else int(np.ceil(total_s / shot_s))
    parts = []
    for k in range(count):
        start, end = DIALOGUE_SHOTS_S[k % len(DIALOGUE_SHOTS_S)]
        shot = feats["Megamind"][round(start * FPS) : round(end * FPS)]
        loop = np.concatenate([shot, shot[::-1]])
        parts.append(np.resize(loop, (round(shot_s * FPS), loop.shape[1])))
    frames = np.concatenate(parts)
    return frames if total_s is None else frames[: round(total_s * FPS)]


def changes(frames: np.ndarray, drift: DriftConfig, contrast=None) -> list[float]:
    """Media times of the ``change`` decisions on ``frames`` fed two at a time (a 0.5 s stride)."""
    detector, out = DriftDetector(drift, contrast), []
    for k in range(0, len(frames) - 1, 2):
        t = (k + 2) / FPS
        decision = detector.feed(t, frames[k + 1], frames=frames[k : k + 2])
        if decision is not None and decision.reason is Reason.CHANGE:
            out.append(t)
    return out


def score(runs: list[tuple[list[float], list[float]]]) -> dict:
    """Pooled recall, precision, change decodes per true change and median lag over ``runs``
    of ``(truth, claims)``."""
    truths = sum(len(t) for t, _ in runs)
    claims = sum(len(c) for _, c in runs)
    pairs = [p for t, c in runs for p in match_boundaries(t, c)]
    return {
        "changes": truths,
        "claims": claims,
        "recall": round(len(pairs) / truths, 3) if truths else None,
        "precision": round(len(pairs) / claims, 3) if claims else None,
        "decodes_per_change": round(claims / truths, 3) if truths else None,
        "lag_s": round(float(np.median([d - b for b, d in pairs])), 2) if pairs else None,
    }
