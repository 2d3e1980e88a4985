"""Operator accounts of the web consoles: names with scrypt password hashes in a JSON file created 0600.

Hashing: ``hashlib.scrypt`` (RFC 7914) with a random 16-byte salt per operator and the parameters stored
beside each hash (n=2**14, r=8, p=1: OWASP's Password Storage Cheat Sheet minimum for scrypt is n=2**17 with
r=8, p=1 at 128 MiB; 2**14 keeps one check near 50 ms and 16 MiB on a 2-core edge box, and every failed
login is additionally delayed and throttled by :mod:`edgewatch.console.sessions`). Verification compares in
constant time. The file holds no plain secret; it is written atomically (temporary file + rename) with mode
0600 so a crash never leaves a half-written file and no other local user can read the hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Operator names: safe in logs and HTML.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_FORMAT = 1


class OperatorsError(ValueError):
    """A bad operators file, name or password; the message says which and why (never the password)."""


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    salt: bytes
    hash: bytes
    n: int
    r: int
    p: int
    created_at: float

    def to_json(self) -> dict[str, object]:
        return {"salt": _b64(self.salt), "hash": _b64(self.hash), "n": self.n, "r": self.r, "p": self.p,
                "created_at": self.created_at}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise OperatorsError(f"invalid operator name {name!r}: 1-64 letters, digits or _ . @ - "
                             "(starting with a letter or digit)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise OperatorsError(f"password too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise OperatorsError(f"password too long: at most {MAX_PASSWORD} characters")
    return password


def hash_password(name: str, password: str) -> Operator:
    salt = secrets.token_bytes(16)
    return Operator(check_name(name), salt, _scrypt(check_password(password), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P),
                    SCRYPT_N, SCRYPT_R, SCRYPT_P, time.time())


#: Checked when the name is unknown, so a wrong name costs as long as a wrong password (no user oracle).
_DUMMY = Operator("-", b"\0" * 16, b"\0" * 32, SCRYPT_N, SCRYPT_R, SCRYPT_P, 0.0)


class OperatorsFile:
    """The accounts in one file. ``verify`` re-reads the file when it changed on disk, so ``edgewatch
    operators add/remove`` takes effect on a running console without a restart."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self._operators: dict[str, Operator] = {}
        self._stamp: tuple[int, int] | None = None

    # ---- reading ---------------------------------------------------------------------------------

    def load(self) -> dict[str, Operator]:
        """The accounts (empty when the file does not exist). Raises OperatorsError for a bad file."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._operators, self._stamp = {}, None
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return self._operators
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            operators = {name: Operator(name, base64.b64decode(v["salt"]), base64.b64decode(v["hash"]),
                                        int(v["n"]), int(v["r"]), int(v["p"]), float(v.get("created_at", 0)))
                         for name, v in data["operators"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OperatorsError(f"operators file {self.path} is not readable: {type(exc).__name__}: {exc}") from None
        self._operators, self._stamp = operators, stamp
        return operators

    def names(self) -> list[str]:
        return sorted(self.load())

    def exists(self, name: str) -> bool:
        try:
            return name in self.load()
        except OperatorsError:
            return False  # fail secure: an unreadable file ends every session

    def verify(self, name: str, password: str) -> bool:
        """True when ``name`` exists and ``password`` is its password. CPU-bound (scrypt): call it in a
        thread. Never raises for a wrong name or password."""
        try:
            operator = self.load().get(name)
        except OperatorsError:
            operator = None
        candidate = operator or _DUMMY
        if len(password) > MAX_PASSWORD:
            password = password[:MAX_PASSWORD]  # bounded cost; the result is compared anyway
        digest = _scrypt(password, candidate.salt, candidate.n, candidate.r, candidate.p)
        return secrets.compare_digest(digest, candidate.hash) and operator is not None

    # ---- writing -----------------------------------------------------------------------------------

    def add(self, name: str, password: str, *, replace: bool = False) -> Operator:
        operators = dict(self.load())
        if name in operators and not replace:
            raise OperatorsError(f"operator {name!r} already exists (use --replace to set a new password)")
        operator = hash_password(name, password)
        operators[name] = operator
        self._write(operators)
        return operator

    def remove(self, name: str) -> None:
        operators = dict(self.load())
        if name not in operators:
            raise OperatorsError(f"no operator {name!r} in {self.path}")
        del operators[name]
        self._write(operators)

    def _write(self, operators: dict[str, Operator]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"format": _FORMAT, "operators": {n: o.to_json() for n, o in sorted(operators.items())}},
                          indent=2)
        # mkstemp creates the file 0600 before anything is written to it.
        fd, tmp = tempfile.mkstemp(prefix=".operators-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None
        self.load()
