"""The simulator on the wire: ``PanelSimulator`` serves a ``PanelState`` over HTTP on loopback.

The handler speaks HTTP/1.1 with keep-alive, answers the one API path, and applies the fault
knobs (``Faults``) on the wire: latency, 5xx and Cloudflare pages, garbage, 429 (too many at
once, or per minute), and an ``add`` whose reply is lost after the order was placed. Fault
rolls are reproducible from the seed. One lock guards the panel's state and the counters.
"""

from __future__ import annotations

import collections
import json
import math
import random
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .dialects import DIALECTS, Dialect, Reply, Responder
from .protocol import E_TOO_MANY, Form, error
from .state import PanelState, SimOrder, SimRefill

#: The only key the simulator accepts by default; never a real panel's key.
DEFAULT_API_KEY = "sim-test-key"
#: The one path that answers the API; anything else is a 404 page.
API_PATH = "/api/v2"

_CHALLENGE_PAGE = b"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head><body><div class="main-wrapper" role="main">
<div class="main-content"><h1 class="zone-name-title h1">panel.example</h1>
<h2 class="h2" id="cf-challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>
</div></div><script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>
</body></html>"""
_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
_GARBAGE_BODY = (
    b"<br />\n<b>Fatal error</b>:  Allowed memory size of 134217728 bytes exhausted in "
    b'<b>/var/www/panel/api/v2.php</b> on line <b>231</b><br />\n\x00\x1f{"ord'
)
_NOT_FOUND_PAGE = (
    b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
)
_NOT_ALLOWED_PAGE = (
    b"<html><head><title>405 Method Not Allowed</title></head>"
    b"<body><h1>Method Not Allowed</h1></body></html>"
)


@dataclass
class Faults:
    """Knobs that make the simulator misbehave like real panels; mutable while it runs."""

    latency: float = 0.0
    error_rate: float = 0.0
    html_rate: float = 0.0
    drop_after_accept: float = 0.0
    #: How a placed order's reply is lost: "drop" closes the connection; a status such as
    #: "500", "502" or "503" answers that status with a JSON error body (a crash after the
    #: order was saved); "302" redirects (a panel that moved, after processing the POST).
    lost_reply: str = "drop"
    max_concurrency: int | None = None
    retry_after: float = 1.0
    garbage_rate: float = 0.0
    #: Requests answered per minute (sliding window of the simulator's clock); more get a
    #: 429 whose ``Retry-After`` says when the next one fits.
    max_requests_per_minute: int | None = None


#: The request fields that name orders or refills (one id, or a comma-separated list).
_ID_FIELDS = ("order", "orders", "refill", "refills")


@dataclass(frozen=True)
class Served:
    """One request the simulator answered, as ``smmsheet sim --log`` shows it (never the key).

    ``action`` is the API action ("" when none was given; the path for requests off the API
    path), ``ids`` the order or refill ids it asked about (the service for ``add``),
    ``status`` the HTTP status (None: the reply was dropped on purpose), and ``outcome``
    ``ok``, ``refused``, or the fault played (``rate limited``, ``502 page``...); an accepted
    ``add`` adds the order id it created.
    """

    action: str
    ids: tuple[str, ...]
    status: int | None
    outcome: str

    def line(self, shown: int = 5) -> str:
        """``status 1001,1002 (2 ids) -> 200 ok``, ``add service 1 -> 200 ok, order 1001``.

        >>> Served("status", ("1001", "1002"), 200, "ok").line()
        'status 1001,1002 (2 ids) -> 200 ok'
        """
        ids = ",".join(self.ids[:shown]) + (",..." if len(self.ids) > shown else "")
        if self.action == "add" and self.ids:
            asked = f" service {ids}"
        elif len(self.ids) > 1:
            asked = f" {ids} ({len(self.ids)} ids)"
        else:
            asked = f" {ids}" if ids else ""
        status = "dropped" if self.status is None else str(self.status)
        return f"{self.action or '(no action)'}{asked} -> {status} {self.outcome}"


class PanelSimulator:
    """An in-memory SMM panel serving API v2 over HTTP on loopback (example: the package's).

    Tests read and set the panel behind it (``orders``, ``balance``, ``set_status``,
    ``advance``, ...) and its fault knobs (``faults``) while it serves.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        balance: Decimal | str = "1000",
        currency: str = "USD",
        services: list[dict[str, Any]] | None = None,
        faults: Faults | None = None,
        seed: int = 0,
        auto_progress: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        dialect: str = "standard",
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[Served], None] | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
        #: The panel's books; tests may set them up directly (``state.add_orders``).
        self.state = PanelState(
            api_key=api_key,
            balance=balance,
            currency=currency,
            services=services,
            seed=seed,
            auto_progress=auto_progress,
        )
        self.dialect: Dialect = DIALECTS[dialect]
        self._responder = Responder(self.state, self.dialect)
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.port = port
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._in_flight = 0
        self._clock = clock
        #: Called (from the serving thread) with each request answered: ``smmsheet sim --log``.
        self.on_request = on_request
        self._recent: collections.deque[float] = collections.deque()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- the panel behind the wire -----------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The one key this panel accepts."""
        return self.state.api_key

    @property
    def balance(self) -> Decimal:
        """The account's balance; tests may set it."""
        return self.state.balance

    @balance.setter
    def balance(self, value: Decimal) -> None:
        self.state.balance = value

    @property
    def currency(self) -> str:
        """The account's currency."""
        return self.state.currency

    @property
    def auto_progress(self) -> bool:
        """Whether reading an order's status moves it a step forward; tests may turn it off."""
        return self.state.auto_progress

    @auto_progress.setter
    def auto_progress(self, value: bool) -> None:
        self.state.auto_progress = value

    @property
    def orders(self) -> dict[int, SimOrder]:
        """Every order the panel accepted, by id (even those whose reply was lost)."""
        return self.state.orders

    @property
    def refills(self) -> dict[int, SimRefill]:
        """Every refill the panel accepted, by id."""
        return self.state.refills

    @property
    def services(self) -> list[dict[str, Any]]:
        """The catalogue as the ``services`` action lists it (disabled services left out)."""
        return self.state.catalogue.listing()

    def public_id(self, item: SimOrder | SimRefill) -> str:
        """An order's (or refill's) id as this dialect shows it to clients."""
        return self._responder.public_id(item)

    def find_order(self, public_id: object) -> SimOrder | None:
        """The order behind an id as a client shows it (``1001``, ``"ORD-01HGX1001"``)."""
        with self._lock:
            return self._responder.find_order(public_id)

    def advance(self, steps: int = 1) -> None:
        """Move every non-final order and refill ``steps`` steps forward."""
        with self._lock:
            self.state.advance(steps)

    def set_status(self, order_id: int | str, status: str, remains: int | None = None) -> None:
        """Force an order's status (and remains); no money moves. Completed implies remains 0."""
        with self._lock:
            self.state.set_status(order_id, status, remains)

    def reset_counts(self) -> None:
        """Forget the request counters."""
        with self._lock:
            self.counts.clear()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API endpoint, e.g. ``http://127.0.0.1:40123/api/v2``; valid once started."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}{API_PATH}"

    def start(self) -> PanelSimulator:
        """Bind the port and serve from a daemon thread; returns self."""
        if self._thread is None:
            server = self._bind()
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.005},  # a quick stop() keeps test teardown fast
                name=f"panel-simulator:{server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (or Ctrl+C); for ``smmsheet sim``."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, close kept-alive connections and free the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
            self._close()

    def __enter__(self) -> PanelSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind(self) -> _Server:
        """Create the listening server (once)."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        return self._server

    def _close(self) -> None:
        """Drop every open connection and the listening socket."""
        server, self._server, self._thread = self._server, None, None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if server is not None:
            server.server_close()

    def _track(self, conn: socket.socket, is_open: bool) -> None:
        """Remember open connections so ``stop()`` can close kept-alive ones."""
        with self._lock:
            if is_open:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- request plumbing (called by the handler) --------------------------------------------

    def _count(self, action: str | None) -> None:
        """Count one received request, and its action when it has one."""
        with self._lock:
            self.counts["requests"] += 1
            if action is not None:
                self.counts[action] += 1

    def _enter(self, faults: Faults) -> bool:
        """Admit one API request unless it exceeds ``max_concurrency`` (then count a 429)."""
        with self._lock:
            limit = faults.max_concurrency
            if limit is not None and self._in_flight >= limit:
                self.counts["fault:429"] += 1
                return False
            self._in_flight += 1
            return True

    def _rate_wait(self, faults: Faults) -> float | None:
        """Seconds until one more request fits ``max_requests_per_minute``; None: it fits now."""
        limit = faults.max_requests_per_minute
        if not limit:
            return None
        with self._lock:
            now = self._clock()
            while self._recent and self._recent[0] <= now - 60:
                self._recent.popleft()
            if len(self._recent) >= limit:
                self.counts["fault:rate"] += 1
                return self._recent[0] + 60 - now
            self._recent.append(now)
            return None

    def _served(
        self, action: str, params: Mapping[str, str], status: int | None, outcome: str
    ) -> None:
        """Tell ``on_request`` about one answered request (the key is never passed on)."""
        if self.on_request is None:
            return
        if action == "add":
            ids: tuple[str, ...] = (params.get("service", ""),)
        else:
            found = next((params[f] for f in _ID_FIELDS if params.get(f)), "")
            ids = tuple(i.strip() for i in found.split(",") if i.strip())
        self.on_request(Served(action, ids, status, outcome))

    def _leave(self) -> None:
        """Release the slot taken by ``_enter``."""
        with self._lock:
            self._in_flight -= 1

    def _roll_fault(self, faults: Faults) -> str | None:
        """Decide, reproducibly from the seed, whether this request fails before processing."""
        with self._lock:
            for kind, rate in (
                ("5xx", faults.error_rate),
                ("html", faults.html_rate),
                ("garbage", faults.garbage_rate),
            ):
                if rate > 0 and self._rng.random() < rate:
                    self.counts[f"fault:{kind}"] += 1
                    return kind
            return None

    def _html_status(self) -> int:
        """Pick the status a challenge page comes with (200 or 503), reproducibly."""
        with self._lock:
            return self._rng.choice((200, 503))

    def _process(self, form: Form, faults: Faults) -> tuple[Reply, bool]:
        """Answer one API call: its reply, and whether a placed order's reply is lost."""
        with self._lock:
            reply = self._responder.answer(form)
            drop = (
                not reply.refused
                and form.get("action") == "add"
                and faults.drop_after_accept > 0
                and self._rng.random() < faults.drop_after_accept
            )
            if drop:
                self.counts["fault:drop"] += 1
            return reply, drop


class _Server(ThreadingHTTPServer):
    """The HTTP server: a thread per connection, a deep backlog, no reverse DNS on bind."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: PanelSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s ``getfqdn`` lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (and connections ``stop()`` cut); report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Speaks HTTP/1.1 with keep-alive and hands API calls to the simulator."""

    protocol_version = "HTTP/1.1"
    server_version = "PanelSimulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle kept-alive connections are closed after this many seconds

    @property
    def sim(self) -> PanelSimulator:
        """The simulator this connection belongs to."""
        return cast(_Server, self.server).sim

    def setup(self) -> None:
        """Register the connection so ``stop()`` can close it."""
        super().setup()
        self.sim._track(self.connection, True)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.sim._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: benchmarks send thousands of requests."""

    def do_GET(self) -> None:
        """Answer GET like a panel behind nginx: 405 on the API path, 404 elsewhere."""
        self.sim._count(None)
        path = urlsplit(self.path).path
        if path == API_PATH:
            self._send(405, _NOT_ALLOWED_PAGE, "text/html", {"Allow": "POST"})
            self.sim._served(f"GET {path}", {}, 405, "not allowed")
        else:
            self._send(404, _NOT_FOUND_PAGE, "text/html")
            self.sim._served(f"GET {path}", {}, 404, "not found")

    def do_POST(self) -> None:
        """Run one API call through the fault knobs and answer it."""
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length) if length.isdigit() else 0)
        path = urlsplit(self.path).path
        if path != API_PATH:
            self.sim._count(None)
            self._send(404, _NOT_FOUND_PAGE, "text/html")
            self.sim._served(f"POST {path}", {}, 404, "not found")
            return
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {name: values[-1] for name, values in form.items()}  # PHP keeps the last one
        sim, faults = self.sim, self.sim.faults
        action = params.get("action", "")
        sim._count(action)
        rate_wait = sim._rate_wait(faults)
        if rate_wait is not None:
            self._send_json(429, error(E_TOO_MANY), {"Retry-After": str(math.ceil(rate_wait))})
            sim._served(action, params, 429, "rate limited (per minute)")
            return
        if not sim._enter(faults):
            wait = faults.retry_after
            header = str(int(wait)) if float(wait).is_integer() else str(wait)
            self._send_json(429, error(E_TOO_MANY), {"Retry-After": header})
            sim._served(action, params, 429, "rate limited (too many at once)")
            return
        try:
            if faults.latency > 0:
                time.sleep(faults.latency)
            status, outcome = self._answer(sim, faults, params)
        finally:
            sim._leave()
        sim._served(action, params, status, outcome)

    def _answer(
        self, sim: PanelSimulator, faults: Faults, params: dict[str, str]
    ) -> tuple[int | None, str]:
        """Answer one admitted API call, faults first; returns (HTTP status, outcome)."""
        fault = sim._roll_fault(faults)
        if fault == "5xx":
            self._send(502, _BAD_GATEWAY_PAGE, "text/html")
            return 502, "fault: 502 page"
        if fault == "html":
            status = sim._html_status()
            self._send(status, _CHALLENGE_PAGE, "text/html", {"Server": "cloudflare"})
            return status, "fault: challenge page"
        if fault == "garbage":
            self._send(200, _GARBAGE_BODY, "application/json")
            return 200, "fault: garbage body"
        reply, drop = sim._process(params, faults)
        if drop and faults.lost_reply == "302":
            self._send(302, b"", "text/html", {"Location": "https://panel.example/v3"})
            return 302, "fault: order placed, reply redirected"
        if drop and faults.lost_reply.isdigit():
            status = int(faults.lost_reply)
            self._send_json(status, {"error": "Internal Server Error"})
            return status, "fault: order placed, reply lost"
        if drop:
            self._drop()
            return None, "fault: order placed, connection dropped"
        self._send_json(reply.status, reply.body)
        outcome = "refused" if reply.refused else "ok"
        created = reply.body.get("order") if isinstance(reply.body, dict) else None
        if params.get("action") == "add" and not reply.refused and created is not None:
            outcome += f", order {created}"
        return reply.status, outcome

    def _drop(self) -> None:
        """Close the connection without a single byte of reply, as a dying proxy would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a JSON reply."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a complete reply with its Content-Length so the connection stays usable."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
