"""Before/after a restructuring: the same replays through two checkouts, paired in one run.

    python benchmarks/bench_replay_pair.py BEFORE_ROOT [--video FILE ...] [--rounds N] [--out FILE.json]

For each video, ``jepa-stream replay VIDEO --quiet --events-out … --summary-json …`` runs from
``BEFORE_ROOT`` (another checkout, e.g. ``git archive <commit> | tar -x -C DIR``) and from this
checkout, alternately, ``--rounds`` times each, with the same interpreter. It prints and writes as
JSON: whether the captions are identical (their ``t``, ``text``, ``reason`` and label texts; wall
times and latencies differ by nature), and each side's realtime factor and step p95 per round
with their medians. Defaults: the demo video and the real excerpt, 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchkit import write_report

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = [ROOT / "demo" / "demo.mp4", ROOT / "tests" / "data" / "real_excerpt.mp4"]


def replay(root: Path, video: Path, folder: Path, tag: str) -> tuple[list, dict]:
    """One replay from checkout ``root``; its captions (compared fields) and its summary."""
    events, summary = folder / f"{tag}.jsonl", folder / f"{tag}.json"
    subprocess.run([sys.executable, "-m", "pipelines.cli", "replay", str(video), "--quiet", "--events-out", str(events),
                    "--summary-json", str(summary)], cwd=root, check=True, stdout=subprocess.DEVNULL)
    captions = [(e["t"], e["text"], e["reason"], [lab["text"] for lab in e["labels"]])
                for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "caption"]
    return captions, json.loads(summary.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("--video", type=Path, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_replay_pair.json"))
    args = parser.parse_args()
    out = {"machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()}, "videos": {}}
    with tempfile.TemporaryDirectory(prefix="replay-pair-") as tmp:
        for video in args.video or VIDEOS:
            sides = {"before": {"captions": None, "rtf": [], "step_p95_ms": []}, "after": {"captions": None, "rtf": [], "step_p95_ms": []}}
            for n in range(args.rounds):
                for side, root in (("before", args.before), ("after", ROOT)):
                    captions, summary = replay(root, video, Path(tmp), f"{video.stem}-{side}-{n}")
                    record = sides[side]
                    record["captions"] = record["captions"] or captions
                    record["rtf"].append(summary["realtime_factor"])
                    record["step_p95_ms"].append(summary["step_p95_ms"])
            same = sides["before"]["captions"] == sides["after"]["captions"]
            row = {"captions": len(sides["after"]["captions"]), "identical": same}
            for side in sides:
                row[side] = {k: sides[side][k] for k in ("rtf", "step_p95_ms")}
                row[side]["median_rtf"] = statistics.median(sides[side]["rtf"])
                row[side]["median_step_p95_ms"] = statistics.median(sides[side]["step_p95_ms"])
            out["videos"][video.name] = row
            print(f"{video.name}: {row['captions']} captions, identical: {same}; realtime factor before {row['before']['rtf']} "
                  f"after {row['after']['rtf']}; step p95 ms before {row['before']['step_p95_ms']} after {row['after']['step_p95_ms']}",
                  flush=True)
    out["machine"]["loadavg_end"] = os.getloadavg()
    write_report(args.out, out)
    return 0 if all(v["identical"] for v in out["videos"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
