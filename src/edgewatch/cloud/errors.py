"""Typed errors of the cloud service. Every error answer is JSON ``{"error": code, "detail": text}``.

Backends and request handling raise :class:`CloudError` subclasses; the app turns them into answers with
the status below. A failure inside a backend is a 5xx (the edge retries it and, failing that, raises an
``unverified`` alarm): it is never answered as ``known``.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of the service's typed errors: an HTTP status, a stable machine-readable code, a detail."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class Unauthorized(CloudError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "missing or wrong bearer token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="edgewatch-cloud"'})


class InvalidRequest(CloudError):
    """A missing or malformed field (FastAPI's request validation, or a bad person name)."""

    status, code = 422, "invalid_request"


class EmptyImage(CloudError):
    status, code = 422, "empty_image"


class UndecodableImage(CloudError):
    status, code = 422, "undecodable_image"


class NoFaceInPhoto(CloudError):
    """An enrolment photo in which no face was found; the detail names the file."""

    status, code = 422, "no_face_in_photo"

    def __init__(self, filename: str, reason: str = "") -> None:
        super().__init__(f"no face found in photo {filename!r}" + (f" ({reason})" if reason else ""))
        self.filename = filename


class UnsupportedMediaType(CloudError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(CloudError):
    status, code = 413, "payload_too_large"


class PersonNotFound(CloudError):
    status, code = 404, "person_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no known person named {name!r}")
        self.name = name


class PersonExists(CloudError):
    status, code = 409, "person_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a person named {name!r} already exists; add photos with POST /v1/persons/{{name}}/faces")
        self.name = name


class BackendUnavailable(CloudError):
    """The backend cannot answer now (not started, throttled, credentials refused, AWS unreachable)."""

    status, code = 503, "backend_unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after
        if code:
            self.code = code


class BackendError(CloudError):
    """The backend failed in an unexpected way. Retryable from the client's side (5xx)."""

    status, code = 502, "backend_error"
