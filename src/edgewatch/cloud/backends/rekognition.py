"""The AWS backend: Amazon Rekognition face collections through boto3.

Credentials come from boto3's standard chain: environment variables, the shared credentials file
(``AWS_SHARED_CREDENTIALS_FILE``, e.g. an AWS Academy Learner Lab ``credentials`` file with a session
token), or an instance role. On start the collection is created when missing.

- Enrolment: ``index_faces`` (largest face of each photo, ``QualityFilter=AUTO``) with ``ExternalImageId`` =
  the person name encoded one-to-one into Rekognition's pattern ``[a-zA-Z0-9_.\\-:]+`` (see
  :func:`external_image_id`: ``Grace Hopper`` is ``Grace_Hopper``, ``Zoë Adams`` is ``Zo:eb:_Adams`` and
  ``Zoé Adams`` is ``Zo:e9:_Adams``), decoded back for every answer; a name whose encoding exceeds
  Rekognition's 255 characters is refused.
- Image size: an image with a side under 80 px (a small person crop) is scaled up before it is sent, and
  one over 5 MB scaled down (:mod:`edgewatch.cloud.sizing`): Rekognition would refuse both, the small one
  with the same answer as "no face".
- Identification: ``search_faces_by_image`` searches only the LARGEST face of an image, so the image is
  first passed to ``detect_faces``; with one face the image itself is searched, with several each face is
  cropped (with a margin) and searched on its own. A face that cannot be searched counts as unmatched.
- Errors: "no face" ``InvalidParameterException`` means no face; throttling and transient AWS errors are
  answered at once with 503 and ``Retry-After`` (:data:`THROTTLE_RETRY_AFTER` s), NOT retried here: the
  edge's cloud client is the one layer that retries, waiting at least ``Retry-After`` within its own time
  budget (retrying in both layers made 9 Rekognition calls of one edge request, 3 of them within 0.3 s).
  ``attempts`` > 1 turns retries here back on, for callers without a retrying client. Refused or expired
  credentials become a 503 naming the problem (and the client is rebuilt on the next call, so a
  refreshed credentials file is picked up).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from edgewatch.cloud.backends.base import Enrolment, PersonInfo, check_name
from edgewatch.cloud.backends.rekognition_ids import MAX_EXTERNAL_ID, external_image_id, person_name
from edgewatch.cloud.backends.rekognition_images import _crop_jpeg, _payload, _pixel_box
from edgewatch.cloud.errors import (
    BackendError,
    BackendUnavailable,
    CloudError,
    NoFaceInPhoto,
    PayloadTooLarge,
    PersonExists,
    PersonNotFound,
    UndecodableImage,
)
from edgewatch.cloud.images import Image
from edgewatch.config import CloudSettings
from edgewatch.protocol import FaceMatch, FaceResult

__all__ = ["MAX_EXTERNAL_ID", "RekognitionBackend", "external_image_id", "person_name"]

THROTTLING = {
    "ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException",
    "TooManyRequestsException", "RequestLimitExceeded",
}
TRANSIENT = {"InternalServerError", "ServiceUnavailableException", "ServiceUnavailable"}
CREDENTIALS = {
    "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "ExpiredTokenException",
    "ExpiredToken", "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId",
    "MissingAuthenticationTokenException", "IncompleteSignature",
}
#: Seconds a throttled or transiently failing request should wait before it is sent again.
THROTTLE_RETRY_AFTER = 1
#: Most faces searched in one image (each costs one API call); faces beyond count as unmatched.
MAX_SEARCH_FACES = 8
def _default_client_factory(region: str | None) -> Callable[[], Any]:
    def make() -> Any:
        import boto3
        from botocore.config import Config

        # One attempt per call in botocore: retries of throttling are ours (backoff, then 503).
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=10)
        return boto3.client("rekognition", region_name=region, config=config)

    return make


class RekognitionBackend:
    name = "rekognition"

    def __init__(
        self,
        collection_id: str,
        face_match_threshold: float = 80.0,
        *,
        client: Any = None,
        client_factory: Callable[[], Any] | None = None,
        region: str | None = None,
        attempts: int = 1,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = 16,
    ) -> None:
        self.collection_id = collection_id
        self.face_match_threshold = face_match_threshold
        self.threshold = face_match_threshold / 100.0
        self.concurrency = concurrency
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep
        self._client = client
        self._factory = client_factory or (None if client is not None else _default_client_factory(region))
        self._lock = threading.Lock()
        self._started = False
        self._error: str | None = "not started"

    @classmethod
    def from_settings(cls, settings: CloudSettings, **kwargs: Any) -> RekognitionBackend:
        return cls(settings.collection_id, settings.face_match_threshold, region=settings.aws_region, **kwargs)

    # ---- calls with error mapping -------------------------------------------------------------------

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                assert self._factory is not None
                try:
                    self._client = self._factory()
                except Exception as exc:  # NoRegionError, bad profile ...
                    raise BackendUnavailable(
                        f"cannot create the Rekognition client: {type(exc).__name__}: {exc} "
                        "(set --aws-region / AWS_DEFAULT_REGION and AWS credentials)", retry_after=30,
                    ) from exc
            return self._client

    def _forget_client(self) -> None:
        """Rebuild the client on the next call (so refreshed credentials are read), if we built it."""
        if self._factory is not None:
            with self._lock:
                self._client = None

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )

        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return getattr(self.client, operation)(**params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", "Unknown"))
                message = str(error.get("Message", ""))
                if code in THROTTLING or code in TRANSIENT:
                    if attempt < self.attempts:
                        self._sleep(delay * (1 + random.random()))
                        delay *= 2
                        continue
                    raise BackendUnavailable(
                        f"Rekognition {operation}: {code} after {attempt} attempt(s): {message}",
                        retry_after=THROTTLE_RETRY_AFTER, code="backend_throttled" if code in THROTTLING else None,
                    ) from exc
                if code in CREDENTIALS:
                    self._forget_client()
                    raise BackendUnavailable(
                        f"AWS credentials problem: Rekognition {operation} refused with {code}: {message}. "
                        "Check the credentials (AWS_SHARED_CREDENTIALS_FILE, AWS_ACCESS_KEY_ID/"
                        "AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN; Learner Lab sessions expire) and the IAM "
                        "permissions for rekognition:*", retry_after=60, code="backend_credentials",
                    ) from exc
                if code == "ResourceNotFoundException" and operation != "describe_collection":
                    self._started = False
                    self._error = f"collection {self.collection_id!r} not found"
                    raise BackendUnavailable(
                        f"Rekognition collection {self.collection_id!r} is missing ({message}); "
                        "it is re-created on the next request", retry_after=1,
                    ) from exc
                raise _ClientFailure(code, message) from exc
            except (NoCredentialsError, PartialCredentialsError) as exc:
                self._forget_client()
                raise BackendUnavailable(
                    f"AWS credentials problem: {exc}. Provide credentials through the environment, "
                    "AWS_SHARED_CREDENTIALS_FILE or an instance role", retry_after=60, code="backend_credentials",
                ) from exc
            except (BotoConnectionError, HTTPClientError) as exc:
                if attempt < self.attempts:
                    self._sleep(delay * (1 + random.random()))
                    delay *= 2
                    continue
                raise BackendUnavailable(f"Rekognition unreachable: {exc}", retry_after=THROTTLE_RETRY_AFTER) from exc
            except BotoCoreError as exc:
                raise BackendError(f"Rekognition {operation}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        try:
            try:
                self._call("describe_collection", CollectionId=self.collection_id)
            except _ClientFailure as exc:
                if exc.code != "ResourceNotFoundException":
                    raise BackendError(f"describe_collection: {exc}") from exc
                try:
                    self._call("create_collection", CollectionId=self.collection_id)
                except _ClientFailure as created:
                    if created.code != "ResourceAlreadyExistsException":  # created meanwhile: fine
                        raise BackendError(f"create_collection: {created}") from created
        except CloudError as exc:
            self._error = exc.detail
            raise
        self._started, self._error = True, None

    def ready(self) -> str | None:
        return self._error

    def close(self) -> None:
        pass

    # ---- identification -----------------------------------------------------------------------------

    def identify(self, image: Image) -> list[FaceResult]:
        self.start()
        data = _payload(image)
        try:
            details = self._call("detect_faces", Image={"Bytes": data}, Attributes=["DEFAULT"])
        except _ClientFailure as exc:
            if exc.code == "InvalidParameterException":  # "There are no faces in the image" and kin
                return []
            raise self._image_error(exc, image) from exc
        faces = details.get("FaceDetails", [])
        faces.sort(key=lambda f: f["BoundingBox"].get("Width", 0) * f["BoundingBox"].get("Height", 0),
                   reverse=True)
        results = []
        for index, face in enumerate(faces):
            box = _pixel_box(face["BoundingBox"], image.width, image.height)
            confidence = round(float(face.get("Confidence", 0.0)) / 100.0, 4)
            match, similarity = None, None
            if index < MAX_SEARCH_FACES:
                match, similarity = self._search(data if len(faces) == 1 else _crop_jpeg(image, box), image)
            results.append(FaceResult(box=box, confidence=confidence, match=match, similarity=similarity))
        return results

    def _search(self, data: bytes, image: Image) -> tuple[FaceMatch | None, float | None]:
        try:
            answer = self._call(
                "search_faces_by_image", CollectionId=self.collection_id, Image={"Bytes": data},
                MaxFaces=1, FaceMatchThreshold=self.face_match_threshold,
            )
        except _ClientFailure as exc:
            if exc.code == "InvalidParameterException":  # the crop's face was not found again: unmatched
                return None, None
            raise self._image_error(exc, image) from exc
        matches = answer.get("FaceMatches", [])
        if not matches:
            return None, None
        best = max(matches, key=lambda m: m.get("Similarity", 0.0))
        similarity = round(float(best.get("Similarity", 0.0)) / 100.0, 4)
        external_id = best.get("Face", {}).get("ExternalImageId")
        if not external_id or similarity < self.threshold:
            return None, similarity
        return FaceMatch(name=person_name(external_id), similarity=similarity), similarity

    @staticmethod
    def _image_error(exc: _ClientFailure, image: Image) -> CloudError:
        if exc.code == "InvalidImageFormatException":
            return UndecodableImage(f"Rekognition cannot read {image.filename!r}: {exc.message}")
        if exc.code == "ImageTooLargeException":
            return PayloadTooLarge(f"{image.filename!r} is too large for Rekognition: {exc.message}")
        return BackendError(f"Rekognition: {exc}")

    # ---- known persons ------------------------------------------------------------------------------

    def _faces_of(self, external_id: str | None = None) -> Iterator[dict[str, Any]]:
        self.start()
        params: dict[str, Any] = {"CollectionId": self.collection_id, "MaxResults": 4096}
        while True:
            try:
                page = self._call("list_faces", **params)
            except _ClientFailure as exc:
                raise BackendError(f"list_faces: {exc}") from exc
            for face in page.get("Faces", []):
                if external_id is None or face.get("ExternalImageId") == external_id:
                    yield face
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    def add_person(self, name: str, photos: list[Image], *, create: bool = True,
                   exist_ok: bool = False) -> Enrolment:
        name = check_name(name)
        external_id = external_image_id(name)
        existing = sum(1 for _ in self._faces_of(external_id))
        if existing and not exist_ok:
            raise PersonExists(name)
        if not existing and not create:
            raise PersonNotFound(name)
        indexed: list[str] = []
        try:
            for photo in photos:
                try:
                    answer = self._call(
                        "index_faces", CollectionId=self.collection_id, Image={"Bytes": _payload(photo)},
                        ExternalImageId=external_id, DetectionAttributes=["DEFAULT"], MaxFaces=1,
                        QualityFilter="AUTO",
                    )
                except _ClientFailure as exc:
                    if exc.code == "InvalidParameterException":
                        raise NoFaceInPhoto(photo.filename) from exc
                    raise self._image_error(exc, photo) from exc
                records = answer.get("FaceRecords", [])
                if not records:
                    reasons = sorted({r for u in answer.get("UnindexedFaces", []) for r in u.get("Reasons", [])})
                    raise NoFaceInPhoto(photo.filename, f"Rekognition: {', '.join(reasons)}" if reasons else "")
                indexed.extend(r["Face"]["FaceId"] for r in records)
        except BaseException:
            if indexed:  # all or nothing: take back what this request indexed
                try:
                    self._call("delete_faces", CollectionId=self.collection_id, FaceIds=indexed)
                except Exception as cleanup:  # noqa: BLE001 - the original error is the one to report
                    _log_cleanup_failure(indexed, cleanup)
            raise
        return Enrolment(name=person_name(external_id), faces=existing + len(indexed), added=len(indexed),
                         created=not existing)

    def list_persons(self) -> list[PersonInfo]:
        counts: dict[str, int] = {}
        for face in self._faces_of():
            external_id = face.get("ExternalImageId")
            if external_id:
                name = person_name(external_id)
                counts[name] = counts.get(name, 0) + 1
        return [PersonInfo(name=name, faces=count) for name, count in sorted(counts.items())]

    def get_person(self, name: str) -> PersonInfo:
        external_id = external_image_id(name)
        count = sum(1 for _ in self._faces_of(external_id))
        if not count:
            raise PersonNotFound(name)
        return PersonInfo(name=person_name(external_id), faces=count)

    def remove_person(self, name: str) -> int:
        external_id = external_image_id(name)
        face_ids = [face["FaceId"] for face in self._faces_of(external_id)]
        if not face_ids:
            raise PersonNotFound(name)
        removed = 0
        for start in range(0, len(face_ids), 4096):
            try:
                answer = self._call("delete_faces", CollectionId=self.collection_id,
                                    FaceIds=face_ids[start : start + 4096])
            except _ClientFailure as exc:
                raise BackendError(f"delete_faces: {exc}") from exc
            removed += len(answer.get("DeletedFaces", []))
        return removed


def _log_cleanup_failure(face_ids: list[str], error: Exception) -> None:
    from edgewatch.telemetry import get_logger

    get_logger("edgewatch.cloud").error("enrolment_rollback_failed", face_ids=face_ids, error=str(error))


class _ClientFailure(Exception):
    """A Rekognition error answer that is neither throttling nor a credentials problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
