"""Per-node credentials: a random 256-bit token per camera or alarm node, bound to (role, node id, site).

The edge keeps only a SHA-256 digest of each token in a JSON file created 0600 (``edge-credentials.json``);
the plain token is shown once, when it is issued, and lives only on its node. A slow password hash (bcrypt,
scrypt, Argon2) is not needed: those stretch *low-entropy* human passwords against guessing, whereas a
256-bit random token cannot be guessed and a SHA-256 preimage of it cannot be found, so a stolen digest file
reveals nothing usable. A fast hash also keeps every connection attempt cheap for the edge (a slow KDF per
handshake would hand attackers a CPU-exhaustion lever).

File format (``version`` 1)::

    {"version": 1, "credentials": [{"role": "camera", "site_id": "site1", "node_id": "cam1",
      "sha256": "<hex>", "issued_at": 1700000000.0, "revoked_at": null}]}

Writers take an exclusive ``flock`` on a sibling lock file and replace the file atomically (write a 0600
temporary file, fsync, rename), so the edge, which polls the file, never reads half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

#: Tokens start with this tag so secret scanners and humans recognise them.
TOKEN_PREFIX = "ewn_"
#: Longest token accepted on the wire (a 43-character token plus prefix is far below).
MAX_TOKEN_LENGTH = 128
FILE_VERSION = 1


class CredentialsError(ValueError):
    """A credentials file that cannot be read or written, or a request that makes no sense."""


class Check(StrEnum):
    """Outcome of checking one presented token against the file (values match ``protocol.RefusalCode``)."""

    OK = "ok"
    UNAUTHORIZED = "unauthorized"  # no token, or a token the edge never issued
    FORBIDDEN = "forbidden"  # a real token presented for another role, node id or site
    REVOKED = "revoked"  # the token was issued and has since been revoked


@dataclass(frozen=True, slots=True)
class Credential:
    role: str
    site_id: str
    node_id: str
    sha256: str
    issued_at: float
    revoked_at: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.role, self.site_id, self.node_id)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def new_token() -> str:
    """A fresh node token: 32 random bytes (256 bits) from the OS CSPRNG, base64url, with a prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """SHA-256 of a token, hex (what the credentials file stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _parse(path: Path, text: str) -> list[Credential]:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
            raise ValueError(f"expected an object with \"version\": {FILE_VERSION}")
        items = data.get("credentials")
        if not isinstance(items, list):
            raise TypeError("\"credentials\" must be a list")
        result = []
        for item in items:
            cred = Credential(
                role=str(item["role"]), site_id=str(item["site_id"]), node_id=str(item["node_id"]),
                sha256=str(item["sha256"]), issued_at=float(item["issued_at"]),
                revoked_at=None if item.get("revoked_at") is None else float(item["revoked_at"]),
            )
            if len(cred.sha256) != 64:
                raise ValueError(f"{cred.role}/{cred.site_id}/{cred.node_id}: sha256 must be 64 hex digits")
            result.append(cred)
        return result
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"credentials file {path} is not valid: {exc}") from None


def read_credentials(path: Path) -> list[Credential]:
    """Every credential in ``path`` (an absent file holds none). Raises :class:`CredentialsError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CredentialsError(f"credentials file {path} is not UTF-8 text") from None
    return _parse(path, text)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if path.is_dir():  # before the lock file is made next to it
        raise CredentialsError(f"credentials file {path} is a directory")
    read_credentials(path)  # an unreadable or invalid file: say so before anything is written
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CredentialsError(f"cannot lock credentials file {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(path: Path, credentials: list[Credential]) -> None:
    body = json.dumps({"version": FILE_VERSION, "credentials": [asdict(c) for c in credentials]}, indent=2)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode is filtered by the umask; make it exact
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CredentialsError(f"cannot write credentials file {path}: {exc.strerror or exc}") from None


def issue(path: Path, role: str, site_id: str, node_id: str, *, replace_existing: bool = False) -> str:
    """Create a credential for (role, site, node) and return its token (the only time it is visible).

    An active credential for the same node is an error unless ``replace_existing``, which revokes it (a
    re-issued camera must not leave its old token working)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    with _locked(path):
        creds = read_credentials(path)
        now = time.time()
        updated = []
        for cred in creds:
            if cred.key == (role, site_id, node_id) and not cred.revoked:
                if not replace_existing:
                    raise CredentialsError(
                        f"{role} {site_id}/{node_id} already has an active credential; revoke it first or "
                        "pass --replace")
                cred = replace(cred, revoked_at=now)
            updated.append(cred)
        updated.append(Credential(role, site_id, node_id, digest(token), now))
        _write(path, updated)
    return token


def revoke(path: Path, role: str | None, site_id: str, node_id: str) -> int:
    """Revoke every active credential of the node (any role when ``role`` is None); returns how many."""
    with _locked(path):
        creds = read_credentials(path)
        now, count, updated = time.time(), 0, []
        for cred in creds:
            if (cred.site_id, cred.node_id) == (site_id, node_id) and role in (None, cred.role) and not cred.revoked:
                cred = replace(cred, revoked_at=now)
                count += 1
            updated.append(cred)
        if count:
            _write(path, updated)
    return count


class Verifier:
    """Checks presented tokens against one snapshot of the credentials file.

    Every stored digest is compared with :func:`hmac.compare_digest`, without stopping at a match, so the
    time taken does not depend on which entry (if any) matched."""

    def __init__(self, credentials: list[Credential]) -> None:
        self.credentials = tuple(credentials)
        self._digests = tuple(bytes.fromhex(c.sha256) for c in self.credentials)

    def find(self, token: str | None) -> Credential | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for cred, stored in zip(self.credentials, self._digests, strict=True):
            if hmac.compare_digest(presented, stored):
                found = cred
        return found

    def check(self, token: str | None, role: str, site_id: str, node_id: str) -> Check:
        cred = self.find(token)
        if cred is None:
            return Check.UNAUTHORIZED
        if cred.revoked:
            return Check.REVOKED
        if cred.key != (role, site_id, node_id):
            return Check.FORBIDDEN
        return Check.OK

    def still_valid(self, sha256: str) -> bool:
        """Whether the credential with this digest exists and is not revoked (for live sessions)."""
        return any(c.sha256 == sha256 and not c.revoked for c in self.credentials)


def describe(cred: Credential) -> dict[str, Any]:
    """A credential as shown by ``credentials list`` (the digest is shortened: it identifies, not verifies)."""
    return {"role": cred.role, "site_id": cred.site_id, "node_id": cred.node_id,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cred.issued_at)),
            "status": "revoked" if cred.revoked else "active", "sha256": cred.sha256[:12]}


def parse_digests(spec: str) -> list[tuple[str, str, str, str]]:
    """``role:site:node:sha256hex`` entries separated by commas or blanks (what Terraform renders from the
    tokens it generates, so the edge host receives digests only). Raises :class:`CredentialsError`."""
    entries = []
    for item in spec.replace(",", " ").split():
        parts = item.split(":")
        if len(parts) != 4 or len(parts[3]) != 64 or any(not p for p in parts):
            raise CredentialsError(f"bad digest entry {item[:80]!r}: expected role:site:node:<64 hex digits>")
        try:
            bytes.fromhex(parts[3])
        except ValueError:
            raise CredentialsError(f"bad digest entry {item[:80]!r}: the digest is not hex") from None
        entries.append((parts[0], parts[1], parts[2], parts[3].lower()))
    return entries


def load_digests(path: Path, entries: list[tuple[str, str, str, str]]) -> tuple[int, int]:
    """Make ``path`` hold exactly these active credentials: new digests are added, credentials no longer
    listed are revoked (their live sessions end). Returns (added, revoked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = {sha: (role, site, node) for role, site, node, sha in entries}
    with _locked(path):
        creds = read_credentials(path)
        now, added, revoked, updated = time.time(), 0, 0, []
        present = set()
        for cred in creds:
            if not cred.revoked and wanted.get(cred.sha256) != cred.key:
                cred = replace(cred, revoked_at=now)
                revoked += 1
            elif not cred.revoked:
                present.add(cred.sha256)
            updated.append(cred)
        for sha, (role, site, node) in wanted.items():
            if sha not in present:
                updated.append(Credential(role, site, node, sha, now))
                added += 1
        if added or revoked or not path.exists():
            _write(path, updated)
    return added, revoked
