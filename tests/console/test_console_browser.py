"""The consoles in a real headless Chromium (Debian's `chromium`, driven by Playwright), against a real
topology on loopback: a cloud with the local face model (Eileen Collins enrolled as known), an edge with
the NanoDet detector, a real alarm node and, for the live tiles, a real camera node playing the demo scene.

Screenshots go to $EDGEWATCH_SCREENSHOTS (default: a folder in the system temp dir), quantised to keep
them small; `EDGEWATCH_SCREENSHOTS=docs/img python -m pytest tests/console` refreshes the ones the README
shows. A test run never rewrites tracked files by itself.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgewatch.cloud.app import create_app as create_cloud_app
from edgewatch.config import CloudSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode

from .conftest import ASSETS, OPERATOR, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = Path(os.environ.get("EDGEWATCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "edgewatch-screenshots")
TOKEN = "console-browser-test-token"

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (tools/test-deps/apt.txt)", allow_module_level=True)


def screenshot(page: Any, name: str) -> Path:
    """A PNG of the page, quantised to 128 colours (a few hundred KB become well under 200 KB)."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"console-{name}.png"
    with Image.open(io.BytesIO(page.screenshot())) as shot:
        shot.convert("RGB").quantize(colors=128).save(path, optimize=True)
    return path


class Server:
    """A real uvicorn server on 127.0.0.1 in a thread (module-scoped, unlike the suite's `serve`)."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", log_config=None, timeout_graceful_shutdown=3))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class Node:
    """An `edgewatch` sub-command as a child process, ended by its own PID."""

    def __init__(self, args: list[str]) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "edgewatch", *args], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=os.environ.copy())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Site:
    cloud: Server
    edge: Server
    node: EdgeNode
    run_dir: Path
    nodes: list[Node]

    def start(self, args: list[str]) -> Node:
        node = Node(args)
        self.nodes.append(node)
        return node


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, operators_file: Path) -> Iterator[Site]:
    run_dir = tmp_path_factory.mktemp("console-site")
    faces = run_dir / "faces.db"
    subprocess.run([sys.executable, "-m", "edgewatch", "persons", "--db", str(faces), "add", "eileen-collins",
                    str(ASSETS / "astronaut.jpg")], check=True, capture_output=True, timeout=180)
    cloud = Server(create_cloud_app(CloudSettings(db_path=faces, token=TOKEN, operators_file=operators_file)))
    settings = EdgeSettings(sites=["site1"], workers=1, alarm_db=run_dir / "alarms.db", cloud_url=cloud.url,
                            cloud_token=TOKEN, operators_file=operators_file, verify_interval=0.5,
                            alarm_resend_interval=1.0,
                            # A loaded CI machine may answer slowly: an identity must not time out into
                            # `unverified` where the test expects the cloud's verdict.
                            verify_timeout=30.0, cloud_timeout=20.0)
    node = EdgeNode(settings, create_detector("nanodet"))
    edge = Server(node.app)
    poll(lambda: node.status.ready, 60, "edge detector ready")
    topology = Site(cloud, edge, node, run_dir, [])
    topology.start(["alarm", "--edge-url", edge.url, "--site-id", "site1", "--node-id", "alarm1"])
    yield topology
    for child in reversed(topology.nodes):
        child.stop()
    edge.stop()
    cloud.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(120_000)  # generous: CI machines are shared
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page: Any, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/console/")
    assert "/console/login" in page.url, "no session: the console sends the browser to its login page"
    page.get_by_label("Operator name").fill(OPERATOR)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.timeout(480)
def test_login_and_a_wrong_password_refused(site: Site, page: Any) -> None:
    log_in(page, site.edge.url, password="wrong-password")
    page.wait_for_selector("#login-error")
    assert page.locator("#login-error").inner_text() == "Wrong name or password."
    assert "/console/login" in page.url
    assert not any(c["name"] == "ew_edge_session" for c in page.context.cookies())
    # Keyboard only: the name field has focus, Tab moves to the password, Enter submits.
    page.goto(f"{site.edge.url}/console/login")
    poll(lambda: page.evaluate("() => document.activeElement && document.activeElement.id") == "name", 30,
         "the name field has the focus")
    page.keyboard.type(OPERATOR)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/$"))
    assert page.get_by_role("heading", name="Cameras").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "ew_edge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


@pytest.mark.timeout(480)
def test_a_camera_tile_updates_while_the_demo_scene_plays(site: Site, page: Any) -> None:
    from edgewatch.sim.scene import default_script, write_scene

    scene = site.run_dir / "scene"
    write_scene(scene, default_script(0, 24.0), fps=2.0)
    log_in(page, site.edge.url)
    page.wait_for_url(re.compile(r".*/console/$"))
    camera = site.start(["camera", "--edge-url", site.edge.url, "--site-id", "site1", "--camera-id", "cam1",
                         "--source", str(scene), "--fps", "2", "--loop"])
    try:
        tile = page.locator("#tile-site1-cam1")
        tile.wait_for(timeout=120_000)  # created live by the stream: the page was never reloaded
        first = int(poll(lambda: tile.get_attribute("data-drawn"), 120, "first frame drawn"))
        seq = tile.get_attribute("data-seq")
        poll(lambda: int(tile.get_attribute("data-drawn") or 0) >= first + 3, 120, "three more frames drawn")
        assert tile.get_attribute("data-seq") != seq
        assert tile.locator('[data-field="state"]').inner_text() == "online"
        assert float(tile.locator('[data-field="fps"]').inner_text()) > 0
        assert int(tile.locator('[data-field="frames"]').inner_text()) >= 4
        # A person walks in: the tile shows a box with its track id, and the track appears in the table.
        poll(lambda: int(tile.locator('[data-field="persons"]').inner_text() or 0) >= 1, 120, "a person in the tile")
        poll(lambda: "eileen-collins" in page.locator("#tracks").inner_text(), 120,
             "the track listed live with its verification state (known)")
        canvas_size = page.evaluate("() => { const c = document.querySelector('#tile-site1-cam1 canvas');"
                                    " return [c.width, c.height]; }")
        assert canvas_size == [1280, 720], "the canvas holds the camera's real frame"
        screenshot(page, "cameras")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        wide = page.evaluate("() => [...document.querySelectorAll('body *')].filter(e => "
                             "e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + "
                             "e.className).slice(0, 5)")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), \
            f"no sideways scrolling on a phone: {wide}"
        screenshot(page, "cameras-phone")
    finally:
        camera.stop()
    # The edge learns of a camera that left without a goodbye only by Socket.IO's ping timeout (25 + 20 s).
    poll(lambda: tile.locator('[data-field="state"]').inner_text() == "offline", 75,
         f"camera shown offline (edge: {[(t.camera_id, t.online) for t in site.node.console.live.tiles.values()]}, "
         f"camera exit {camera.proc.returncode}, stream {page.locator('#live-state').inner_text()})")


def send_image(page: Any, base: str, photo: Path) -> None:
    page.goto(f"{base}/console/send")
    page.get_by_label(re.compile("Photo")).set_input_files(str(photo))
    page.get_by_role("button", name="Send into the pipeline").click()
    page.wait_for_url(re.compile(r".*/console/send/[\w-]+$"), timeout=180_000)


@pytest.mark.timeout(480)
def test_send_an_image_alarms_is_handled_and_after_enrolment_gives_no_alarm(site: Site, page: Any) -> None:
    unknown = ASSETS / "grace_hopper.jpg"
    log_in(page, site.edge.url)
    page.wait_for_url(re.compile(r".*/console/$"))

    # 1. The unknown person's photo, sent as a virtual camera: a person, an intruder verdict, one alarm.
    send_image(page, site.edge.url, unknown)
    result = page.locator("#result")
    assert int(result.get_attribute("data-persons")) >= 1
    assert result.get_attribute("data-alarms") == "1"
    assert page.locator("tr.track-outcome").first.get_attribute("data-state") == "intruder"
    assert page.evaluate("() => document.querySelector('#result img.preview').naturalWidth") > 0
    screenshot(page, "send-result")

    # 2. The alarm is in the alarms list with its snapshot; marking it handled sticks after a reload.
    page.locator("a.alarm-link").first.click()
    page.wait_for_url(re.compile(r".*/console/alarms.*"))
    alarm = page.locator("article.alarm", has_text="console-upload").first
    event_id = alarm.get_attribute("data-event-id")
    assert "intruder" in alarm.inner_text()
    poll(lambda: page.evaluate(
        f"() => {{ const i = document.querySelector('#alarm-{event_id} img.snapshot'); "
        "return i && i.complete && i.naturalWidth > 0; }"), 30,
         f"snapshot loaded: {page.locator(f'#alarm-{event_id}').inner_html()[:600]}")
    alarm.get_by_label("Note").fill("Checked on site: a visitor without a badge.")
    alarm.get_by_role("button", name="Mark handled").click()
    page.wait_for_url(re.compile(r".*/console/alarms.*"))
    page.reload()
    alarm = page.locator(f"#alarm-{event_id}")
    assert alarm.get_attribute("data-handled") == "yes"
    handling = alarm.locator('[data-field="handling"]').inner_text()
    assert f"handled by {OPERATOR}" in handling and "visitor without a badge" in handling

    def delivered() -> bool:
        page.reload()
        return "acknowledged by alarm1" in page.locator(f"#alarm-{event_id} [data-field='delivery']").inner_text()

    poll(delivered, 30, "delivery state shows the alarm node's ack")
    screenshot(page, "alarms")
    upload_alarms = page.locator("article.alarm", has_text="console-upload").count()

    # 3. Enrol the same person in the cloud console: the photo has a usable face.
    log_in(page, site.cloud.url)
    page.wait_for_url(re.compile(r".*/console/$"))
    page.get_by_label("Name").fill("grace-hopper")
    page.get_by_label(re.compile("Photos")).set_input_files(str(unknown))
    page.get_by_role("button", name="Enrol").click()
    outcome = page.locator("tr.photo-outcome").first
    outcome.wait_for()
    assert outcome.get_attribute("data-usable") == "yes"
    card = page.locator('article.person[data-name="grace-hopper"]')
    assert "1 face(s) enrolled" in card.inner_text()
    assert page.evaluate("() => document.querySelector('article.person[data-name=\"grace-hopper\"] img').naturalWidth") > 0
    screenshot(page, "cloud-persons")
    page.goto(f"{site.cloud.url}/console/try")
    page.get_by_label(re.compile("Image")).set_input_files(str(unknown))
    page.get_by_role("button", name="Identify").click()
    page.locator("#try-result").wait_for()
    assert page.locator("#try-result").get_attribute("data-verdict") == "known"
    assert "grace-hopper" in page.locator("#try-result").inner_text()

    # 4. The same photo again at the edge: recognised, no alarm.
    send_image(page, site.edge.url, unknown)
    assert page.locator("#result").get_attribute("data-alarms") == "0"
    outcome = page.locator("tr.track-outcome").first
    assert outcome.get_attribute("data-state") == "known" and "grace-hopper" in outcome.inner_text()
    page.goto(f"{site.edge.url}/console/alarms")
    assert page.locator("article.alarm", has_text="console-upload").count() == upload_alarms

    # 5. Removing her in the cloud console asks first, then she is gone.
    page.goto(f"{site.cloud.url}/console/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove grace-hopper").click()
    poll(lambda: page.locator('article.person[data-name="grace-hopper"]').count() == 0, 60, "person removed")
    assert page.locator('article.person[data-name="eileen-collins"]').count() == 1
