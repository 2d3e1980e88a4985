"""Identify throughput and latency of the cloud's local backend through real HTTP on this machine.

Starts `edgewatch cloud` (local backend, a fresh store with the bundled astronaut enrolled) as its own
process on a loopback port, unless --url points at a running cloud, then sends --requests identify requests
with --concurrency in flight (httpx, one connection each) and prints requests/s and latency percentiles,
overall and per image kind: a known portrait, an unknown one (intruder), an edge-like person crop with a
small face (240x480, face ~24 px), a face-less image (no_face), and a 1280x720 frame when ../shared/data is
present.

  python benchmarks/cloud_identify.py [--requests 200] [--concurrency 4] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def asset(name: str) -> Path:
    return Path(str(resources.files("edgewatch.sim") / "assets" / name))


def images() -> dict[str, bytes]:
    out = {"known portrait 512px": asset("astronaut.jpg").read_bytes(),
           "intruder portrait 512px": asset("grace_hopper.jpg").read_bytes()}
    grace = cv2.imread(str(asset("grace_hopper.jpg")))
    small = cv2.resize(grace, None, fx=24 / 170, fy=24 / 170, interpolation=cv2.INTER_AREA)
    crop = np.full((480, 240, 3), 110, np.uint8)
    crop[20:20 + small.shape[0], 90:90 + small.shape[1]] = small
    out["person crop 240x480, face 24px"] = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    ramp = np.tile(np.linspace(80, 170, 640, dtype=np.uint8), (480, 1))
    out["no face 640x480"] = cv2.imencode(".jpg", cv2.merge([ramp, ramp, ramp]))[1].tobytes()
    frame = REPO.parent / "shared" / "data" / "wisenet-frames" / "video1_frame1.jpg"
    if frame.is_file():
        out["ceiling frame 1280x720"] = frame.read_bytes()
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(values: list[float]) -> str:
    q = np.percentile(values, [50, 90, 99])
    return f"p50 {q[0]:7.1f}  p90 {q[1]:7.1f}  p99 {q[2]:7.1f}  max {max(values):7.1f} ms"


async def drive(url: str, token: str, payloads: dict[str, bytes], requests: int, concurrency: int) -> None:
    names = list(payloads)
    latencies: dict[str, list[float]] = {n: [] for n in names}
    verdicts: dict[str, set[str]] = {n: set() for n in names}
    server_ms: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def worker() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while not queue.empty():
                index = queue.get_nowait()
                name = names[index % len(names)]
                started = time.perf_counter()
                response = await c.post("/v1/identify", files={"image": ("img.jpg", payloads[name], "image/jpeg")},
                                         data={"trace_id": f"bench-{index:06d}"})
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors += 1
                    continue
                body = response.json()
                latencies[name].append(elapsed)
                verdicts[name].add(body["verdict"])
                server_ms.append(body["elapsed_ms"])

    # Warm-up: every image once (models load per worker thread on first use).
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for name in names:
            for _ in range(concurrency):
                await c.post("/v1/identify", files={"image": ("img.jpg", payloads[name], "image/jpeg")})
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    done = sum(len(v) for v in latencies.values())
    print(f"\n{done} identify requests ({errors} errors), concurrency {concurrency}, {wall:.1f} s on "
          f"{os.cpu_count()} CPU(s): {done / wall:.1f} requests/s")
    everything = [x for v in latencies.values() for x in v]
    print(f"  {'all (client round trip)':34s} {percentiles(everything)}")
    print(f"  {'all (server elapsed_ms)':34s} {percentiles(server_ms)}")
    for name in names:
        if latencies[name]:
            print(f"  {name:34s} {percentiles(latencies[name])}  -> {'/'.join(sorted(verdicts[name]))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--url", default=None, help="benchmark this running cloud (token from EDGEWATCH_TOKEN)")
    args = parser.parse_args()
    payloads = images()
    if args.url:
        asyncio.run(drive(args.url, os.environ.get("EDGEWATCH_TOKEN", ""), payloads, args.requests, args.concurrency))
        return 0
    token = secrets.token_urlsafe(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "faces.db")
        env = {**os.environ, "EDGEWATCH_TOKEN": token}
        subprocess.run([sys.executable, "-m", "edgewatch", "persons", "--db", db, "add", "eileen-collins",
                        str(asset("astronaut.jpg"))], check=True, env=env, stdout=subprocess.DEVNULL)
        cloud = subprocess.Popen([sys.executable, "-m", "edgewatch", "cloud", "--port", str(port), "--db-path", db,
                                  "--log-level", "WARNING"], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or cloud.poll() is not None:
                    raise SystemExit("cloud did not become ready")
                time.sleep(0.1)
            asyncio.run(drive(url, token, payloads, args.requests, args.concurrency))
        finally:
            cloud.send_signal(signal.SIGINT)
            cloud.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
