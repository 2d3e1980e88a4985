"""Operator tooling and hygiene: `edgewatch credentials`, secrets never on argv, secret files, URL redaction,
and the cloud's /metrics access."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from edgewatch.cli import main as cli_main
from edgewatch.cloud.app import create_app as create_cloud
from edgewatch.config import CloudSettings, EdgeSettings, SettingsError, load_settings
from edgewatch.security.credentials import Check, Verifier, digest, read_credentials
from edgewatch.telemetry.logs import configure_logging, get_logger
from edgewatch.telemetry.redact import redact_url


def test_credentials_issue_list_revoke(tmp_path: Path, capsys) -> None:
    file, token_file = tmp_path / "edge-credentials.json", tmp_path / "cam1.token"
    assert cli_main(["credentials", "issue", "--file", str(file), "--role", "camera", "--site", "site1",
                     "--id", "cam1", "--out", str(token_file)]) == 0
    assert cli_main(["credentials", "issue", "--file", str(file), "--role", "alarm", "--site", "site1",
                     "--id", "hall"]) == 0
    printed = capsys.readouterr().out.strip()
    token = token_file.read_text().strip()
    for path in (file, token_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = file.read_text()
    assert token not in stored and printed not in stored  # only digests are kept
    assert digest(token) in stored and digest(printed) in stored
    verifier = Verifier(read_credentials(file))
    assert verifier.check(token, "camera", "site1", "cam1") is Check.OK
    assert verifier.check(printed, "camera", "site1", "cam1") is Check.FORBIDDEN
    # A second active credential for the same node is refused; --replace revokes the old one.
    assert cli_main(["credentials", "issue", "--file", str(file), "--role", "camera", "--site", "site1",
                     "--id", "cam1"]) == 2
    assert "already has an active credential" in capsys.readouterr().err
    assert cli_main(["credentials", "list", "--file", str(file), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["role"], r["node_id"], r["status"]) for r in rows] == [("camera", "cam1", "active"),
                                                                     ("alarm", "hall", "active")]
    assert cli_main(["credentials", "revoke", "--file", str(file), "--site", "site1", "--id", "cam1"]) == 0
    assert Verifier(read_credentials(file)).check(token, "camera", "site1", "cam1") is Check.REVOKED
    assert cli_main(["credentials", "revoke", "--file", str(file), "--site", "site1", "--id", "cam1"]) == 1
    assert cli_main(["credentials", "issue", "--file", str(file), "--role", "camera", "--site", "bad site",
                     "--id", "cam1"]) == 2
    (tmp_path / "broken.json").write_text("{not json")
    assert cli_main(["credentials", "list", "--file", str(tmp_path / "broken.json")]) == 2
    err = capsys.readouterr().err
    assert "site_id" in err and "is not valid" in err and "Traceback" not in err


@pytest.mark.parametrize(("command", "flag", "env"), [
    ("edge", "--cloud-token", "EDGEWATCH_CLOUD_TOKEN"),
    ("edge", "--metrics-token", "EDGEWATCH_METRICS_TOKEN"),
    ("cloud", "--token", "EDGEWATCH_TOKEN"),
    ("camera", "--node-token", "EDGEWATCH_NODE_TOKEN"),
    ("alarm", "--node-token", "EDGEWATCH_NODE_TOKEN"),
])
def test_no_secret_is_accepted_on_the_command_line(command: str, flag: str, env: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main([command, flag, "s3cret-value"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag} is not accepted on the command line" in err and env in err and "s3cret-value" not in err
    assert f"{flag}-file" in err


def test_secrets_come_from_files_and_bad_files_name_the_setting(tmp_path: Path, monkeypatch) -> None:
    secret = tmp_path / "cloud-token"
    secret.write_text("from-a-file\n")
    settings = load_settings(EdgeSettings, cloud_token_file=str(secret))
    assert settings.cloud_token is not None and settings.cloud_token.get_secret_value() == "from-a-file"
    with pytest.raises(SettingsError, match="cloud_token file .*missing"):
        load_settings(EdgeSettings, cloud_token_file=str(tmp_path / "missing"))
    monkeypatch.setenv("EDGEWATCH_TOKEN", "from-env")
    with pytest.raises(SettingsError, match="token is given both directly and by token_file"):
        load_settings(CloudSettings, token_file=str(secret))
    assert "from-env" not in repr(load_settings(CloudSettings))


def test_passwords_in_urls_are_masked_in_logs(tmp_path: Path) -> None:
    assert redact_url("https://edge:pa55@cloud.example:8443/v1?token=abc&site=1") == \
        "https://edge:***@cloud.example:8443/v1?token=***&site=1"
    assert redact_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    log_file = configure_logging("edge", tmp_path)
    assert log_file is not None
    get_logger("test").info("edge_started", cloud_url="https://edge:pa55@cloud.example",
                            source="stream rtsp://admin:hunter2@10.0.0.5/stream1")
    text = log_file.read_text()
    assert "pa55" not in text and "hunter2" not in text
    assert "https://edge:***@cloud.example" in text and "rtsp://admin:***@10.0.0.5/stream1" in text


def test_cloud_metrics_need_a_token_unless_on_loopback(serve, tmp_path: Path) -> None:
    public = serve(create_cloud(CloudSettings(host="0.0.0.0", allow_no_token=True, db_path=tmp_path / "a.db")))
    scraped = serve(create_cloud(CloudSettings(host="0.0.0.0", token="api-token", metrics_token="scrape",
                                               db_path=tmp_path / "b.db")))
    local = serve(create_cloud(CloudSettings(allow_no_token=True, db_path=tmp_path / "c.db")))
    assert httpx.get(f"{public.url}/metrics", timeout=30).status_code == 403
    assert httpx.get(f"{scraped.url}/metrics", timeout=30).status_code == 401
    for token in ("scrape", "api-token"):
        answer = httpx.get(f"{scraped.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200 and "edgewatch_cloud" in answer.text
    # The metrics token opens /metrics only, never the API.
    assert httpx.get(f"{scraped.url}/v1/persons", headers={"Authorization": "Bearer scrape"},
                     timeout=30).status_code == 401
    assert httpx.get(f"{local.url}/metrics", timeout=30).status_code == 200


def test_edge_command_refuses_to_start_without_node_credentials(node_process, tmp_path: Path) -> None:
    edge = node_process(["edge", "--port", "1", "--alarm-db", str(tmp_path / "a.db")])
    assert edge.proc.wait(60) == 2
    _out, err = edge.output()
    assert "no node credentials" in err and "Traceback" not in err
    edge = node_process(["edge", "--port", "1", "--alarm-db", str(tmp_path / "a.db"),
                         "--credentials-file", str(tmp_path / "missing.json")])
    assert edge.proc.wait(60) == 2
    assert "missing.json does not exist" in edge.output()[1]


def test_persons_tool_reaches_a_tls_cloud_with_a_token_file_and_ca(serve, site_tls: Path, tmp_path: Path,
                                                                   capsys) -> None:
    cloud = CloudSettings(token="api-token", db_path=tmp_path / "faces.db")
    server = serve(create_cloud(cloud), ssl_certfile=str(site_tls / "server.pem"),
                   ssl_keyfile=str(site_tls / "server-key.pem"))
    token_file = tmp_path / "cloud.token"
    token_file.write_text("api-token\n")
    base = ["persons", "--url", server.url, "--token-file", str(token_file)]
    assert cli_main([*base, "--ca-file", str(site_tls / "ca.pem"), "list"]) == 0
    assert "(no known persons)" in capsys.readouterr().out
    assert cli_main([*base, "--ca-file", str(site_tls / "other" / "ca.pem"), "list"]) == 1
    err = capsys.readouterr().err
    assert "CERTIFICATE_VERIFY_FAILED" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert cli_main([*base[:-1], str(tmp_path / "missing.token"), "--ca-file", str(site_tls / "ca.pem"),
                     "list"]) == 1
    assert "missing.token" in capsys.readouterr().err
