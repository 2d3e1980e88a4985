"""The edge's check of node credentials, with live revocation.

:class:`NodeAuth` holds a :class:`~edgewatch.security.credentials.Verifier` built from the credentials file
and polls the file (modification time, size and inode, every ``poll_interval`` seconds). When the file
changes it re-reads it and ends every live session whose credential was revoked or removed: revoking a node
is a file change (``edgewatch credentials revoke``), picked up within about a second, with no restart.

A file that cannot be read or parsed keeps the previous snapshot (an operator's half-edited file must not
open or close the whole site) and is logged once per change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from edgewatch.protocol import Hello, RefusalCode
from edgewatch.security.credentials import Check, CredentialsError, Verifier, digest, read_credentials
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

#: Called with a session id whose credential is no longer valid.
Revoke = Callable[[str], Awaitable[None]]

_REFUSALS = {Check.UNAUTHORIZED: RefusalCode.UNAUTHORIZED, Check.FORBIDDEN: RefusalCode.FORBIDDEN,
             Check.REVOKED: RefusalCode.REVOKED}


class NodeAuth:
    """Verifies Hello tokens and tracks which live session holds which credential (by digest)."""

    def __init__(self, path: Path, poll_interval: float = 1.0) -> None:
        self.path = path
        self.poll_interval = poll_interval
        self._stamp: tuple[int, int, int] | None = None
        self._verifier = Verifier([])
        self._sessions: dict[str, str] = {}  # sid -> sha256 of the token it presented
        self.generation = 0  # snapshots taken; the watcher sweeps live sessions after each
        self.reload()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self) -> bool:
        """Re-read the file if it changed; True when a new snapshot was taken."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            creds = read_credentials(self.path)
        except CredentialsError as exc:
            log.error("credentials_unreadable", path=str(self.path), error=str(exc))
            return False
        if stamp is None:
            log.warning("credentials_missing", path=str(self.path),
                        detail="no credentials file: every camera and alarm node is refused")
        self._verifier = Verifier(creds)
        self.generation += 1
        active = sum(not c.revoked for c in creds)
        log.info("credentials_loaded", path=str(self.path), active=active, revoked=len(creds) - active)
        return True

    def check(self, hello: Hello) -> tuple[RefusalCode | None, str]:
        """``(None, "")`` when the Hello's token is valid for its role, site and node id, else the refusal
        code and a message for the client (never echoing the token)."""
        who = f"{hello.role.value} {hello.site_id}/{hello.node_id}"
        outcome = self._verifier.check(hello.token, hello.role.value, hello.site_id, hello.node_id)
        if outcome is Check.UNAUTHORIZED and self.reload():
            # A node issued a moment ago connects at once instead of after the next poll (one stat() per
            # unknown token; the file is read only when it changed).
            outcome = self._verifier.check(hello.token, hello.role.value, hello.site_id, hello.node_id)
        if outcome is Check.OK:
            return None, ""
        messages = {
            Check.UNAUTHORIZED: f"missing or unknown credential for {who}",
            Check.FORBIDDEN: f"this credential does not belong to {who}",
            Check.REVOKED: f"the credential of {who} was revoked",
        }
        return _REFUSALS[outcome], messages[outcome]

    def bind(self, sid: str, token: str | None) -> None:
        """Remember which credential a session was accepted with."""
        if token:
            self._sessions[sid] = digest(token)

    def unbind(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def invalid_sessions(self) -> list[str]:
        return [sid for sid, sha in self._sessions.items() if not self._verifier.still_valid(sha)]

    async def watch(self, on_revoked: Revoke) -> None:
        """Poll the file forever; call ``on_revoked(sid)`` for each live session that lost its credential."""
        swept = self.generation
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await asyncio.to_thread(self.reload)
                if self.generation == swept:
                    continue
                swept = self.generation
                for sid in self.invalid_sessions():
                    self.unbind(sid)
                    await on_revoked(sid)
            except Exception:  # keep watching: a dead watcher would make revocation silently ineffective
                log.exception("credentials_watch_failed", path=str(self.path))
