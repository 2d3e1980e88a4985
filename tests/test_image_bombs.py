"""Acceptance (issue 9): a real 13000 x 13000 JPEG (2 MB) and the same with a junk byte after APP0 are refused by the real edge and the real cloud, each a child process, with their memory (peak RSS,
/proc/PID/status VmHWM after a reset) growing less than 100 MB; and both servers close slow-header sockets.
"""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import time
from pathlib import Path

import httpx
import pytest
import socketio
from PIL import Image

from edgewatch.protocol import Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id

ASSETS = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"
MB = 1024 * 1024
TOKEN = "bomb-test-token-0123456789"


def real_bomb(side: int) -> bytes:
    """A complete, valid side x side grey JPEG of about 2 MB for 13000 px, written without ever holding the
    picture: a flat image at level 128 is, block after block, DC difference 0 (code ``00``) then end of
    block (``1010``) with the standard Huffman tables, so four blocks are the bytes 28 A2 8A. Decoded by
    Pillow it takes 827 MB of RSS (measured), which is what a decoder that trusts the client pays."""
    out = io.BytesIO()
    Image.new("L", (8, 8), 128).save(out, format="JPEG", quality=75)  # header and standard tables
    small = out.getvalue()
    sos = small.index(b"\xff\xda")
    head = small[: sos + 2 + struct.unpack(">H", small[sos + 2 : sos + 4])[0]]
    at = head.index(b"\xff\xc0")
    head = head[: at + 5] + struct.pack(">HH", side, side) + head[at + 9 :]
    blocks = ((side + 7) // 8) ** 2
    tail = {0: b"", 1: b"\x2b", 2: b"\x28\xaf", 3: b"\x28\xa2\xbf"}[blocks % 4]  # last blocks, 1-bit padding
    return head + b"\x28\xa2\x8a" * (blocks // 4) + tail + b"\xff\xd9"


def with_junk_after_app0(data: bytes) -> bytes:
    """One junk byte after the APP0 segment: the cloud's old marker walk gave up there and let OpenCV decode."""
    assert data[2:4] == b"\xff\xe0"
    end = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:end] + b"\x00" + data[end:]


_BOMB = real_bomb(13000)


def bombs() -> dict[str, bytes]:
    return {"13000x13000": _BOMB, "junk-after-app0": with_junk_after_app0(_BOMB)}


def rss(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0, own processes)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, proc, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            assert proc.proc.poll() is None, proc.output()
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"{url} not ready: {proc.output()}")


def slow_header_sockets(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        sockets.append(sock)
    return sockets


def all_closed(sockets: list[socket.socket], within: float) -> bool:
    deadline = time.monotonic() + within
    for sock in sockets:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        except TimeoutError:
            return False
        finally:
            sock.close()
    return True


@pytest.fixture
def proc_ok() -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc")


async def test_edge_refuses_image_bombs_with_bounded_memory(node_process, tmp_path: Path, proc_ok) -> None:
    port = free_port()
    edge = node_process(["edge", "--port", str(port), "--alarm-db", str(tmp_path / "alarms.db"), "--workers", "2",
                         "--allow-unauthenticated-nodes",
                         "--header-timeout", "2", "--verify-timeout", "60"])
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, edge)
    camera = socketio.AsyncClient(reconnection=False)
    acks: list[dict] = []
    camera.on(SocketEvent.FRAME_ACK.value, acks.append)
    await camera.connect(url, auth=encode(Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1")),
                         transports=["websocket"], wait_timeout=10)

    async def send(jpeg: bytes, seq: int) -> None:
        await camera.emit(SocketEvent.FRAME.value, encode(Frame(
            camera_id="cam1", site_id="site1", seq=seq, captured_at=time.time(), trace_id=new_trace_id(),
            jpeg=jpeg)))

    async def acked(count: int) -> None:
        deadline = time.monotonic() + 60
        while len(acks) < count:
            assert time.monotonic() < deadline, acks
            await asyncio.sleep(0.05)

    try:
        for seq in range(3):  # warm up: the model and its buffers at their steady size
            await send(PERSON.read_bytes(), seq)
            await acked(seq + 1)
        baseline, _ = rss(edge.proc.pid)
        reset_peak(edge.proc.pid)
        seq = 3
        for _round in range(6):  # 12 bombs: the attack that took 3.8 GB
            for bomb in bombs().values():
                await send(bomb, seq)
                seq += 1
                await acked(seq)
        _, peak = rss(edge.proc.pid)
        refused = acks[3:]
        assert all(a["status"] == "failed" and "more than the limit" in a["detail"] for a in refused), refused
        assert any("13000x13000" in a["detail"] for a in refused)
        assert all("13000x13000" in a["detail"] for a in refused)
        print(f"edge: baseline RSS {baseline / MB:.0f} MB, peak during 12 bombs {peak / MB:.0f} MB "
              f"(+{(peak - baseline) / MB:.1f} MB)")
        assert peak - baseline < 100 * MB
        await send(PERSON.read_bytes(), seq)  # and it still works
        await acked(seq + 1)
        assert acks[-1]["status"] == "processed" and acks[-1]["persons"] >= 1
        async with httpx.AsyncClient(base_url=url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'edgewatch_edge_images_refused_total{reason="too_many_pixels"} 12.0' in metrics

        # Slow-header sockets are closed by the edge's header timeout (2 s here).
        sockets = slow_header_sockets(port, 200)
        assert all_closed(sockets, 30)
        async with httpx.AsyncClient(base_url=url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'edgewatch_edge_http_timeouts_total{kind="header"}' in metrics
    finally:
        await camera.disconnect()
    _, err = edge.stop()
    assert "Traceback" not in err


async def test_cloud_refuses_image_bombs_with_bounded_memory(node_process, tmp_path: Path, proc_ok) -> None:
    port = free_port()
    cloud = node_process(["cloud", "--port", str(port), "--db-path", str(tmp_path / "faces.db"),
                          "--header-timeout", "2"], env={"EDGEWATCH_TOKEN": TOKEN})
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, cloud)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http:
        for _ in range(2):
            warm = await http.post("/v1/identify", files={"image": ("p.jpg", PERSON.read_bytes(), "image/jpeg")})
            assert warm.status_code == 200
        baseline, _ = rss(cloud.proc.pid)
        reset_peak(cloud.proc.pid)
        answers = await asyncio.gather(*[
            http.post("/v1/identify", files={"image": (f"{name}.jpg", data, "image/jpeg")})
            for _ in range(4) for name, data in bombs().items()
        ])
        _, peak = rss(cloud.proc.pid)
        assert [a.status_code for a in answers] == [413] * 8, [a.text for a in answers]
        assert all("more than the limit" in a.text for a in answers)
        print(f"cloud: baseline RSS {baseline / MB:.0f} MB, peak during 8 bombs {peak / MB:.0f} MB "
              f"(+{(peak - baseline) / MB:.1f} MB)")
        assert peak - baseline < 100 * MB
        metrics = (await http.get("/metrics")).text
        assert 'edgewatch_cloud_images_refused_total{reason="too_many_pixels"} 8.0' in metrics
    sockets = slow_header_sockets(port, 200)
    assert all_closed(sockets, 30)
    _, err = cloud.stop()
    assert "Traceback" not in err
