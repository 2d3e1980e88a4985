"""Login, sessions, CSRF and page rendering shared by the edge's and the cloud's consoles (Starlette).

:class:`ConsoleWeb` builds the console's ASGI app from the layer's own routes: it adds ``/login``,
``/logout`` and ``/static``, guards every other route, and renders Jinja2 templates (the layer's folder
first, then the shared one here). Rules, enforced here so a layer cannot forget them:

- a page without a live session redirects to the login page; an API (``api=True``: live events, images,
  JSON) answers 401;
- every POST needs the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``), else 403; the
  login form uses a double-submit token bound to a SameSite=Strict cookie;
- a wrong name or password gets one generic message after a delay, and repeated failures lock the name and
  the client address out for a while (:class:`~edgewatch.console.sessions.LoginThrottle`);
- request bodies are capped (``body_limit``) while they arrive; pages are sent with a strict
  Content-Security-Policy (scripts and styles from ``/console/static`` only: nothing from the internet).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from edgewatch.console.operators import OperatorsFile
from edgewatch.console.sessions import LoginThrottle, Session, SessionStore
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
Handler = Callable[[Request, Session], Awaitable[Response]]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class BadForm(Exception):
    """A form that cannot be read (not a form, malformed multipart, too many parts)."""


class ConsoleWeb:
    """One console (edge or cloud): templates, sessions and the guarded app around the layer's routes."""

    def __init__(self, *, title: str, operators_file: Path, cookie_name: str, templates: Path,
                 nav: Sequence[tuple[str, str]], body_limit: int, throttle: LoginThrottle | None = None,
                 sessions: SessionStore | None = None) -> None:
        self.title = title
        self.operators = OperatorsFile(operators_file)
        self.cookie = cookie_name
        self.login_cookie = f"{cookie_name}_login"
        self.nav = list(nav)
        self.body_limit = body_limit
        self.throttle = throttle or LoginThrottle()
        self.sessions = sessions or SessionStore()
        self._hashing = asyncio.Semaphore(2)  # scrypt is CPU and 16 MiB each: a login flood queues here
        self.env = Environment(loader=ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(HERE / "templates")]),
                               autoescape=select_autoescape(default=True, default_for_string=True))

    # ---- app ------------------------------------------------------------------------------------------

    def app(self, routes: Sequence[BaseRoute]) -> Any:
        """The console as an ASGI app to mount at ``/console`` (body limit and security headers around it)."""
        inner = Starlette(routes=[
            Route("/login", self._login_page, methods=["GET"]),
            Route("/login", self._login, methods=["POST"]),
            Route("/logout", self._logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            *routes,
        ])
        return _Guard(inner, self.body_limit)

    def page(self, handler: Handler, *, api: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a route: refuse it without a session, and refuse a POST without the session's CSRF token."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                if api:
                    return JSONResponse({"error": "unauthorized", "detail": "log in first"}, status_code=401)
                if request.method != "GET":  # a form sent after the session ended: refused, with a way back
                    return self.error(request, 401, "Your session has ended: log in again.", None)
                return RedirectResponse(f"{root(request)}/login?next={request.url.path}", status_code=303)
            if request.method == "POST":
                sent = request.headers.get("x-csrf-token") or await self._form_csrf(request)
                if not sent or not secrets.compare_digest(sent.encode(), session.csrf.encode()):
                    log.warning("console_csrf_refused", path=request.url.path, operator=session.operator)
                    return self.error(request, 403, "Missing or wrong form token: reload the page and try again.",
                                      session)
            try:
                return await handler(request, session)
            except BodyTooLarge as exc:
                return self.error(request, 413, f"Too large: {exc}.", session)
            except BadForm as exc:
                return self.error(request, 400, f"Bad form: {exc}.", session)

        return endpoint

    def session(self, request: Request) -> Session | None:
        session = self.sessions.get(request.cookies.get(self.cookie))
        if session is not None and not self.operators.exists(session.operator):
            self.sessions.end_operator(session.operator)  # removed from the file: every session ends
            return None
        return session

    async def _form_csrf(self, request: Request) -> str | None:
        try:
            form = await self.form(request)
        except (BodyTooLarge, BadForm):
            return None
        value = form.get("csrf")
        return value if isinstance(value, str) else None

    async def form(self, request: Request, *, max_files: int = 10) -> FormData:
        """The request's form (parsed once per request; upload parts spool to disk past 1 MiB)."""
        try:
            return await request.form(max_files=max_files, max_fields=50, max_part_size=64 * 1024)
        except BodyTooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - python-multipart's errors have no common base
            raise BadForm(str(exc) or type(exc).__name__) from None

    @staticmethod
    async def read_upload(upload: Any, limit: int) -> tuple[str, bytes]:
        """(file name, bytes) of an uploaded file; BadForm when it is no file or empty, BodyTooLarge past limit."""
        if not isinstance(upload, UploadFile):
            raise BadForm("expected a file")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise BodyTooLarge(limit)
        if not data:
            raise BadForm(f"{upload.filename or 'the file'} is empty")
        return (upload.filename or "image")[:200], data

    # ---- rendering --------------------------------------------------------------------------------------

    def render(self, request: Request, template: str, session: Session | None, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            root=root(request), title=self.title, nav=self.nav, session=session, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def error(self, request: Request, status: int, message: str, session: Session | None) -> Response:
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"error": status, "detail": message}, status_code=status)
        return self.render(request, "error.html", session, status, message=message, status_code=status)

    # ---- login ------------------------------------------------------------------------------------------

    async def _login_page(self, request: Request) -> Response:
        token = request.cookies.get(self.login_cookie) or secrets.token_urlsafe(24)
        response = self.render(request, "login.html", None, next=_safe_next(request, request.query_params.get("next")),
                               login_csrf=token)
        self._set_cookie(request, response, self.login_cookie, token, max_age=3600)
        return response

    async def _login(self, request: Request) -> Response:
        try:
            form = await self.form(request, max_files=0)
        except (BodyTooLarge, BadForm) as exc:
            return self.error(request, 400, f"Bad login form: {exc}", None)
        name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))
        next_url = _safe_next(request, str(form.get("next", "")))
        cookie, sent = request.cookies.get(self.login_cookie, ""), str(form.get("csrf", ""))
        if not cookie or not secrets.compare_digest(cookie.encode(), sent.encode()):
            return self.error(request, 403, "Missing or wrong form token: reload the login page and try again.", None)
        client = request.client.host if request.client else "?"
        keys = (f"name:{name}", f"addr:{client}")
        if self.throttle.locked(*keys):
            await asyncio.sleep(self.throttle.delay)
            log.warning("console_login_locked", operator=name, client=client)
            return self._login_failed(request, next_url, cookie, "Too many failed logins: try again in a few minutes.")
        # Count the attempt BEFORE checking the password (no await between the check above and this line):
        # guesses sent in parallel would otherwise all pass the lock check while the first is still hashing.
        self.throttle.failed(*keys)
        async with self._hashing:
            ok = await asyncio.to_thread(self.operators.verify, name, password)
        if not ok:
            await asyncio.sleep(self.throttle.delay)
            log.warning("console_login_failed", operator=name, client=client)
            return self._login_failed(request, next_url, cookie, "Wrong name or password.")
        # The right password clears the name's failures and takes back only this attempt for the address:
        # one known login must not reset the address's count of guesses at other names.
        self.throttle.succeeded(f"name:{name}")
        self.throttle.undo(f"addr:{client}")
        session = self.sessions.create(name)
        log.info("console_login", operator=name, client=client)
        response = RedirectResponse(next_url, status_code=303)
        self._set_cookie(request, response, self.cookie, session.id)
        response.delete_cookie(self.login_cookie, path=root(request) or "/")
        return response

    def _login_failed(self, request: Request, next_url: str, token: str, message: str) -> Response:
        return self.render(request, "login.html", None, 401, next=next_url, login_csrf=token, message=message)

    async def _logout(self, request: Request) -> Response:
        session = self.session(request)
        if session is not None:
            sent = request.headers.get("x-csrf-token") or await self._form_csrf(request)
            if not sent or not secrets.compare_digest(sent.encode(), session.csrf.encode()):
                return self.error(request, 403, "Missing or wrong form token.", session)
            self.sessions.end(session.id)
            log.info("console_logout", operator=session.operator)
        response = RedirectResponse(f"{root(request)}/login", status_code=303)
        response.delete_cookie(self.cookie, path=root(request) or "/")
        return response

    def _set_cookie(self, request: Request, response: Response, name: str, value: str,
                    max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=root(request) or "/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")


def root(request: Request) -> str:
    """Where the console is mounted (``/console``), for links in pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _safe_next(request: Request, value: str | None) -> str:
    """A local console path to go to after login; anything else (another host, ``//x``) goes home."""
    base = root(request)
    if value and value.startswith(base + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return base + "/"


class _Guard:
    """Caps request bodies while they arrive and adds security headers to every answer."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await JSONResponse({"error": "payload_too_large",
                                        "detail": f"request body larger than {self.limit} bytes"},
                                       status_code=413, headers={"connection": "close"})(scope, receive, send)
                    return
        received = 0

        async def limited() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, limited, secured)
