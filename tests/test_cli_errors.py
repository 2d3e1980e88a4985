"""Every sub-command against a table of bad inputs, as real subprocesses (issue 10, command line).

Each case must end with a non-zero exit, no ``Traceback``, a last stderr line ``edgewatch COMMAND: ...``
saying what is wrong, and nothing created or changed in the working folder.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

import edgewatch
from edgewatch.cli import COMMANDS

#: Children import the edgewatch under test, whatever their working folder.
SOURCE_ROOT = str(Path(edgewatch.__file__).resolve().parents[1])

PORT_IN_USE = "{busy}"  # replaced by a port a socket of this test listens on


@dataclass(frozen=True)
class Case:
    command: str
    args: tuple[str, ...]
    says: str  # expected in the last stderr line
    env: dict[str, str] = field(default_factory=dict)
    may_write: bool = False  # the command records its failure in its output folder (collect's manifest)

    @property
    def id(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return " ".join(filter(None, (env, self.command, *self.args)))


CASES = [
    # camera
    Case("camera", ("--config", "adir"), "adir is a directory"),
    Case("camera", ("--config", "latin1.toml"), "not UTF-8"),
    Case("camera", ("--config", "missing.toml"), "config file not found"),
    Case("camera", ("--log-dir", "afile", "--source", "photos"), "log_dir (command line): 'afile' is a file"),
    Case("camera", ("--edge-url", "notaurl", "--source", "photos"), "edge_url (command line): must be a URL"),
    Case("camera", ("--source", "missing.mp4"), "not found"),
    Case("camera", ("--fps", "0", "--source", "photos"), "fps (command line)"),
    Case("camera", ("--source", "photos", "--metrics-port", PORT_IN_USE, "--edge-url", "http://127.0.0.1:{closed}"),
         "Address already in use"),
    # alarm
    Case("alarm", ("--config", "adir"), "adir is a directory"),
    Case("alarm", ("--log-dir", "afile"), "log_dir (command line): 'afile' is a file"),
    Case("alarm", ("--edge-url", "notaurl"), "edge_url (command line): must be a URL"),
    Case("alarm", ("--webhook-url", "not a url"), "webhook_url"),
    Case("alarm", ("--metrics-port", PORT_IN_USE, "--edge-url", "http://127.0.0.1:{closed}"), "Address already in use"),
    # edge
    Case("edge", ("--config", "adir"), "adir is a directory"),
    Case("edge", ("--config", "latin1.toml"), "not UTF-8"),
    Case("edge", ("--config", "badport.toml"), "port (config file badport.toml [edge])"),
    Case("edge", (), "port (env EDGEWATCH_PORT)", {"EDGEWATCH_PORT": "abc"}),
    Case("edge", ("--log-dir", "afile"), "log_dir (command line): 'afile' is a file"),
    Case("edge", ("--log-dir", "afile/logs"), "'afile' is a file"),
    Case("edge", ("--alarm-db", "adir"), "alarm_db (command line): 'adir' is a folder"),
    Case("edge", ("--cloud-url", "not a url"), "cloud_url (command line): must be a URL"),
    Case("edge", ("--sites", ""), "sites (command line): an edge serves at least one site"),
    Case("edge", ("--port", PORT_IN_USE), "address already in use"),
    Case("edge", ("--detector", "yolo", "--model-path", "missing.onnx"), "missing.onnx"),
    # detect
    Case("detect", ("missing.jpg",), "missing.jpg"),
    Case("detect", ("adir",), "adir"),
    Case("detect", ("latin1.toml",), "latin1.toml"),
    # cloud
    Case("cloud", ("--config", "adir", "--allow-no-token"), "adir is a directory"),
    Case("cloud", ("--db-path", "adir", "--allow-no-token"), "db_path (command line)"),
    Case("cloud", ("--db-path", "afile/faces.db", "--allow-no-token"), "afile' is a file"),
    Case("cloud", ("--log-dir", "afile", "--allow-no-token"), "log_dir (command line)"),
    Case("cloud", ("--port", PORT_IN_USE, "--allow-no-token"), "address already in use"),
    Case("cloud", (), "bearer token"),
    # persons
    Case("persons", ("--db", "adir", "list"), "'adir' is a folder"),
    Case("persons", ("--db", "missing.db", "list"), "no face store at 'missing.db'"),
    Case("persons", ("remove", "--db", "missing.db", "alice"), "no face store at 'missing.db'"),
    Case("persons", ("add", "--db", "new.db", "alice", "missing.jpg"), "missing.jpg"),
    Case("persons", ("add", "--db", "new.db", "alice", "adir"), "adir"),
    Case("persons", ("add", "--db", "new.db", "alice"), "the following arguments are required"),
    Case("persons", ("--url", "notaurl", "list"), "--url: must be a URL"),
    Case("persons", ("--url", "{html}", "list"), "not JSON"),
    Case("persons", ("--url", "http://127.0.0.1:{closed}", "list"), "not reachable"),
    # identify
    Case("identify", ("--db", "typo.db", "photo.jpg"), "no face store at 'typo.db'"),
    Case("identify", ("--db", "adir", "photo.jpg"), "'adir' is a folder"),
    Case("identify", ("--url", "notaurl", "photo.jpg"), "--url: must be a URL"),
    Case("identify", ("--url", "{html}", "photo.jpg"), "not JSON"),
    Case("identify", ("--url", "http://127.0.0.1:{closed}", "missing.jpg"), "missing.jpg"),
    Case("identify", ("--db", "typo.db"), "the following arguments are required"),
    # demo
    Case("demo", ("--run-dir", "afile", "--duration", "5"), "afile"),
    Case("demo", ("--known", "x=missing.jpg", "--duration", "5"), "missing.jpg"),
    Case("demo", ("--source", "missing.mp4", "--duration", "5"), "--source missing.mp4: no such file"),
    # scene
    Case("scene", ("--out", "afile"), "afile"),
    Case("scene", ("--out", "frames", "--duration", "0"), "--duration"),
    # collect
    Case("collect", ("--out", "afile", "--from-dir", "adir"), "afile is a file"),
    Case("collect", ("--out", "gathered", "--from-dir", "missing"), "missing", may_write=True),
    # credentials, tls (issue 9)
    Case("credentials", ("list", "--file", "latin1.toml"), "not UTF-8 text"),
    Case("credentials", ("issue", "--file", "adir", "--role", "camera", "--site", "site1", "--id", "cam1"),
         "adir is a directory"),
    Case("credentials", ("revoke", "--file", "creds.json", "--site", "bad site", "--id", "cam1"), "site_id"),
    Case("tls", ("init", "--dir", "afile"), "afile"),
    Case("tls", ("init", "--dir", "tls", "--hosts", ","), "at least one host"),
    # report
    Case("report", ("missing",), "missing is not a directory"),
    Case("report", ("afile",), "afile is not a directory"),
    Case("report", ("adir",), "no *.jsonl log files"),
    Case("report", ("logs", "--out", "afile"), "afile is a file"),
    # credentials: a mistyped file is an error, not an empty list
    Case("credentials", ("list", "--file", "nofile.json"), "no credentials file nofile.json"),
    # operators (console logins)
    Case("operators", ("--file", "adir", "list"), "operators file adir is not readable"),
    Case("operators", ("--file", "latin1.toml", "list"), "operators file latin1.toml is not readable"),
    Case("operators", ("--file", "missing.json", "remove", "bob"), "no operator 'bob'"),
    Case("operators", ("--file", "ops.json", "add"), "the following arguments are required"),
    # wan (link shaping proxy)
    Case("wan", ("--link", "edge-cloud", "--listen", "notaport", "--target", "127.0.0.1:9", "--conditions", "1ms"),
         "expected HOST:PORT"),
    Case("wan", ("--link", "edge-cloud", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--conditions",
                 "fast"), "bad delay 'fast'"),
    Case("wan", ("--link", "edge-cloud", "--listen", "127.0.0.1:" + PORT_IN_USE, "--target", "127.0.0.1:9",
                 "--conditions", "150+-20ms"), "address already in use"),
]


def test_every_sub_command_has_bad_input_cases() -> None:
    assert {case.command for case in CASES} == set(COMMANDS)


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    """A web server that is not an edgewatch cloud: every answer is a 200 HTML page."""

    def _answer(self) -> None:
        body = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, str]]:
    """A port in use, a closed port, and a server answering HTML, all on 127.0.0.1."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    html = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=html.serve_forever, daemon=True)
    thread.start()
    yield {"busy": str(busy.getsockname()[1]), "closed": str(closed.getsockname()[1]),
           "html": f"http://127.0.0.1:{html.server_address[1]}"}
    html.shutdown()
    html.server_close()
    busy.close()
    closed.close()


def _workdir(root: Path) -> Path:
    (root / "adir").mkdir()
    (root / "afile").write_text("not a folder\n")
    (root / "latin1.toml").write_bytes(b"[edge]\nsites = \"caf\xe9\"\n")
    (root / "badport.toml").write_text('[edge]\nport = "abc"\n')
    photos = root / "photos"
    photos.mkdir()
    portrait = Path(str(resources.files("edgewatch.sim") / "assets" / "grace_hopper.jpg"))
    (photos / "photo.jpg").write_bytes(portrait.read_bytes())
    (root / "photo.jpg").write_bytes(portrait.read_bytes())
    (root / "logs").mkdir()
    (root / "logs" / "edge.jsonl").write_text('{"ts": "2026-01-01T00:00:00Z", "t": 1.0, "node": "edge", '
                                              '"level": "info", "event": "edge_started"}\n')
    return root


def _snapshot(root: Path) -> dict[str, tuple[bool, int]]:
    return {str(p.relative_to(root)): (p.is_dir(), 0 if p.is_dir() else p.stat().st_size)
            for p in root.rglob("*")}


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("EDGEWATCH_") or k == "EDGEWATCH_SHARED_DATA"}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, (SOURCE_ROOT, os.environ.get("PYTHONPATH"))))
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_clear_line(case: Case, tmp_path: Path, endpoints: dict[str, str]) -> None:
    root = _workdir(tmp_path)
    args = [arg.format(**endpoints) for arg in case.args]
    before = _snapshot(root)
    result = run([case.command, *args], root, case.env)
    assert result.returncode not in (0, None), result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert lines, result.stderr
    last = lines[-1]
    assert last.startswith(f"edgewatch {case.command}"), result.stderr  # argparse: "edgewatch persons add: error"
    assert case.says in last, result.stderr
    if not case.may_write:
        assert _snapshot(root) == before, "a refused command must not create or change files"


def test_report_without_its_extra(tmp_path: Path) -> None:
    """`report` with matplotlib not importable (the `report` extra not installed) names the extra."""
    root = _workdir(tmp_path)
    code = "import sys; sys.modules['matplotlib'] = None; from edgewatch.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code, "report", "logs", "--out", "report"], cwd=root,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": SOURCE_ROOT}, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("edgewatch report: needs the Python package 'matplotlib', which is not installed: "
                    "pip install 'edgewatch[report]'")


def test_rekognition_backend_without_boto3(tmp_path: Path) -> None:
    code = "import sys; sys.modules['boto3'] = None; from edgewatch.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code, "cloud", "--backend", "rekognition", "--allow-no-token"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": SOURCE_ROOT}, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "pip install 'edgewatch[aws]'" in result.stderr.strip().splitlines()[-1]


def test_persons_shared_options_before_or_after_the_action(tmp_path: Path) -> None:
    """`persons add --db f.db ...` works like `persons --db f.db add ...` (and --json after the action)."""
    root = _workdir(tmp_path)
    added = run(["persons", "add", "--db", "f.db", "grace", "photo.jpg"], root)
    assert added.returncode == 0, added.stderr
    listed = run(["persons", "list", "--db", "f.db", "--json"], root)
    assert listed.returncode == 0, listed.stderr
    assert '"name": "grace"' in listed.stdout
    both = run(["persons", "--url", "http://127.0.0.1:9", "list", "--db", "f.db"], root)
    assert both.returncode == 2 and "either --db PATH or --url URL" in both.stderr
