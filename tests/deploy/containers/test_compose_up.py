"""Issue 14 (b): `compose up --no-build --wait` of the full topology (two sites and a cloud), with the WAN
override's N(150, 20) ms shaper on the edge → cloud link, for about a minute. Both sites process frames,
recognise the known person and deliver the unknown person's alarm; a site-1 camera cannot reach the cloud
or site 2 (by name or by address); the report of the collected logs shows the link's conditions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import KNOWN, Material, compose_project, container_log, podman, wait_for

PROJECT = "ewci-b"
FILES = ("docker-compose.yml", "docker-compose.wan.yml")
SITES = ("site1", "site2")
RUN_FOR_S = 60.0


def _name(service: str) -> str:
    return f"{PROJECT}-{service}-1"


@pytest.fixture
def compose(engine: str, compose_bin: Path, docker_host: str, health_ticker: None, material: Material,
            tmp_path: Path) -> Iterator[Any]:
    yield from compose_project(PROJECT, FILES, compose_bin, docker_host, material, tmp_path)


_PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        out[target] = "connected"
    except OSError as exc:
        out[target] = type(exc).__name__
print(json.dumps(out))
"""


def _reach(container: str, *targets: str) -> dict[str, str]:
    result = podman("exec", container, "python", "-c", _PROBE, *targets, timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _address(container: str, network_suffix: str) -> str:
    networks = json.loads(podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", container).stdout)
    return next(v["IPAddress"] for k, v in networks.items() if k.endswith(network_suffix))


@pytest.mark.timeout(1200)
def test_full_topology_runs_healthy_on_both_sites_and_sites_are_isolated(compose: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    up = compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "420")
    ps = compose("ps", "-a", timeout=120)
    assert up.returncode == 0, f"{up.stderr[-4000:]}\n{ps.stdout}"
    print(f"compose up --wait: {time.monotonic() - started:.0f} s\n{ps.stdout}")

    def events(service: str, event: str) -> list[dict[str, Any]]:
        return [e for e in container_log(_name(service)) if e.get("event") == event]

    def site_ok(site: str) -> bool:
        return (bool(events(f"{site}-edge", "frame_processed"))
                and any(e.get("state") == "known" and e.get("name") == KNOWN
                        for e in events(f"{site}-edge", "track_decided"))
                and any(e.get("reason") == "intruder" for e in events(f"{site}-alarm", "alarm_received")))

    def explain() -> str:
        return "\n".join(f"--- {s}: " + podman("logs", "--tail", "6", _name(s), check=False).stderr[-1200:]
                         for s in ("site1-edge", "site2-edge", "site1-alarm", "cloud", "wan-edge-cloud"))

    running_since = time.monotonic()
    for site in SITES:
        wait_for(f"{site}: frames processed, {KNOWN} recognised, an intruder alarm received", lambda s=site: site_ok(s),
                 240, explain=explain)
    # keep the topology up for about a minute in all, then check everything is still healthy
    if (rest := RUN_FOR_S - (time.monotonic() - running_since)) > 0:
        time.sleep(rest)
    ps = compose("ps", "--format", "json", timeout=120)
    states = [json.loads(line) for line in ps.stdout.splitlines() if line.strip().startswith("{")]
    if len(states) == 1 and isinstance(states[0], list):
        states = states[0]
    unhealthy = {s["Service"]: s.get("Health") or s.get("State") for s in states
                 if s.get("Service") != "enrol" and (s.get("Health") or "healthy") != "healthy"}
    assert not unhealthy, unhealthy

    # every site's alarms stay on that site
    for site in SITES:
        received = events(f"{site}-alarm", "alarm_received")
        assert received and {e.get("site_id") for e in received} == {site}
    # the edge → cloud requests crossed the 150 ± 20 ms link
    cloud_ms = [e["ms"] for site in SITES for e in events(f"{site}-edge", "cloud_request")]
    assert cloud_ms and sorted(cloud_ms)[len(cloud_ms) // 2] >= 140, cloud_ms

    # isolation: a site-1 camera reaches its edge, but neither the cloud nor site 2, by name or address
    camera = _name("site1-cam1")
    cloud_ip = _address(_name("cloud"), "cloud_net")
    site2_ip = _address(_name("site2-edge"), "site2_net")
    reach = _reach(camera, "site1-edge:8000", "cloud:8080", "site2-edge:8000", f"{cloud_ip}:8080",
                   f"{site2_ip}:8000")
    print(f"from {camera}: {reach}")
    assert reach["site1-edge:8000"] == "connected", reach
    assert all(v != "connected" for k, v in reach.items() if k != "site1-edge:8000"), reach

    # the collected logs make a report with both sites' cameras apart and the link's conditions
    logs = tmp_path / "logs"
    for line in compose("ps", "-a", "--format", "{{.Name}}", timeout=120).stdout.split():
        target = logs / line
        target.mkdir(parents=True)
        podman("cp", f"{line}:/app/logs/.", str(target), check=False)
    report = subprocess.run([sys.executable, "-m", "edgewatch", "report", str(logs), "--out", str(tmp_path / "r"),
                             "--quiet"], capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ})
    assert report.returncode == 0, report.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {"site1/cam1", "site1/cam2", "site2/cam1", "site2/cam2"} <= set(summary["frames"]["processed"])
    assert [w["configured"] for w in summary["wan"]] == ["150±20ms"]
