"""The site's TLS material: a small CA and server certificates (``cryptography``), and client contexts.

``init_site(dir, hosts)`` writes, in ``dir``:

- ``ca.pem`` (public: every client gets it as ``--ca-file``) and ``ca-key.pem`` (0600; keep it off the
  nodes once the certificates are issued),
- ``<name>.pem`` and ``<name>-key.pem`` (0600) for each server, ``server`` by default, with every given host
  name or IP address as a subjectAltName.

Keys are ECDSA P-256 (fast handshakes on small devices, short certificates); the CA is valid 10 years,
server certificates ``days`` (825 by default, the CA/Browser Forum's former maximum). An existing CA is
reused, so issuing another server certificate later keeps every client's ``ca.pem`` valid.

Clients verify with :func:`client_context`: the CA file when given, the system trust store otherwise, and
always hostname checking. There is no switch to turn verification off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "edge", "cloud")


class TLSConfigError(ValueError):
    """TLS files that cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class ServerFiles:
    cert: Path
    key: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _new_key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_ca(directory: Path):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TLSConfigError(f"cannot load the site CA from {directory}: {exc}") from None
    return cert, key


def _create_ca(directory: Path, name: str):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives import serialization

    _write_private(directory / CA_KEY, _key_pem(key))
    (directory / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _san(hosts: Sequence[str]):  # type: ignore[no-untyped-def]
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_server(directory: Path, name: str, hosts: Sequence[str], days: int = 825, *,
                 replace: bool = False) -> ServerFiles:
    """A server certificate for ``hosts`` signed by the site CA in ``directory`` (created if absent).
    Raises :class:`TLSConfigError` when ``<name>.pem`` or its key exists and ``replace`` is false: a
    running server's key is never overwritten by accident."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    hosts = [h.strip() for h in hosts if h.strip()]
    if not hosts:
        raise TLSConfigError("at least one host name or IP address is needed")
    if not name or "/" in name or name.startswith("."):
        raise TLSConfigError(f"invalid certificate name {name!r}")
    existing = [p for p in (directory / f"{name}.pem", directory / f"{name}-key.pem") if p.exists()]
    if existing and not replace:
        raise TLSConfigError(f"{existing[0]} exists; not overwriting a certificate a server may be using "
                             f"(--name NAME for another one, --replace to renew this one)")
    ca_cert, ca_key = ensure_ca(directory)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = ServerFiles(directory / f"{name}.pem", directory / f"{name}-key.pem")
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def ensure_ca(directory: Path, name: str = "edgewatch site CA"):  # type: ignore[no-untyped-def]
    """The CA in ``directory``: loaded when ``ca.pem`` exists, created (key 0600) otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CA_CERT).exists():
        return _load_ca(directory)
    return _create_ca(directory, name)


def init_site(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS, name: str = "server",
              days: int = 825, *, replace: bool = False) -> ServerFiles:
    """Site CA (reused when present) and one server certificate for ``hosts`` (see :func:`issue_server`)."""
    return issue_server(directory, name, hosts, days, replace=replace)


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context: server certificate checked against ``ca_file`` (system trust store when
    None) and its host name checked. Raises :class:`TLSConfigError` naming the file when it is unusable."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"cannot use CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
    return context


def check_server_files(cert: Path | None, key: Path | None) -> None:
    """Both or neither of ``tls_cert``/``tls_key``, and they load as a pair; raises :class:`TLSConfigError`."""
    if (cert is None) != (key is None):
        raise TLSConfigError("tls_cert and tls_key must be given together")
    if cert is None or key is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot use TLS certificate {cert} with key {key}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
