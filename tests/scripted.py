"""A loopback HTTP server with scripted replies, for reply shapes the simulator never makes."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

#: (status, headers, body); a body given as an iterable of chunks is streamed without a
#: Content-Length (the connection closes after it), so it can be far larger than memory.
Reply = tuple[int, dict[str, str], bytes | Iterable[bytes]]
Script = Callable[[dict[str, str]], Reply]


class ScriptedPanel:
    """Serves POST /api/v2 with whatever ``script(form)`` returns; records every form.

    ``delay`` waits before answering; ``trickle`` sends the body one byte every that many
    seconds (``trickle_headers`` sends the status line and headers that way too). ``headers``
    holds each request's headers; ``tls`` (a certificate and its key, PEM files) serves https.
    ``raw_reply`` is sent on the bare TCP connection instead of an answer, which then closes
    (under TLS: a record no client can decrypt, as a box that breaks connections sends).
    """

    def __init__(
        self,
        script: Script | None = None,
        host: str = "127.0.0.1",
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.script: Script = script or (lambda form: (200, {}, b"{}"))
        self.forms: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0
        self.trickle = 0.0
        self.trickle_headers = False
        self.raw_reply: bytes | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                owner.forms.append(form)
                owner.headers.append(dict(self.headers.items()))
                if owner.delay:
                    time.sleep(owner.delay)
                status, headers, body = owner.script(form)
                if owner.raw_reply is not None:
                    socket.socket.sendall(self.connection, owner.raw_reply)  # past any TLS
                    self.close_connection = True
                    return
                try:
                    self._answer(status, headers, body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout, size cap)

            def _answer(
                self, status: int, headers: dict[str, str], body: bytes | Iterable[bytes]
            ) -> None:
                head = [f"HTTP/1.1 {status} Scripted"]
                head += [f"{name}: {value}" for name, value in headers.items()]
                if isinstance(body, bytes):
                    head.append(f"Content-Length: {len(body)}")
                else:
                    head.append("Connection: close")
                    self.close_connection = True
                start = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                if owner.trickle and owner.trickle_headers:
                    self._slowly(start)
                else:
                    self.wfile.write(start)
                chunks = [body] if isinstance(body, bytes) else body
                for chunk in chunks:
                    if owner.trickle:
                        self._slowly(chunk)
                    else:
                        self.wfile.write(chunk)

            def _slowly(self, data: bytes) -> None:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(owner.trickle)

            def log_message(self, *args: object) -> None:
                pass

        self.host = host
        self.server = _Server((host, 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.server.server_address[1]}/api/v2"

    def __enter__(self) -> ScriptedPanel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about clients that hang up (deadline and size-cap tests cut replies)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def json_reply(body: str, status: int = 200, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, body.encode()
