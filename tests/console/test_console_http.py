"""The consoles' guards over real HTTP: sessions, CSRF, login throttling, upload limits (edge and cloud)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewatch.config import CloudSettings, EdgeSettings
from edgewatch.console.operators import OperatorsFile
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import MAX_FRAME_BYTES, AlarmEvent, AlarmReason, new_trace_id

from .conftest import ASSETS, OPERATOR, PASSWORD, csrf_of, login


@pytest.fixture
def edge(serve, operators_file: Path, tmp_path: Path) -> Iterator[tuple[EdgeNode, Any]]:
    node = EdgeNode(EdgeSettings(alarm_db=tmp_path / "alarms.db", operators_file=operators_file,
                                 verify_timeout=1.0), create_detector("nanodet"))
    yield node, serve(node.app)


@pytest.fixture
def client(edge) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge[1].url, timeout=60) as c:
        yield c


def store_alarm(node: EdgeNode) -> AlarmEvent:
    event = AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                       track_id=1, detail="face not recognised", snapshot_jpeg=(ASSETS / "grace_hopper.jpg").read_bytes())
    assert node.store is not None and node.store.add(event)
    return event


def handled(client: httpx.Client, event_id: str) -> bool:
    page = client.get("/console/alarms").text
    start = page.index(f'id="alarm-{event_id}"')
    return 'data-handled="yes"' in page[start:start + 300]


def test_requests_without_a_session_are_refused(edge, client: httpx.Client) -> None:
    node, _ = edge
    event = store_alarm(node)
    for page in ("/console/", "/console/alarms", "/console/send"):
        answer = client.get(page)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login"), page
    for api in ("/console/events", "/console/cameras/site1/cam1/frame.jpg", f"/console/alarms/{event.event_id}/snapshot.jpg"):
        assert client.get(api).status_code == 401, api
    assert client.post("/console/send", files={"image": ("x.jpg", b"\xff\xd8\xff", "image/jpeg")}).status_code == 401
    assert client.post(f"/console/alarms/{event.event_id}/handled", data={"note": "x"}).status_code == 401
    client.cookies.set("ew_edge_session", "forged-session-id", path="/console")
    assert client.get("/console/events").status_code == 401
    login(client)
    assert not handled(client, event.event_id), "nothing was recorded by the refused requests"


def test_login_sets_a_strict_http_only_cookie_and_wrong_passwords_get_one_generic_answer(edge, client) -> None:
    started = time.monotonic()
    wrong = login(client, password="not-the-password")
    assert time.monotonic() - started >= 0.9, "a failed login is answered late on purpose"
    unknown = login(client, name="mallory", password="not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    assert "ew_edge_session=" not in wrong.headers.get("set-cookie", "")
    answer = login(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ew_edge_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags, "Secure only over TLS (this test serves plain HTTP on loopback)"
    assert client.get("/console/").status_code == 200


def test_repeated_failures_lock_the_name_out(edge, client) -> None:
    node, _ = edge
    node.console.web.throttle.delay = 0.05  # keep the test short; the lockout rule is what is tested
    for _ in range(node.console.web.throttle.max_failures):
        assert login(client, password="guess").status_code == 401
    locked = login(client)  # even the right password, while locked out
    assert locked.status_code == 401 and "Too many failed logins" in locked.text
    node.console.web.throttle.lockout = 0.0
    node.console.web.throttle.window = 0.0
    assert login(client).status_code == 303


def test_guesses_sent_in_parallel_all_count_towards_the_lockout(edge, client) -> None:
    """Twenty wrong passwords at once from one address: at most max_failures are checked against the
    password, the rest are refused as locked, and then even the right password waits out the lockout."""
    from concurrent.futures import ThreadPoolExecutor

    node, server = edge
    node.console.web.throttle.delay = 0.05
    token = csrf_of(client.get("/console/login").text)
    cookies = dict(client.cookies)

    def guess(_: int) -> str:
        with httpx.Client(base_url=server.url, timeout=60, cookies=cookies) as own:
            return own.post("/console/login", data={"csrf": token, "name": OPERATOR, "password": "guess",
                                                     "next": "/console/"}).text

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(guess, range(20)))
    checked = sum("Wrong name or password" in a for a in answers)
    assert checked <= node.console.web.throttle.max_failures
    assert sum("Too many failed logins" in a for a in answers) == 20 - checked
    assert "Too many failed logins" in login(client).text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(edge, client) -> None:
    node, _ = edge
    event = store_alarm(node)
    # The login form's own token.
    assert client.post("/console/login", data={"name": OPERATOR, "password": PASSWORD}).status_code == 403
    login(client)
    url = f"/console/alarms/{event.event_id}/handled"
    assert client.post(url, data={"note": "no token"}).status_code == 403
    assert client.post(url, data={"note": "wrong token", "csrf": "x" * 43}).status_code == 403
    assert client.post("/console/logout").status_code == 403
    assert not handled(client, event.event_id)
    token = csrf_of(client.get("/console/alarms").text)
    assert client.post(url, data={"note": "checked the yard", "csrf": token}).status_code == 303
    assert handled(client, event.event_id)
    assert "checked the yard" in client.get("/console/alarms").text
    # Logging out ends the session for good.
    assert client.post("/console/logout", data={"csrf": token}).status_code == 303
    assert client.get("/console/").status_code == 303


def test_removing_an_operator_ends_their_session(edge, client, operators_file: Path) -> None:
    OperatorsFile(operators_file).add("bob", "bob-password-123")
    assert login(client, "bob", "bob-password-123").status_code == 303
    assert client.get("/console/").status_code == 200
    OperatorsFile(operators_file).remove("bob")
    assert client.get("/console/").status_code == 303


def test_bad_uploads_are_refused_in_one_line_and_never_reach_the_pipeline(edge, client) -> None:
    node, _ = edge
    login(client)
    token = csrf_of(client.get("/console/send").text)
    not_image = client.post("/console/send", data={"csrf": token},
                            files={"image": ("notes.jpg", b"\xff\xd8\xff this is no image", "image/jpeg")})
    assert not_image.status_code == 415 and "notes.jpg: not a readable image" in not_image.text
    assert "Traceback" not in not_image.text
    huge = client.post("/console/send", content=b"x" * (MAX_FRAME_BYTES + 200_000),
                       headers={"content-type": "multipart/form-data; boundary=b", "x-csrf-token": token})
    assert huge.status_code == 413
    registry = node.metrics.registry
    assert not registry.get_sample_value("edgewatch_edge_frames_received_total", {"camera": "console-upload"})


def test_without_an_operators_file_there_is_no_console(serve, tmp_path: Path) -> None:
    node = EdgeNode(EdgeSettings(alarm_db=tmp_path / "alarms.db"), create_detector("nanodet"))
    server = serve(node.app)
    assert httpx.get(f"{server.url}/console/login").status_code == 404


def test_cloud_console_needs_a_session_and_keeps_the_api_token(serve, operators_file: Path, tmp_path: Path) -> None:
    from edgewatch.cloud.app import create_app

    server = serve(create_app(CloudSettings(db_path=tmp_path / "faces.db", token="api-token",
                                            operators_file=operators_file)))
    with httpx.Client(base_url=server.url, timeout=60) as c:
        assert c.get("/console/").status_code == 303
        assert c.get("/console/photos/1.jpg").status_code == 401
        assert c.post("/console/persons", data={"name": "x"}).status_code == 401
        assert c.get("/v1/persons").status_code == 401, "the API still needs its bearer token"
        assert login(c).status_code == 303
        assert c.get("/v1/persons").status_code == 401, "a console session is no API credential"
        page = c.get("/console/")
        assert page.status_code == 200 and "Enrol a person" in page.text
        assert c.post("/console/persons", data={"name": "eve"}).status_code == 403
        assert c.post("/console/persons/eve/remove").status_code == 403


def test_snapshot_of_a_stored_alarm_is_served(edge, client) -> None:
    node, _ = edge
    event = store_alarm(node)
    login(client)
    answer = client.get(f"/console/alarms/{event.event_id}/snapshot.jpg")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content == event.snapshot_jpeg
    assert client.get("/console/alarms/unknown-id/snapshot.jpg").status_code == 404


def test_an_alarm_with_an_annotated_frame_shows_the_frame(edge, client) -> None:
    node, _ = edge
    frame = (ASSETS / "astronaut.jpg").read_bytes()  # stands for the frame with the box and zone drawn
    event = AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.UNVERIFIED,
                       track_id=2, zone="door", snapshot_jpeg=(ASSETS / "grace_hopper.jpg").read_bytes(),
                       frame_jpeg=frame)
    assert node.store is not None and node.store.add(event)
    login(client)
    assert client.get(f"/console/alarms/{event.event_id}/snapshot.jpg").content == frame


def test_live_streams_are_released_when_browsers_leave(edge, client) -> None:
    from edgewatch.edge.console.app import MAX_STREAMS

    node, _ = edge
    login(client)
    for _ in range(MAX_STREAMS + 8):
        with client.stream("GET", "/console/events") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert next(answer.iter_lines()) == "retry: 1000"
    deadline = time.monotonic() + 30
    while node.console._streams:
        assert time.monotonic() < deadline, f"{node.console._streams} streams still counted"
        time.sleep(0.05)


def test_notes_are_escaped_and_unknown_alarms_are_404(edge, client) -> None:
    node, _ = edge
    event = store_alarm(node)
    login(client)
    token = csrf_of(client.get("/console/alarms").text)
    note = '<script>alert("x")</script>'
    assert client.post(f"/console/alarms/{event.event_id}/handled", data={"note": note, "csrf": token}).status_code == 303
    page = client.get("/console/alarms").text
    assert note not in page and "&lt;script&gt;" in page
    assert client.post("/console/alarms/no-such-alarm/handled", data={"note": "x", "csrf": token}).status_code == 404
    assert "default-src 'self'" in client.get("/console/alarms").headers["content-security-policy"]


def test_cloud_enrolment_answers_for_each_photo(serve, operators_file: Path, tmp_path: Path) -> None:
    """One photo with a face, one without, one that is no image: each gets its own answer, the good one
    is enrolled with a thumbnail, and "try an image" then knows her."""
    import io
    import re

    from PIL import Image

    from edgewatch.cloud.app import create_app

    blank = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank, format="JPEG")
    server = serve(create_app(CloudSettings(db_path=tmp_path / "faces.db", token="api-token",
                                            operators_file=operators_file)))
    with httpx.Client(base_url=server.url, timeout=120) as c:
        login(c)
        token = csrf_of(c.get("/console/").text)
        answer = c.post("/console/persons", data={"csrf": token, "name": "grace-hopper"}, files=[
            ("photos", ("grace.jpg", (ASSETS / "grace_hopper.jpg").read_bytes(), "image/jpeg")),
            ("photos", ("wall.jpg", blank.getvalue(), "image/jpeg")),
            ("photos", ("notes.txt", b"hello", "text/plain")),
        ])
        assert answer.status_code == 200
        outcomes = {name: usable for usable, name in re.findall(r'data-usable="(yes|no)"><td>([^<]+)</td>', answer.text)}
        assert outcomes == {"grace.jpg": "yes", "wall.jpg": "no", "notes.txt": "no"}
        assert "no usable face found" in answer.text
        photos = re.findall(r'/console/photos/(\d+)\.jpg', c.get("/console/").text)
        assert len(photos) == 1
        thumb = c.get(f"/console/photos/{photos[0]}.jpg")
        assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
        with Image.open(io.BytesIO(thumb.content)) as image:
            assert max(image.size) <= 240
        tried = c.post("/console/try", data={"csrf": token},
                       files={"image": ("g.jpg", (ASSETS / "grace_hopper.jpg").read_bytes(), "image/jpeg")})
        assert 'data-verdict="known"' in tried.text and "grace-hopper" in tried.text
        # Only faces with a photo: a person with no usable photo at all is not created.
        none = c.post("/console/persons", data={"csrf": token, "name": "nobody"},
                      files=[("photos", ("wall.jpg", blank.getvalue(), "image/jpeg"))])
        assert none.status_code == 422 and 'data-name="nobody"' not in none.text
