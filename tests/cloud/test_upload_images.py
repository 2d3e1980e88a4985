"""Cloud uploads through the one image path, over real HTTP: a sideways phone photo (EXIF orientation 8)
and a 16-bit greyscale PNG are recognised like the plain photo; bombs are 413 and counted."""

from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings


def sideways(jpeg: bytes) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).transpose(Image.Transpose.ROTATE_270).save(
        out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def grey16(jpeg: bytes) -> bytes:
    grey = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L")).astype(np.uint16) * 257
    out = io.BytesIO()
    Image.fromarray(grey).save(out, format="PNG")
    return out.getvalue()


def test_sideways_and_16_bit_photos_are_recognised(serve, settings: CloudSettings, auth: dict[str, str],
                                                     astronaut_jpeg: bytes) -> None:
    server = serve(create_app(settings))
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        enrolled = http.post("/v1/persons", data={"name": "eileen-collins"},
                             files=[("photos", ("e.jpg", astronaut_jpeg, "image/jpeg"))])
        assert enrolled.status_code == 201, enrolled.text
        for name, data, media in (("upright.jpg", astronaut_jpeg, "image/jpeg"),
                                  ("sideways.jpg", sideways(astronaut_jpeg), "image/jpeg"),
                                  ("grey16.png", grey16(astronaut_jpeg), "image/png")):
            answer = http.post("/v1/identify", files={"image": (name, data, media)})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["verdict"] == "known", (name, body)
            assert body["faces"][0]["match"]["name"] == "eileen-collins"


def test_pixel_limit_is_a_setting_and_counted(serve, settings: CloudSettings, auth: dict[str, str],
                                              astronaut_jpeg: bytes) -> None:
    server = serve(create_app(settings.model_copy(update={"max_image_pixels": 100_000})))
    width, height = Image.open(io.BytesIO(astronaut_jpeg)).size
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        answer = http.post("/v1/identify", files={"image": ("big.jpg", astronaut_jpeg, "image/jpeg")})
        assert answer.status_code == 413
        assert f"{width}x{height} pixels is more than the limit of 100000" in answer.text
        metrics = http.get("/metrics").text
        assert 'edgewatch_cloud_images_refused_total{reason="too_many_pixels"} 1.0' in metrics
