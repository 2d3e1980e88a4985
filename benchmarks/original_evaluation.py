"""The original system's evaluation, run on edgewatch: one command, the same matrix, the same per-hop figures.

The original report (AWS t2.medium edge, YOLOv8s on CPU, one cloud request per frame) measured edge
processing, the cloud's recognition time and the round trip, with and without an added N(150 ms, 20 ms)
edge-cloud delay, and with two cameras per edge at 0.5 and 1.5 frames/s. This runs the same matrix on the
whole edgewatch chain as real processes on loopback (`edgewatch demo`: cloud with the local face model, one
edge, two cameras streaming the bundled scene, one alarm node), adds a much higher rate, shapes the
edge-cloud link with `edgewatch wan` where asked, and writes:

- ``docs/evaluation.md``: the original's figures and edgewatch's side by side, what each round trip measures,
  and the hardware of each;
- ``docs/img/evaluation_*.png``: the plots; ``docs/evaluation.json``: every figure computed.

Usage:
  python benchmarks/original_evaluation.py                       # 6 runs x 30 s, about 5 minutes
  python benchmarks/original_evaluation.py --duration 60 --rates 0.5 1.5 8 --out-doc docs/evaluation.md
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.sim.demo import Demo, DemoOptions

REPO = Path(__file__).resolve().parents[1]
WAN = "150+-20ms"  # the original's N(150 ms, 20 ms) on the edge-cloud link
CAMERAS = 2  # per edge, as in the original

#: The original report's figures (its hardware: AWS t2.medium edge, 2 vCPU burstable, YOLOv8s on CPU).
ORIGINAL: dict[str, Any] = {
    "edge_processing_ms": {"median": 376.5, "std": 396.0, "max": 2250.0},
    "cloud_ms_no_delay": {"median": 78.1},
    "round_trip_with_delay_ms": {"median": 467.0, "mean": 699.0, "std": 556.0},
    "round_trip_median_ms_by_rate": {0.5: 350.0, 1.5: 13400.0},
}


@dataclass(frozen=True)
class Config:
    fps: float
    wan: bool

    @property
    def label(self) -> str:
        return f"{self.fps:g} fps{' + WAN' if self.wan else ''}"

    @property
    def slug(self) -> str:
        return f"f{self.fps:g}-{'wan' if self.wan else 'lan'}"


def _events(log_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "mean": None, "std": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "mean": round(statistics.fmean(values), 1),
        "std": round(statistics.stdev(values), 1) if len(values) > 1 else 0.0,
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def figures(log_dir: Path) -> dict[str, Any]:
    """Per-hop figures of one run. Every node ran on this host, so their clocks are one clock.

    camera → decision, per processed frame: from the camera's capture time until the edge knows what the
    frame shows, i.e. detection done, plus the cloud's verdict when a person in that frame needed one (the
    edge asks once per track, with the crop of a frame: that frame's decision waits for the answer)."""
    by: dict[str, list[dict[str, Any]]] = {}
    for event in _events(log_dir):
        by.setdefault(str(event.get("event")), []).append(event)
    captured = {e["trace_id"]: e["captured_at"] for e in by.get("frame_sent", []) if e.get("captured_at")}
    verdict_at: dict[str, float] = {}
    for e in by.get("cloud_request", []):
        if e.get("trace_id"):
            verdict_at[e["trace_id"]] = max(verdict_at.get(e["trace_id"], 0.0), float(e["t"]))
    decision, verdict = [], []
    for e in by.get("frame_processed", []):
        start = captured.get(e.get("trace_id"))
        if start is None:
            continue
        done = max(float(e["t"]), verdict_at.get(e["trace_id"], 0.0))
        decision.append((done - start) * 1000.0)
        if e["trace_id"] in verdict_at:
            verdict.append((verdict_at[e["trace_id"]] - start) * 1000.0)
    processed = by.get("frame_processed", [])
    shaped = [e for e in by.get("wan_stats", []) if isinstance(e.get("upstream"), dict)]
    held = max(shaped, key=lambda e: float(e.get("t", 0)))["upstream"] if shaped else None
    edge_drops = [e for e in by.get("frame_dropped", []) if str(e.get("node", "")).startswith("edge")]
    return {
        "frames_sent": len(by.get("frame_sent", [])),
        "frames_processed": len(processed),
        "frames_dropped_edge": len(edge_drops),
        "detection_ms": _stats([float(e["inference_ms"]) for e in processed if "inference_ms" in e]),
        "edge_queue_ms": _stats([float(e["queue_ms"]) for e in processed if "queue_ms" in e]),
        "edge_processing_ms": _stats([float(e["queue_ms"]) + float(e["inference_ms"]) for e in processed
                                      if "queue_ms" in e and "inference_ms" in e]),
        "camera_rtt_ms": _stats([float(e["rtt_ms"]) for e in by.get("frame_acked", []) if "rtt_ms" in e]),
        "cloud_identify_ms": _stats([float(e["elapsed_ms"]) for e in by.get("identify", []) if "elapsed_ms" in e]),
        "cloud_round_trip_ms": _stats([float(e["ms"]) for e in by.get("cloud_request", []) if "ms" in e]),
        "camera_to_verdict_ms": _stats(verdict),
        "camera_to_decision_ms": _stats(decision),
        "cloud_requests": len(by.get("cloud_request", [])),
        "tracks": len(by.get("track_started", [])),
        "alarms_received": len({e.get("event_id") for e in by.get("alarm_received", [])}),
        # what the WAN shaper really held the requests for (its own measurement), when the link was shaped
        "wan_held_ms": None if not held else {"mean": held.get("held_ms_mean"), "sd": held.get("held_ms_sd"),
                                              "drawn_mean": held.get("drawn_ms_mean"),
                                              "drawn_sd": held.get("drawn_ms_sd"), "chunks": held.get("chunks")},
        "_decision_samples": decision,
    }


def hardware() -> dict[str, Any]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1e6, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_at_start": [round(x, 2) for x in os.getloadavg()]}


def run(config: Config, duration: float, root: Path) -> dict[str, Any]:
    run_dir = root / config.slug
    options = DemoOptions(duration=duration, cameras=CAMERAS, fps=config.fps, run_dir=run_dir,
                          wan=(("edge-cloud", WAN),) if config.wan else ())
    started = time.monotonic()
    Demo(options, out=io.StringIO()).run()
    result = figures(run_dir / "logs")
    result.update(label=config.label, fps=config.fps, wan=config.wan, wall_s=round(time.monotonic() - started, 1))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.5, 8.0],
                        help="frames/s per camera (default: the original's 0.5 and 1.5, and 8)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run (default: 30)")
    parser.add_argument("--out-doc", type=Path, default=REPO / "docs" / "evaluation.md")
    parser.add_argument("--run-root", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--from-runs", type=Path, default=None, metavar="RUN_ROOT",
                        help="do not run: recompute the figures and the page from the run folders of an earlier "
                        "--run-root (hardware and wall times from the earlier evaluation.json)")
    args = parser.parse_args()
    from evaluation_doc import draw_plots, render_doc  # beside this file

    root = args.from_runs or args.run_root or Path(tempfile.mkdtemp(prefix="edgewatch-evaluation-"))
    machine = hardware()
    results = []
    if args.from_runs is not None:
        earlier = json.loads((args.out_doc.parent / "evaluation.json").read_text())
        machine, args.duration = earlier["hardware"], earlier["duration_s"]
        for old in earlier["results"]:
            config = Config(old["fps"], old["wan"])
            result = figures(root / config.slug / "logs")
            result.update(label=config.label, fps=config.fps, wan=config.wan, wall_s=old["wall_s"])
            results.append(result)
    configs = [] if args.from_runs is not None else [Config(fps, wan) for fps in args.rates for wan in (False, True)]
    for config in configs:
        sys.stdout.write(f"running {CAMERAS} cameras at {config.label} for {args.duration:g} s ... ")
        sys.stdout.flush()
        result = run(config, args.duration, root)
        d = result["camera_to_decision_ms"]
        sys.stdout.write(f"camera->decision median {d['median']} ms (n={d['n']}), "
                         f"{result['frames_dropped_edge']} dropped, {result['wall_s']} s\n")
        results.append(result)
    doc_dir = args.out_doc.parent
    plots = draw_plots(results, ORIGINAL, doc_dir / "img")
    samples = {r["label"]: r.pop("_decision_samples") for r in results}
    data = {"hardware": machine, "duration_s": args.duration, "cameras": CAMERAS, "wan": WAN,
            "original": ORIGINAL, "results": results}
    (doc_dir / "evaluation.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    args.out_doc.write_text(render_doc(data, plots, doc_dir), encoding="utf-8")
    sys.stdout.write(f"wrote {args.out_doc}, {doc_dir / 'evaluation.json'} and {len(plots)} plot(s); "
                     f"runs in {root} ({sum(len(v) for v in samples.values())} decisions)\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
