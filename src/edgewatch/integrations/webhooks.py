"""Signed webhooks: an HMAC-SHA256 signature over a timestamp and the exact body bytes.

Header (one per request)::

    X-Edgewatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

``t`` is when the sender signed (each retry signs afresh). ``v1`` may appear more than once while a secret is
being rotated; a receiver accepts the request when any of them matches one of its secrets. A receiver
rejects a body whose signature does not match (tampered, or another secret), a timestamp further than its
tolerance from its own clock (a replay of an old request), and - with :class:`WebhookVerifier` - the very
same signature seen twice within the tolerance (a replay of a recent one). The design follows the common
timestamp-plus-HMAC scheme of payment and chat webhooks (the timestamp is inside the MAC, so it cannot be
changed without the secret); comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

SIGNATURE_HEADER = "X-Edgewatch-Signature"
#: Seconds a receiver accepts between the signing time and its own clock, either way (5 minutes).
DEFAULT_TOLERANCE = 300.0
SCHEME = "v1"


class WebhookSignatureError(ValueError):
    """A request that must be rejected; the message says why in one line (safe to log: no secret)."""


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The value of the :data:`SIGNATURE_HEADER` header for ``body`` (the exact bytes sent)."""
    if not secret:
        raise ValueError("webhook secret is empty")
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={_mac(secret, t, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` from a header value; raises :class:`WebhookSignatureError`."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError("signature header: t is not an integer") from None
        elif key == SCHEME:
            signatures.append(value.strip().lower())
    if timestamp is None:
        raise WebhookSignatureError("signature header: no timestamp (t=...)")
    if not signatures:
        raise WebhookSignatureError(f"signature header: no {SCHEME}= signature")
    return timestamp, signatures


def verify(
    secrets: bytes | list[bytes], header: str | None, body: bytes, *, tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check one request; returns its timestamp, or raises :class:`WebhookSignatureError` (missing header,
    timestamp outside ``tolerance`` seconds of ``now``, or no signature matching any of ``secrets``)."""
    if not header:
        raise WebhookSignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"timestamp {timestamp} is {current - timestamp:+.0f} s from now (tolerance {tolerance:.0f} s): replay?")
    keys = [secrets] if isinstance(secrets, bytes) else list(secrets)
    for key in keys:
        expected = _mac(key, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return timestamp
    raise WebhookSignatureError("signature does not match the body (tampered, or signed with another secret)")


@dataclass
class WebhookVerifier:
    """:func:`verify` plus memory of the requests handled within the tolerance window, so that an exact
    copy of a recent request is rejected too. Memory is bounded by ``remember`` entries.

    ``verifier(header, body)`` checks and remembers at once. A receiver that may answer an error (so the
    sender retries - possibly within the same second, with the very same header) calls ``check`` first and
    ``handled(header)`` only once it has acted on the request."""

    secrets: list[bytes]
    tolerance: float = DEFAULT_TOLERANCE
    remember: int = 10_000
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict, repr=False)

    def check(self, header: str | None, body: bytes, now: float | None = None) -> int:
        """The request's timestamp, or :class:`WebhookSignatureError` (bad signature, too old, a copy)."""
        timestamp = verify(self.secrets, header, body, tolerance=self.tolerance, now=now)
        if str(header) in self._seen:
            raise WebhookSignatureError("this exact request was already handled: replay")
        return timestamp

    def handled(self, header: str | None, now: float | None = None) -> None:
        current = time.time() if now is None else now
        self._seen[str(header)] = current
        # entries older than the window cannot match anything verify() still accepts
        while self._seen and (len(self._seen) > self.remember
                              or next(iter(self._seen.values())) < current - 2 * self.tolerance):
            self._seen.popitem(last=False)

    def __call__(self, header: str | None, body: bytes, now: float | None = None) -> int:
        timestamp = self.check(header, body, now)
        self.handled(header, now)
        return timestamp


def read_secret(value: str | None, file: Path | None, what: str) -> bytes | None:
    """A secret from a settings value (environment) or a file (trailing newline stripped); None when
    neither is set. Raises ValueError with a one-line reason (never the secret) when the file is unusable."""
    if value:
        return value.encode("utf-8")
    if file is None:
        return None
    try:
        text = Path(file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{what} file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} file {file} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{what} file {file} is empty")
    return text.encode("utf-8")
