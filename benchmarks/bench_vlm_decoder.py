"""The ``vlm`` decoder's cost and isolation on real footage, with the SmolVLM-256M architecture.

    python benchmarks/bench_vlm_decoder.py --video bench-videos/real/real_multiscene.mp4 --out bench-out/vlm_decoder.json
    python benchmarks/bench_vlm_decoder.py --parts cost --every-clip-sample 8
    python benchmarks/bench_vlm_decoder.py --parts soak --minutes 30 --vlm-seconds 4

Three parts (``--parts``, default all), each on the same real video (by default the multi-scene
real-footage bench video, ``bench-videos/real/*multi*.mp4``, made by ``scripts/make_real_bench.py``)
with the default ``lite`` stack and the SmolVLM-256M architecture with **random weights** (a
latency stand-in: the text is token ids; no weights can be fetched here):

* ``cost``: VLM-on-drift against VLM-on-every-clip, the same frames and the same model. The
  selective side runs the real :class:`~pipelines.vlm.enrichment.EnrichmentObserver` (default budget,
  "what changed" prompt over two frames) on every decision of a stream pass, one at a time (the
  pace of real time, where the changes of this video are 10 s or more apart). The every-clip
  side captions ``--every-clip-sample`` clips spread evenly (the newest frame, one-frame prompt)
  and multiplies by the clip count, as the bench's baseline does. CPU is measured two ways:
  ``process`` (``time.process_time`` over the pass: every thread, torch's helpers included;
  nothing else runs then) and ``thread`` (``time.thread_time`` of the calling thread only). Target:
  the selective decoder spends >= 5x fewer CPU-seconds per minute of video.
* ``latency``: the stream as fast as it goes (``--latency-loops`` times the video), once without
  and once with the VLM worker running (so it is always busy and takes CPU from the pipeline),
  timing each step from the sample handed to the pipeline to its results, and for a caption to
  the caption being in the event log (the first event). Target: first event p95 <= 40 ms.
* ``soak``: ``--minutes`` of replay (the video looped, its times shifted) with the VLM set to take
  about ``--vlm-seconds`` per text (``max_new_tokens`` calibrated here; when the two-frame prefill
  alone takes longer, one token); RSS every 50 clips (with the growth after the first quarter,
  a warm-up in which allocator caches and the bounded latency histories fill, and the last half's
  slope), the pending requests and the time of each hand-over. Target: RSS flat, at most one
  request pending.

Prints one line per figure and writes JSON to ``--out``. On a shared 2-core CPU the figures move
with the other work on the machine; the ratios are the point.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.config import load_config  # noqa: E402
from pipelines.decoder_config import VLMDecoderConfig  # noqa: E402
from pipelines.percentiles import percentiles  # noqa: E402
from streamer.capture.sources import VideoFileSource  # noqa: E402
from streamer.feed.bus import EventBus  # noqa: E402
from streamer.feed.eventlog import EventLogConfig, SqliteEventLog  # noqa: E402
from streamer.feed.events import caption_event  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Collector:
    """The bus's publish, counting enrichments so a pass can wait for them."""

    def __init__(self, bus: EventBus):
        self.bus = bus
        self.enrichments: list[dict] = []
        self._cond = threading.Condition()

    def __call__(self, event):
        sent = self.bus.publish(event)
        if event["type"] == "enrichment":
            with self._cond:
                self.enrichments.append(dict(sent))
                self._cond.notify_all()
        return sent

    def wait_for(self, n: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: len(self.enrichments) >= n, timeout)


def frames_of(video: str, config, loops: int = 1):
    """The sampled frames of ``video``, ``loops`` times over, times and indices shifted per loop."""
    duration, count = 0.0, 0
    for loop in range(loops):
        last = None
        for f in VideoFileSource(video, "real", sample_fps=config.sampling.fps, max_side=config.sampling.max_side).frames():
            last = f
            yield dataclasses.replace(f, pts=f.pts + duration, index=f.index + count)
        if last is None:
            return
        duration += last.pts + 1.0 / config.sampling.fps
        count += last.index + 1


def stream_pass(video, config, models, publish, *, loops=1, follow=None, keep=None, every_rss=0, keep_decisions=False):
    """One selective pass; returns per-step figures. ``follow(sent, result)`` gets each caption
    (the vlm decoder's hand-over); ``keep(i, result, frame)`` sees every clip. ``keep_decisions``
    keeps each caption with its clip result (and so its frames: only for short passes)."""
    from pipelines.core.selective import SelectivePipeline

    pipeline = SelectivePipeline("real", models, config.clip, config.drift)
    step_ms, first_event_ms, follow_ms, rss, decisions = [], [], [], [], []
    clip = 0
    for frame in frames_of(video, config, loops):
        start = time.perf_counter()
        results = pipeline.feed(frame)
        for result in results:
            if result.caption is not None:
                sent = publish(caption_event(result.caption))
                first_event_ms.append((time.perf_counter() - start) * 1e3)
                decisions.append((sent, result) if keep_decisions else sent)
                if follow:
                    t0 = time.perf_counter()
                    follow(sent, result)
                    follow_ms.append((time.perf_counter() - t0) * 1e3)
            if keep:
                keep(clip, result, frame)
            clip += 1
            if every_rss and clip % every_rss == 0:
                rss.append((clip, round(pipeline.stats.last_t, 1), round(rss_mb(), 1)))
        if results:
            step_ms.append((time.perf_counter() - start) * 1e3)
    return {"pipeline": pipeline, "step_ms": step_ms, "first_event_ms": first_event_ms, "follow_ms": follow_ms,
            "rss": rss, "decisions": decisions, "clips": clip}


def new_bus(folder: str, name: str) -> EventBus:
    return EventBus(SqliteEventLog(EventLogConfig(os.path.join(folder, name), fsync=False)), sources=["real"], profile="lite")


def part_cost(video, config, models, vlm, vlm_config, args, folder) -> dict:
    from pipelines.vlm.enrichment import EnrichmentObserver

    spread: dict[int, np.ndarray] = {}
    bus = new_bus(folder, "cost.sqlite")
    s = stream_pass(video, config, models, bus.publish, keep_decisions=True)
    clips, media_s = s["clips"], s["pipeline"].stats.media_s
    every = max(1, clips // args.every_clip_sample)
    wanted = {i for i in range(every // 2, clips, every)}

    def keep(i, result, frame):
        if i in wanted and len(spread) < args.every_clip_sample:
            spread[i] = frame.image

    stream_pass(video, config, models, new_bus(folder, "cost2.sqlite").publish, keep=keep)  # the frames every-clip captions

    collector = Collector(new_bus(folder, "cost3.sqlite"))
    worker = EnrichmentObserver(vlm, collector, vlm_config).start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n, (sent, result) in enumerate(s["decisions"], 1):
        worker.follow(sent, result)  # the same caption events and frames as the stream pass
        collector.wait_for(n, 600.0)
    selective_process_s, selective_wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    worker.finish(wait_s=60.0)
    done = [e for e in collector.enrichments if e["state"] == "done"]
    selective_thread_s = sum(e["cpu_s"] or 0.0 for e in collector.enrichments)

    per_process, per_thread, per_wall = [], [], []
    for image in spread.values():
        c0, t0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
        vlm.caption([image], prompt=vlm_config.prompt)
        per_process.append(time.process_time() - c0)
        per_thread.append(time.thread_time() - t0)
        per_wall.append(time.perf_counter() - w0)
    minutes = media_s / 60
    every_process_s, every_thread_s = float(np.mean(per_process)) * clips, float(np.mean(per_thread)) * clips
    stride = config.clip.stride_s
    out = {
        "media_s": round(media_s, 2),
        "clips": clips,
        "decisions": len(s["decisions"]),
        "selective": {
            "texts": len(done),
            "states": {k: sum(e["state"] == k for e in collector.enrichments) for k in ("done", "failed", "timeout", "skipped")},
            "captions_per_min": round(len(done) / minutes, 3),
            "cpu_s_per_min": {"process": round(selective_process_s / minutes, 3), "thread": round(selective_thread_s / minutes, 3)},
            "wall_s": round(selective_wall_s, 2),
            "latency_ms": percentiles([e["latency_ms"] for e in done]),
            "lag_s": percentiles([e["lag_s"] for e in done]),
            "lag_note": "each decision handed over when the VLM was free (real-time pace on this video)",
        },
        "every_clip": {
            "captions_timed": len(per_process),
            "captions_per_min": round(clips / minutes, 3),
            "cpu_s_per_caption": {"process": round(float(np.mean(per_process)), 3), "thread": round(float(np.mean(per_thread)), 3)},
            "cpu_s_per_min": {"process": round(every_process_s / minutes, 3), "thread": round(every_thread_s / minutes, 3)},
            "latency_ms": percentiles([w * 1e3 for w in per_wall]),
            "keeps_up_at_real_time": bool(np.median(per_wall) <= stride),
            "live_clip_coverage": round(min(1.0, stride / float(np.median(per_wall))), 4),
            "lag_note": "at real time the queue grows by (latency - stride) each stride: a bounded queue drops clips, "
                        "an unbounded one lags without end",
        },
    }
    out["ratio_cpu"] = {k: round(out["every_clip"]["cpu_s_per_min"][k] / max(1e-9, out["selective"]["cpu_s_per_min"][k]), 2)
                        for k in ("process", "thread")}
    out["target_5x_met"] = out["ratio_cpu"]["process"] >= 5.0
    print(f"cost: {media_s:.0f} s of video, {clips} clips, {len(s['decisions'])} decisions, {len(done)} VLM texts")
    print(f"  selective : {out['selective']['captions_per_min']:.2f} texts/min, decoder CPU {out['selective']['cpu_s_per_min']['process']:.1f} s/min "
          f"(process; thread {out['selective']['cpu_s_per_min']['thread']:.1f}), lag p50 {out['selective']['lag_s']['p50']} s")
    print(f"  every clip: {out['every_clip']['captions_per_min']:.2f} captions/min, decoder CPU {out['every_clip']['cpu_s_per_min']['process']:.1f} s/min "
          f"(process; thread {out['every_clip']['cpu_s_per_min']['thread']:.1f}), from {len(per_process)} timed captions")
    print(f"  every clip / selective: {out['ratio_cpu']['process']}x (process), {out['ratio_cpu']['thread']}x (thread); target >= 5x: "
          f"{'met' if out['target_5x_met'] else 'NOT met'}")
    return out


def part_latency(video, config, models, vlm, vlm_config, folder, loops) -> dict:
    from pipelines.vlm.enrichment import EnrichmentObserver

    without = stream_pass(video, config, models, new_bus(folder, "lat0.sqlite").publish, loops=loops)
    collector = Collector(new_bus(folder, "lat1.sqlite"))
    worker = EnrichmentObserver(vlm, collector, vlm_config).start()
    with_vlm = stream_pass(video, config, models, collector, follow=worker.follow, loops=loops)
    worker.finish(wait_s=120.0)
    out = {}
    for name, s in (("without_vlm", without), ("with_vlm", with_vlm)):
        out[name] = {"step_ms": percentiles(s["step_ms"]), "first_event_ms": percentiles(s["first_event_ms"]),
                     "first_event_max_ms": round(max(s["first_event_ms"], default=0.0), 3), "captions": len(s["first_event_ms"])}
    out["with_vlm"]["handover_ms"] = percentiles(with_vlm["follow_ms"])
    out["with_vlm"]["enrichments"] = {k: sum(e["state"] == k for e in collector.enrichments) for k in ("done", "failed", "timeout", "skipped")}
    out["loops"] = loops
    out["target_40ms_met"] = (out["with_vlm"]["first_event_ms"]["p95"] or 0) <= 40.0  # the first event of a change
    for name in ("without_vlm", "with_vlm"):
        o = out[name]
        print(f"latency {name:12s}: step p50 {o['step_ms']['p50']} ms, p95 {o['step_ms']['p95']} ms; "
              f"first event p95 {o['first_event_ms']['p95']} ms, max {o['first_event_max_ms']} ms over {o['captions']} captions")
    print(f"  hand-over to the worker p95 {out['with_vlm']['handover_ms']['p95']} ms; target first event p95 <= 40 ms with the VLM: "
          f"{'met' if out['target_40ms_met'] else 'NOT met'}")
    return out


def calibrate_tokens(vlm, image, seconds: float) -> tuple[int, dict]:
    """``max_new_tokens`` for about ``seconds`` per two-frame text, from two timed captions."""
    a = vlm.caption([image, image], prompt="x")  # warm-up and 20 tokens (the preset's)
    n_a = len(a.token_ids)
    b_cfg = dataclasses.replace(vlm.config, max_new_tokens=4)
    saved, vlm.config = vlm.config, b_cfg
    b = vlm.caption([image, image], prompt="x")
    vlm.config = saved
    per_token = max(1e-3, (a.total_ms - b.total_ms) / 1e3 / (n_a - 4))
    base = b.total_ms / 1e3 - 4 * per_token
    tokens = int(min(512, max(1, math.ceil((seconds - base) / per_token))))
    return tokens, {"prefill_s": round(base, 3), "per_token_s": round(per_token, 4)}


def part_soak(video, config, models, args, folder) -> dict:
    from models.vlm import VLMConfig
    from pipelines.vlm.loader import open_vlm
    from pipelines.vlm.enrichment import EnrichmentObserver

    probe = next(frames_of(video, config))
    vlm = open_vlm(VLMConfig(weights="random", preset="smolvlm-256m", frames=2))
    tokens, fit = calibrate_tokens(vlm, probe.image, args.vlm_seconds)
    vlm_config = VLMDecoderConfig(max_new_tokens=tokens, timeout_s=max(30.0, 4 * args.vlm_seconds))
    vlm.config = dataclasses.replace(vlm.config, max_new_tokens=tokens)
    source = VideoFileSource(video)
    source.open_and_close()
    loops = max(1, math.ceil(args.minutes * 60 / source.duration))
    collector = Collector(new_bus(folder, "soak.sqlite"))
    worker = EnrichmentObserver(vlm, collector, vlm_config).start()
    pending = []

    def follow(sent, result):
        worker.follow(sent, result)
        pending.append(worker.decoder_stats("real")["pending"])

    wall0 = time.perf_counter()
    s = stream_pass(video, config, models, collector, loops=loops, follow=follow, every_rss=50)
    wall = time.perf_counter() - wall0
    dropped = worker.finish(wait_s=4 * args.vlm_seconds + 30)
    summary = worker.summary()
    rss = [m for _, _, m in s["rss"]]
    tenth = max(1, len(rss) // 10)
    done = [e for e in collector.enrichments if e["state"] == "done"]
    out = {
        "loops": loops,
        "media_s": round(s["pipeline"].stats.media_s, 1),
        "wall_s": round(wall, 1),
        "clips": s["clips"],
        "decisions": len(s["decisions"]),
        "vlm": {"max_new_tokens": tokens, **fit, "latency_s": percentiles([e["latency_ms"] / 1e3 for e in done])},
        "enrichments": {k: summary[k] for k in ("done", "failed", "timeout", "coalesced", "over_budget", "dropped")},
        "pending_max": max(pending, default=0),
        "handover_ms": percentiles(s["follow_ms"]),
        "step_ms": percentiles(s["step_ms"]),
        "first_event_ms": percentiles(s["first_event_ms"]),
        "rss_mb": {"after_first_tenth": round(float(np.median(rss[:tenth])), 1) if rss else None,
                   "last_tenth": round(float(np.median(rss[-tenth:])), 1) if rss else None,
                   "max": max(rss, default=None), "samples": s["rss"][:: max(1, len(s["rss"]) // 40)]},
        "dropped_at_end": dropped,
    }
    growth = (out["rss_mb"]["last_tenth"] or 0) - (out["rss_mb"]["after_first_tenth"] or 0)
    out["rss_mb"]["growth"] = round(growth, 1)
    if len(s["rss"]) >= 8:  # after a warm-up (a quarter: caches, bounded histories filling), and the last half's slope
        quarter, half = s["rss"][len(s["rss"]) // 4], s["rss"][len(s["rss"]) // 2]
        end = s["rss"][-1]
        out["rss_mb"]["after_warmup"] = {"at_media_s": quarter[1], "mb": quarter[2], "growth_to_end": round(end[2] - quarter[2], 1)}
        out["rss_mb"]["last_half_mb_per_media_min"] = round((end[2] - half[2]) / max(1e-9, (end[1] - half[1]) / 60), 3)
    print(f"soak: {out['media_s'] / 60:.1f} min of video ({loops} loops) in {wall:.0f} s; VLM {tokens} tokens, "
          f"p50 {out['vlm']['latency_s']['p50']} s per text")
    print(f"  {s['clips']} clips, {len(s['decisions'])} decisions: {summary['done']} texts, {summary['coalesced']} superseded, "
          f"{summary['over_budget']} over budget, {dropped} dropped at the end; pending max {out['pending_max']}")
    warm = out["rss_mb"].get("after_warmup", {})
    print(f"  RSS median first tenth {out['rss_mb']['after_first_tenth']} MB, last tenth {out['rss_mb']['last_tenth']} MB "
          f"(growth {growth:+.1f} MB; after the first quarter {warm.get('growth_to_end', 0):+.1f} MB, last half "
          f"{out['rss_mb'].get('last_half_mb_per_media_min')} MB per media minute), max {out['rss_mb']['max']} MB; "
          f"hand-over p95 {out['handover_ms']['p95']} ms; "
          f"step p95 {out['step_ms']['p95']} ms, first event p95 {out['first_event_ms']['p95']} ms")
    return out


def default_video() -> str | None:
    found = sorted(glob.glob(str(ROOT / "bench-videos" / "real" / "*multi*.mp4")))
    return found[0] if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", default=default_video(), help="real multi-scene footage (default bench-videos/real/*multi*.mp4)")
    parser.add_argument("--parts", nargs="+", choices=("cost", "latency", "soak"), default=["cost", "latency", "soak"])
    parser.add_argument("--every-clip-sample", type=int, default=12, help="clips the every-clip side captions and times (default 12)")
    parser.add_argument("--latency-loops", type=int, default=3, help="latency: times the video is played (default 3)")
    parser.add_argument("--minutes", type=float, default=30.0, help="soak: minutes of video (default 30)")
    parser.add_argument("--vlm-seconds", type=float, default=4.0, help="soak: seconds per VLM text (default 4)")
    parser.add_argument("--out", default="bench-out/vlm_decoder.json")
    args = parser.parse_args()
    if not args.video or not Path(args.video).is_file():
        print("bench_vlm_decoder: error: no multi-scene real footage (make it with scripts/make_real_bench.py, or pass --video)",
              file=sys.stderr)
        return 2
    import torch

    from models.vlm import VLMConfig
    from pipelines.vlm.loader import open_vlm
    from pipelines.profiles import build_models

    config = load_config()
    models = build_models(config.model)
    vlm_config = VLMDecoderConfig()  # the defaults: random smolvlm-256m, 20 tokens, 6/min, change prompt
    report = {"video": args.video, "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                                "python": platform.python_version()},
              "vlm": "smolvlm-256m architecture, random weights (latency stand-in)", "decoder_config": dataclasses.asdict(vlm_config)}
    with tempfile.TemporaryDirectory(prefix="bench-vlm-") as folder:
        if {"cost", "latency"} & set(args.parts):
            vlm = open_vlm(VLMConfig(weights="random", preset="smolvlm-256m", frames=2))
            if "cost" in args.parts:
                report["cost"] = part_cost(args.video, config, models, vlm, vlm_config, args, folder)
            if "latency" in args.parts:
                report["latency"] = part_latency(args.video, config, models, vlm, vlm_config, folder, args.latency_loops)
            del vlm  # the soak loads its own
        if "soak" in args.parts:
            report["soak"] = part_soak(args.video, config, models, args, folder)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
