"""Server-side console sessions and the login throttle. In memory, bounded, used from the event loop only.

A session id is 32 random bytes (``secrets``) sent in an HttpOnly, SameSite=Strict cookie; the server keeps
the operator's name, a per-session CSRF token and the times. Sessions end after ``idle`` seconds without a
request, after ``lifetime`` seconds in any case, on logout, and when the operator is removed. At most
``max_sessions`` live at once (the least recently used goes first), so no client can grow the table.

The throttle delays every failed login and locks a name or a client address out for ``lockout`` seconds
after ``max_failures`` failures within ``window`` seconds (OWASP Authentication Cheat Sheet: throttle
per account and per source). Its table is bounded too.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Session:
    id: str
    operator: str
    csrf: str
    created: float
    last_used: float


@dataclass(slots=True)
class SessionStore:
    idle: float = 8 * 3600.0
    lifetime: float = 24 * 3600.0
    max_sessions: int = 1000
    clock: Callable[[], float] = time.time
    _sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, operator: str) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), operator, secrets.token_urlsafe(32), now, now)
        self._sessions[session.id] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (touched), or None when unknown or expired."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_used > self.idle or now - session.created > self.lifetime:
            del self._sessions[session_id]
            return None
        session.last_used = now
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def end_operator(self, operator: str) -> int:
        gone = [sid for sid, s in self._sessions.items() if s.operator == operator]
        for sid in gone:
            del self._sessions[sid]
        return len(gone)


@dataclass(slots=True)
class LoginThrottle:
    max_failures: int = 5
    window: float = 900.0
    lockout: float = 300.0
    #: every failed attempt is answered this late (seconds): slows guessing, even below the lockout
    delay: float = 1.0
    max_entries: int = 10_000
    clock: Callable[[], float] = time.time
    _failures: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)

    def locked(self, *keys: str) -> bool:
        now = self.clock()
        return any(self._recent(key, now) >= self.max_failures for key in keys)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            times = [t for t in self._failures.pop(key, []) if now - t < max(self.window, self.lockout)]
            times.append(now)
            self._failures[key] = times[-self.max_failures * 2:]
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def undo(self, key: str) -> None:
        """Take back the newest attempt recorded for ``key`` (an attempt is counted before the password is
        checked, so that guesses sent in parallel all count; a right password then takes its own back)."""
        times = self._failures.get(key)
        if times:
            times.pop()

    def _recent(self, key: str, now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        recent = [t for t in times if now - t < self.window]
        if len(recent) >= self.max_failures and now - recent[-1] >= self.lockout:
            self._failures.pop(key, None)  # lockout served
            return 0
        return len(recent)
