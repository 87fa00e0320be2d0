"""A real HTTP server on loopback that webhook tests POST to.

Exports :class:`Receiver`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1:``port`` that keeps every POST (headers, body) and answers ``status``."""

    def __init__(self, port: int, status: int = 200) -> None:
        self.posts: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def seqs(self) -> list[int]:
        return [json.loads(body)["seq"] for _, body in self.posts]
