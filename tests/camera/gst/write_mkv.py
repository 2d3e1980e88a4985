"""Write JPEG frames into a Matroska file with explicit timestamps and a chosen declared frame rate.

Run with Debian's /usr/bin/python3 (it has ``gi``; the project's Python may not):
    python3 write_mkv.py OUT.mkv RATE FRAMES.json
RATE is the declared rate as GStreamer caps write it (``600/1``; ``0/1`` for variable frame rate);
FRAMES.json lists ``[[jpeg_path, seconds], ...]``. The header then says RATE while each block carries its
own timestamp: how a lying header (600 fps declared, 10 fps real) or a variable-frame-rate file looks.
"""

import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst


def main() -> int:
    out, rate, listing = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(listing, encoding="utf-8") as handle:
        frames = json.load(handle)
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=image/jpeg,framerate={rate} ! jpegparse ! matroskamux "
        f"! filesink location={out}"
    )
    src = pipeline.get_by_name("src")
    pipeline.set_state(Gst.State.PLAYING)
    for i, (path, seconds) in enumerate(frames):
        with open(path, "rb") as handle:
            buffer = Gst.Buffer.new_wrapped(handle.read())
        following = frames[i + 1][1] if i + 1 < len(frames) else seconds + 0.1
        buffer.pts = buffer.dts = int(seconds * Gst.SECOND)
        buffer.duration = int((following - seconds) * Gst.SECOND)
        src.emit("push-buffer", buffer)
    src.emit("end-of-stream")
    message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type != Gst.MessageType.EOS:
        sys.stderr.write(f"write_mkv: {message.parse_error() if message else 'timed out'}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
