"""`edgewatch cloud`, `persons` and `identify` as real processes: --db on a store file, --url on a real
cloud process on loopback, JSON lines, exit codes, JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TOKEN = "cli-token-456"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], capture_output=True, text=True,
                          check=False, timeout=timeout, env={**os.environ, **(env or {})})


def wait_ready(url: str, node, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise AssertionError(f"cloud exited: {node.stop()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("cloud not ready")


def test_persons_and_identify_with_db(tmp_path: Path, assets: dict[str, Path], blank_jpeg: bytes) -> None:
    if not assets["astronaut"].is_file():
        pytest.skip("bundled astronaut.jpg not present yet")
    db = str(tmp_path / "faces.db")
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(blank_jpeg)
    added = run("persons", "--db", db, "add", "eileen-collins", str(assets["astronaut"]))
    assert added.returncode == 0, added.stderr
    assert "enrolled new person 'eileen-collins': 1 face(s) added" in added.stdout
    again = run("persons", "--db", db, "add", "eileen-collins", str(assets["astronaut"]))  # the demo re-runs
    assert again.returncode == 0 and "0 face(s) added, 1 in total" in again.stdout

    listed = run("persons", "--db", db, "--json", "list")
    assert json.loads(listed.stdout) == {"persons": [{"name": "eileen-collins", "faces": 1}]}

    answer = run("identify", "--db", db, "--json", str(assets["astronaut"]), str(assets["grace"]), str(blank))
    assert answer.returncode == 0, answer.stderr
    lines = [json.loads(line) for line in answer.stdout.splitlines()]
    assert [line["image"] for line in lines] == [str(assets["astronaut"]), str(assets["grace"]), str(blank)]
    assert [line["verdict"] for line in lines] == ["known", "intruder", "no_face"]
    assert set(lines[0]) == {"image", "verdict", "faces"}
    assert set(lines[0]["faces"][0]) == {"box", "match", "similarity"} and len(lines[0]["faces"][0]["box"]) == 4
    assert lines[0]["faces"][0]["match"] == "eileen-collins" and lines[1]["faces"][0]["match"] is None

    text = run("identify", "--db", db, str(assets["astronaut"]))
    assert text.stdout.strip() == f"{assets['astronaut']}: known - eileen-collins (1.000)"

    removed = run("persons", "--db", db, "remove", "eileen-collins")
    assert removed.returncode == 0 and "removed person 'eileen-collins' (1 face(s))" in removed.stdout
    gone = run("persons", "--db", db, "remove", "eileen-collins")
    assert gone.returncode == 1 and "person_not_found" in gone.stderr


def test_cli_errors_name_the_file(tmp_path: Path, blank_jpeg: bytes, assets: dict[str, Path]) -> None:
    db = str(tmp_path / "faces.db")
    wall = tmp_path / "wall.jpg"
    wall.write_bytes(blank_jpeg)
    refused = run("persons", "--db", db, "add", "nobody", str(assets["grace"]), str(wall))
    assert refused.returncode == 1 and "no_face_in_photo" in refused.stderr and "wall.jpg" in refused.stderr
    assert json.loads(run("persons", "--db", db, "--json", "list").stdout) == {"persons": []}

    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a jpeg")
    answer = run("identify", "--db", db, "--json", str(junk), str(tmp_path / "missing.jpg"), str(assets["grace"]))
    assert answer.returncode == 1
    lines = [json.loads(line) for line in answer.stdout.splitlines()]
    assert [line.get("error") for line in lines] == ["undecodable_image", "unreadable_file", None]
    assert lines[2]["verdict"] == "intruder"

    usage = run("persons", "--db", db, "--url", "http://x", "list")
    assert usage.returncode == 2 and "not allowed with" in usage.stderr


def test_cloud_process_with_persons_and_identify_over_http(node_process, port: int, tmp_path: Path,
                                                           assets: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    cloud = node_process(["cloud", "--port", str(port), "--db-path", str(tmp_path / "faces.db"),
                          "--log-dir", str(logs)], env={"EDGEWATCH_TOKEN": TOKEN})
    wait_ready(url, cloud)
    env = {"EDGEWATCH_TOKEN": TOKEN}

    added = run("persons", "--url", url, "add", "grace-hopper", str(assets["grace"]), env=env)
    assert added.returncode == 0, added.stderr
    assert "enrolled new person 'grace-hopper'" in added.stdout
    more = run("persons", "--url", url, "add", "grace-hopper", str(assets["grace"]), env=env)
    assert more.returncode == 0 and "updated person 'grace-hopper'" in more.stdout  # 409 -> add faces

    listed = run("persons", "--url", url, "--json", "list", env=env)
    assert json.loads(listed.stdout) == {"persons": [{"name": "grace-hopper", "faces": 1}]}

    answer = run("identify", "--url", url, "--json", str(assets["grace"]), env=env)
    assert answer.returncode == 0, answer.stderr
    line = json.loads(answer.stdout)
    assert line["verdict"] == "known" and line["faces"][0]["match"] == "grace-hopper"

    unauthorised = run("identify", "--url", url, "--json", str(assets["grace"]), env={"EDGEWATCH_TOKEN": "nope"})
    assert unauthorised.returncode == 1 and json.loads(unauthorised.stdout)["error"] == "unauthorized"

    removed = run("persons", "--url", url, "remove", "grace-hopper", env=env)
    assert removed.returncode == 0, removed.stderr

    httpx.post(f"{url}/v1/identify", headers={"Authorization": f"Bearer {TOKEN}"},
               files={"image": ("c.jpg", assets["grace"].read_bytes(), "image/jpeg")},
               data={"trace_id": "trace-from-test", "camera_id": "cam7", "site_id": "site1"})
    _, stderr = cloud.stop()
    assert cloud.proc.returncode == 0, stderr
    events = [json.loads(line) for line in (logs / "cloud.jsonl").read_text().splitlines()]
    traced = [e for e in events if e["event"] == "identify" and e.get("trace_id") == "trace-from-test"]
    assert len(traced) == 1
    event = traced[0]
    assert event["node"] == "cloud" and event["verdict"] == "intruder" and event["backend"] == "local"
    assert event["faces"] == 1 and event["elapsed_ms"] > 0 and event["camera_id"] == "cam7"


def test_cloud_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGEWATCH_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "edgewatch", "cloud", "--db-path", str(tmp_path / "f.db")],
                            capture_output=True, text=True, check=False, timeout=60, env=env)
    assert result.returncode == 2 and "EDGEWATCH_TOKEN" in result.stderr and "--allow-no-token" in result.stderr


def test_cloud_without_token_only_when_allowed_and_warns(node_process, port: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGEWATCH_TOKEN"}
    cloud = node_process(["cloud", "--port", str(port), "--db-path", str(tmp_path / "faces.db"),
                          "--allow-no-token"], env=env)
    wait_ready(f"http://127.0.0.1:{port}", cloud)
    assert httpx.get(f"http://127.0.0.1:{port}/v1/persons").json() == {"persons": []}
    _, stderr = cloud.stop()
    assert '"event": "auth_disabled"' in stderr


def test_unreachable_cloud_is_a_clear_error(port: int, assets: dict[str, Path]) -> None:
    answer = run("identify", "--url", f"http://127.0.0.1:{port}", "--json", str(assets["grace"]))
    assert answer.returncode == 1 and json.loads(answer.stdout)["error"] == "unreachable"


def test_cloud_bad_setting_exits_2() -> None:
    result = run("cloud", "--match-threshold", "2")
    assert result.returncode == 2 and "match_threshold (command line)" in result.stderr
