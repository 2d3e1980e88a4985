"""Edge throughput and latency for N cameras x F fps, with the whole chain running as real processes.

Runs the demo topology (cloud with the local face model, one edge, N camera nodes streaming the bundled
scene at F fps, one alarm node) on loopback for D seconds, then reads every node's JSON log and prints:
frames/s processed by the edge, drops (edge and camera), per-hop latency percentiles, cloud requests per
track and camera->alarm latency. Each configuration gets its own run folder, kept for `edgewatch report`.

Usage:
  python benchmarks/edge_throughput.py                      # 1x2, 2x2, 4x2 cameras x fps, 40 s each
  python benchmarks/edge_throughput.py --cameras 4 --fps 5 --duration 60 --workers 2
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from edgewatch.sim.demo import Demo, DemoOptions


def run(cameras: int, fps: float, duration: float, workers: int, root: Path) -> dict:
    options = DemoOptions(duration=duration, cameras=cameras, fps=fps, workers=workers,
                          run_dir=root / f"c{cameras}-f{fps:g}-w{workers}")
    return Demo(options, out=io.StringIO()).run()


def row(cameras: int, fps: float, workers: int, s: dict) -> str:
    lat = s["latency_ms"]

    def p(name: str) -> str:
        figures = lat.get(name)
        return "-" if not figures else f"{figures['p50']:.0f}/{figures['p90']:.0f}/{figures['p99']:.0f}"

    return (f"{cameras:>3} x {fps:<4g} w{workers:<2} {cameras * fps:>7.1f} {s['edge_fps']:>8.2f} "
            f"{s['frames_processed']:>6} {s['frames_dropped']:>5} {s['frames_dropped_camera']:>5} "
            f"{p('camera_rtt'):>14} {p('edge_queue'):>12} {p('detection'):>12} {p('cloud_round_trip'):>14} "
            f"{p('camera_to_alarm'):>14} {s['cloud_requests_per_track_mean']:>6} {s['cloud_requests_per_track_max']:>4}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--run-root", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    root = args.run_root or Path(tempfile.mkdtemp(prefix="edgewatch-bench-"))
    header = (f"{'cams x fps':>13} {'offered':>7} {'edge f/s':>8} {'proc':>6} {'drop':>5} {'cdrop':>5} "
              f"{'cam rtt ms':>14} {'queue ms':>12} {'detect ms':>12} {'cloud rt ms':>14} {'cam->alarm':>14} "
              f"{'req/trk':>6} {'max':>4}")
    sys.stdout.write(f"edge throughput, {args.duration:g} s per configuration; latencies p50/p90/p99; runs in {root}\n")
    sys.stdout.write(header + "\n")
    for cameras in args.cameras:
        summary = run(cameras, args.fps, args.duration, args.workers, root)
        sys.stdout.write(row(cameras, args.fps, args.workers, summary) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
