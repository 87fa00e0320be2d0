"""How the drift detector holds beyond the one bench video: the same real clips in random orders.

    python benchmarks/bench_drift_arrangements.py [--trials 30] [--thresholds 1.5,1.75] [--out FILE.json]

The real-footage bench (``scripts/make_real_bench.py``) joins its clips in one order, so a
detector can look good by luck of that order. This script encodes each clip once (4 frames per
second, the default sampling, 640×360 as the bench videos are), then replays the frame features
through :class:`~pipelines.core.drift.DriftDetector` for ``--trials`` random arrangements: every
clip once, each 6–20 s long (ping-pong when the clip is shorter), the tree's hand entering as a
change inside its view. It scores boundary recall and precision as ``jepa-stream bench`` does,
and counts false changes on each clip alone for 60 s. Needs the bench footage
(``apt-get install opencv-doc``, ``pip install -e ".[test]"``). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_real_bench import TREE_HAND_S, Segment, fit, load_clip, sources  # noqa: E402

from pipelines.bench.metrics import match_boundaries  # noqa: E402
from pipelines.config import load_config  # noqa: E402
from pipelines.core.drift import DriftConfig, DriftDetector, Reason  # noqa: E402
from pipelines.profiles import build_models  # noqa: E402

FPS = 4  # the default sampling: two new frames per 0.5 s sample
LONGEST_S = 20.0
EXCERPTS = {  # clip → the excerpt that stands for it (start, length), as in the bench videos
    "bigbuckbunny": Segment("bigbuckbunny"),
    "bikes": Segment("bikes"),
    "carphone": Segment("carphone"),
    "Megamind": Segment("Megamind", 0.6, excerpt_s=10.48),
    "vtest": Segment("vtest", 30.0, excerpt_s=LONGEST_S),
    "box": Segment("box"),
    "cup": Segment("cup"),
}


def features(models, paths) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per clip, unit frame features ``(LONGEST_S * FPS, F)`` on its ping-pong time line; and the
    tree before the hand (ping-pong) and from the hand on (played once)."""

    def encode(clip, n):
        images = [fit(clip.at(i / FPS), (640, 360)) for i in range(n)]
        x = np.concatenate([models.encode_frames(images[i : i + 16]) for i in range(0, n, 16)])
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    out = {}
    for name, seg in EXCERPTS.items():
        out[name] = encode(load_clip(paths[name], seg), int(LONGEST_S * FPS))
        print(f"encoded {name}", file=sys.stderr)
    before = encode(load_clip(paths["tree"], Segment("tree", 0.0, excerpt_s=TREE_HAND_S - 0.5)), int(LONGEST_S * FPS))
    after_clip = load_clip(paths["tree"], Segment("tree", TREE_HAND_S))
    after = encode(after_clip, int(after_clip.span_s * FPS))
    return out, before, after


def changes(frames: np.ndarray, drift: DriftConfig) -> list[float]:
    detector, out = DriftDetector(drift), []
    for k in range(0, len(frames) - 1, 2):
        t = (k + 2) / FPS
        decision = detector.feed(t, frames[k + 1], frames=frames[k : k + 2])
        if decision is not None and decision.reason is Reason.CHANGE:
            out.append(t)
    return out


def arrangement(rng, clips, tree_before, tree_after) -> tuple[np.ndarray, list[float]]:
    parts, truth, n = [], [], 0
    for name in rng.permutation([*clips, "tree"]):
        if n:
            truth.append(n / FPS)
        if name == "tree":
            lead = int(rng.uniform(6, 14) * FPS)
            parts += [tree_before[:lead], tree_after]
            truth.append((n + lead) / FPS)
            n += lead + len(tree_after)
        else:
            take = int(rng.uniform(6, LONGEST_S) * FPS)
            parts.append(clips[name][:take])
            n += take
    return np.concatenate(parts), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="random arrangements (default 30)")
    parser.add_argument("--thresholds", default="", help="segment thresholds to compare (default: the configured one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench-out/drift_arrangements.json", help="JSON output")
    args = parser.parse_args()
    config = load_config()
    clips, tree_before, tree_after = features(build_models(config.model), sources())
    thresholds = [float(x) for x in args.thresholds.split(",") if x] or [config.drift.threshold]
    rows = []
    for threshold in thresholds:
        drift = dataclasses.replace(config.drift, threshold=threshold, heartbeat_s=0.0)
        rng = np.random.default_rng(args.seed)
        truths = claims = matched = 0
        for _ in range(args.trials):
            frames, truth = arrangement(rng, clips, tree_before, tree_after)
            found = changes(frames, drift)
            truths, claims, matched = truths + len(truth), claims + len(found), matched + len(match_boundaries(truth, found))
        alone = {name: len(changes(np.concatenate([x] * 3), drift)) for name, x in clips.items()}  # 60 s each
        rows.append({"threshold": threshold, "trials": args.trials, "boundaries": truths, "claims": claims,
                     "recall": round(matched / truths, 3), "precision": round(matched / claims, 3) if claims else None,
                     "false_changes_per_60s_alone": alone})
        print(f"threshold {threshold:g}: recall {matched / truths:.2f}, precision {matched / max(claims, 1):.2f} "
              f"over {truths} changes; false changes in 60 s of one clip: {alone}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": dataclasses.asdict(config.drift) | {"statistic": config.drift.statistic.value}, "rows": rows}, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
