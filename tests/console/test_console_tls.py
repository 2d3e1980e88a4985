"""Served over TLS by the same uvicorn as the edge, the console's session cookie is Secure."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from edgewatch.config import EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode

from .conftest import OPERATOR, PASSWORD, csrf_of

x509 = pytest.importorskip("cryptography.x509", reason="cryptography is not installed")


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.mark.timeout(120)
def test_session_cookie_is_secure_over_tls(tmp_path: Path, operators_file: Path, port: int) -> None:
    import uvicorn

    cert, key = self_signed(tmp_path)
    node = EdgeNode(EdgeSettings(alarm_db=tmp_path / "alarms.db", operators_file=operators_file),
                    create_detector("nanodet"))
    server = uvicorn.Server(uvicorn.Config(node.app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                                           ssl_certfile=str(cert), ssl_keyfile=str(key)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        context = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=30) as client:
            token = csrf_of(client.get("/console/login").text)
            answer = client.post("/console/login", data={"csrf": token, "name": OPERATOR, "password": PASSWORD})
            assert answer.status_code == 303
            cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ew_edge_session="))
            assert "secure" in {part.strip().lower() for part in cookie.split(";")}
            assert client.get("/console/").status_code == 200
    finally:
        server.should_exit = True
        thread.join(15)
