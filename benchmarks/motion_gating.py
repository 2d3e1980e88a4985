"""Motion gating and scaled decoding: old and new edge behaviour side by side, on a long realistic feed.

The feed is a 1 fps camera sequence in which a person is present at most 10 % of the time, with known
ground-truth intervals: the WiseNET corridor frames (``../shared/data/wisenet-frames``: real sensor noise
between the empty frames, the employee standing by the door) when present, else the bundled demo scene with
sensor-like noise added, persons walking in, standing and walking out. Modes:

- ``old``: what the edge did before: full-size decode and the detector on every frame;
- ``decode``: scaled decode only (libjpeg 1/2-1/8 for the detector, full decode only for frames with persons);
- ``new``: scaled decode plus the motion gate (detector on motion, while a track is active, every K s).

Phase 1 runs the whole sequence once per mode on one thread and prints CPU per frame (``process_time``, the
robust figure on a shared machine), frames/s per core, the fraction of frames gated, and person tracks
found against the ground truth (a ground-truth interval counts as found when a track starts inside it).
Phase 2 replays the feed in real time as C cameras at 1 fps onto 2 worker threads (the edge's default),
``old`` with ``--cameras`` cameras and ``new`` with ``--factor`` times as many, and prints p50/p99
camera-to-decision latency (frame due -> gate decision or detection plus tracking done; the Socket.IO hop
is measured by ``benchmarks/edge_throughput.py``).

  python benchmarks/motion_gating.py                      # both phases, ~5 minutes
  python benchmarks/motion_gating.py --modes old,new --frames 600 --cameras 6 --factor 4 --seconds 40
  python benchmarks/motion_gating.py --no-motion-gate     # old and decode only
  python benchmarks/motion_gating.py --no-phase1 --modes old,new --seconds 60
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from edgewatch.edge.detectors import create_detector
from edgewatch.edge.frame_processing import FrameProcessor, ProcessedFrame
from edgewatch.edge.motion import GateOptions, MotionGate
from edgewatch.edge.tracking import IouTracker

REPO = Path(__file__).resolve().parents[1]
WISENET = REPO.parent / "shared" / "data" / "wisenet-frames"


@dataclass(frozen=True)
class Feed:
    name: str
    frames: list[bytes]
    #: ground truth: [start, end) frame indices with a person in view
    intervals: list[tuple[int, int]]


def truth_intervals(count: int, share: float = 0.1, visits: int = 3) -> list[tuple[int, int]]:
    length = max(3, int(count * share / visits))
    gap = count // visits
    return [(i * gap + gap // 3, i * gap + gap // 3 + length) for i in range(visits)]


def wisenet_feed(count: int) -> Feed:
    empty = [(WISENET / f"video1_frame{i}.jpg").read_bytes() for i in (610, 616, 638)]
    person = [(WISENET / f"video1_frame{i}.jpg").read_bytes() for i in (1, 2, 3, 4)]
    intervals = truth_intervals(count)
    frames = []
    for index in range(count):
        inside = any(a <= index < b for a, b in intervals)
        frames.append(person[index % len(person)] if inside else empty[index % len(empty)])
    return Feed("WiseNET corridor, 1280x720", frames, intervals)


def demo_feed(count: int) -> Feed:
    from edgewatch.sim.scene import Appearance, SceneScript, load_asset, render_frame

    intervals = truth_intervals(count)
    assets = ("grace_hopper.jpg", "astronaut.jpg")
    script = SceneScript(duration=float(count), appearances=tuple(
        Appearance(assets[i % 2], float(a), float(b), left_to_right=bool(i % 2)) for i, (a, b) in enumerate(intervals)))
    sprites = {a.asset: load_asset(a.asset) for a in script.appearances}
    rng = np.random.default_rng(12)
    frames = []
    for index in range(count):
        rgb = render_frame(script, float(index), sprites)[:, :, ::-1].astype(np.int16)
        rgb += rng.normal(0, 2.0, rgb.shape).astype(np.int16)  # sensor noise: no two frames are equal
        out = io.BytesIO()
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=88)
        frames.append(out.getvalue())
    return Feed("demo scene + noise, 1280x720", frames, intervals)


@dataclass
class Camera:
    """One camera's pipeline state: its tracker, and track starts for the ground-truth comparison."""

    tracker: IouTracker = field(default_factory=lambda: IouTracker(max_age=3.0))
    lock: threading.Lock = field(default_factory=threading.Lock)
    track_starts: list[int] = field(default_factory=list)


def make_processor(mode: str, detector: object, k: float) -> FrameProcessor:
    gate = MotionGate(GateOptions(interval=k)) if mode == "new" else None
    return FrameProcessor(detector, reduced_decode=mode != "old", gate=gate)  # type: ignore[arg-type]


def step(processor: FrameProcessor, camera: Camera, camera_id: str, jpeg: bytes, index: int, now: float) -> bool:
    """Run one frame through gate, detector and tracker; returns True when it was gated."""
    with camera.lock:
        active = camera.tracker.live(now) > 0
        result = processor.process(jpeg, camera_id=camera_id, track_active=active, now=now)
        if not isinstance(result, ProcessedFrame):
            return True
        for tracked in camera.tracker.update([p.box for p in result.persons], now):
            if tracked.is_new:
                camera.track_starts.append(index)
        return False


def found(feed: Feed, starts: list[int]) -> tuple[int, int]:
    """(ground-truth intervals with a track starting inside, tracks starting outside every interval)."""
    hit = sum(1 for a, b in feed.intervals if any(a <= s < b for s in starts))
    false = sum(1 for s in starts if not any(a <= s < b for a, b in feed.intervals))
    return hit, false


@dataclass
class Phase1:
    cpu_ms: float
    wall_ms: float
    gated: float
    hit: int
    false: int


def phase1(mode: str, feed: Feed, detector: object, k: float) -> Phase1:
    processor, camera = make_processor(mode, detector, k), Camera()
    gated = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for index, jpeg in enumerate(feed.frames):
        gated += step(processor, camera, "cam", jpeg, index, float(index))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(feed.frames)
    hit, false = found(feed, camera.track_starts)
    return Phase1(cpu * 1000 / n, wall * 1000 / n, gated / n, hit, false)


@dataclass
class Phase2:
    cameras: int
    frames: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_ms: float
    gated: float
    hit: int
    truth: int


def phase2(mode: str, feed: Feed, detector: object, k: float, cameras: int, seconds: float, workers: int) -> Phase2:
    """Real time: ``cameras`` cameras at 1 fps, staggered, onto ``workers`` threads (the edge's pool)."""
    processor = make_processor(mode, detector, k)
    cams = [Camera() for _ in range(cameras)]
    # Each camera replays its own stretch of the feed, spread evenly so every mode sees its share of visits.
    n = len(feed.frames)
    offsets = [(i * n // cameras + n // 12) % n for i in range(cameras)]
    latencies: list[float] = []
    gated = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def run(cam: int, tick: int, due: float) -> None:
        index = (offsets[cam] + tick) % len(feed.frames)
        was_gated = step(processor, cams[cam], f"cam{cam}", feed.frames[index], index, float(tick))
        done = time.monotonic()
        with lock:
            latencies.append(done - due)
            gated[0] += was_gated

    cpu = time.process_time()
    # Cameras join at different seconds, as they do on a real site (and so their K-second detector runs
    # do not all fall on the same second).
    joins = [cam % max(1, int(k)) for cam in range(cameras)]
    with ThreadPoolExecutor(workers) as pool:
        for tick in range(int(seconds)):
            for cam in range(cameras):
                if tick < joins[cam]:
                    continue
                due = start + tick + cam / cameras
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(run, cam, tick, due)
    cpu = time.process_time() - cpu
    latencies.sort()
    hit = truth = 0
    for cam, camera in enumerate(cams):
        # ground truth as this camera saw it: intervals overlapping its window of the feed
        window = {(offsets[cam] + t) % len(feed.frames) for t in range(joins[cam], int(seconds))}
        for a, b in feed.intervals:
            if any(i in window for i in range(a, b)):
                truth += 1
                hit += any(a <= s < b for s in camera.track_starts)
    n = len(latencies)
    return Phase2(cameras, n, statistics.median(latencies) * 1000, latencies[min(n - 1, int(0.9 * n))] * 1000,
                  latencies[min(n - 1, int(0.99 * n))] * 1000,
                  cpu * 1000 / n, gated[0] / n, hit, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="length of the feed at 1 fps")
    parser.add_argument("--modes", default="old,decode,new")
    parser.add_argument("--no-motion-gate", action="store_true", help="leave out the gated mode")
    parser.add_argument("--k", type=float, default=10.0, help="detector runs at least every K s")
    parser.add_argument("--cameras", type=int, default=6, help="phase 2: cameras of the old mode")
    parser.add_argument("--factor", type=int, default=4, help="phase 2: the new mode gets this many times more")
    parser.add_argument("--seconds", type=float, default=40, help="phase 2: real-time seconds per mode (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phase1", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--feed", choices=["auto", "wisenet", "demo"], default="auto")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if not (args.no_motion_gate and m == "new")]
    use_wisenet = args.feed == "wisenet" or (args.feed == "auto" and WISENET.is_dir())
    feed = wisenet_feed(args.frames) if use_wisenet else demo_feed(args.frames)
    share = sum(b - a for a, b in feed.intervals) / len(feed.frames)
    detector = create_detector("nanodet", input_size=320, confidence=0.3)
    print(f"feed: {feed.name}, {len(feed.frames)} frames at 1 fps, person present {share:.0%} of the time in "
          f"{len(feed.intervals)} visits; NanoDet 320, K = {args.k:g} s; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (shared machine: wall figures are noisy, CPU per frame is the robust one)")
    make_processor("old", detector, args.k).process(feed.frames[0])  # warm up the model
    if args.phase1:
        run_phase1(modes, feed, detector, args.k)
    if args.seconds > 0:
        run_phase2(modes, feed, detector, args)


def run_phase1(modes: list[str], feed: Feed, detector: object, k: float) -> dict[str, Phase1]:
    print("\nphase 1: whole feed, one thread")
    print(f"{'mode':<8} {'cpu ms/frame':>13} {'wall ms/frame':>14} {'frames/s/core':>14} {'cams@1fps/2 cores':>18} "
          f"{'gated':>7} {'tracks found':>13} {'false tracks':>13}")
    results = {}
    for mode in modes:
        r = results[mode] = phase1(mode, feed, detector, k)
        print(f"{mode:<8} {r.cpu_ms:>13.2f} {r.wall_ms:>14.2f} {1000 / r.cpu_ms:>14.1f} {2000 / r.cpu_ms:>18.0f} "
              f"{r.gated:>7.1%} {f'{r.hit}/{len(feed.intervals)}':>13} {r.false:>13}")
    if "old" in results and "new" in results:
        print(f"capacity new/old (CPU per frame): {results['old'].cpu_ms / results['new'].cpu_ms:.1f}x")
    return results


def run_phase2(modes: list[str], feed: Feed, detector: object, args: argparse.Namespace) -> None:
    print(f"\nphase 2: real time, cameras at 1 fps onto {args.workers} worker threads, {args.seconds:g} s per mode")
    print(f"{'mode':<8} {'cameras':>8} {'frames':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'cpu ms/frame':>13} {'gated':>7} "
          f"{'tracks found':>13}")
    for mode in modes:
        cameras = args.cameras * (args.factor if mode == "new" else 1)
        r2 = phase2(mode, feed, detector, args.k, cameras, args.seconds, args.workers)
        print(f"{mode:<8} {r2.cameras:>8} {r2.frames:>7} {r2.p50_ms:>8.1f} {r2.p90_ms:>8.1f} {r2.p99_ms:>8.1f} {r2.cpu_ms:>13.2f} "
              f"{r2.gated:>7.1%} {f'{r2.hit}/{r2.truth}':>13}")


if __name__ == "__main__":
    main()
