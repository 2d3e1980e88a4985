"""Issue 15: the replicated cloud for real. `compose up --no-build --wait` of the full topology with the
replicas override (two cloud replicas on one PostgreSQL, behind HAProxy): both sites recognise the known
person enrolled through the load balancer and deliver the unknown person's alarm, both replicas answer
identify requests, and when one replica is killed the sites keep getting verdicts from the other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import KNOWN, Material, compose_project, container_log, podman, wait_for

PROJECT = "ewci-r"
FILES = ("docker-compose.yml", "docker-compose.replicas.yml")
SITES = ("site1", "site2")


def _name(service: str) -> str:
    return f"{PROJECT}-{service}-1"


@pytest.fixture
def compose(engine: str, compose_bin: Path, docker_host: str, health_ticker: None, material: Material,
            tmp_path: Path) -> Iterator[Any]:
    yield from compose_project(PROJECT, FILES, compose_bin, docker_host, material, tmp_path)


@pytest.mark.timeout(1200)
def test_two_replicas_behind_the_load_balancer_serve_both_sites(compose: Any) -> None:
    started = time.monotonic()
    up = compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "420")
    ps = compose("ps", "-a", timeout=120)
    assert up.returncode == 0, f"{up.stderr[-4000:]}\n{ps.stdout}"
    print(f"compose up --wait (replicas): {time.monotonic() - started:.0f} s\n{ps.stdout}")

    def events(service: str, event: str) -> list[dict[str, Any]]:
        return [e for e in container_log(_name(service)) if e.get("event") == event]

    def known_decisions(site: str) -> int:
        return sum(1 for e in events(f"{site}-edge", "track_decided")
                   if e.get("state") == "known" and e.get("name") == KNOWN)

    def site_ok(site: str) -> bool:
        return (known_decisions(site) > 0
                and any(e.get("reason") == "intruder" for e in events(f"{site}-alarm", "alarm_received")))

    def explain() -> str:
        return "\n".join(f"--- {s}: " + podman("logs", "--tail", "6", _name(s), check=False).stderr[-1200:]
                         for s in ("site1-edge", "site2-edge", "cloud", "cloud-2", "lb", "db", "enrol"))

    for site in SITES:
        wait_for(f"{site}: {KNOWN} (enrolled through the load balancer) recognised, an intruder alarm received",
                 lambda s=site: site_ok(s), 300, explain=explain)
    # both replicas answered: the load balancer spreads the edges' requests
    wait_for("both replicas answered identify requests",
             lambda: bool(events("cloud", "identify")) and bool(events("cloud-2", "identify")), 180, explain=explain)

    # one replica dies: verdicts keep coming from the other
    podman("kill", _name("cloud-2"))
    after_kill = {site: known_decisions(site) for site in SITES}
    intruders = {site: len(events(f"{site}-alarm", "alarm_received")) for site in SITES}
    for site in SITES:
        wait_for(f"{site}: verdicts go on with one replica left",
                 lambda s=site: known_decisions(s) > after_kill[s]
                 or len(events(f"{s}-alarm", "alarm_received")) > intruders[s], 240, explain=explain)
    unverified = [e for site in SITES for e in events(f"{site}-alarm", "alarm_received")
                  if e.get("reason") == "unverified"]
    print(f"unverified alarms during the run: {len(unverified)}")
