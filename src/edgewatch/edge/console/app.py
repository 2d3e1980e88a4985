"""Routes of the edge's console (Starlette, mounted at ``/console`` by :class:`~edgewatch.edge.server.EdgeNode`).

Pages: ``/`` cameras (live tiles) and tracks in view, ``/alarms`` the outbox newest first with "mark
handled", ``/send`` "Send an image". Live data: ``/events`` (server-sent events from
:class:`~edgewatch.edge.console.live.LiveView`), ``/cameras/{site}/{camera}/frame.jpg`` (a kept frame),
``/alarms/{id}/snapshot.jpg``, ``/send/{id}/image.jpg``. Every route needs an operator session
(:class:`~edgewatch.console.web.ConsoleWeb`).
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from edgewatch.console.sessions import Session
from edgewatch.console.web import ConsoleWeb
from edgewatch.edge.console.alarm_log import AlarmLog
from edgewatch.edge.console.live import LiveView
from edgewatch.edge.console.upload import UploadRefused, VirtualCamera, normalise
from edgewatch.edge.events import AlarmRaised
from edgewatch.protocol import MAX_FRAME_BYTES
from edgewatch.telemetry import get_logger

if TYPE_CHECKING:
    from edgewatch.edge.server import EdgeNode

log = get_logger(__name__)

#: A live stream ends after this long and the browser reconnects (EventSource does so by itself): no
#: connection outlives a server shutdown by more than this.
STREAM_SECONDS = 30.0
#: Least time between two updates of one live stream.
STREAM_INTERVAL = 0.25
PAGE_SIZE = 50
#: Live streams open at once (each costs a task and a socket); more are answered 503 and retried by the browser.
MAX_STREAMS = 32
#: Uploads waiting for the virtual camera at once (each holds its image in memory); more are answered 429.
MAX_WAITING_UPLOADS = 4
NAV = (("/", "Cameras"), ("/alarms", "Alarms"), ("/send", "Send an image"))


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


class EdgeConsole:
    """The console of one edge node; ``app`` is mounted at ``/console``, ``run()`` is one of the node's tasks."""

    def __init__(self, node: EdgeNode, operators_file: Path) -> None:
        self.node = node
        s = node.settings
        registry = node.metrics.registry
        self.live = LiveView(
            node.events, lambda cam: registry.get_sample_value("edgewatch_edge_frames_dropped_total",
                                                               {"camera": cam}) or 0.0,
            track_max_age=s.track_max_age, on_alarm=self._remember_similarity)
        self.camera = VirtualCamera(node.queue, node.events, track_max_age=s.track_max_age,
                                    settle_timeout=s.verify_timeout + s.cloud_timeout + 5.0, metrics=node.metrics,
                                    on_dropped=getattr(node, "_dropped", None))
        self.web = ConsoleWeb(title=f"edgewatch site console · {', '.join(s.sites)}", operators_file=operators_file,
                              cookie_name="ew_edge_session", templates=Path(__file__).parent / "templates",
                              nav=NAV, body_limit=MAX_FRAME_BYTES + 64 * 1024)
        self._log: AlarmLog | None = None
        self._streams = 0
        self._uploads = 0
        p = self.web.page
        self.app = self.web.app([
            Route("/", p(self._cameras)),
            Route("/events", p(self._events, api=True)),
            Route("/cameras/{site}/{camera}/frame.jpg", p(self._frame, api=True)),
            Route("/alarms", p(self._alarms)),
            Route("/alarms/{event_id}/snapshot.jpg", p(self._snapshot, api=True)),
            Route("/alarms/{event_id}/handled", p(self._handled), methods=["POST"]),
            Route("/send", p(self._send_page)),
            Route("/send", p(self._send), methods=["POST"]),
            Route("/send/{upload_id}", p(self._send_result)),
            Route("/send/{upload_id}/image.jpg", p(self._send_image, api=True)),
        ])

    async def run(self) -> None:
        """Keep the live view (a task of the edge node, started after the outbox opened)."""
        log.info("console_started", operators_file=str(self.web.operators.path))
        try:
            await self.live.run()
        finally:
            if self._log is not None:
                self._log.close()

    def alarm_log(self) -> AlarmLog | None:
        """The outbox's alarms and their handling (None with an in-memory outbox, which no one else can open)."""
        if self._log is None and str(self.node.settings.alarm_db) != ":memory:" and self.node.store is not None:
            try:
                self._log = AlarmLog(self.node.settings.alarm_db)
            except sqlite3.Error as exc:  # the outbox's own checks report the file; the console just shows none
                log.warning("console_alarm_log_unavailable", alarm_db=str(self.node.settings.alarm_db),
                            error=str(exc))
        return self._log

    def _remember_similarity(self, event: AlarmRaised, similarity: float | None) -> None:
        store = self.alarm_log()
        if similarity is not None and store is not None:
            task = asyncio.ensure_future(asyncio.to_thread(store.record_similarity, event.alarm.event_id, similarity))
            task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or
                                   log.warning("console_similarity_not_stored", error=repr(t.exception())))

    # ---- cameras and tracks -----------------------------------------------------------------------------

    async def _cameras(self, request: Request, session: Session) -> Response:
        now = time.time()
        tiles = [self.live.tile_json(t, now) for t in self.live.tiles.values()]
        return self.web.render(request, "cameras.html", session, tiles=tiles, tracks=self.live.tracks_json(now),
                               version=self.live.version, when=_when, ready=self.node.status.ready)

    async def _events(self, request: Request, _session: Session) -> Response:
        # EventSource sends the last ``id:`` it saw when it reconnects: resume from there.
        given = request.headers.get("last-event-id") or request.query_params.get("since", "")
        since = min(int(given), self.live.version) if given.isdigit() else 0

        if self._streams >= MAX_STREAMS:
            return Response("too many live streams", status_code=503, media_type="text/plain",
                            headers={"retry-after": "5"})

        async def stream() -> AsyncIterator[bytes]:
            nonlocal since
            yield b"retry: 1000\n\n"
            ends = time.monotonic() + STREAM_SECONDS
            while time.monotonic() < ends:
                changes = self.live.changes(since)
                since = self.live.version
                for name, data in changes:
                    yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                yield f"id: {since}\nevent: version\ndata: {since}\n\n".encode()
                await asyncio.sleep(STREAM_INTERVAL)
                if not await self.live.wait_change(since, min(10.0, max(0.1, ends - time.monotonic()))):
                    yield b": keep-alive\n\n"

        return _CountedStream(self, stream(), media_type="text/event-stream",
                              headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def _frame(self, request: Request, _session: Session) -> Response:
        seq = request.query_params.get("seq", "")
        kept = self.live.frame(request.path_params["site"], request.path_params["camera"],
                               int(seq) if seq.isdigit() else None)
        if kept is None:
            return Response("no frame", status_code=404, media_type="text/plain")
        return Response(kept[1], media_type="image/jpeg", headers={"x-frame-seq": str(kept[0]),
                                                                     "cache-control": "no-store"})

    # ---- alarms -----------------------------------------------------------------------------------------

    async def _alarms(self, request: Request, session: Session) -> Response:
        store = self.alarm_log()
        page = request.query_params.get("page", "0")
        offset = (int(page) if page.isdigit() else 0) * PAGE_SIZE
        problem = None
        try:
            rows = await asyncio.to_thread(store.recent, PAGE_SIZE, offset) if store else []
        except sqlite3.Error as exc:  # e.g. a locked or damaged outbox: say so, do not fail the page
            rows, problem = [], f"the alarm outbox cannot be read now: {exc}"
        return self.web.render(request, "alarms.html", session, alarms=rows, when=_when, available=store is not None,
                               problem=problem,
                               page=offset // PAGE_SIZE, more=len(rows) == PAGE_SIZE,
                               version=self.live.version)

    async def _snapshot(self, request: Request, _session: Session) -> Response:
        store = self.alarm_log()
        jpeg = await asyncio.to_thread(store.snapshot, request.path_params["event_id"]) if store else None
        if jpeg is None:
            return Response("no snapshot", status_code=404, media_type="text/plain")
        return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def _handled(self, request: Request, session: Session) -> Response:
        store = self.alarm_log()
        form = await self.web.form(request, max_files=0)
        event_id = request.path_params["event_id"]
        note = str(form.get("note", ""))
        try:
            recorded = store is not None and await asyncio.to_thread(store.mark_handled, event_id, session.operator,
                                                                      note)
        except sqlite3.Error as exc:
            return self.web.error(request, 503, f"Not recorded, the alarm outbox cannot be written now: {exc}.",
                                  session)
        if not recorded:
            return self.web.error(request, 404, f"No alarm {event_id!r}.", session)
        log.info("alarm_handled", event_id=event_id, operator=session.operator, note_chars=len(note))
        return RedirectResponse(f"{self.web_root(request)}/alarms#alarm-{event_id}", status_code=303)

    @staticmethod
    def web_root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    # ---- send an image ----------------------------------------------------------------------------------

    async def _send_page(self, request: Request, session: Session, message: str | None = None,
                         status: int = 200) -> Response:
        return self.web.render(request, "send.html", session, status, sites=self.node.settings.sites,
                               message=message, busy=self.camera.busy, recent=list(reversed(self.camera.results.values())),
                               when=_when)

    async def _send(self, request: Request, session: Session) -> Response:
        form = await self.web.form(request, max_files=1)
        site_id = str(form.get("site", "")) or self.node.settings.sites[0]
        if site_id not in self.node.settings.sites:
            return await self._send_page(request, session, f"Unknown site {site_id!r}.", 400)
        if not self.node.status.ready:
            return await self._send_page(request, session, "The detector is not ready yet: try again shortly.", 503)
        if self._uploads >= MAX_WAITING_UPLOADS:
            return await self._send_page(request, session, "Too many images are waiting: try again shortly.", 429)
        self._uploads += 1
        try:
            filename, data = await self.web.read_upload(form.get("image"), MAX_FRAME_BYTES)
            try:
                jpeg, width, height = await asyncio.to_thread(normalise, data, self.node.settings.max_image_pixels)
            except UploadRefused as exc:
                return await self._send_page(request, session, f"{filename}: {exc}.", 415)
            del data
            result = await self.camera.analyse(site_id, filename, session.operator, jpeg, width, height)
        finally:
            self._uploads -= 1
        return RedirectResponse(f"{self.web_root(request)}/send/{result.id}", status_code=303)

    async def _send_result(self, request: Request, session: Session) -> Response:
        result = self.camera.results.get(request.path_params["upload_id"])
        if result is None:
            return self.web.error(request, 404, "No such upload (only the last few are kept).", session)
        return self.web.render(request, "send_result.html", session, result=result, when=_when)

    async def _send_image(self, request: Request, _session: Session) -> Response:
        result = self.camera.results.get(request.path_params["upload_id"])
        if result is None:
            return Response("no such upload", status_code=404, media_type="text/plain")
        jpeg = await asyncio.to_thread(_draw_boxes, result.jpeg, result.boxes)
        return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


class _CountedStream(StreamingResponse):
    """A live stream counted in ``console._streams`` from creation until its connection is done, however it
    ends (a generator that never started would not run its own ``finally``)."""

    def __init__(self, console: EdgeConsole, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.console = console
        console._streams += 1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.console._streams -= 1


def _draw_boxes(jpeg: bytes, boxes: list[dict[str, Any]]) -> bytes:
    """The upload with its persons' boxes and track ids drawn (Pillow, in a thread)."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(jpeg)) as image:
        picture = image.convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(2, picture.width // 300)
    for person in boxes:
        x1, y1, x2, y2 = person["box"]
        draw.rectangle((x1, y1, x2, y2), outline=(255, 64, 64), width=width)
        draw.text((x1 + width + 2, y1 + width + 2), f"track {person['track_id']}", fill=(255, 255, 0))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()
