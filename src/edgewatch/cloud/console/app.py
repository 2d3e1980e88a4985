"""Routes of the cloud's console (Starlette, in front of the API at ``/console``; see :func:`with_console`).

Pages: ``/`` known persons with their photos, the enrolment form and "remove"; ``POST /persons`` enrols
photos one by one and shows, per photo, whether a usable face was found; ``/try`` shows the verdict and the
similarities for an uploaded image. The console calls the same backend as the API, through the same
worker-thread limiter, and never goes through the API's bearer token: operators log in instead.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router

from edgewatch.cloud.backends.base import check_name, verdict_for
from edgewatch.cloud.console.photos import PhotoStore, thumbnail
from edgewatch.cloud.errors import CloudError, NoFaceInPhoto
from edgewatch.cloud.images import load_image
from edgewatch.config import CloudSettings
from edgewatch.console.sessions import Session
from edgewatch.console.web import BadForm, ConsoleWeb
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

MAX_PHOTOS = 10
NAV = (("/", "Known persons"), ("/try", "Try an image"))


def photo_store_path(settings: CloudSettings) -> Path:
    return settings.db_path.with_name(settings.db_path.stem + "-console.db")


class CloudConsole:
    def __init__(self, settings: CloudSettings, service: Any, operators_file: Path) -> None:
        self.settings = settings
        self.service = service  # edgewatch.cloud.app.Service: the backend and its thread limiter
        self.photos = PhotoStore(photo_store_path(settings))
        self.web = ConsoleWeb(title="edgewatch cloud console", operators_file=operators_file,
                              cookie_name="ew_cloud_session", templates=Path(__file__).parent / "templates", nav=NAV,
                              body_limit=settings.max_upload_bytes * MAX_PHOTOS + 64 * 1024)
        p = self.web.page
        self.app = self.web.app([
            Route("/", p(self._persons)),
            Route("/persons", p(self._enrol), methods=["POST"]),
            Route("/persons/{name}/remove", p(self._remove), methods=["POST"]),
            Route("/photos/{photo_id:int}.jpg", p(self._photo, api=True)),
            Route("/try", p(self._try_page)),
            Route("/try", p(self._try), methods=["POST"]),
        ])

    @property
    def backend(self) -> Any:
        return self.service.backend

    async def _load(self, filename: str, data: bytes, content_type: str | None) -> Any:
        return await self.service.run(load_image, data, filename, content_type, self.settings.max_upload_bytes,
                                      self.settings.max_image_pixels)

    # ---- known persons ----------------------------------------------------------------------------------

    async def _persons(self, request: Request, session: Session, status: int = 200, message: str | None = None,
                       outcome: dict[str, Any] | None = None) -> Response:
        try:
            persons = await self.service.run(self.backend.list_persons)
            problem = None
        except CloudError as exc:
            persons, problem = [], exc.detail
        photos = await self.service.run(self.photos.ids)
        return self.web.render(request, "persons.html", session, status, persons=persons, photos=photos,
                               problem=problem, message=message, outcome=outcome, backend=self.backend.name,
                               max_photos=MAX_PHOTOS)

    async def _enrol(self, request: Request, session: Session) -> Response:
        form = await self.web.form(request, max_files=MAX_PHOTOS)
        name = str(form.get("name", "")).strip()
        try:
            check_name(name)
        except CloudError as exc:
            return await self._persons(request, session, 422, exc.detail)
        uploads = [u for u in form.getlist("photos") if not isinstance(u, str) and (u.filename or u.size)]
        if not uploads:
            return await self._persons(request, session, 422, "Choose at least one photo.")
        results = []
        for upload in uploads:
            results.append(await self._enrol_one(name, upload))
        usable = sum(1 for r in results if r["usable"])
        log.info("console_enrolment", operator=session.operator, name=name, photos=len(results), usable=usable)
        return await self._persons(request, session, 200 if usable else 422,
                                   outcome={"name": name, "photos": results, "usable": usable})

    async def _enrol_one(self, name: str, upload: Any) -> dict[str, Any]:
        try:
            filename, data = await self.web.read_upload(upload, self.settings.max_upload_bytes)
        except BadForm as exc:
            return {"filename": upload.filename or "?", "usable": False, "detail": str(exc)}
        except Exception:  # noqa: BLE001 - BodyTooLarge for one photo: that photo fails, the others go on
            return {"filename": upload.filename or "?", "usable": False, "detail": "larger than the upload limit"}
        try:
            image = await self._load(filename, data, upload.content_type)
            enrolment = await self.service.run(self.backend.add_person, name, [image], create=True, exist_ok=True)
        except NoFaceInPhoto:
            return {"filename": filename, "usable": False, "detail": "no usable face found"}
        except CloudError as exc:
            return {"filename": filename, "usable": False, "detail": exc.detail}
        jpeg = await self.service.run(thumbnail, image.pixels)
        await self.service.run(self.photos.add, name, hashlib.sha256(data).hexdigest(), filename, jpeg)
        detail = "usable face found" + ("" if enrolment.added else " (this photo was already enrolled)")
        return {"filename": filename, "usable": True, "detail": detail}

    async def _remove(self, request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        try:
            faces = await self.service.run(self.backend.remove_person, name)
        except CloudError as exc:
            return await self._persons(request, session, exc.status if exc.status < 500 else 503, exc.detail)
        await self.service.run(self.photos.remove_person, name)
        log.info("console_person_removed", operator=session.operator, name=name, faces=faces)
        return RedirectResponse(f"{self.web_root(request)}/", status_code=303)

    async def _photo(self, request: Request, _session: Session) -> Response:
        jpeg = await self.service.run(self.photos.get, int(request.path_params["photo_id"]))
        if jpeg is None:
            return Response("no such photo", status_code=404, media_type="text/plain")
        return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    @staticmethod
    def web_root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    # ---- try an image -----------------------------------------------------------------------------------

    async def _try_page(self, request: Request, session: Session, status: int = 200, message: str | None = None,
                        result: dict[str, Any] | None = None) -> Response:
        return self.web.render(request, "try.html", session, status, message=message, result=result,
                               threshold=self.backend.threshold)

    async def _try(self, request: Request, session: Session) -> Response:
        form = await self.web.form(request, max_files=1)
        upload = form.get("image")
        filename, data = await self.web.read_upload(upload, self.settings.max_upload_bytes)
        try:
            image = await self._load(filename, data, getattr(upload, "content_type", None))
            faces = await self.service.run(self.backend.identify, image)
        except CloudError as exc:
            return await self._try_page(request, session, exc.status if exc.status < 500 else 503,
                                        f"{filename}: {exc.detail}")
        verdict = verdict_for(faces)
        preview = await self.service.run(_preview, image.pixels, [f.box for f in faces])
        log.info("console_try", operator=session.operator, verdict=verdict.value, faces=len(faces))
        return await self._try_page(request, session, result={
            "filename": filename, "verdict": verdict.value, "faces": faces, "backend": self.backend.name,
            "preview": "data:image/jpeg;base64," + base64.b64encode(preview).decode("ascii")})


def _preview(pixels: Any, boxes: list[tuple[float, float, float, float]]) -> bytes:
    """The tried image with numbered face boxes, small enough for a data URL."""
    import cv2

    image = pixels.copy()
    thick = max(2, image.shape[1] // 250)
    for index, (x1, y1, x2, y2) in enumerate(boxes, start=1):
        cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), (64, 64, 255), thick)
        cv2.putText(image, str(index), (int(x1), max(12, int(y1) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.5, thick / 3), (0, 255, 255), thick)
    return thumbnail_large(image)


def thumbnail_large(image: Any, side: int = 640) -> bytes:
    import cv2

    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width, 1))
    if scale < 1.0:
        image = cv2.resize(image, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


class WithConsole:
    """The cloud's ASGI app with the console in front of ``/console``; everything else (and the lifespan)
    goes to the token-guarded API unchanged."""

    def __init__(self, api: Any, console: CloudConsole) -> None:
        self.api = api
        self.console = console
        self.fastapi = getattr(api, "fastapi", None)
        self._router = Router(routes=[Mount("/console", app=console.app)])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/console" or path.startswith("/console/")):
            await self._router(scope, receive, send)
            return
        await self.api(scope, receive, send)


def with_console(api: Any, settings: CloudSettings, service: Any) -> Any:
    """``api`` with the console when ``settings.operators_file`` is set, else ``api`` itself."""
    if settings.operators_file is None:
        return api
    return WithConsole(api, CloudConsole(settings, service, settings.operators_file))
