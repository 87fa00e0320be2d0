"""A tiny RTSP server for the live-capture tests: GStreamer's gst-rtsp-server through PyGObject.

Run it with the system Python that has Debian's ``python3-gi`` (not the project's venv)::

    /usr/bin/python3 tests/live/rtsp_server.py --port 8554 --mount /cam --file video.mp4

It serves the H.264 track of an MP4 file (no re-encoding, paced at the file's frame rate) on
127.0.0.1 over RTP/RTSP, TCP or UDP as the client asks. Every client session plays the file from
its start; at the end of the file the session ends, as a camera would hang up. It prints
``READY <port>`` on stdout once listening and stops on SIGTERM or SIGINT. With ``--user`` it
demands HTTP Basic auth as that user, with the password from the ``RTSP_PASSWORD`` environment
variable (not the command line), as a camera with a password does.
"""

import os

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--file", required=True, help="an MP4 with an H.264 video track")
    parser.add_argument("--user", help="require Basic auth as this user (password: $RTSP_PASSWORD)")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.file.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, os.environ["RTSP_PASSWORD"]), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
