"""The cloud's FastAPI app: ``POST /v1/identify``, known-person management, health, readiness, metrics.

``create_app(settings, backend=None)`` builds everything from settings (the backend too, unless one is
given: tests pass a Rekognition backend whose boto3 client is stubbed). Backends block, so every call runs
in a worker thread, at most ``backend.concurrency`` at once; the event loop only moves bytes.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, File, Form, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgewatch.cloud.backends import make_backend
from edgewatch.cloud.backends.base import Backend, Enrolment, PersonInfo, check_name, verdict_for
from edgewatch.cloud.errors import CloudError, InvalidRequest, PayloadTooLarge, UndecodableImage
from edgewatch.cloud.guard import BodyTooLarge, Guard
from edgewatch.cloud.images import Image, load_image
from edgewatch.config import CloudSettings
from edgewatch.protocol import IdentifyResult
from edgewatch.security.metrics_access import MetricsAccess
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import CloudMetrics

#: Photos accepted in one enrolment request.
MAX_PHOTOS = 10
#: Room for multipart boundaries and form fields on top of the image bytes.
_MULTIPART_OVERHEAD = 64 * 1024

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
TRACE_PATTERN = r"^[A-Za-z0-9_-]+$"

PersonName = Annotated[str, Path(description="the person's name")]
Photos = Annotated[list[UploadFile], File(description=f"one to {MAX_PHOTOS} JPEG/PNG photos of the person")]

_bearer = HTTPBearer(auto_error=False, description="the cloud's token (EDGEWATCH_TOKEN)")


class Service:
    """The backend with its worker-thread limiter and lazy (re)start."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.limiter = anyio.CapacityLimiter(max(1, backend.concurrency))

    async def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            self.backend.start()  # no-op once started; retries a failed start
            return function(*args, **kwargs)

        return await anyio.to_thread.run_sync(call, limiter=self.limiter)


def _error_response(error: CloudError, metrics: CloudMetrics) -> JSONResponse:
    metrics.errors.labels(error.code).inc()
    return JSONResponse({"error": error.code, "detail": error.detail}, status_code=error.status,
                        headers=error.headers)


def create_app(settings: CloudSettings, backend: Backend | None = None) -> Any:
    """The ASGI app (FastAPI wrapped in the token/body-size guard)."""
    log = get_logger("edgewatch.cloud")  # bound after the command configured logging, not at import
    backend = backend or make_backend(settings)
    service = Service(backend)
    metrics = CloudMetrics()
    token = settings.token.get_secret_value() if settings.token is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if token is None:
            log.warning("auth_disabled", detail="no token configured (EDGEWATCH_TOKEN / --token-file): every route "
                        "is open to anyone who can reach this port; set a token outside a test bench")
        try:
            await anyio.to_thread.run_sync(backend.start)
            log.info("cloud_ready", backend=backend.name, threshold=backend.threshold)
        except CloudError as exc:  # keep serving: /readyz says why, requests retry the start
            log.error("backend_start_failed", backend=backend.name, error=exc.detail)
        yield
        await anyio.to_thread.run_sync(backend.close)

    app = FastAPI(
        title="edgewatch cloud",
        version="1",
        description="Known person or intruder: face recognition of person crops sent by edges. Every route "
        "except /healthz, /readyz and the docs needs `Authorization: Bearer <token>`. Errors are "
        '`{"error": code, "detail": text}`.',
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    secured = [Depends(_bearer)]  # documents the scheme; the Guard enforces it before the body is read

    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        return _error_response(exc, metrics)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "form"))
            parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
        return _error_response(InvalidRequest("; ".join(parts)), metrics)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return _error_response(PayloadTooLarge(str(exc.detail)), metrics)
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "payload_too_large"}
        error = CloudError(str(exc.detail), headers=dict(exc.headers or {}))
        error.status, error.code = exc.status_code, codes.get(exc.status_code, f"http_{exc.status_code}")
        return _error_response(error, metrics)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error", path=request.url.path, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        return _error_response(CloudError(f"internal error: {type(exc).__name__}"), metrics)

    # ---- health --------------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: the backend can answer identify requests")
    async def readyz() -> JSONResponse:
        problem = backend.ready()
        if problem is not None:
            return JSONResponse({"error": "not_ready", "detail": problem, "backend": backend.name},
                                status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "backend": backend.name, "threshold": backend.threshold,
                             "auth": "token" if token else "disabled"})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", dependencies=secured,
             response_class=Response)
    async def metrics_route() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- identify ------------------------------------------------------------------------------------

    async def read_upload(upload: UploadFile) -> Image:
        data = await upload.read(settings.max_upload_bytes + 1)
        name = upload.filename or "image"
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"{name!r} is larger than the limit of {settings.max_upload_bytes} bytes")
        try:
            return await anyio.to_thread.run_sync(
                load_image, data, name, upload.content_type, settings.max_upload_bytes, settings.max_image_pixels,
                limiter=service.limiter,
            )
        except PayloadTooLarge:
            metrics.images_refused.labels("too_many_pixels").inc()
            raise
        except UndecodableImage:
            metrics.images_refused.labels("undecodable").inc()
            raise

    @app.post("/v1/identify", response_model=IdentifyResult, tags=["identify"], dependencies=secured,
              summary="Who is in this image: known person, intruder, or no face")
    async def identify(
        image: Annotated[UploadFile, File(description="JPEG or PNG, at most max_upload_bytes")],
        site_id: Annotated[str | None, Form(max_length=64, pattern=ID_PATTERN)] = None,
        camera_id: Annotated[str | None, Form(max_length=64, pattern=ID_PATTERN)] = None,
        trace_id: Annotated[str | None, Form(min_length=8, max_length=64, pattern=TRACE_PATTERN)] = None,
    ) -> IdentifyResult:
        started = time.perf_counter()
        try:
            decoded = await read_upload(image)
            faces = await service.run(backend.identify, decoded)
        except CloudError as exc:
            log.warning("identify_failed", trace_id=trace_id, site_id=site_id, camera_id=camera_id,
                        backend=backend.name, error=exc.code, detail=exc.detail,
                        elapsed_ms=round((time.perf_counter() - started) * 1000, 2))
            raise
        verdict = verdict_for(faces)
        elapsed = time.perf_counter() - started
        metrics.identify.labels(backend.name, verdict.value).observe(elapsed)
        log.info("identify", trace_id=trace_id, site_id=site_id, camera_id=camera_id, verdict=verdict.value,
                 backend=backend.name, elapsed_ms=round(elapsed * 1000, 2), faces=len(faces),
                 matches=[f.match.name for f in faces if f.match], width=decoded.width, height=decoded.height)
        return IdentifyResult(verdict=verdict, faces=faces, threshold=backend.threshold, backend=backend.name,
                              trace_id=trace_id, elapsed_ms=round(elapsed * 1000, 2))

    # ---- known persons -------------------------------------------------------------------------------

    async def read_photos(photos: list[UploadFile]) -> list[Image]:
        if len(photos) > MAX_PHOTOS:
            raise InvalidRequest(f"{len(photos)} photos in one request; at most {MAX_PHOTOS}")
        return [await read_upload(photo) for photo in photos]

    @app.post("/v1/persons", status_code=201, response_model=Enrolment, tags=["persons"], dependencies=secured,
              summary="Enrol a new known person from one or more photos (409 if the name exists)")
    async def add_person(name: Annotated[str, Form()], photos: Photos) -> Enrolment:
        name = check_name(name)
        images = await read_photos(photos)
        result = await service.run(backend.add_person, name, images, create=True, exist_ok=False)
        log.info("person_added", name=result.name, faces=result.faces, added=result.added)
        return result

    @app.get("/v1/persons", tags=["persons"], dependencies=secured, summary="List known persons")
    async def list_persons() -> dict[str, list[PersonInfo]]:
        return {"persons": await service.run(backend.list_persons)}

    @app.get("/v1/persons/{name}", response_model=PersonInfo, tags=["persons"], dependencies=secured,
             summary="One known person (404 if unknown)")
    async def get_person(name: PersonName) -> PersonInfo:
        return await service.run(backend.get_person, name)

    @app.delete("/v1/persons/{name}", tags=["persons"], dependencies=secured,
                summary="Forget a known person and all their faces (404 if unknown)")
    async def remove_person(name: PersonName) -> dict[str, Any]:
        removed = await service.run(backend.remove_person, name)
        log.info("person_removed", name=name, faces=removed)
        return {"name": name, "removed_faces": removed}

    @app.post("/v1/persons/{name}/faces", response_model=Enrolment, tags=["persons"], dependencies=secured,
              summary="Add photos to a known person (404 if unknown)")
    async def add_faces(name: PersonName, photos: Photos) -> Enrolment:
        name = check_name(name)
        images = await read_photos(photos)
        result = await service.run(backend.add_person, name, images, create=False, exist_ok=True)
        log.info("person_faces_added", name=result.name, faces=result.faces, added=result.added)
        return result

    def body_limit(path: str) -> int | None:
        if path == "/v1/identify":
            return settings.max_upload_bytes + _MULTIPART_OVERHEAD
        if path == "/v1/persons" or (path.startswith("/v1/persons/") and path.endswith("/faces")):
            return settings.max_upload_bytes * MAX_PHOTOS + _MULTIPART_OVERHEAD
        return None

    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else None
    guarded = Guard(app, token, body_limit, on_reject=lambda code: metrics.errors.labels(code).inc(),
                    metrics_access=MetricsAccess([token, metrics_token], settings.host))
    guarded.fastapi = app  # type: ignore[attr-defined]  # for tests and tools that want the inner app
    if settings.operators_file is not None:  # the operators' web console at /console (cloud/console)
        from edgewatch.cloud.console import with_console

        return with_console(guarded, settings, service)
    return guarded
