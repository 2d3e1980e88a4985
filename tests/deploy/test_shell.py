"""shellcheck on every shell script of deploy/ and on the cloud-init user data rendered for each layer,
whose .env must satisfy that layer's compose file."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TEMPLATE = DEPLOY / "terraform" / "templates" / "user_data.sh.tftpl"

#: Sample values for the Terraform expressions used in the user data (as `terraform apply` would give).
EXPRESSIONS = {
    "local.edge_url": "http://172.31.5.20:8000",
    "local.cloud_url": "http://172.31.5.30:8080",
    "local.edge_port": "8000",
    "local.cloud_port": "8080",
    "local.host_log_dir": "/opt/edgewatch/logs",
    "random_password.cloud_token.result": "Z3JhY2UtaG9wcGVyLXRva2VuLTEyMzQ1Njc4OTA",
    "var.cloud_backend": "local",
    "var.region": "us-east-1",
    "var.site_id": "site1",
    "var.camera_sources[0]": "/media",
    "var.camera_sources[1]": "/media/door.mp4",
    "var.camera_fps": "2",
    "var.git_url": "https://github.com/example/edgewatch.git",
    "var.git_ref": "v0.1.0",
    # node credentials (issue 9): tokens for the IoT host, their SHA-256 digests for the edge host
    "local.node_tokens.cam1": "c2FtcGxlLWNhbTEtdG9rZW4tMDEyMzQ1Njc4OWFiY2Rl",
    "local.node_tokens.cam2": "c2FtcGxlLWNhbTItdG9rZW4tMDEyMzQ1Njc4OWFiY2Rl",
    "local.node_tokens.alarm1": "c2FtcGxlLWFsYXJtMS10b2tlbi0wMTIzNDU2Nzg5YWJj",
}


def _node_token(node: str) -> str:
    return EXPRESSIONS[f"local.node_tokens.{node}"]


EXPRESSIONS["local.node_digests"] = ",".join(
    f"{role}:site1:{node}:{hashlib.sha256(_node_token(node).encode()).hexdigest()}"
    for node, role in (("cam1", "camera"), ("cam2", "camera"), ("alarm1", "alarm"))
)


def shellcheck(shellcheck_bin: Path, path: Path) -> None:
    result = subprocess.run(
        [shellcheck_bin, "--severity=style", "--external-sources", path],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"shellcheck {path}:\n{result.stdout}{result.stderr}"


def scripts() -> list[Path]:
    return sorted(DEPLOY.rglob("*.sh"))


def test_there_are_scripts_to_check() -> None:
    assert DEPLOY / "compose" / "enrol.sh" in scripts()


@pytest.mark.parametrize("script", scripts(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_shellcheck_scripts(script: Path, shellcheck_bin: Path) -> None:
    shellcheck(shellcheck_bin, script)


def user_data_call(instance: dict[str, Any]) -> str:
    call = instance["user_data"]
    assert "templatefile(" in call and "templates/user_data.sh.tftpl" in call
    return call


def template_arguments(call: str) -> dict[str, str]:
    """The variables passed to templatefile(), with Terraform expressions replaced by sample values."""
    body = call[call.index("{", call.index("tftpl")) :]
    names = re.findall(r"[{,]\s*(\w+)\s*=", body)
    values: dict[str, str] = {}
    for name in names:
        match = re.search(rf"[{{,]\s*{name}\s*=\s*(.+?)(?=,\s*\w+\s*=|\}}\)\}}$)", body)
        assert match, name
        values[name] = evaluate(match.group(1).strip())
    return values


def evaluate(expr: str) -> str:
    if expr.startswith("join("):
        items = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
        separator, lines = items[0], items[1:]
        assert separator == "\\n"
        return "\n".join(interpolate(line) for line in lines)
    if expr.startswith('"'):
        return interpolate(expr.strip('"'))
    return EXPRESSIONS[expr]


def interpolate(text: str) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: EXPRESSIONS[m.group(1)], text)


@pytest.fixture(scope="module")
def rendered(terraform, tf_resources, render) -> dict[str, tuple[str, dict[str, str]]]:
    template = TEMPLATE.read_text(encoding="utf-8")
    out = {}
    for layer, instance in tf_resources(terraform, "aws_instance").items():
        variables = template_arguments(user_data_call(instance))
        used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", template))
        assert used == set(variables), (
            f"{layer}: template uses {sorted(used)}, main.tf passes {sorted(variables)}"
        )
        assert variables["layer"] == layer
        out[layer] = (render(template, variables), variables)
    assert set(out) == {"iot", "edge", "cloud"}
    return out


@pytest.mark.parametrize("layer", ["iot", "edge", "cloud"])
def test_rendered_user_data_passes_shellcheck(
    layer: str, rendered, shellcheck_bin: Path, tmp_path: Path
) -> None:
    script, _ = rendered[layer]
    assert script.startswith("#!/bin/bash\n")
    assert "$${" not in script, "a template escape was not rendered"
    assert not re.search(r"\$\{(layer|git_url|git_ref|host_log_dir|dotenv)\}", script)
    path = tmp_path / f"user_data_{layer}.sh"
    path.write_text(script, encoding="utf-8")
    shellcheck(shellcheck_bin, path)


@pytest.mark.parametrize("layer", ["iot", "edge", "cloud"])
def test_rendered_user_data_starts_its_layer(layer: str, rendered) -> None:
    script, _variables = rendered[layer]
    assert 'LAYER="' + layer + '"' in script
    assert 'COMPOSE_FILE="docker-compose.$LAYER.yml"' in script
    assert 'docker compose -f "${COMPOSE_FILE}" up --build --detach' in script
    assert "docker-compose-v2" in script and "docker.io" in script
    assert f'GIT_URL="{EXPRESSIONS["var.git_url"]}"' in script
    assert f'GIT_REF="{EXPRESSIONS["var.git_ref"]}"' in script
    assert "/opt/edgewatch/logs" in script
    assert "scp" not in script and "AWS_SECRET" not in script


@pytest.mark.parametrize(
    ("layer", "variable", "expected"),
    [
        ("iot", "EDGEWATCH_EDGE_URL", EXPRESSIONS["local.edge_url"]),
        ("edge", "EDGEWATCH_CLOUD_URL", EXPRESSIONS["local.cloud_url"]),
    ],
)
def test_rendered_env_configures_the_layer_compose_file(
    layer: str, variable: str, expected: str, rendered, compose_config, tmp_path: Path
) -> None:
    """The .env the user data writes is enough for `docker compose -f docker-compose.<layer>.yml`."""
    script, _ = rendered[layer]
    body = re.search(r"<<'DOTENV'\n(.*?)\nDOTENV\n", script, re.DOTALL).group(1)
    env_file = tmp_path / ".env"
    # the EC2 media folder does not exist here; point it at a real one for the check
    env_file.write_text(re.sub(r"(?m)^EDGEWATCH_MEDIA=.*$", f"EDGEWATCH_MEDIA={tmp_path}", body) + "\n")
    model = compose_config(f"docker-compose.{layer}.yml", env_file=env_file)
    envs = [svc["environment"] for svc in model["services"].values()]
    assert any(env.get(variable) == expected for env in envs)
    for svc in model["services"].values():
        logs = [m for m in svc["volumes"] if m["target"] == "/app/logs"]
        assert logs and logs[0]["source"] == "/opt/edgewatch/logs"


def test_rendered_env_configures_the_cloud(rendered, compose_config, tmp_path: Path) -> None:
    script, _ = rendered["cloud"]
    body = re.search(r"<<'DOTENV'\n(.*?)\nDOTENV\n", script, re.DOTALL).group(1)
    env_file = tmp_path / ".env"
    env_file.write_text(body + "\n")
    model = compose_config("docker-compose.cloud.yml", env_file=env_file)
    assert (
        model["services"]["cloud"]["environment"]["EDGEWATCH_TOKEN"]
        == (EXPRESSIONS["random_password.cloud_token.result"])
    )
    edge_script, _ = rendered["edge"]
    assert f"EDGEWATCH_CLOUD_TOKEN={EXPRESSIONS['random_password.cloud_token.result']}" in edge_script


def test_node_tokens_reach_the_iot_host_and_only_their_digests_the_edge_host(rendered, tmp_path: Path) -> None:
    """Terraform's .env files: each IoT node gets its own token; the edge host gets SHA-256 digests that
    `edgewatch credentials load` accepts, and no token."""
    from edgewatch.security.credentials import Verifier, load_digests, parse_digests, read_credentials

    def dotenv(layer: str) -> dict[str, str]:
        script, _ = rendered[layer]
        body = re.search(r"<<'DOTENV'\n(.*?)\nDOTENV\n", script, re.DOTALL).group(1)
        return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)

    iot, edge, cloud = dotenv("iot"), dotenv("edge"), dotenv("cloud")
    tokens = {node: iot[f"EDGEWATCH_{var}_TOKEN"] for node, var in (("cam1", "CAM1"), ("cam2", "CAM2"),
                                                                      ("alarm1", "ALARM"))}
    assert len(set(tokens.values())) == 3
    for text in (edge, cloud):
        assert not set(tokens.values()) & set(text.values())
        assert not any(t in v for t in tokens.values() for v in text.values())
    file = tmp_path / "edge-credentials.json"
    load_digests(file, parse_digests(edge["EDGEWATCH_NODE_DIGESTS"]))
    verifier = Verifier(read_credentials(file))
    assert verifier.check(tokens["cam1"], "camera", "site1", "cam1").value == "ok"
    assert verifier.check(tokens["alarm1"], "alarm", "site1", "alarm1").value == "ok"
    assert verifier.check(tokens["cam1"], "camera", "site1", "cam2").value == "forbidden"
