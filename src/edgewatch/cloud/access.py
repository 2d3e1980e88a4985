"""How the ``persons`` and ``identify`` commands reach known persons: a running cloud over HTTP
(``--url``, token from ``EDGEWATCH_TOKEN``) or a local-backend store file directly (``--db PATH``).

Both sides answer with the same plain dicts (the API's JSON) and raise :class:`AccessError` with the
API's error code and detail, so the commands print one thing whichever way they went.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Protocol

DEFAULT_URL = "http://127.0.0.1:8080"
#: Photos larger than this are scaled down before they are sent or enrolled (the cloud's default upload
#: limit, and Rekognition's): a 6 MB phone photo is enrolled instead of refused.
PHOTO_MAX_BYTES = 5 * 1024 * 1024
URL_ENV = "EDGEWATCH_CLOUD_URL"
TOKEN_ENV = "EDGEWATCH_TOKEN"
CA_ENV = "EDGEWATCH_CLOUD_CA_FILE"


class AccessError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Access(Protocol):
    def identify(self, path: Path) -> dict[str, Any]: ...
    def add_person(self, name: str, photos: list[Path]) -> dict[str, Any]: ...
    def list_persons(self) -> list[dict[str, Any]]: ...
    def remove_person(self, name: str) -> dict[str, Any]: ...
    def close(self) -> None: ...


def add_access_options(parser: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    """``--url`` / ``--db`` / ``--timeout``. ``repeat``: the same options again on an action's sub-parser
    (``persons add --db f.db ...``); they default to SUPPRESS there, so a value given before the action
    is kept unless the action repeats it."""
    default = argparse.SUPPRESS if repeat else None
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", default=default,
                       help=f"a running cloud (default: ${URL_ENV} or {DEFAULT_URL}); token from ${TOKEN_ENV}")
    where.add_argument("--db", type=Path, default=default, metavar="PATH",
                       help="work directly on a local-backend store file, no server needed")
    parser.add_argument("--timeout", type=float, default=argparse.SUPPRESS if repeat else 60.0,
                        help="HTTP timeout, seconds (default: 60)")
    parser.add_argument("--token-file", type=Path, default=default, metavar="PATH",
                        help=f"file holding the cloud's token (instead of ${TOKEN_ENV}; never pass a token as an option)")
    parser.add_argument("--ca-file", type=Path, default=default, metavar="PATH",
                        help=f"CA that signs an https cloud's certificate (default: ${CA_ENV}, else the system store)")


def open_access(args: argparse.Namespace, threshold: float | None = None, *, create: bool = False) -> Access:
    """The store file (``--db``) or the cloud (``--url``) named by ``args``. Raises
    :class:`~edgewatch.cli_support.UserError` for both given, a bad URL, a store path that is a folder,
    or (unless ``create``) a store file that does not exist: a typo must not become an empty store that
    answers "intruder" for everyone."""
    from edgewatch.cli_support import UserError
    from edgewatch.settings_checks import check_file_path, check_url

    if args.db is not None and args.url is not None:
        raise UserError("give either --db PATH or --url URL, not both")
    if args.db is not None:
        try:
            check_file_path(args.db)
        except ValueError as exc:
            raise UserError(f"--db: {exc}") from None
        if not create and not args.db.expanduser().is_file():
            raise UserError(f"no face store at {str(args.db)!r} (check the path; a store is created by "
                            f"`edgewatch persons --db {args.db} add NAME PHOTO`)")
        return LocalAccess(args.db, threshold)
    url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        check_url(url)
    except ValueError as exc:
        source = "--url" if args.url else f"${URL_ENV}" if os.environ.get(URL_ENV) else "default URL"
        raise UserError(f"{source}: {exc}") from None
    token, problem = os.environ.get(TOKEN_ENV), None
    token_file = getattr(args, "token_file", None)
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problem = AccessError("unreadable_file", f"cannot read token file {str(token_file)!r}: {exc}")
    ca_file = getattr(args, "ca_file", None) or os.environ.get(CA_ENV)
    return HttpAccess(url, token, args.timeout, Path(ca_file) if ca_file else None, problem)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AccessError("unreadable_file", f"cannot read {str(path)!r}: {exc.strerror or exc}") from None


def _read_photo(path: Path) -> bytes:
    """A photo's bytes, scaled down and re-encoded as JPEG when over :data:`PHOTO_MAX_BYTES`."""
    from edgewatch.cloud.sizing import ImageTooLargeToFit, fit_file_bytes

    data = _read(path)
    try:
        return fit_file_bytes(data, PHOTO_MAX_BYTES)
    except ImageTooLargeToFit as exc:
        raise AccessError("payload_too_large", f"{str(path)!r}: {exc}") from None


def _photo_type(path: Path, data: bytes) -> str:
    return "image/jpeg" if data.startswith(b"\xff\xd8\xff") else _media_type(path)


def _media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}.get(
        suffix, "application/octet-stream")


class HttpAccess:
    def __init__(self, url: str, token: str | None, timeout: float = 60.0, ca_file: Path | None = None,
                 problem: AccessError | None = None) -> None:
        import httpx

        from edgewatch.security.tls import TLSConfigError, client_context
        from edgewatch.telemetry.redact import redact_url

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = redact_url(url.rstrip("/")) or url  # shown in messages
        verify: Any = True
        if url.lower().startswith("https://"):
            try:
                verify = client_context(ca_file)
            except TLSConfigError as exc:
                problem = problem or AccessError("bad_ca_file", str(exc))
        #: a setup problem, reported by every request (each command already prints AccessErrors cleanly)
        self._problem = problem
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, verify=verify)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        if self._problem is not None:
            raise self._problem
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AccessError("unreachable", f"cloud at {self.url} not reachable: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                code, detail = str(body.get("error", f"http_{response.status_code}")), str(body.get("detail", ""))
            except (ValueError, AttributeError):
                code, detail = f"http_{response.status_code}", response.text[:300]
            raise AccessError(code, detail)
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise AccessError("bad_answer", f"{self.url} answered {response.status_code} with {kind}, not JSON: "
                              f"{response.text[:100]!r} (is this an edgewatch cloud?)") from None

    def identify(self, path: Path) -> dict[str, Any]:
        data = _read_photo(path)
        return self._request("POST", "/v1/identify", files={"image": (path.name, data, _photo_type(path, data))})

    def add_person(self, name: str, photos: list[Path]) -> dict[str, Any]:
        files = []
        for p in photos:
            data = _read_photo(p)
            files.append(("photos", (p.name, data, _photo_type(p, data))))
        try:
            return self._request("POST", "/v1/persons", data={"name": name}, files=files)
        except AccessError as exc:
            if exc.code != "person_exists":
                raise
        return self._request("POST", f"/v1/persons/{_quote(name)}/faces", files=files)

    def list_persons(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/persons")["persons"])

    def remove_person(self, name: str) -> dict[str, Any]:
        return self._request("DELETE", f"/v1/persons/{_quote(name)}")


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


class LocalAccess:
    """The local backend on a store file, in this process (models load on first use)."""

    def __init__(self, db: Path, threshold: float | None = None) -> None:
        from edgewatch.cloud.backends.face_models import SFACE_COSINE_THRESHOLD
        from edgewatch.cloud.backends.local import LocalBackend

        self.backend = LocalBackend(db, threshold or SFACE_COSINE_THRESHOLD, concurrency=1)

    def close(self) -> None:
        self.backend.close()

    def _guard(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        from edgewatch.cloud.errors import CloudError

        try:
            return function(*args, **kwargs)
        except CloudError as exc:
            raise AccessError(exc.code, exc.detail) from None

    def _image(self, path: Path) -> Any:
        from edgewatch.cloud.images import load_image

        data = _read_photo(path)
        return self._guard(load_image, data, str(path), _photo_type(path, data))

    def identify(self, path: Path) -> dict[str, Any]:
        from edgewatch.cloud.backends.base import verdict_for
        from edgewatch.protocol import IdentifyResult

        image = self._image(path)
        faces = self._guard(self.backend.identify, image)
        result = IdentifyResult(verdict=verdict_for(faces), faces=faces, threshold=self.backend.threshold,
                                backend=self.backend.name)
        return result.model_dump(mode="json")

    def add_person(self, name: str, photos: list[Path]) -> dict[str, Any]:
        images = [self._image(p) for p in photos]
        result = self._guard(self.backend.add_person, name, images, create=True, exist_ok=True)
        return result.model_dump(mode="json")

    def list_persons(self) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in self._guard(self.backend.list_persons)]

    def remove_person(self, name: str) -> dict[str, Any]:
        removed = self._guard(self.backend.remove_person, name)
        return {"name": name, "removed_faces": removed}
