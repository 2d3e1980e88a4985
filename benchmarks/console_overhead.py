"""What watching costs: edge frames/s with no console viewer and with N live viewers, in one run.

Starts a real edge (`edgewatch edge`, NanoDet, no cloud) and a real camera (`edgewatch camera`) sending
the bundled astronaut photo faster than the edge can detect, so the edge is saturated. Then, for each
viewer count, N logged-in clients hold the console's live stream (`/console/events`) open and fetch every
announced frame (`frame.jpg`), as a browser tab does; frames/s processed by the edge is read from its
/metrics over the window, and the edge process's CPU time per processed frame from /proc. Viewers run in
this process, the edge and the camera in their own; on a small machine the viewers' own CPU competes with
the edge, so "edge CPU ms/frame" is the figure that isolates the edge's cost of serving them.

Usage:
  python benchmarks/console_overhead.py                       # 0 and 8 viewers, 20 s each
  python benchmarks/console_overhead.py --viewers 0 4 16 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ASSET = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets" / "astronaut.jpg"
PASSWORD = "benchmark-console-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processed(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r'^edgewatch_edge_frames_processed_total\{camera="cam1"\} (\S+)$',
                                               text, re.MULTILINE))


async def viewer(base: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        page = await client.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        await client.post("/console/login", data={"csrf": token, "name": "bench", "password": PASSWORD})
        async with client.stream("GET", "/console/events") as stream:
            event = None
            async for line in stream.aiter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "tile":
                    tile = json.loads(line[6:])
                    if tile.get("has_frame"):
                        jpeg = await client.get(f"/console/cameras/{tile['site_id']}/{tile['camera_id']}/frame.jpg",
                                                params={"seq": tile["seq"]})
                        counts["frames"] += 1
                        counts["bytes"] += len(jpeg.content)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def window(base: str, viewers: int, duration: float, pid: int) -> tuple[float, int, int, float]:
    stop = asyncio.Event()
    counts = {"frames": 0, "bytes": 0}
    tasks = [asyncio.create_task(viewer(base, stop, counts)) for _ in range(viewers)]
    await asyncio.sleep(2.0)  # viewers logged in and streaming
    before, started, cpu = await asyncio.to_thread(processed, base), time.monotonic(), cpu_seconds(pid)
    await asyncio.sleep(duration)
    after, elapsed = await asyncio.to_thread(processed, base), time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (after - before) / elapsed, counts["frames"], counts["bytes"], cpu * 1000 / max(after - before, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, nargs="*", default=[0, 8])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="edgewatch-console-bench-"))
    (root / "frames").mkdir()
    shutil.copy(ASSET, root / "frames" / "frame.jpg")
    env = {**os.environ, "EDGEWATCH_OPERATOR_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "edgewatch", "operators", "--file", str(root / "ops.json"), "add", "bench"],
                   env=env, check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (root / "nodes.log").open("w")
    edge = subprocess.Popen([sys.executable, "-m", "edgewatch", "edge", "--port", str(port), "--workers",
                             str(args.workers), "--alarm-db", str(root / "alarms.db"), "--operators-file",
                             str(root / "ops.json"), "--verify-timeout", "3600", "--log-level", "WARNING"],
                            stdout=log, stderr=log)
    camera = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("edge did not become ready")
            time.sleep(0.2)
        camera = subprocess.Popen([sys.executable, "-m", "edgewatch", "camera", "--edge-url", base, "--camera-id",
                                   "cam1", "--source", str(root / "frames"), "--loop", "--fps", "60",
                                   "--log-level", "WARNING"], stdout=log, stderr=log)
        time.sleep(3.0)
        sys.stdout.write(f"console overhead: edge saturated by one camera, {args.workers} worker(s), "
                         f"{args.duration:g} s per row\n{'viewers':>8} {'edge f/s':>9} {'frames to viewers/s':>20} "
                         f"{'MB/s to viewers':>16} {'edge CPU ms/frame':>18}\n")
        for count in args.viewers:
            fps, frames, sent, cpu_ms = asyncio.run(window(base, count, args.duration, edge.pid))
            sys.stdout.write(f"{count:>8} {fps:>9.2f} {frames / args.duration:>20.1f} "
                             f"{sent / args.duration / 1e6:>16.2f} {cpu_ms:>18.1f}\n")
            sys.stdout.flush()
    finally:
        for proc in (camera, edge):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
