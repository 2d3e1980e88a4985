"""`edgewatch collect` from Docker and SSH, with fake `docker`/`ssh`/`scp` executables first on PATH.

No Docker engine or SSH host exists on the test machine, so these fakes (the only ones allowed here) record
their arguments and behave like the real tools: `docker cp` copies a fixture log folder, `scp -r` copies a
fixture host's log folder or fails like an unreachable host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgewatch.report.ssh_source import Host, HostListError, parse_hosts

_RECORD = """
import json, os, shutil, sys
from pathlib import Path
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(json.dumps([Path(sys.argv[0]).name, *sys.argv[1:]]) + "\\n")
fixtures = Path(os.environ["FAKE_FIXTURES"])
"""

FAKE_DOCKER = (
    _RECORD
    + """
args = sys.argv[1:]
if args[0] == "ps":
    project = args[args.index("--filter") + 1].split("=", 2)[2]
    names = sorted(p.name for p in (fixtures / "compose" / project).iterdir()) if (fixtures / "compose" / project).is_dir() else []
    print("\\n".join(names))
elif args[0] == "cp":
    container, path = args[1].split(":", 1)
    source = next((p for p in (fixtures / "compose").glob("*/" + container)), None)
    if source is None:
        sys.exit(print(f"Error response from daemon: No such container: {container}", file=sys.stderr) or 1)
    shutil.copytree(source, args[2], dirs_exist_ok=True)
"""
)

FAKE_SCP = (
    _RECORD
    + """
remote, dest = sys.argv[-2], sys.argv[-1]
target, path = remote.split(":", 1)
host = target.split("@", 1)[1]
if not (fixtures / "hosts" / host).is_dir():
    sys.exit(print(f"ssh: connect to host {host} port 22: Connection timed out", file=sys.stderr) or 255)
# cp -r semantics: an existing destination folder receives a copy of the folder, a new one its contents
dest = Path(dest) / Path(path).name if Path(dest).is_dir() else Path(dest)
shutil.copytree(fixtures / "hosts" / host, dest)
"""
)

FAKE_SSH = (
    _RECORD
    + """
sys.exit(print("ssh: fake: no remote commands", file=sys.stderr) or 255)
"""
)


@pytest.fixture
def fakes(tmp_path: Path, logkit: Any) -> dict[str, Any]:
    """Fake tools in tmp_path/bin, fixture logs in tmp_path/fixtures; ``run(*args, path=...)`` runs the CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", FAKE_DOCKER), ("scp", FAKE_SCP), ("ssh", FAKE_SSH)):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\n{body}")
        script.chmod(0o755)
    fixtures = tmp_path / "fixtures"
    logkit.edge_log(fixtures / "compose" / "edgewatch" / "edgewatch-edge-1")
    logkit.camera_logs(fixtures / "compose" / "edgewatch" / "edgewatch-camera-1")
    logkit.alarm_log(fixtures / "hosts" / "10.0.0.5")
    logkit.edge_log(fixtures / "hosts" / "10.0.0.6")
    calls = tmp_path / "calls.jsonl"

    def run(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "FAKE_CALLS": str(calls),
            "FAKE_FIXTURES": str(fixtures),
            "PATH": path if path is not None else f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        return subprocess.run(
            [sys.executable, "-m", "edgewatch", "collect", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    def recorded() -> list[list[str]]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return {"run": run, "recorded": recorded, "bin": bin_dir}


def test_docker_project_and_container(tmp_path: Path, fakes: dict[str, Any]) -> None:
    out = tmp_path / "out"
    result = fakes["run"](
        "--out",
        str(out),
        "--docker-project",
        "edgewatch",
        "--docker-container",
        "edgewatch-edge-1",
        "--docker-container",
        "ghost",
    )
    assert result.returncode == 0, result.stderr
    calls = sorted(fakes["recorded"]())
    assert calls == sorted(
        [
            [
                "docker",
                "ps",
                "-a",
                "--filter",
                "label=com.docker.compose.project=edgewatch",
                "--format",
                "{{.Names}}",
            ],
            ["docker", "cp", "edgewatch-camera-1:/app/logs/.", calls[0][3]],
            ["docker", "cp", "edgewatch-edge-1:/app/logs/.", calls[1][3]],
            ["docker", "cp", "ghost:/app/logs/.", calls[2][3]],
        ]
    )
    assert sorted(p.name for p in out.glob("*.jsonl")) == [
        "docker-edgewatch-camera-1__camera-cam1.jsonl",
        "docker-edgewatch-camera-1__camera-cam2.jsonl",
        "docker-edgewatch-edge-1__edge.jsonl",
    ]
    assert (
        "FAIL docker ghost: docker cp from ghost: Error response from daemon: No such container: ghost"
        in result.stdout
    )
    assert "total: 3 file(s) from 2 of 3 source(s); 1 failed" in result.stdout


def test_docker_unknown_project_and_missing_docker(tmp_path: Path, fakes: dict[str, Any]) -> None:
    result = fakes["run"]("--out", str(tmp_path / "out"), "--docker-project", "other")
    assert result.returncode == 1
    assert "FAIL docker project other: no containers found for compose project 'other'" in result.stdout

    only_scp = tmp_path / "only-scp"
    only_scp.mkdir()
    (only_scp / "scp").symlink_to(fakes["bin"] / "scp")
    result = fakes["run"](
        "--out", str(tmp_path / "out2"), "--docker-container", "edgewatch-edge-1", path=str(only_scp)
    )
    assert result.returncode == 1
    assert "docker not found on PATH" in result.stdout


def test_ssh_hosts_file_with_an_unreachable_host(tmp_path: Path, fakes: dict[str, Any]) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the run's hosts\nubuntu@10.0.0.5\n\nubuntu@10.0.0.9  # down\nec2-user@10.0.0.6\n")
    out = tmp_path / "out"
    result = fakes["run"](
        "--out",
        str(out),
        "--ssh-hosts",
        str(hosts),
        "--transport",
        "scp",
        "--connect-timeout",
        "3",
        "--remote-log-dir",
        "/var/log/edgewatch",
    )
    assert result.returncode == 0, result.stderr
    calls = sorted(fakes["recorded"](), key=lambda c: c[-2])
    assert [c[:-1] for c in calls] == [
        [
            "scp",
            "-r",
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "StrictHostKeyChecking=accept-new",
            f"{user}@{ip}:/var/log/edgewatch",
        ]
        for user, ip in (("ec2-user", "10.0.0.6"), ("ubuntu", "10.0.0.5"), ("ubuntu", "10.0.0.9"))
    ]
    assert sorted(p.name for p in out.glob("*.jsonl")) == [
        "ssh-ec2-user_10.0.0.6__edge.jsonl",
        "ssh-ubuntu_10.0.0.5__alarm-alarm1.jsonl",
    ]
    assert (
        "FAIL ssh    ubuntu@10.0.0.9: host unreachable: scp from ubuntu@10.0.0.9: "
        "ssh: connect to host 10.0.0.9 port 22: Connection timed out"
    ) in result.stdout
    manifest = json.loads((out / "collect.json").read_text())
    assert [(s["name"], s["error"] is None) for s in manifest["sources"]] == [
        ("ubuntu@10.0.0.5", True),
        ("ubuntu@10.0.0.9", False),
        ("ec2-user@10.0.0.6", True),
    ]


def test_ssh_hosts_from_terraform_output(tmp_path: Path, fakes: dict[str, Any]) -> None:
    hosts = tmp_path / "tf.json"
    hosts.write_text(
        json.dumps(
            {
                "ssh_hosts": {
                    "sensitive": False,
                    "type": ["map", "string"],
                    "value": {"iot": "ubuntu@10.0.0.5", "edge": "ubuntu@10.0.0.6"},
                },
                "edge_url": {"sensitive": False, "type": "string", "value": "http://10.0.0.6:8000"},
            }
        )
    )
    out = tmp_path / "out"
    result = fakes["run"](
        "--out",
        str(out),
        "--ssh-hosts",
        str(hosts),
        "--transport",
        "scp",
        "--ssh-identity",
        str(tmp_path / "key.pem"),
        "--ssh-option",
        "UserKnownHostsFile=/dev/null",
    )
    assert result.returncode == 0, result.stderr
    for call in fakes["recorded"]():
        assert call[:10] == [
            "scp",
            "-r",
            "-q",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-i",
        ]
    assert sorted(p.name for p in out.glob("*.jsonl")) == [
        "ssh-edge__edge.jsonl",
        "ssh-iot__alarm-alarm1.jsonl",
    ]


def test_missing_scp_and_bad_host_list(tmp_path: Path, fakes: dict[str, Any], logkit: Any) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("ubuntu@10.0.0.5\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("-oProxyCommand=evil\n")
    logkit.edge_log(tmp_path / "local")
    only_docker = tmp_path / "only-docker"
    only_docker.mkdir()
    (only_docker / "docker").symlink_to(fakes["bin"] / "docker")
    result = fakes["run"](
        "--out",
        str(tmp_path / "out"),
        "--ssh-hosts",
        str(hosts),
        "--ssh-hosts",
        str(bad),
        "--from-dir",
        str(tmp_path / "local"),
        path=str(only_docker),
    )
    assert result.returncode == 0, result.stderr  # the local folder still counts
    assert "FAIL ssh    ubuntu@10.0.0.5: scp not found on PATH: install openssh-client" in result.stdout
    assert (
        f"FAIL ssh    hosts {bad}: bad host list: line 1: '-oProxyCommand=evil' is not a 'user@host' target"
        in result.stdout
    )
    assert fakes["recorded"]() == []


def test_parse_hosts_forms() -> None:
    assert parse_hosts('["a@h1", "b@h2"]') == [Host("a@h1", "a@h1"), Host("b@h2", "b@h2")]
    assert parse_hosts('{"ssh_hosts": {"value": ["a@h1"]}}') == [Host("a@h1", "a@h1")]
    assert parse_hosts('{"ssh_hosts": {"cloud": "a@h3"}}') == [Host("a@h3", "cloud")]
    assert parse_hosts("a@h1\na@h1\n") == [Host("a@h1", "a@h1")]
    for text, message in (
        ("", "no hosts listed"),
        ('{"other": {"value": 1}}', "without a usable"),
        ("{broken", "invalid JSON"),
        ("a@h1:/tmp\n", "line 1"),
        ('["a@h", 3]', r"ssh_hosts\[1\]"),
    ):
        with pytest.raises(HostListError, match=message):
            parse_hosts(text)


def test_one_shot_container_without_logs_is_not_a_failure(tmp_path: Path, fakes: dict[str, Any]) -> None:
    """The compose enrolment runs once and logs nothing to /app/logs: `collect` says so, not FAIL."""
    (tmp_path / "fixtures" / "compose" / "edgewatch" / "edgewatch-enrol-1").mkdir()
    result = fakes["run"]("--out", str(tmp_path / "out"), "--docker-project", "edgewatch")
    assert result.returncode == 0, result.stderr
    assert "none docker edgewatch-enrol-1: no *.jsonl log files (nothing logged there)" in result.stdout
    assert "FAIL" not in result.stdout
    assert "total: 3 file(s) from 2 of 3 source(s); 0 failed, 1 with no logs" in result.stdout
