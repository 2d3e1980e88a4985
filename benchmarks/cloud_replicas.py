"""Capacity of cloud replicas on one PostgreSQL face store: many simulated edges against 1 and 2 replicas.

Starts a throwaway PostgreSQL cluster (Debian's server binaries) and real `edgewatch cloud` processes on
loopback, enrols the bundled known person through one replica, then lets ``--sites`` simulated edges (each
the edge's own CloudClient, given every replica's URL, one request in flight like an edge with one new
track at a time) send edge-like person crops for ``--duration`` seconds per configuration. Prints, side by
side: requests/s, latency p50/p99, errors, how the requests spread over the replicas, and what the database
saw during the load (transactions from pg_stat_database: identify never queries it). Then the
per-request CPU cost of the local backend and the Rekognition path's own overhead (boto3 with botocore's
Stubber answering at once, so only edgewatch's and botocore's work is timed), in-process.

  python benchmarks/cloud_replicas.py [--sites 8] [--duration 20] [--replicas 1 2]
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
from typing import Any

import cv2
import httpx
import numpy as np

from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions, CloudError
from edgewatch.sim.postgres import PgServer


def asset(name: str) -> Path:
    return Path(str(resources.files("edgewatch.sim") / "assets" / name))


def person_crop(photo: Path, face_px: int = 48) -> bytes:
    """An edge-like person crop (240×480) with the photo's face scaled to about ``face_px`` pixels."""
    image = cv2.imread(str(photo))
    scale = face_px / 170
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    crop = np.full((480, 240, 3), 110, np.uint8)
    crop[20:20 + small.shape[0], 120 - small.shape[1] // 2:120 - small.shape[1] // 2 + small.shape[1]] = small
    return cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_replicas(count: int, pg_url: str, token: str) -> list[tuple[str, subprocess.Popen[bytes]]]:
    env = {**os.environ, "EDGEWATCH_TOKEN": token, "EDGEWATCH_DB_URL": pg_url}
    started = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "edgewatch", "cloud", "--port", str(port),
                                    "--log-level", "WARNING"], env=env, stderr=subprocess.DEVNULL)
        started.append((f"http://127.0.0.1:{port}", process))
    for url, process in started:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"replica {url} did not become ready")
            time.sleep(0.2)
    return started


def db_transactions(pg_url: str) -> int:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        return int(conn.execute("SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database").fetchone()[0])


def answered(url: str, token: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("edgewatch_cloud_identify_seconds_count"))


async def load(urls: list[str], token: str, crops: list[bytes], sites: int, duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + duration

    async def edge(site: int) -> None:
        nonlocal errors
        client = CloudClient(",".join(urls), token, CloudClientOptions(timeout=30, attempts=2))
        try:
            index = 0
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await client.identify(crops[index % len(crops)], site_id=f"site{site}", camera_id="cam1",
                                          trace_id=f"bench-{site}-{index:06d}")
                    latencies.append((time.perf_counter() - started) * 1000)
                except CloudError:
                    errors += 1
                index += 1
        finally:
            await client.aclose()

    started = time.monotonic()
    await asyncio.gather(*(edge(site) for site in range(sites)))
    wall = time.monotonic() - started
    return {"rps": len(latencies) / wall, "n": len(latencies), "errors": errors,
            "p50": float(np.percentile(latencies, 50)) if latencies else 0.0,
            "p99": float(np.percentile(latencies, 99)) if latencies else 0.0}


def backend_costs(crops: list[bytes], rounds: int = 40) -> tuple[float, float]:
    """(local backend CPU ms per identify, Rekognition path overhead ms per identify), one thread."""
    import boto3
    from botocore.stub import ANY, Stubber

    from edgewatch.cloud.backends.local import LocalBackend
    from edgewatch.cloud.backends.rekognition import RekognitionBackend
    from edgewatch.cloud.images import load_image

    images = [load_image(c, f"crop{i}.jpg", "image/jpeg") for i, c in enumerate(crops)]
    with tempfile.TemporaryDirectory() as folder:
        local = LocalBackend(Path(folder) / "faces.db", concurrency=1)
        local.start()
        local.add_person("eileen", [load_image(asset("astronaut.jpg").read_bytes(), "a.jpg", "image/jpeg")])
        for image in images:
            local.identify(image)  # warm-up
        cpu = time.process_time()
        for index in range(rounds):
            local.identify(images[index % len(images)])
        local_ms = (time.process_time() - cpu) * 1000 / rounds
        local.close()

    client = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="AKIDFAKEFAKEFAKE",
                          aws_secret_access_key="fake-secret")
    stub = Stubber(client)
    backend = RekognitionBackend("bench", 90.0, client=client, sleep=lambda _s: None)
    box = {"Width": 0.5, "Height": 0.3, "Left": 0.25, "Top": 0.05}
    stub.add_response("describe_collection", {"FaceCount": 1, "FaceModelVersion": "7.0"}, {"CollectionId": "bench"})
    for _ in range(rounds):
        stub.add_response("detect_faces", {"FaceDetails": [{"BoundingBox": box, "Confidence": 99.0}]},
                          {"Image": {"Bytes": ANY}, "Attributes": ANY})
        stub.add_response("search_faces_by_image", {"SearchedFaceConfidence": 99.0, "FaceMatches": [],
                                                    "FaceModelVersion": "7.0"},
                          {"CollectionId": "bench", "Image": {"Bytes": ANY}, "MaxFaces": ANY,
                           "FaceMatchThreshold": ANY})
    with stub:
        cpu = time.process_time()
        for index in range(rounds):
            backend.identify(images[index % len(images)])
        rekognition_ms = (time.process_time() - cpu) * 1000 / rounds
    return local_ms, rekognition_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=8, help="simulated edges, one request in flight each")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per configuration")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from edgewatch.telemetry.logs import configure_logging

    configure_logging("bench", None, "WARNING")  # the client's per-request log lines would flood the output
    crops = [person_crop(asset("astronaut.jpg")), person_crop(asset("grace_hopper.jpg"))]
    token = secrets.token_urlsafe(16)
    pg = PgServer(free_port()).start()
    rows = []
    try:
        for count in args.replicas:
            replicas = start_replicas(count, pg.url, token)
            urls = [url for url, _ in replicas]
            try:
                httpx.post(f"{urls[0]}/v1/persons", data={"name": "eileen"}, timeout=60,
                           headers={"Authorization": f"Bearer {token}"},
                           files={"photos": ("a.jpg", asset("astronaut.jpg").read_bytes(), "image/jpeg")})
                asyncio.run(load(urls, token, crops, 2, 3.0))  # warm-up
                before_db, before = db_transactions(pg.url), [answered(u, token) for u in urls]
                result = asyncio.run(load(urls, token, crops, args.sites, args.duration))
                after_db, after = db_transactions(pg.url), [answered(u, token) for u in urls]
                result["spread"] = "/".join(f"{a - b:.0f}" for a, b in zip(after, before, strict=True))
                result["db_tx_per_s"] = (after_db - before_db) / args.duration
                rows.append((count, result))
            finally:
                for _, process in replicas:
                    process.send_signal(signal.SIGINT)
                for _, process in replicas:
                    process.wait(20)
            import psycopg  # each configuration starts from an empty store

            with psycopg.connect(pg.url, autocommit=True) as conn:
                conn.execute("DELETE FROM persons")
                conn.execute("UPDATE gallery_version SET version = version + 1")
    finally:
        pg.close()
    local_ms, rekognition_ms = backend_costs(crops)
    print(f"\n{args.sites} simulated edges, one identify in flight each, {args.duration:.0f} s per row, "
          f"{os.cpu_count()} CPU(s), edge-like 240x480 person crops")
    print(f"{'replicas':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'per replica':>12} {'DB tx/s':>8}")
    for count, r in rows:
        print(f"{count:>8} {r['rps']:>7.1f} {r['p50']:>7.0f} {r['p99']:>7.0f} {r['errors']:>6} {r['spread']:>12} "
              f"{r['db_tx_per_s']:>8.1f}")
    print(f"\nper identify, one thread, in-process: local backend {local_ms:.1f} ms CPU; "
          f"Rekognition path overhead (AWS answered at once) {rekognition_ms:.1f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
