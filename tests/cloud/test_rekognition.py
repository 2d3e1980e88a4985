"""The Rekognition backend through the real app, with a real boto3 client whose calls are answered by
botocore's Stubber (which validates every request and response against the real Rekognition API model).
Fake static credentials and a region; no network."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import cv2
import numpy as np
import pytest
from botocore.stub import ANY, Stubber
from fastapi.testclient import TestClient

from edgewatch.cloud.app import create_app
from edgewatch.cloud.backends.rekognition import RekognitionBackend, external_image_id
from edgewatch.cloud.images import load_image
from edgewatch.config import CloudSettings

COLLECTION = "edgewatch-test"


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.client = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="AKIDFAKEFAKEFAKE",
                                   aws_secret_access_key="fake-secret", aws_session_token="fake-session")
        self.stub = Stubber(self.client)
        self.sleeps: list[float] = []
        self.backend = RekognitionBackend(COLLECTION, 90.0, client=self.client, sleep=self.sleeps.append)
        self.settings = CloudSettings(token="test-token-123", backend="rekognition", collection_id=COLLECTION,
                                      face_match_threshold=90.0, db_path=tmp_path / "unused.db")

    def collection_exists(self) -> None:
        self.stub.add_response("describe_collection", {"FaceCount": 0, "FaceModelVersion": "7.0"},
                               {"CollectionId": COLLECTION})

    def detect(self, image: Any, *boxes: dict[str, float]) -> None:
        self.stub.add_response(
            "detect_faces",
            {"FaceDetails": [{"BoundingBox": box, "Confidence": 99.5} for box in boxes]},
            {"Image": {"Bytes": image}, "Attributes": ["DEFAULT"]},
        )

    def search(self, image: Any, match: str | None, similarity: float = 98.5) -> None:
        matches = []
        if match:
            matches = [{"Similarity": similarity, "Face": {"FaceId": str(uuid.uuid4()), "ExternalImageId": match,
                                                           "Confidence": 99.9, "ImageId": str(uuid.uuid4())}}]
        self.stub.add_response(
            "search_faces_by_image",
            {"SearchedFaceConfidence": 99.0, "FaceMatches": matches, "FaceModelVersion": "7.0"},
            {"CollectionId": COLLECTION, "Image": {"Bytes": image}, "MaxFaces": 1, "FaceMatchThreshold": 90.0},
        )

    def faces(self, *pairs: tuple[str, str], token: str | None = None, next_token: str | None = None) -> None:
        response: dict[str, Any] = {"Faces": [{"FaceId": face_id, "ExternalImageId": name, "ImageId": str(uuid.uuid4()),
                                               "Confidence": 99.0} for face_id, name in pairs],
                                    "FaceModelVersion": "7.0"}
        if next_token:
            response["NextToken"] = next_token
        params: dict[str, Any] = {"CollectionId": COLLECTION, "MaxResults": 4096}
        if token:
            params["NextToken"] = token
        self.stub.add_response("list_faces", response, params)

    def index(self, image: Any, name: str, face_id: str | None) -> None:
        records = [{"Face": {"FaceId": face_id, "ExternalImageId": name, "ImageId": str(uuid.uuid4()),
                             "Confidence": 99.0}}] if face_id else []
        unindexed = [] if face_id else [{"Reasons": ["LOW_CONFIDENCE", "SMALL_BOUNDING_BOX"]}]
        self.stub.add_response(
            "index_faces", {"FaceRecords": records, "UnindexedFaces": unindexed, "FaceModelVersion": "7.0"},
            {"CollectionId": COLLECTION, "Image": {"Bytes": image}, "ExternalImageId": name,
             "DetectionAttributes": ["DEFAULT"], "MaxFaces": 1, "QualityFilter": "AUTO"},
        )

    def app_client(self) -> TestClient:
        return TestClient(create_app(self.settings, backend=self.backend))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    rig.stub.activate()
    yield rig
    rig.stub.deactivate()


def post_identify(client: TestClient, data: bytes, auth: dict[str, str]) -> Any:
    return client.post("/v1/identify", files={"image": ("crop.jpg", data, "image/jpeg")}, headers=auth,
                       data={"trace_id": "trace-aws-1"})


FACE = {"Width": 0.33, "Height": 0.35, "Left": 0.36, "Top": 0.2}
SMALL_FACE = {"Width": 0.1, "Height": 0.12, "Left": 0.05, "Top": 0.6}


def test_start_creates_a_missing_collection(rig: Rig) -> None:
    rig.stub.add_client_error("describe_collection", "ResourceNotFoundException", "not found", 400,
                              expected_params={"CollectionId": COLLECTION})
    rig.stub.add_response("create_collection", {"StatusCode": 200, "CollectionArn": "aws:rekognition:x",
                                                "FaceModelVersion": "7.0"}, {"CollectionId": COLLECTION})
    with rig.app_client() as client:
        assert client.get("/readyz").json()["backend"] == "rekognition"
    rig.stub.assert_no_pending_responses()


def test_enrolment_encodes_the_name(rig: Rig, auth: dict[str, str], grace_jpeg: bytes) -> None:
    face_id = str(uuid.uuid4())
    rig.collection_exists()
    rig.faces((str(uuid.uuid4()), "someone_else"))  # existence check: no face of Grace_Hopper yet
    rig.index(grace_jpeg, "Grace_Hopper", face_id)
    with rig.app_client() as client:
        response = client.post("/v1/persons", data={"name": "Grace Hopper"}, headers=auth,
                               files=[("photos", ("grace.jpg", grace_jpeg, "image/jpeg"))])
    assert response.status_code == 201
    assert response.json() == {"name": "Grace Hopper", "faces": 1, "added": 1, "created": True}
    rig.stub.assert_no_pending_responses()
    assert external_image_id("Ana María:1") == "Ana_Mar:ed:a:3a:1"


def test_enrolment_photo_without_face_is_422_and_rolled_back(rig: Rig, auth: dict[str, str], grace_jpeg: bytes,
                                                             blank_jpeg: bytes) -> None:
    first = str(uuid.uuid4())
    rig.collection_exists()
    rig.faces()
    rig.index(grace_jpeg, "grace", first)
    rig.index(blank_jpeg, "grace", None)
    rig.stub.add_response("delete_faces", {"DeletedFaces": [first]}, {"CollectionId": COLLECTION, "FaceIds": [first]})
    with rig.app_client() as client:
        response = client.post("/v1/persons", data={"name": "grace"}, headers=auth,
                               files=[("photos", ("good.jpg", grace_jpeg, "image/jpeg")),
                                      ("photos", ("wall.jpg", blank_jpeg, "image/jpeg"))])
    assert response.status_code == 422
    assert response.json()["error"] == "no_face_in_photo"
    assert "wall.jpg" in response.json()["detail"] and "SMALL_BOUNDING_BOX" in response.json()["detail"]
    rig.stub.assert_no_pending_responses()


def test_a_match_is_known(rig: Rig, auth: dict[str, str], grace_jpeg: bytes) -> None:
    rig.collection_exists()
    rig.detect(grace_jpeg, FACE)
    rig.search(grace_jpeg, "grace", 98.5)  # one face: the image itself is searched
    with rig.app_client() as client:
        answer = post_identify(client, grace_jpeg, auth).json()
    assert answer["verdict"] == "known" and answer["backend"] == "rekognition" and answer["threshold"] == 0.9
    (face,) = answer["faces"]
    assert face["match"] == {"name": "grace", "similarity": 0.985} and face["confidence"] == 0.995
    assert face["box"] == pytest.approx([184.3, 120.0, 353.3, 330.0], abs=0.2)  # ratios -> pixels (512x600)
    rig.stub.assert_no_pending_responses()


def test_no_match_is_intruder(rig: Rig, auth: dict[str, str], grace_jpeg: bytes) -> None:
    rig.collection_exists()
    rig.detect(grace_jpeg, FACE)
    rig.search(grace_jpeg, None)
    with rig.app_client() as client:
        answer = post_identify(client, grace_jpeg, auth).json()
    assert answer["verdict"] == "intruder" and answer["faces"][0]["match"] is None
    rig.stub.assert_no_pending_responses()


def test_no_face(rig: Rig, auth: dict[str, str], blank_jpeg: bytes) -> None:
    rig.collection_exists()
    rig.detect(blank_jpeg)  # no FaceDetails
    rig.stub.add_client_error("detect_faces", "InvalidParameterException", "There are no faces in the image",
                              400, expected_params={"Image": {"Bytes": blank_jpeg}, "Attributes": ["DEFAULT"]})
    with rig.app_client() as client:
        assert post_identify(client, blank_jpeg, auth).json()["verdict"] == "no_face"
        assert post_identify(client, blank_jpeg, auth).json()["verdict"] == "no_face"
    rig.stub.assert_no_pending_responses()


def test_several_faces_are_searched_one_crop_each(rig: Rig, auth: dict[str, str], grace_jpeg: bytes) -> None:
    rig.collection_exists()
    rig.detect(grace_jpeg, SMALL_FACE, FACE)  # returned smallest first; searched largest first
    rig.search(ANY, "grace")
    rig.search(ANY, None)
    rig.detect(grace_jpeg, SMALL_FACE, FACE)
    rig.search(ANY, "grace")
    rig.search(ANY, "bob", 95.0)
    with rig.app_client() as client:
        mixed = post_identify(client, grace_jpeg, auth).json()
        both = post_identify(client, grace_jpeg, auth).json()
    assert mixed["verdict"] == "intruder"  # fail secure: one unknown face among known ones
    assert [f["match"] and f["match"]["name"] for f in mixed["faces"]] == ["grace", None]
    assert mixed["faces"][0]["box"][2] - mixed["faces"][0]["box"][0] > 150  # the large face first
    assert both["verdict"] == "known"
    assert [f["match"]["name"] for f in both["faces"]] == ["grace", "bob"]
    rig.stub.assert_no_pending_responses()


def test_crops_are_real_jpegs_of_each_face(rig: Rig, grace_jpeg: bytes) -> None:
    from edgewatch.cloud.images import load_image

    sent: list[bytes] = []
    rig.collection_exists()
    rig.detect(grace_jpeg, SMALL_FACE, FACE)
    rig.search(ANY, None)
    rig.search(ANY, None)
    rig.client.meta.events.register(
        "before-parameter-build.rekognition.SearchFacesByImage",
        lambda params, **_: sent.append(params["Image"]["Bytes"]),
    )
    rig.backend.identify(load_image(grace_jpeg, "g.jpg"))
    assert len(sent) == 2 and all(s.startswith(b"\xff\xd8\xff") for s in sent)
    sizes = [load_image(s).pixels.shape[:2] for s in sent]
    assert min(min(size) for size in sizes) >= 160  # small crops scaled up for Rekognition's 80 px minimum


def test_throttling_is_answered_at_once_for_the_edge_to_retry(rig: Rig, auth: dict[str, str],
                                                               grace_jpeg: bytes) -> None:
    """One layer retries (the edge's client, honouring Retry-After): the cloud calls Rekognition once."""
    rig.collection_exists()
    rig.stub.add_client_error("detect_faces", "ThrottlingException", "Rate exceeded", 400)
    with rig.app_client() as client:
        response = post_identify(client, grace_jpeg, auth)
    assert response.status_code == 503
    assert response.json()["error"] == "backend_throttled" and "ThrottlingException" in response.json()["detail"]
    assert int(response.headers["retry-after"]) >= 1
    assert rig.sleeps == []  # no backoff inside the cloud
    rig.stub.assert_no_pending_responses()


def test_throttling_retries_inside_the_backend_only_when_asked(tmp_path: Path, grace_jpeg: bytes) -> None:
    rig = Rig(tmp_path)
    rig.backend = RekognitionBackend(COLLECTION, 90.0, client=rig.client, sleep=rig.sleeps.append, attempts=3)
    rig.stub.activate()
    rig.collection_exists()
    rig.stub.add_client_error("detect_faces", "ThrottlingException", "Rate exceeded", 400)
    rig.stub.add_client_error("detect_faces", "ProvisionedThroughputExceededException", "slow down", 400)
    rig.detect(grace_jpeg, FACE)
    rig.search(grace_jpeg, "grace")
    faces = rig.backend.identify(load_image(grace_jpeg, "g.jpg"))
    assert faces[0].match is not None and faces[0].match.name == "grace"
    assert len(rig.sleeps) == 2 and rig.sleeps[1] > rig.sleeps[0] * 0.9  # exponential (with jitter)
    rig.stub.assert_no_pending_responses()
    rig.stub.deactivate()


def _sent_images(rig: Rig, operation: str) -> list[bytes]:
    sent: list[bytes] = []
    rig.client.meta.events.register(f"before-parameter-build.rekognition.{operation}",
                                    lambda params, **_: sent.append(params["Image"]["Bytes"]))
    return sent


def test_small_crop_is_scaled_up_before_rekognition(rig: Rig, grace_jpeg: bytes) -> None:
    """A 72x210 person crop (a camera at --max-width 512) is sent at >= 80 px a side, never refused as
    "no face"; the face's box is reported in the crop's own pixels."""
    pixels = cv2.resize(load_image(grace_jpeg).pixels, (72, 210), interpolation=cv2.INTER_AREA)
    crop = load_image(cv2.imencode(".jpg", pixels)[1].tobytes(), "crop.jpg")
    sent = _sent_images(rig, "DetectFaces")
    searched = _sent_images(rig, "SearchFacesByImage")
    rig.collection_exists()
    rig.detect(ANY, FACE)
    rig.search(ANY, "grace")
    faces = rig.backend.identify(crop)
    rig.stub.assert_no_pending_responses()
    assert len(sent) == 1 and sent[0] == searched[0]
    height, width = load_image(sent[0]).pixels.shape[:2]
    assert min(height, width) >= 80 and abs(width / height - 72 / 210) < 0.02
    assert faces[0].match is not None and faces[0].match.name == "grace"
    x1, _, x2, _ = faces[0].box
    assert x2 <= 72 and round(x1, 1) == round(0.36 * 72, 1)


def test_large_photo_is_scaled_down_before_rekognition(rig: Rig) -> None:
    """A photo over Rekognition's 5 MB (a phone photo; the cloud may be configured to accept it) is
    enrolled from a scaled-down JPEG under 5 MB instead of failing with ImageTooLargeException."""
    rng = np.random.default_rng(5)
    noisy = rng.integers(0, 255, (1800, 1500, 3), dtype=np.uint8)  # noise: a PNG of ~8 MB
    data = cv2.imencode(".png", noisy)[1].tobytes()
    assert len(data) > 5 * 1024 * 1024
    photo = load_image(data, "phone.png", max_bytes=len(data))
    sent = _sent_images(rig, "IndexFaces")
    rig.collection_exists()
    rig.faces()
    rig.index(ANY, "big", str(uuid.uuid4()))
    rig.backend.add_person("big", [photo])
    rig.stub.assert_no_pending_responses()
    assert len(sent) == 1 and len(sent[0]) <= 5 * 1024 * 1024
    assert sent[0].startswith(b"\xff\xd8\xff") and max(load_image(sent[0]).pixels.shape[:2]) <= 1920


def test_zoe_and_zoe_are_two_persons(rig: Rig, grace_jpeg: bytes) -> None:
    """ "Zoë Adams" and "Zoé Adams" once both became Zo__Adams: enrolling one merged them and removing
    one removed both. Now each has its own id; enrolling Zoë beside Zoé creates her, removal is apart."""
    acute, diaeresis = external_image_id("Zoé Adams"), external_image_id("Zoë Adams")
    assert acute != diaeresis
    existing, new = str(uuid.uuid4()), str(uuid.uuid4())
    rig.collection_exists()
    rig.faces((existing, acute))  # Zoé is enrolled, Zoë is not
    rig.index(grace_jpeg, diaeresis, new)
    enrolment = rig.backend.add_person("Zoë Adams", [load_image(grace_jpeg, "zoe.jpg")])
    assert enrolment.created and enrolment.name == "Zoë Adams" and enrolment.faces == 1
    rig.faces((existing, acute), (new, diaeresis))
    assert {(p.name, p.faces) for p in rig.backend.list_persons()} == {("Zoé Adams", 1), ("Zoë Adams", 1)}
    rig.faces((existing, acute), (new, diaeresis))
    rig.stub.add_response("delete_faces", {"DeletedFaces": [new]}, {"CollectionId": COLLECTION, "FaceIds": [new]})
    assert rig.backend.remove_person("Zoë Adams") == 1  # the stub checks that only Zoë's face is deleted
    rig.stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["AccessDeniedException", "ExpiredTokenException", "UnrecognizedClientException"])
def test_credential_problems_are_503_naming_them(rig: Rig, auth: dict[str, str], grace_jpeg: bytes,
                                                 code: str) -> None:
    rig.collection_exists()
    rig.stub.add_client_error("detect_faces", code, "not authorized to perform rekognition:DetectFaces", 400)
    with rig.app_client() as client:
        response = post_identify(client, grace_jpeg, auth)
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "backend_credentials" and "credentials" in body["detail"] and code in body["detail"]
    assert response.headers["retry-after"] == "60"
    rig.stub.assert_no_pending_responses()


def test_access_denied_at_start_keeps_serving_not_ready(rig: Rig, auth: dict[str, str], grace_jpeg: bytes) -> None:
    rig.stub.add_client_error("describe_collection", "AccessDeniedException", "no rekognition:DescribeCollection", 400)
    rig.stub.add_client_error("describe_collection", "AccessDeniedException", "no rekognition:DescribeCollection", 400)
    with rig.app_client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "credentials" in ready.json()["detail"]
        response = post_identify(client, grace_jpeg, auth)  # retries the start: still refused
        assert response.status_code == 503 and response.json()["error"] == "backend_credentials"
    rig.stub.assert_no_pending_responses()


def test_list_paginates_and_remove_deletes(rig: Rig, auth: dict[str, str]) -> None:
    a1, a2, b1 = (str(uuid.uuid4()) for _ in range(3))
    rig.collection_exists()
    rig.faces((a1, "alice"), next_token="page-2")
    rig.faces((a2, "alice"), (b1, "bob"), token="page-2")
    rig.faces((a1, "alice"), (a2, "alice"), (b1, "bob"))
    rig.stub.add_response("delete_faces", {"DeletedFaces": [a1, a2]}, {"CollectionId": COLLECTION, "FaceIds": [a1, a2]})
    rig.faces((b1, "bob"))
    with rig.app_client() as client:
        listed = client.get("/v1/persons", headers=auth).json()
        assert listed == {"persons": [{"name": "alice", "faces": 2}, {"name": "bob", "faces": 1}]}
        assert client.delete("/v1/persons/alice", headers=auth).json() == {"name": "alice", "removed_faces": 2}
        missing = client.get("/v1/persons/alice", headers=auth)
        assert missing.status_code == 404 and missing.json()["error"] == "person_not_found"
    rig.stub.assert_no_pending_responses()


def test_enrolling_an_existing_name_is_409_and_adding_faces_works(rig: Rig, auth: dict[str, str],
                                                                 grace_jpeg: bytes) -> None:
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    rig.collection_exists()
    rig.faces((old, "grace"))
    rig.faces((old, "grace"))
    rig.index(grace_jpeg, "grace", new)
    with rig.app_client() as client:
        files = [("photos", ("g.jpg", grace_jpeg, "image/jpeg"))]
        conflict = client.post("/v1/persons", data={"name": "grace"}, files=files, headers=auth)
        assert conflict.status_code == 409
        added = client.post("/v1/persons/grace/faces", files=files, headers=auth)
        assert added.json() == {"name": "grace", "faces": 2, "added": 1, "created": False}
    rig.stub.assert_no_pending_responses()


def test_client_is_rebuilt_after_a_credentials_error(tmp_path: Path, grace_jpeg: bytes) -> None:
    """Learner Lab credentials expire; after a refusal the next call builds a new client (re-reading the
    credentials file) instead of failing forever with the old one."""
    from edgewatch.cloud.errors import BackendUnavailable
    from edgewatch.cloud.images import load_image

    built: list[Rig] = []

    def factory() -> Any:
        rig = Rig(tmp_path)
        rig.stub.activate()
        if not built:
            rig.collection_exists()
            rig.stub.add_client_error("detect_faces", "ExpiredTokenException", "The security token has expired", 400)
        else:
            rig.detect(grace_jpeg, FACE)
            rig.search(grace_jpeg, "grace")
        built.append(rig)
        return rig.client

    backend = RekognitionBackend(COLLECTION, 90.0, client_factory=factory, sleep=lambda _: None)
    image = load_image(grace_jpeg, "g.jpg")
    with pytest.raises(BackendUnavailable, match="ExpiredTokenException"):
        backend.identify(image)
    (face,) = backend.identify(image)
    assert face.match is not None and face.match.name == "grace" and len(built) == 2
    for rig in built:
        rig.stub.assert_no_pending_responses()
