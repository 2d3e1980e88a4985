"""Every route and every error of the cloud's API, through the real app (TestClient: real ASGI, real
multipart parsing) on the real local backend (YuNet + SFace, SQLite in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings
from edgewatch.protocol import IdentifyResult, Verdict, decode

SECURED = [
    ("POST", "/v1/identify"),
    ("GET", "/v1/persons"),
    ("POST", "/v1/persons"),
    ("GET", "/v1/persons/alice"),
    ("DELETE", "/v1/persons/alice"),
    ("POST", "/v1/persons/alice/faces"),
    ("GET", "/metrics"),
]


def identify(client: TestClient, data: bytes, auth: dict[str, str], name: str = "crop.jpg",
             media_type: str = "image/jpeg", **form: str):
    return client.post("/v1/identify", files={"image": (name, data, media_type)}, data=form, headers=auth)


def enrol(client: TestClient, name: str, photos: list[tuple[str, bytes]], auth: dict[str, str]):
    files = [("photos", (filename, data, "image/jpeg")) for filename, data in photos]
    return client.post("/v1/persons", data={"name": name}, files=files, headers=auth)


# ---- health, docs, auth -------------------------------------------------------------------------------


def test_health_and_docs_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["backend"] == "local" and ready.json()["auth"] == "token"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/identify", "/v1/persons", "/v1/persons/{name}", "/v1/persons/{name}/faces"} <= set(paths)


@pytest.mark.parametrize(("method", "path"), SECURED)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dGVzdA==", "Bearer "])
def test_every_api_route_needs_the_token(client: TestClient, method: str, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_without_configured_token_routes_are_open(tmp_path: Path, grace_jpeg: bytes) -> None:
    settings = CloudSettings(db_path=tmp_path / "faces.db")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["auth"] == "disabled"
        assert client.get("/v1/persons").json() == {"persons": []}
        assert identify(client, grace_jpeg, {}).json()["verdict"] == "intruder"


# ---- identify -----------------------------------------------------------------------------------------


def test_identify_intruder_then_known_after_enrolment(client: TestClient, auth: dict[str, str],
                                                      grace_jpeg: bytes) -> None:
    before = identify(client, grace_jpeg, auth, site_id="site1", camera_id="cam1", trace_id="trace-0001")
    assert before.status_code == 200
    result = decode(IdentifyResult, before.json())  # the exact model the edge decodes
    assert result.verdict is Verdict.INTRUDER and result.trace_id == "trace-0001"
    assert result.backend == "local" and result.threshold == pytest.approx(0.363)
    (face,) = result.faces
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < x2 < 380 and 90 < y1 < y2 < 360 and face.confidence > 0.8 and face.match is None

    assert enrol(client, "grace-hopper", [("grace.jpg", grace_jpeg)], auth).status_code == 201
    after = decode(IdentifyResult, identify(client, grace_jpeg, auth).json())
    assert after.verdict is Verdict.KNOWN
    assert after.faces[0].match is not None and after.faces[0].match.name == "grace-hopper"
    assert after.faces[0].match.similarity > 0.99


def test_identify_known_and_other_person_is_intruder(client: TestClient, auth: dict[str, str],
                                                     grace_jpeg: bytes, astronaut_jpeg: bytes) -> None:
    assert enrol(client, "eileen-collins", [("astronaut.jpg", astronaut_jpeg)], auth).status_code == 201
    known = identify(client, astronaut_jpeg, auth).json()
    assert known["verdict"] == "known" and known["faces"][0]["match"]["name"] == "eileen-collins"
    other = identify(client, grace_jpeg, auth).json()
    assert other["verdict"] == "intruder"
    assert other["faces"][0]["match"] is None and other["faces"][0]["similarity"] < 0.363


def test_two_faces_one_unknown_is_intruder(client: TestClient, auth: dict[str, str], grace_jpeg: bytes,
                                           astronaut_jpeg: bytes) -> None:
    """Fail secure: a known face next to an unknown one does not make the image 'known'."""
    enrol(client, "eileen-collins", [("astronaut.jpg", astronaut_jpeg)], auth)
    both = np.hstack([cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR)[:512, :512]
                      for d in (astronaut_jpeg, grace_jpeg)])
    _, data = cv2.imencode(".png", both)
    answer = identify(client, data.tobytes(), auth, name="pair.png", media_type="image/png").json()
    assert answer["verdict"] == "intruder"
    assert sorted(str(f["match"] and f["match"]["name"]) for f in answer["faces"]) == ["None", "eileen-collins"]


def test_identify_no_face(client: TestClient, auth: dict[str, str], blank_jpeg: bytes) -> None:
    answer = identify(client, blank_jpeg, auth, trace_id="trace-blank")
    assert answer.status_code == 200
    assert answer.json()["verdict"] == "no_face" and answer.json()["faces"] == []


def test_identify_png_is_accepted(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    pixels = cv2.imdecode(np.frombuffer(grace_jpeg, np.uint8), cv2.IMREAD_COLOR)
    png = cv2.imencode(".png", pixels)[1].tobytes()
    assert identify(client, png, auth, name="g.png", media_type="image/png").json()["verdict"] == "intruder"


@pytest.mark.parametrize(
    ("data", "media_type", "status", "code"),
    [
        (b"", "image/jpeg", 422, "empty_image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "image/jpeg", 422, "undecodable_image"),
        (b"hello, this is not an image at all", "image/jpeg", 422, "undecodable_image"),
        (b"GIF89a" + b"\x00" * 100, "image/gif", 415, "unsupported_media_type"),
        (b"GIF89a" + b"\x00" * 100, "application/octet-stream", 415, "unsupported_media_type"),
        (b"some text", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_identify_bad_images(client: TestClient, auth: dict[str, str], data: bytes, media_type: str,
                             status: int, code: str) -> None:
    response = identify(client, data, auth, media_type=media_type)
    assert response.status_code == status
    assert response.json()["error"] == code and "crop.jpg" in response.json()["detail"]


def test_identify_truncated_jpeg_is_422(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    response = identify(client, grace_jpeg[:600], auth)
    assert response.status_code == 422 and response.json()["error"] == "undecodable_image"


@pytest.mark.parametrize(
    ("form", "field"),
    [({"trace_id": "short"}, "trace_id"), ({"camera_id": "cam 1!"}, "camera_id"), ({"site_id": "x" * 80}, "site_id")],
)
def test_identify_bad_fields_are_named(client: TestClient, auth: dict[str, str], grace_jpeg: bytes,
                                       form: dict[str, str], field: str) -> None:
    response = identify(client, grace_jpeg, auth, **form)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request" and field in response.json()["detail"]


def test_identify_wrong_field_name(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    response = client.post("/v1/identify", files={"file": ("a.jpg", grace_jpeg, "image/jpeg")}, headers=auth)
    assert response.status_code == 422 and "image" in response.json()["detail"]


def test_upload_limit_by_content_length_and_actual_size(tmp_path: Path, auth: dict[str, str]) -> None:
    settings = CloudSettings(token="test-token-123", db_path=tmp_path / "f.db", max_upload_bytes=100_000)
    big = b"\xff\xd8\xff\xe0" + b"\x00" * 200_000
    with TestClient(create_app(settings)) as client:
        # Declared Content-Length over the limit: refused before reading the body.
        response = identify(client, big, auth)
        assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
        # No Content-Length (chunked): refused while counting what actually arrives.
        body = b"".join([b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n",
                         b"Content-Type: image/jpeg\r\n\r\n", big, b"\r\n--b--\r\n"])
        chunks = iter([body[i:i + 16384] for i in range(0, len(body), 16384)])
        response = client.post("/v1/identify", content=chunks,
                               headers={**auth, "Content-Type": "multipart/form-data; boundary=b"})
        assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
        # One image just over the per-file limit but within the multipart allowance: 413 naming it.
        over = b"\xff\xd8\xff\xe0" + b"\x00" * 100_000
        response = identify(client, over, auth, name="over.jpg")
        assert response.status_code == 413 and "over.jpg" in response.json()["detail"]
        # Still serving afterwards.
        assert client.get("/healthz").status_code == 200


def test_unknown_route_is_typed_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/nothing", headers=auth)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


# ---- persons ------------------------------------------------------------------------------------------


def test_person_crud(client: TestClient, auth: dict[str, str], grace_jpeg: bytes, astronaut_jpeg: bytes) -> None:
    assert client.get("/v1/persons", headers=auth).json() == {"persons": []}
    created = enrol(client, "eileen-collins", [("a.jpg", astronaut_jpeg)], auth)
    assert created.status_code == 201
    assert created.json() == {"name": "eileen-collins", "faces": 1, "added": 1, "created": True}

    flipped = cv2.imencode(".jpg", cv2.flip(cv2.imdecode(np.frombuffer(astronaut_jpeg, np.uint8), 1), 1))[1]
    added = client.post("/v1/persons/eileen-collins/faces", headers=auth,
                        files=[("photos", ("flipped.jpg", flipped.tobytes(), "image/jpeg")),
                               ("photos", ("again.jpg", astronaut_jpeg, "image/jpeg"))])
    assert added.status_code == 200
    assert added.json() == {"name": "eileen-collins", "faces": 2, "added": 1, "created": False}  # duplicate skipped

    assert client.get("/v1/persons/eileen-collins", headers=auth).json() == {"name": "eileen-collins", "faces": 2}
    assert client.get("/v1/persons", headers=auth).json() == {"persons": [{"name": "eileen-collins", "faces": 2}]}

    conflict = enrol(client, "eileen-collins", [("g.jpg", grace_jpeg)], auth)
    assert conflict.status_code == 409 and conflict.json()["error"] == "person_exists"

    removed = client.delete("/v1/persons/eileen-collins", headers=auth)
    assert removed.json() == {"name": "eileen-collins", "removed_faces": 2}
    assert identify(client, astronaut_jpeg, auth).json()["verdict"] == "intruder"


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/persons/nobody"), ("DELETE", "/v1/persons/nobody")])
def test_unknown_person_is_404(client: TestClient, auth: dict[str, str], method: str, path: str) -> None:
    response = client.request(method, path, headers=auth)
    assert response.status_code == 404
    assert response.json() == {"error": "person_not_found", "detail": "no known person named 'nobody'"}


def test_adding_faces_to_unknown_person_is_404(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    response = client.post("/v1/persons/nobody/faces", files=[("photos", ("g.jpg", grace_jpeg, "image/jpeg"))],
                           headers=auth)
    assert response.status_code == 404 and response.json()["error"] == "person_not_found"


def test_photo_without_face_is_422_naming_file_and_stores_nothing(
    client: TestClient, auth: dict[str, str], grace_jpeg: bytes, blank_jpeg: bytes
) -> None:
    response = enrol(client, "grace", [("good.jpg", grace_jpeg), ("wall.jpg", blank_jpeg)], auth)
    assert response.status_code == 422
    assert response.json()["error"] == "no_face_in_photo" and "wall.jpg" in response.json()["detail"]
    assert client.get("/v1/persons", headers=auth).json() == {"persons": []}


@pytest.mark.parametrize(
    ("form", "files", "needle"),
    [
        ({"name": " leading-space"}, 1, "invalid person name"),
        ({"name": "a/b"}, 1, "invalid person name"),
        ({"name": "x" * 65}, 1, "invalid person name"),
        ({}, 1, "name"),
        ({"name": "alice"}, 0, "photos"),
        ({"name": "alice"}, 11, "at most 10"),
    ],
)
def test_bad_enrolment_requests(client: TestClient, auth: dict[str, str], grace_jpeg: bytes,
                                form: dict[str, str], files: int, needle: str) -> None:
    photos = [("photos", (f"p{i}.jpg", grace_jpeg, "image/jpeg")) for i in range(files)]
    response = client.post("/v1/persons", data=form, files=photos or None, headers=auth)
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]
    assert client.get("/v1/persons", headers=auth).json() == {"persons": []}


def test_corrupt_photo_in_enrolment_is_named(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    response = enrol(client, "grace", [("ok.jpg", grace_jpeg), ("broken.jpg", b"\xff\xd8\xff\x00junk")], auth)
    assert response.status_code == 422 and "broken.jpg" in response.json()["detail"]


def test_unicode_names_round_trip(client: TestClient, auth: dict[str, str], grace_jpeg: bytes) -> None:
    assert enrol(client, "Grace O'Hopper-Müller", [("g.jpg", grace_jpeg)], auth).status_code == 201
    assert client.get("/v1/persons/Grace O'Hopper-Müller", headers=auth).json()["faces"] == 1
    assert identify(client, grace_jpeg, auth).json()["faces"][0]["match"]["name"] == "Grace O'Hopper-Müller"


# ---- metrics, backend failure -------------------------------------------------------------------------


def test_metrics_count_identify_by_backend_and_verdict(client: TestClient, auth: dict[str, str],
                                                       grace_jpeg: bytes, blank_jpeg: bytes) -> None:
    identify(client, grace_jpeg, auth)
    identify(client, blank_jpeg, auth)
    identify(client, b"", auth)
    text = client.get("/metrics", headers=auth).text
    assert 'edgewatch_cloud_identify_seconds_count{backend="local",verdict="intruder"} 1.0' in text
    assert 'edgewatch_cloud_identify_seconds_count{backend="local",verdict="no_face"} 1.0' in text
    assert 'edgewatch_cloud_errors_total{code="empty_image"} 1.0' in text


def test_backend_that_cannot_start_answers_503_with_retry_after(tmp_path: Path, auth: dict[str, str],
                                                                grace_jpeg: bytes) -> None:
    """A real failure: the store file is not an SQLite database, so SQLite cannot use it. Never 'known'.
    (A folder as store path is refused earlier, when the settings are read.)"""
    (tmp_path / "faces.db").write_bytes(b"not an SQLite database, just some bytes " * 4)
    settings = CloudSettings(token="test-token-123", db_path=tmp_path / "faces.db")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"] == "not_ready"
        assert client.get("/healthz").status_code == 200
        response = identify(client, grace_jpeg, auth)
        assert response.status_code == 503
        assert response.json()["error"] == "backend_unavailable" and "not a database" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
        assert client.get("/v1/persons", headers=auth).status_code == 503
