"""A loopback HTTP server with scripted replies, for reply shapes the simulator never makes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

Reply = tuple[int, dict[str, str], bytes]
Script = Callable[[dict[str, str]], Reply]


class ScriptedPanel:
    """Serves POST /api/v2 with whatever ``script(form)`` returns; records every form."""

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or (lambda form: (200, {}, b"{}"))
        self.forms: list[dict[str, str]] = []
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                owner.forms.append(form)
                if owner.delay:
                    time.sleep(owner.delay)
                status, headers, body = owner.script(form)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v2"

    def __enter__(self) -> ScriptedPanel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_reply(body: str, status: int = 200, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, body.encode()
