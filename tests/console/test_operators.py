"""Operator accounts: scrypt hashes in a 0600 file, the `edgewatch operators` command, passwords never on argv."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgewatch.console.operators import OperatorsError, OperatorsFile


def run(args: list[str], *, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", "operators", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, check=False, env={**os.environ, **(env or {})})


def test_file_is_private_holds_no_password_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "operators.json"
    operators = OperatorsFile(path)
    operators.add("alice", "correct horse battery")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "correct horse" not in text
    entry = json.loads(text)["operators"]["alice"]
    assert entry["n"] == 2**14 and len(entry["salt"]) > 16
    assert operators.verify("alice", "correct horse battery")
    assert not operators.verify("alice", "correct horse batterY")
    assert not operators.verify("bob", "correct horse battery")
    operators.add("bob", "correct horse battery")
    salts = {v["salt"] for v in json.loads(path.read_text())["operators"].values()}
    hashes = {v["hash"] for v in json.loads(path.read_text())["operators"].values()}
    assert len(salts) == 2 and len(hashes) == 2, "per-user salt: the same password hashes differently"
    with pytest.raises(OperatorsError, match="already exists"):
        operators.add("bob", "another password")
    with pytest.raises(OperatorsError, match="too short"):
        operators.add("carol", "short")
    operators.remove("bob")
    assert operators.names() == ["alice"]
    # A second reader sees changes made on disk by another process (a running console picks them up).
    other = OperatorsFile(path)
    operators.add("dave", "dave's long password")
    assert other.exists("dave")


def test_corrupt_file_refuses_every_login(tmp_path: Path) -> None:
    path = tmp_path / "operators.json"
    path.write_text("{not json")
    operators = OperatorsFile(path)
    assert not operators.verify("alice", "whatever password")
    with pytest.raises(OperatorsError, match="not readable"):
        operators.names()


def test_cli_add_list_remove_with_password_off_argv(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    added = run(["--file", str(path), "add", "alice", "--password-stdin"], stdin="s3cret-password\n")
    assert added.returncode == 0, added.stderr
    assert "s3cret" not in added.stdout + added.stderr
    assert OperatorsFile(path).verify("alice", "s3cret-password")
    from_env = run(["--file", str(path), "add", "bob"], env={"EDGEWATCH_OPERATOR_PASSWORD": "bob-password-1"})
    assert from_env.returncode == 0, from_env.stderr
    listed = run(["--file", str(path), "list"])
    assert listed.stdout.split() == ["alice", "bob"]
    assert run(["--file", str(path), "remove", "bob"]).returncode == 0
    assert run(["--file", str(path), "list"]).stdout.split() == ["alice"]


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["add", "bad name", "--password-stdin"], "long enough password\n", "invalid operator name"),
    (["add", "eve", "--password-stdin"], "short\n", "too short"),
    (["add", "eve"], "", "no password"),
    (["remove", "nobody"], "", "no operator 'nobody'"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], stdin: str, message: str) -> None:
    result = run(["--file", str(tmp_path / "ops.json"), *args], stdin=stdin,
                 env={"EDGEWATCH_OPERATOR_PASSWORD": ""})
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
