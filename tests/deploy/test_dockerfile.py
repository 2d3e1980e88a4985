"""deploy/docker/Dockerfile: hadolint, and the shape every image must have (one target per layer
installing only its extra from the wheel, non-root, health check, logs volume, no credentials)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
LAYERS = {"camera": "/healthz", "alarm": "/healthz", "edge": "/readyz", "cloud": "/readyz"}
PORTS = {"camera": "9100", "alarm": "9100", "edge": "8000", "cloud": "8080"}


def stages() -> dict[str, list[str]]:
    """Instructions (continuation lines joined) of each named stage."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result: dict[str, list[str]] = {}
    name = None
    for instruction in logical:
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", instruction, re.IGNORECASE)
        if match:
            name = match.group(2)
            result[name] = [instruction]
        elif name is not None:
            result[name].append(instruction)
    return result


def test_hadolint_passes(hadolint_bin: Path) -> None:
    result = subprocess.run(
        [hadolint_bin, "--no-color", DOCKERFILE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_target_per_layer_on_a_slim_python_base() -> None:
    found = stages()
    assert {"builder", "base", *LAYERS} <= set(found)
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert found["builder"][0].startswith("FROM ${PYTHON_IMAGE}")
    assert found["base"][0].startswith("FROM ${PYTHON_IMAGE}")
    for layer in LAYERS:
        assert found[layer][0] == f"FROM base AS {layer}"


def test_builder_builds_a_wheel_and_each_layer_installs_only_its_extra() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    builder = " ".join(stages()["builder"])
    assert "pip wheel" in builder and "--no-deps" in builder
    requirement_sets = re.search(r"for extras in ([\w, ]+);", builder).group(1).split()
    for extra_set in requirement_sets:
        for extra in extra_set.split(","):
            assert extra in extras, f"Dockerfile installs unknown extra {extra!r}"
    assert {s.split(",")[0] for s in requirement_sets} == set(LAYERS)
    for layer in LAYERS:
        runs = [i for i in stages()[layer] if i.startswith("RUN")]
        assert len(runs) == 1, layer
        assert "from=builder" in runs[0] and f"--requirement /wheels/{layer}.txt" in runs[0]
        assert "--no-cache-dir" in runs[0]
    assert "COPY src" not in " ".join(i for layer in LAYERS for i in stages()[layer])


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_image_shape(layer: str) -> None:
    instructions = stages()[layer]
    joined = "\n".join(instructions)
    users = [i.split()[1] for i in instructions if i.startswith("USER")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "must run as a non-root user"
    assert re.search(r'VOLUME \[[^]]*"/app/logs"', joined)
    health = [i for i in instructions if i.startswith("HEALTHCHECK")]
    assert len(health) == 1 and LAYERS[layer] in health[0] and "127.0.0.1" in health[0]
    assert f"EXPOSE {PORTS[layer]}" in joined
    assert f'CMD ["{layer}"]' in joined
    if layer in ("edge", "cloud"):
        assert "EDGEWATCH_HOST=0.0.0.0" in joined
        assert f"EDGEWATCH_PORT={PORTS[layer]}" in joined
    else:
        assert f"EDGEWATCH_METRICS_PORT={PORTS[layer]}" in joined


def test_base_sets_workdir_logs_and_entrypoint() -> None:
    base = "\n".join(stages()["base"])
    assert "WORKDIR /app" in base
    assert "EDGEWATCH_LOG_DIR=/app/logs" in base
    assert 'ENTRYPOINT ["edgewatch"]' in base
    assert "useradd" in base and "--uid 10001" in base


def test_no_credentials_in_any_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for word in (
        "AWS_ACCESS_KEY",
        "AWS_SECRET",
        "AWS_SESSION_TOKEN",
        "EDGEWATCH_TOKEN",
        "CLOUD_TOKEN",
        "PASSWORD",
        ".aws",
        "credentials",
    ):
        assert word.lower() not in code.lower(), word


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything, then re-include"
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(lines)
    assert not any(line.startswith("!") and ("tests" in line or "deploy" in line) for line in lines)
    assert "**/.aws" in lines and "**/*.db" in lines
    copied = re.findall(
        r"^COPY\s+(?!--from)(.+)\s+\S+$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE
    )
    for sources in copied:
        for source in sources.split():
            assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in lines}, source
