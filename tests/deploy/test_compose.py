"""The compose files, resolved by the real Docker Compose v2 binary: topology, start-up order, volumes,
credentials, and the per-layer files' peer addresses."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
README = COMPOSE_DIR.parent / "README.md"

SITE_SERVICES = {
    site: {f"{site}-cam1", f"{site}-cam2", f"{site}-alarm", f"{site}-edge"} for site in ("site1", "site2")
}
EXPECTED_NETWORKS = {
    "site1-cam1": {"site1_net"},
    "site1-cam2": {"site1_net"},
    "site1-alarm": {"site1_net"},
    "site1-edge": {"site1_net", "cloud_net"},
    "site2-cam1": {"site2_net"},
    "site2-cam2": {"site2_net"},
    "site2-alarm": {"site2_net"},
    "site2-edge": {"site2_net", "cloud_net"},
    "enrol": {"cloud_net"},
    "site1-credentials": set(),  # one-shot init of node credentials: no network at all
    "site2-credentials": set(),
    "cloud": {"cloud_net"},
}
IOT_TARGETS = {"camera", "alarm"}


def networks(service: dict[str, Any]) -> set[str]:
    return set(service.get("networks") or {})


def can_reach(model: dict[str, Any], a: str, b: str) -> bool:
    """Two containers can talk only if they share a network (no host networking anywhere)."""
    return bool(networks(model["services"][a]) & networks(model["services"][b]))


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["target"]: m for m in service.get("volumes", [])}


@pytest.fixture
def full(compose_config) -> dict[str, Any]:
    return compose_config("docker-compose.yml")


@pytest.fixture
def rekognition(compose_config, tmp_path: Path) -> dict[str, Any]:
    return compose_config(
        "docker-compose.yml",
        "docker-compose.rekognition.yml",
        env={"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")},
    )


# ------------------------------------------------------------------------------------- full topology


def test_services_and_project_name(full: dict[str, Any]) -> None:
    assert full["name"] == "edgewatch"
    assert set(full["services"]) == set(EXPECTED_NETWORKS)
    targets = {name: svc["build"]["target"] for name, svc in full["services"].items()}
    assert sorted(n for n, t in targets.items() if t == "camera") == [
        "site1-cam1",
        "site1-cam2",
        "site2-cam1",
        "site2-cam2",
    ]
    assert sorted(n for n, t in targets.items() if t == "edge") == [
        "site1-credentials", "site1-edge", "site2-credentials", "site2-edge",
    ]
    assert sorted(n for n, t in targets.items() if t == "alarm") == ["site1-alarm", "site2-alarm"]
    assert sorted(n for n, t in targets.items() if t == "cloud") == ["cloud", "enrol"]
    for svc in full["services"].values():
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert Path(svc["build"]["context"]) == COMPOSE_DIR.parents[1]


def test_networks_per_service(full: dict[str, Any]) -> None:
    assert set(full["networks"]) == {"site1_net", "site2_net", "cloud_net"}
    for name, svc in full["services"].items():
        assert networks(svc) == EXPECTED_NETWORKS[name], name
        assert svc.get("network_mode") in (None, "none"), name  # never host networking


def test_sites_are_isolated_from_each_other(full: dict[str, Any]) -> None:
    for a, b in itertools.product(SITE_SERVICES["site1"], SITE_SERVICES["site2"]):
        if (a, b) == ("site1-edge", "site2-edge"):
            continue  # the two edges meet only on the edge-cloud network, as in the original topology
        assert not can_reach(full, a, b), f"{a} shares a network with {b}"
    shared = networks(full["services"]["site1-edge"]) & networks(full["services"]["site2-edge"])
    assert shared == {"cloud_net"}


def test_iot_nodes_cannot_reach_the_cloud(full: dict[str, Any]) -> None:
    iot = [n for n, s in full["services"].items() if s["build"]["target"] in IOT_TARGETS]
    assert len(iot) == 6
    for node, cloud_side in itertools.product(iot, ("cloud", "enrol")):
        assert not can_reach(full, node, cloud_side), f"{node} shares a network with {cloud_side}"


def test_each_site_reaches_only_its_own_edge_and_the_edges_reach_the_cloud(full: dict[str, Any]) -> None:
    for site, members in SITE_SERVICES.items():
        edge = f"{site}-edge"
        for node in members - {edge}:
            assert can_reach(full, node, edge)
            assert full["services"][node]["environment"]["EDGEWATCH_EDGE_URL"] == f"http://{edge}:8000"
            assert full["services"][node]["environment"]["EDGEWATCH_SITE_ID"] == site
        assert can_reach(full, edge, "cloud")
        env = full["services"][edge]["environment"]
        assert env["EDGEWATCH_CLOUD_URL"] == "http://cloud:8080"
        assert env["EDGEWATCH_SITES"] == site
        assert env["EDGEWATCH_CLOUD_TOKEN"] == full["services"]["cloud"]["environment"]["EDGEWATCH_TOKEN"]


def test_start_up_is_gated_by_health(full: dict[str, Any]) -> None:
    services = full["services"]
    for site, members in SITE_SERVICES.items():
        for node in members - {f"{site}-edge"}:
            assert services[node]["depends_on"] == {
                f"{site}-edge": {"condition": "service_healthy", "required": True}
            }
        assert services[f"{site}-edge"]["depends_on"]["cloud"]["condition"] == "service_healthy"
    assert services["cloud"]["depends_on"]["enrol"]["condition"] == "service_completed_successfully"
    assert services["enrol"]["restart"] == "no"
    # a service other services wait on must keep the image's HEALTHCHECK (test_dockerfile checks it exists)
    awaited = {
        dep
        for svc in services.values()
        for dep, how in svc.get("depends_on", {}).items()
        if how["condition"] == "service_healthy"
    }
    assert awaited == {"site1-edge", "site2-edge", "cloud"}
    for name in awaited:
        assert not services[name].get("healthcheck", {}).get("disable"), name
    for name, svc in services.items():
        assert "sleep" not in " ".join(svc.get("command") or []) + " ".join(svc.get("entrypoint") or []), name


def test_logs_go_to_one_volume_per_container(full: dict[str, Any]) -> None:
    sources = []
    for name, svc in full["services"].items():
        log = mounts(svc).get("/app/logs")
        assert log is not None, f"{name} has no /app/logs mount"
        assert log["type"] == "volume" and log["source"] in full["volumes"], name
        sources.append(log["source"])
    assert len(sources) == len(set(sources)), "two containers share a log volume (file names would collide)"


def test_camera_material_is_mounted_read_only(full: dict[str, Any], compose_config, tmp_path: Path) -> None:
    for name, svc in full["services"].items():
        media = mounts(svc).get("/media")
        if svc["build"]["target"] == "camera":
            assert media is not None and media["type"] == "bind" and media["read_only"] is True, name
            # long syntax with create_host_path: false (compose omits the false value): a missing folder
            # is an error at start, never an empty directory silently created by Docker
            assert not media.get("bind", {}).get("create_host_path"), name
            assert media["source"] == str(COMPOSE_DIR.parents[1] / "media")
            assert svc["environment"]["EDGEWATCH_SOURCE"] == "/media"
        else:
            assert media is None, name
    env_file = tmp_path / "sim.env"
    env_file.write_text(
        f"EDGEWATCH_MEDIA={tmp_path}\nSITE2_CAM1_SOURCE=/media/lobby.mp4\nEDGEWATCH_FPS=5\n", encoding="utf-8"
    )
    model = compose_config("docker-compose.yml", env_file=env_file)
    cam = model["services"]["site2-cam1"]
    assert mounts(cam)["/media"]["source"] == str(tmp_path)
    assert cam["environment"]["EDGEWATCH_SOURCE"] == "/media/lobby.mp4"
    assert {s["environment"]["EDGEWATCH_FPS"] for n, s in model["services"].items() if "-cam" in n} == {"5"}


def test_only_the_cloud_side_gets_published_on_loopback(full: dict[str, Any]) -> None:
    for name, svc in full["services"].items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name


def test_no_credentials_without_rekognition(full: dict[str, Any]) -> None:
    for name, svc in full["services"].items():
        assert not any(k.startswith("AWS_") for k in svc.get("environment", {})), name
        for mount in svc.get("volumes", []):
            assert "aws" not in mount["target"].lower() and "credentials" not in mount["target"].lower(), name
            assert ".aws" not in mount.get("source", ""), name
    assert full["services"]["cloud"]["environment"]["EDGEWATCH_BACKEND"] == "local"


# --------------------------------------------------------------------------------- rekognition variant


def test_rekognition_mounts_credentials_read_only_into_the_cloud_only(
    rekognition: dict[str, Any], tmp_path: Path
) -> None:
    services = rekognition["services"]
    cloud = services["cloud"]
    assert cloud["environment"]["EDGEWATCH_BACKEND"] == "rekognition"
    target = cloud["environment"]["AWS_SHARED_CREDENTIALS_FILE"]
    creds = mounts(cloud)[target]
    assert creds["type"] == "bind" and creds["read_only"] is True
    assert creds["source"] == str(tmp_path / "aws-credentials")
    assert not creds.get("bind", {}).get("create_host_path")  # never a directory made up by Docker
    for name, svc in services.items():
        if name == "cloud":
            continue
        assert not any(k.startswith("AWS_") for k in svc.get("environment", {})), name
        assert all(m.get("source") != creds["source"] for m in svc.get("volumes", [])), name
    # topology unchanged
    for name, svc in services.items():
        assert networks(svc) == EXPECTED_NETWORKS[name], name


def test_rekognition_default_credentials_path_is_the_users_aws_file(compose_config, tmp_path: Path) -> None:
    model = compose_config("docker-compose.yml", "docker-compose.rekognition.yml")
    sources = [m["source"] for m in model["services"]["cloud"]["volumes"] if m["type"] == "bind"]
    assert sources == [str(tmp_path / ".aws" / "credentials")]  # HOME is tmp_path in the test env


def test_rekognition_enrols_through_the_running_cloud(rekognition: dict[str, Any]) -> None:
    services = rekognition["services"]
    assert not services["cloud"].get("depends_on")  # no cycle: the cloud no longer waits for enrol
    assert services["enrol"]["environment"]["EDGEWATCH_ENROL_URL"] == "http://cloud:8080"
    assert services["enrol"]["depends_on"]["cloud"]["condition"] == "service_healthy"
    for edge in ("site1-edge", "site2-edge"):
        deps = services[edge]["depends_on"]
        assert deps["enrol"]["condition"] == "service_completed_successfully"
        assert deps["cloud"]["condition"] == "service_healthy"


# ---------------------------------------------------------------------------------- per-layer files

LAYER_REQUIRED = {
    "iot": {"EDGEWATCH_EDGE_URL", "EDGEWATCH_CAM1_TOKEN", "EDGEWATCH_CAM2_TOKEN", "EDGEWATCH_ALARM_TOKEN"},
    "edge": {"EDGEWATCH_CLOUD_URL", "EDGEWATCH_CLOUD_TOKEN", "EDGEWATCH_NODE_DIGESTS"},
    "cloud": {"EDGEWATCH_CLOUD_TOKEN"},
}
LAYER_SERVICES = {"iot": {"cam1", "cam2", "alarm"}, "edge": {"credentials", "edge"}, "cloud": {"cloud", "enrol"}}
#: node credentials (issue 9): tokens on the IoT host, only their digests on the edge host
NODE_TOKENS = {"cam1": "EDGEWATCH_CAM1_TOKEN", "cam2": "EDGEWATCH_CAM2_TOKEN", "alarm": "EDGEWATCH_ALARM_TOKEN"}
DIGESTS = "camera:site7:cam1:" + "ab" * 32


@pytest.fixture
def layer_env(tmp_path: Path) -> Path:
    path = tmp_path / "layer.env"
    path.write_text(
        "\n".join(
            [
                "EDGEWATCH_EDGE_URL=http://10.1.2.3:8000",
                "EDGEWATCH_CLOUD_URL=http://10.4.5.6:8080",
                "EDGEWATCH_CLOUD_TOKEN=t0ken-from-env",
                "EDGEWATCH_SITE_ID=site7",
                "EDGEWATCH_SITES=site7",
                "EDGEWATCH_BACKEND=rekognition",
                f"EDGEWATCH_MEDIA={tmp_path}",
                "EDGEWATCH_HOST_LOG_DIR=/opt/edgewatch/logs",
                *(f"{var}=token-of-{node}" for node, var in NODE_TOKENS.items()),
                f"EDGEWATCH_NODE_DIGESTS={DIGESTS}",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("layer", sorted(LAYER_REQUIRED))
def test_layer_file_refuses_to_start_without_its_peers(layer: str, compose_run) -> None:
    result = compose_run(f"docker-compose.{layer}.yml")
    assert result.returncode != 0
    assert any(var in result.stderr for var in LAYER_REQUIRED[layer]), result.stderr


@pytest.mark.parametrize("layer", sorted(LAYER_REQUIRED))
def test_layer_file_has_no_hard_coded_address(layer: str) -> None:
    text = (COMPOSE_DIR / f"docker-compose.{layer}.yml").read_text(encoding="utf-8")
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text), "an IP address is written in the YAML"
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "http://" not in code and "https://" not in code, "a peer URL is written in the YAML"


def test_iot_file_takes_the_edge_from_env(compose_config, layer_env: Path, tmp_path: Path) -> None:
    model = compose_config("docker-compose.iot.yml", env_file=layer_env)
    assert model["name"] == "edgewatch-iot"
    assert set(model["services"]) == LAYER_SERVICES["iot"]
    for name, svc in model["services"].items():
        assert svc["environment"]["EDGEWATCH_EDGE_URL"] == "http://10.1.2.3:8000", name
        assert svc["environment"]["EDGEWATCH_SITE_ID"] == "site7", name
        log = mounts(svc)["/app/logs"]
        assert (log["type"], log["source"]) == ("bind", "/opt/edgewatch/logs"), name
    for cam in ("cam1", "cam2"):
        media = mounts(model["services"][cam])["/media"]
        assert media["source"] == str(tmp_path) and media["read_only"] is True
    ids = [model["services"][c]["environment"]["EDGEWATCH_CAMERA_ID"] for c in ("cam1", "cam2")]
    assert len(set(ids)) == 2
    for node in NODE_TOKENS:  # each node its own credential
        assert model["services"][node]["environment"]["EDGEWATCH_NODE_TOKEN"] == f"token-of-{node}"


def test_edge_file_takes_the_cloud_from_env(compose_config, layer_env: Path) -> None:
    model = compose_config("docker-compose.edge.yml", env_file=layer_env)
    assert model["name"] == "edgewatch-edge"
    edge = model["services"]["edge"]
    assert edge["environment"]["EDGEWATCH_CLOUD_URL"] == "http://10.4.5.6:8080"
    assert edge["environment"]["EDGEWATCH_CLOUD_TOKEN"] == "t0ken-from-env"
    assert edge["environment"]["EDGEWATCH_SITES"] == "site7"
    assert [(p["target"], p["published"]) for p in edge["ports"]] == [(8000, "8000")]
    assert mounts(edge)["/app/logs"]["source"] == "/opt/edgewatch/logs"
    # the edge reads the credentials file its one-shot `credentials` service wrote from the digests
    init = model["services"]["credentials"]
    assert init["environment"]["EDGEWATCH_NODE_DIGESTS"] == DIGESTS and init["network_mode"] == "none"
    assert edge["depends_on"]["credentials"]["condition"] == "service_completed_successfully"
    secrets = mounts(edge)["/app/secrets"]
    assert secrets["source"] == mounts(init)["/app/data"]["source"] and secrets["read_only"] is True
    assert edge["environment"]["EDGEWATCH_CREDENTIALS_FILE"].startswith("/app/secrets/")
    assert not any("TOKEN" in k and k != "EDGEWATCH_CLOUD_TOKEN" for k in edge["environment"])


def test_cloud_file_takes_token_and_backend_from_env(compose_config, layer_env: Path) -> None:
    model = compose_config("docker-compose.cloud.yml", env_file=layer_env)
    assert model["name"] == "edgewatch-cloud"
    cloud = model["services"]["cloud"]
    assert cloud["environment"]["EDGEWATCH_TOKEN"] == "t0ken-from-env"
    assert cloud["environment"]["EDGEWATCH_BACKEND"] == "rekognition"
    assert [(p["target"], p["published"]) for p in cloud["ports"]] == [(8080, "8080")]
    assert cloud["depends_on"]["enrol"]["condition"] == "service_completed_successfully"
    # on EC2 the instance profile supplies AWS credentials: nothing is mounted, no AWS_* keys are set
    for svc in model["services"].values():
        assert not any(k.startswith("AWS_") for k in svc["environment"])
        assert not any("aws" in m["target"].lower() for m in svc["volumes"])


@pytest.mark.parametrize("layer", sorted(LAYER_REQUIRED))
def test_env_example_configures_every_layer(layer: str, compose_config) -> None:
    model = compose_config(f"docker-compose.{layer}.yml", env_file=COMPOSE_DIR / ".env.example")
    assert set(model["services"]) == LAYER_SERVICES[layer]


def test_readme_collect_command_names_the_compose_projects() -> None:
    text = README.read_text(encoding="utf-8")
    projects = set(re.findall(r"--docker-project\s+([\w.-]+)", text))
    assert "edgewatch" in projects
    names = {
        re.search(r"^name:\s*(\S+)", (COMPOSE_DIR / f).read_text(encoding="utf-8"), re.MULTILINE).group(1)
        for f in (
            "docker-compose.yml",
            "docker-compose.iot.yml",
            "docker-compose.edge.yml",
            "docker-compose.cloud.yml",
        )
    }
    assert projects <= names, f"README collects projects {projects - names} that no compose file defines"
    assert "--ssh-hosts" in text
