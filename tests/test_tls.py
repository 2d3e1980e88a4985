"""TLS on every link, over real sockets on 127.0.0.1: camera/alarm -> edge (WSS) and edge -> cloud (HTTPS).

Certificates come from ``edgewatch tls init`` (the ``site_tls`` fixture); a second, unrelated CA stands in
for an attacker's certificate authority or a misconfigured node.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from edgewatch.alarm.node import AlarmNode
from edgewatch.cli import main as cli_main
from edgewatch.cloud.access import HttpAccess
from edgewatch.cloud.app import create_app as create_cloud
from edgewatch.config import AlarmSettings, CloudSettings, EdgeSettings
from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions, CloudUnavailable
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import Verdict
from edgewatch.security.tls import client_context


def tls_options(folder: Path) -> dict[str, Any]:
    return {"ssl_certfile": str(folder / "server.pem"), "ssl_keyfile": str(folder / "server-key.pem")}


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 120, 120)).save(out, format="JPEG")
    return out.getvalue()


def test_tls_init_writes_private_keys_0600_and_reuses_its_ca(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "tls"
    assert cli_main(["tls", "init", "--dir", str(folder), "--hosts", "127.0.0.1,edge"]) == 0
    ca_before = (folder / "ca.pem").read_bytes()
    assert cli_main(["tls", "init", "--dir", str(folder), "--name", "cloud", "--hosts", "cloud"]) == 0
    assert (folder / "ca.pem").read_bytes() == ca_before  # one CA: clients keep their ca.pem
    for key in ("ca-key.pem", "server-key.pem", "cloud-key.pem"):
        assert stat.S_IMODE(os.stat(folder / key).st_mode) == 0o600
    # The certificate verifies against the CA for the names it was issued for, and only those.
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((folder / "cloud.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["cloud"]
    assert cli_main(["tls", "init", "--dir", str(folder), "--hosts", ","]) == 2
    assert "at least one host" in capsys.readouterr().err


def test_a_wrong_ca_fails_the_handshake(serve, site_tls: Path) -> None:
    from starlette.applications import Starlette

    server = serve(Starlette(), **tls_options(site_tls))
    right, wrong = client_context(site_tls / "ca.pem"), client_context(site_tls / "other" / "ca.pem")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
            right.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        wrong.wrap_socket(raw, server_hostname="127.0.0.1")
    # The right CA but a name the certificate was not issued for: refused as well.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        right.wrap_socket(raw, server_hostname="edge.example")


async def test_alarm_node_connects_over_wss_only_with_the_site_ca(serve, site_tls: Path, credentials,
                                                                  tmp_path: Path, until) -> None:
    detector = create_detector("nanodet", input_size=320, confidence=0.5)
    settings = EdgeSettings(sites=["site1"], workers=1, alarm_db=tmp_path / "alarms.db",
                            credentials_file=credentials.path, tls_cert=site_tls / "server.pem",
                            tls_key=site_tls / "server-key.pem")
    edge = EdgeNode(settings, detector)
    server = serve(edge.app, **tls_options(site_tls))
    assert server.url.startswith("https://")
    token = credentials.issue("alarm", "site1", "hall")

    async def run(ca: Path) -> AlarmNode:
        return AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall", node_token=token,
                                       ca_file=ca, reconnect_delay=0.2, reconnect_delay_max=0.5), console=False)

    impostor = await run(site_tls / "other" / "ca.pem")  # trusts another CA: must not talk to this edge
    task = asyncio.create_task(impostor.run())
    try:
        await asyncio.sleep(3)
        assert not impostor.connected.is_set()
    finally:
        await impostor.stop()
        await asyncio.gather(task, return_exceptions=True)
    good = await run(site_tls / "ca.pem")
    task = asyncio.create_task(good.run())
    try:
        await until(lambda: good.connected.is_set(), 20)
    finally:
        await good.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_edge_to_cloud_over_https_verifies_the_cloud(serve, site_tls: Path, tmp_path: Path) -> None:
    cloud = CloudSettings(token="cloud-token", db_path=tmp_path / "faces.db", tls_cert=site_tls / "server.pem",
                          tls_key=site_tls / "server-key.pem")
    server = serve(create_cloud(cloud), **tls_options(site_tls))
    options: dict[str, Any] = {"timeout": 30.0, "attempts": 1, "backoff_max": 0.05}
    wrong = CloudClient(server.url, "cloud-token", CloudClientOptions(**options, ca_file=site_tls / "other" / "ca.pem"))
    try:
        with pytest.raises(CloudUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await wrong.identify(blank_jpeg(), site_id="site1", camera_id="cam1", trace_id="trace-wrong-ca")
    finally:
        await wrong.aclose()
    right = CloudClient(server.url, "cloud-token", CloudClientOptions(**options, ca_file=site_tls / "ca.pem"))
    try:
        result = await right.identify(blank_jpeg(), site_id="site1", camera_id="cam1", trace_id="trace-right-ca")
    finally:
        await right.aclose()
    assert result.verdict is Verdict.NO_FACE
    # The persons/identify tools verify the same way.
    access = HttpAccess(server.url, "cloud-token", 30.0, site_tls / "ca.pem")
    try:
        assert access.list_persons() == []
    finally:
        access.close()


def test_tls_init_never_overwrites_a_certificate_in_use(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "tls"
    assert cli_main(["tls", "init", "--dir", str(folder), "--hosts", "127.0.0.1,localhost,edge.example"]) == 0
    cert, key = (folder / "server.pem").read_bytes(), (folder / "server-key.pem").read_bytes()
    capsys.readouterr()
    # Re-running the same command (e.g. from a how-to) must not swap the running server's key and names.
    assert cli_main(["tls", "init", "--dir", str(folder), "--hosts", "127.0.0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "server.pem exists" in err[0] and "--replace" in err[0]
    assert (folder / "server.pem").read_bytes() == cert and (folder / "server-key.pem").read_bytes() == key
    assert cli_main(["tls", "init", "--dir", str(folder), "--hosts", "127.0.0.1", "--replace"]) == 0
    assert (folder / "server-key.pem").read_bytes() != key
