"""A real RTSP camera on 127.0.0.1: GStreamer's RTSP server streaming a live test pattern as RTP/JPEG.

Run with Debian's /usr/bin/python3 (it has ``gi``; the project's Python may not):
    python3 rtsp_server.py PORT [FPS]
Serves ``rtsp://127.0.0.1:PORT/cam``; prints ``ready`` once listening; runs until killed (the test ends it
by PID). Each frame's grey level is not controlled: the tests count frames, they do not decode content.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer


def main() -> int:
    port = int(sys.argv[1])
    fps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
        f"framerate={fps}/1 "
        "! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server: cannot listen on 127.0.0.1:{port}\n")
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
