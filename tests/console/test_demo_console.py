"""`edgewatch demo` creates a console login, shows it once on its own output, and both consoles accept it."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from edgewatch.console.operators import OperatorsFile
from edgewatch.sim.console_login import create_console_login

from .conftest import csrf_of


def test_console_login_is_random_private_and_verifiable(tmp_path: Path) -> None:
    first = create_console_login(tmp_path)
    second = create_console_login(tmp_path)
    assert first.password != second.password, "a new password every run"
    for path in (second.operators_file, second.password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert second.password in second.password_file.read_text()
    assert second.password not in second.operators_file.read_text()
    operators = OperatorsFile(second.operators_file)
    assert operators.verify("demo", second.password) and not operators.verify("demo", first.password)


def log_in(base: str, name: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = csrf_of(client.get("/console/login").text)
    answer = client.post("/console/login", data={"csrf": token, "name": name, "password": password})
    assert answer.status_code == 303, answer.text[:500]
    return client


@pytest.mark.timeout(240)
def test_demo_prints_both_console_urls_and_a_login_that_works(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = tmp_path / "demo.out"
    with out.open("w") as handle:
        demo = subprocess.Popen([sys.executable, "-m", "edgewatch", "demo", "--duration", "15", "--cameras", "1",
                                 "--run-dir", str(run_dir)], stdout=handle, stderr=subprocess.STDOUT, text=True)
    try:
        pattern = re.compile(r"console: site (\S+)/console/\s+cloud (\S+)/console/\s+login (\S+) / (\S+)")
        deadline = time.monotonic() + 150
        while not (found := pattern.search(out.read_text())):
            assert demo.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.2)
        edge_url, cloud_url, name, password = found.groups()
        edge = log_in(edge_url, name, password)
        assert "Cameras" in edge.get("/console/").text
        edge.close()
        cloud = log_in(cloud_url, name, password)
        assert "eileen-collins" in cloud.get("/console/").text, "the demo's known person is listed"
        cloud.close()
        assert demo.wait(120) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = out.read_text()
    assert text.count(password) == 1, "the password is shown once"
    for log in [*(run_dir / "logs").glob("*"), *(run_dir / "stdio").glob("*")]:
        assert password not in log.read_text(errors="replace"), f"the password leaked into {log}"
    assert stat.S_IMODE((run_dir / "console-login.txt").stat().st_mode) == 0o600
