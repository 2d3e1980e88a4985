"""What TLS costs: edge frames/s and camera round trip with and without TLS, in one run, side by side.

Runs the demo topology (cloud, edge, N cameras, alarm node; every node authenticated with its own
credential) twice with the same settings, once over plain HTTP/WS and once with `--tls` (HTTPS + WSS on
every link, ECDSA P-256 certificates from `edgewatch tls init`), alternating when --repeat > 1 so machine
load drifts into both columns alike. Prints frames/s processed by the edge and latency percentiles of the
camera round trip (frame sent -> ack), the cloud round trip and camera -> alarm.

Usage:
  python benchmarks/tls_overhead.py                                  # 2 cameras x 4 fps, 30 s per run
  python benchmarks/tls_overhead.py --cameras 4 --fps 5 --duration 60 --repeat 2
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgewatch.sim.demo import Demo, DemoOptions


def run(tls: bool, cameras: int, fps: float, duration: float, root: Path, index: int) -> dict[str, Any]:
    options = DemoOptions(duration=duration, cameras=cameras, fps=fps, tls=tls,
                          run_dir=root / f"{'tls' if tls else 'plain'}-{index}")
    return Demo(options, out=io.StringIO()).run()


def figure(summaries: list[dict[str, Any]], hop: str, pct: str) -> str:
    values = [s["latency_ms"][hop][pct] for s in summaries if s["latency_ms"].get(hop)]
    return f"{statistics.median(values):.1f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--run-root", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    root = args.run_root or Path(tempfile.mkdtemp(prefix="edgewatch-tls-bench-"))
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for index in range(args.repeat):
        for tls in (False, True):
            results[tls].append(run(tls, args.cameras, args.fps, args.duration, root, index))
    plain, tls = results[False], results[True]
    rows = [("edge frames/s", f"{statistics.median(s['edge_fps'] for s in plain):.2f}",
             f"{statistics.median(s['edge_fps'] for s in tls):.2f}")]
    for hop in ("camera_rtt", "cloud_round_trip", "camera_to_alarm"):
        for pct in ("p50", "p90"):
            rows.append((f"{hop} {pct} ms", figure(plain, hop, pct), figure(tls, hop, pct)))
    rows.append(("frames processed", str(sum(s["frames_processed"] for s in plain)),
                 str(sum(s["frames_processed"] for s in tls))))
    sys.stdout.write(f"TLS overhead: {args.cameras} camera(s) x {args.fps:g} fps, {args.duration:g} s per run, "
                     f"{args.repeat} run(s) each (median); runs in {root}\n")
    sys.stdout.write(f"{'':<24}{'plain':>10}{'TLS':>10}\n")
    for name, a, b in rows:
        sys.stdout.write(f"{name:<24}{a:>10}{b:>10}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
