"""PanelClient: one method per action of the SMM panel API v2, typed results, safe retries.

Example::

    from smmsheet.panel import PanelClient

    with PanelClient("https://panel.example/api/v2", api_key) as panel:
        print(panel.balance())                       # Balance(amount=Decimal('100.84'), ...)
        order_id = panel.add(1, link="https://instagram.com/x", quantity=1000)
        print(panel.status_many([order_id, "42"]))   # {"1001": OrderStatus(...), "42": error}

This module is the only place that turns ``requests`` and urllib3 exceptions, HTTP statuses,
HTML pages and refusals (``{"error": ...}`` and the other shapes panels use) into
:mod:`smmsheet.errors`. ``requests`` decides where a client's requests go (proxy, CA bundle,
``~/.netrc``), once per client; each request is then sent on the urllib3 pool it chose.
Read-only actions are retried on transient faults; paid actions (add, refill, cancel) are
sent again only when the request provably never reached the panel (connection refused,
connect timeout, HTTP 429). Every request is bounded: ``deadline`` seconds from connect to
the last byte of its reply, ``MAX_REPLY_BYTES`` per action; a paid request past either may
have been done. Replies are scrubbed of the key (:func:`smmsheet.errors.scrub`) before
anything reads them.

The typed results (:class:`Service`, :class:`OrderStatus`, ...) live in :mod:`smmsheet.models`
and the value readers (``parse_int``, ``parse_id``, ...) in :mod:`smmsheet.values`, neither of
which imports ``requests``; both are re-exported here.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import email.utils
import heapq
import ipaddress
import itertools
import json
import logging
import math
import os
import queue
import re
import socket
import ssl
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote_plus, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse

from ._version import __version__
from .errors import (
    AmbiguousRequestError,
    InvalidKeyError,
    PanelError,
    PanelRejectedError,
    PanelUnavailableError,
    RateLimitedError,
    scrub,
)
from .models import (
    REFUSED_WORDS,
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    Service,
    message_of,
    refusal_of,
)
from .runtime import quick_turns
from .values import (
    MAX_ID_CHARS,
    MAX_NUMBER_DIGITS,
    parse_bool,
    parse_decimal,
    parse_id,
    parse_int,
    parse_text,
)

__all__ = [
    "ADD_FIELDS",
    "AHEAD_IDS",
    "DEFAULT_BACKOFF",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_REPLY_BYTES",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_IDS_PER_REQUEST",
    "MAX_ID_CHARS",
    "MAX_NUMBER_DIGITS",
    "MAX_REPLY_BYTES",
    "MAX_RETRY_AFTER",
    "MAX_SERVICES_REPLY_BYTES",
    "Balance",
    "CancelResult",
    "OrderStatus",
    "PanelClient",
    "StatusAhead",
    "RefillResult",
    "RefillStatus",
    "Service",
    "parse_bool",
    "parse_decimal",
    "parse_id",
    "parse_int",
]

log = logging.getLogger(__name__)

#: (connect, read) seconds. A panel that takes longer than this to answer is treated as down.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: Seconds one request may take from connect to the last byte of its reply. A read timeout
#: starts again with every byte; this does not. An ``add`` past it may have been placed.
DEFAULT_DEADLINE = 60.0
#: Chunks of a multi-id action, and ``add`` calls, in flight at once. 8 places 1,000 orders
#: on a 100 ms panel in ~14 s (4 took ~27 s); a panel that allows fewer answers 429, which
#: is retried safely (the request was refused, not processed). Profiles may lower it.
DEFAULT_MAX_WORKERS = 8
#: The API's limit for ``orders``/``refills`` lists.
MAX_IDS_PER_REQUEST = 100
#: Ids a refresh asks about while it is still reading its sheet (200 requests at most):
#: at 50 ms a request and 8 in flight, the requests of the first 1.25 s.
AHEAD_IDS = 20_000
#: Extra attempts for read-only actions (and for paid ones that never reached the panel).
DEFAULT_RETRIES = 3
#: First back-off in seconds; doubles each attempt.
DEFAULT_BACKOFF = 0.5
#: Longest ``Retry-After`` we sleep, in seconds; a panel asking for more stops the run.
MAX_RETRY_AFTER = 60.0
MEGABYTE = 1024 * 1024
#: Largest reply read for an action, in bytes: a status chunk of 100 ids is ~20 KB, an
#: ``add`` answer a few bytes. A larger reply fails that request (a paid one may have been done).
DEFAULT_MAX_REPLY_BYTES = 1 * MEGABYTE
#: The service list is the one big reply: thousands of services with descriptions.
MAX_SERVICES_REPLY_BYTES = 32 * MEGABYTE
MAX_REPLY_BYTES: dict[str, int] = {"services": MAX_SERVICES_REPLY_BYTES}
#: Bytes read from the socket at a time while streaming a reply.
READ_CHUNK_BYTES = 64 * 1024

USER_AGENT = f"smmsheet/{__version__} (+panel API v2 client)"

#: Every ``add`` parameter of every service type (docs/panel-api.md).
ADD_FIELDS = frozenset(
    {
        "link",
        "quantity",
        "runs",
        "interval",
        "comments",
        "usernames",
        "hashtags",
        "hashtag",
        "username",
        "media",
        "answer_number",
        "groups",
        "keywords",
        "min",
        "max",
        "posts",
        "old_posts",
        "delay",
        "expiry",
        "country",
        "device",
        "type_of_traffic",
        "google_keyword",
        "referring_url",
    }
)

PAID_ACTIONS = frozenset({"add", "refill", "cancel"})

_INVALID_KEY = re.compile(r"(invalid|incorrect|wrong|bad)\s+(api\s+)?key|api\s*key", re.I)
_ACCESS_DENIED = re.compile(r"\bip\b|whitelist|allowlist|not allowed|forbidden|access", re.I)
#: Marks of a Cloudflare challenge or block page, served by the edge before the panel's code
#: runs (so a paid request it answers was not done). Its wording alone ("Just a moment",
#: "Attention required") is not enough: a panel's own error page after an add may say it.
_CHALLENGE = re.compile(
    r"cf-chl|cf-challenge|/cdn-cgi/challenge-platform|cf-browser-verification"
    r"|attention required! \| cloudflare",
    re.I,
)
_CURRENCY = re.compile(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])")


#: A per-item error without words (``{"error": ""}``, ``{}``): neither yes nor no.
_EMPTY_ERROR = "the panel answered an empty error"


def _error_of(value: object) -> str | None:
    """The panel's per-item error in a multi reply (``{"error": "..."}``), if ``value`` is one."""
    if isinstance(value, Mapping):
        if not value or (len(value) == 1 and _empty_error(value)):
            return _EMPTY_ERROR
        return refusal_of(value) or message_of(value) or "error"
    return None


#: A refill the panel said yes to without giving its id.
_NO_REFILL_ID = (
    "refill: the panel said yes but gave no refill id; it may have been done, check the panel"
)


def _entry(entry: object, value_field: str) -> tuple[object, str | None]:
    """(value, error) of one per-id entry of a multi reply, whatever its shape.

    ``{"order": 1, "refill": 5}``, ``{"order": 3, "refill": {"error": m}}``,
    ``{"order": 3, "error": m}``, ``{"success": "...", "refill": 5}``, or a bare ``1``.
    """
    if not isinstance(entry, Mapping):
        return entry, None
    if value_field in entry:
        value = entry[value_field]
        nested = _error_of(value)
        if nested is not None:
            return None, nested
        if value in (None, "", False) and (text := message_of(entry.get("error"))):
            return None, text
        return value, None
    refusal = refusal_of(entry)
    if refusal is not None:
        return None, refusal
    return entry.get("success", entry.get("status")), None


def _accepted(value: object) -> bool:
    """Whether a per-order cancel value says yes: ``1``, ``true``, ``"ok"``, a message."""
    if isinstance(value, str):
        return value.strip().lower() not in {"", *REFUSED_WORDS}
    if isinstance(value, Mapping | list):
        return False
    return bool(value)


def _field(reply: object, *names: str) -> object:
    """The first of ``names`` in a reply object, or in its ``data`` object; None if absent."""
    if not isinstance(reply, Mapping):
        return None
    for source in (reply, reply.get("data")):
        if isinstance(source, Mapping):
            for name in names:
                if name in source:
                    return source[name]
    return None


def _service_entries(reply: object) -> list[tuple[object, Mapping[str, Any]]] | None:
    """(key, item) pairs of a services reply: a list, ``{"data": [...]}`` or keyed by id."""
    if isinstance(reply, list):
        return [(None, item) for item in reply if isinstance(item, Mapping)]
    if not isinstance(reply, Mapping) or not reply:
        return None
    for wrapper in ("data", "services", "result"):
        inner = reply.get(wrapper)
        if isinstance(inner, list | Mapping) and len(reply) <= 3:
            return _service_entries(inner)
    if all(isinstance(item, Mapping) for item in reply.values()):
        return list(reply.items())
    return None


def _currency_of(value: object) -> str:
    """The currency code written into an amount, as in ``"12.50 EUR"``."""
    match = _CURRENCY.search(value.upper()) if isinstance(value, str) else None
    return match.group(0) if match else ""


T = TypeVar("T")


def chunked(items: Sequence[T], size: int = MAX_IDS_PER_REQUEST) -> Iterator[Sequence[T]]:
    """Split ``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _uncertain(
    cls: Callable[..., T],
) -> Callable[[str, PanelError], T]:
    """Per-id result for a failed chunk of a paid action, flagged when it may have been done."""

    def make(order: str, exc: PanelError) -> T:
        return cls(order, error=exc.message, uncertain=isinstance(exc, AmbiguousRequestError))

    return make


def _unique_ids(ids: Iterable[int | str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in ids:
        value = parse_id(raw)
        if value is None:
            raise ValueError(f"not an id: {raw!r}")
        seen.setdefault(value, None)
    return list(seen)


# --------------------------------------------------------------------------- bounded time


class _Final(Exception):
    """Carries a panel error that retrying cannot fix (too slow, too large): raised as is."""

    def __init__(self, error: PanelError) -> None:
        super().__init__(error.message)
        self.error = error


_current = threading.local()


class _Watch:
    """Shuts a request's socket down when its deadline passes.

    The only bound on a reply that trickles: a socket read timeout starts again with every
    byte, so one byte a second holds a plain ``requests`` call for ever. Armed when the
    request is sent, disarmed before its connection goes back to the pool (so it can never
    cut a connection another request is using).
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.done = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            if self.done or self._sock is not None:
                return
            self._sock = sock
        _WATCHDOG.watch(self)

    def fire(self) -> None:
        with self._lock:
            if self.done or self._sock is None:
                return
            self.fired = True
            try:  # the plain socket's shutdown, also under TLS: wakes the blocked read
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def disarm(self) -> bool:
        """Stop watching; True when the deadline had already cut the connection."""
        with self._lock:
            self.done = True
            return self.fired


class _Watchdog:
    """One daemon thread that fires the watches whose deadline has passed."""

    #: Disarmed watches are dropped from the queue every this many new ones.
    PRUNE_EVERY = 1024

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, _Watch]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, watch: _Watch) -> None:
        with self._cond:
            number = next(self._count)
            if number % self.PRUNE_EVERY == 0:
                self._queue = [entry for entry in self._queue if not entry[2].done]
                heapq.heapify(self._queue)
            heapq.heappush(self._queue, (watch.deadline, number, watch))
            if self._thread is None or not self._thread.is_alive():  # first use, or a fork
                self._thread = threading.Thread(
                    target=self._run, name="smmsheet-deadlines", daemon=True
                )
                self._thread.start()
            if self._queue[0][2] is watch:
                # Woken only when this deadline comes first: a thousand requests in flight
                # are not a thousand wake-ups (the thread sleeps until the earliest one).
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                deadline, _, watch = self._queue[0]
                wait = deadline - time.monotonic()
                if wait > 0 and not watch.done:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._queue)
            watch.fire()


_WATCHDOG = _Watchdog()


def _watched(conn: Any) -> Any:
    """Arm the calling thread's watch on ``conn``'s socket (the request was just sent)."""
    watch = getattr(_current, "watch", None)
    if watch is not None and conn.sock is not None:
        conn._smmsheet_watch = watch
        watch.arm(conn.sock)
    return conn


def _release(conn: Any) -> None:
    """Disarm ``conn``'s watch before the pool lends it again; close it if the watch fired."""
    watch = getattr(conn, "_smmsheet_watch", None)
    if watch is not None:
        conn._smmsheet_watch = None
        if watch.disarm():
            conn.close()


class _WatchedHTTPConnection(HTTPConnection):
    """A connection whose reply is watched by the calling thread's deadline, and which sends
    a request's headers and body in one write.

    ``http.client`` writes the headers, then the body: two system calls, and on loopback two
    wake-ups of the panel's side, per request. On a connection already open the body (bytes
    of a declared length) goes out with the headers instead.
    """

    _body_with_headers: bytes | None = None

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        if (
            isinstance(body, bytes)
            and body
            and self.sock is not None  # a new connection may first send a proxy's CONNECT
            and not options.get("chunked")
            and any(name.lower() == "content-length" for name in headers or ())
        ):
            self._body_with_headers, body = body, None
        try:
            super().request(method, url, body, headers, **options)
        finally:
            self._body_with_headers = None

    def connect(self) -> None:
        # Whether a request was sent is known only on connections of ours: a SOCKS proxy's
        # pools are its own, and there "sent" stays unknown (None), never False.
        if getattr(_current, "sent", True) is None:
            _current.sent = False
        super().connect()

    def send(self, data: Any) -> None:
        _current.sent = True  # from the first byte on, the panel may have the request
        body = self._body_with_headers
        if body is not None:  # the first write of a request is its headers
            self._body_with_headers = None
            data = bytes(data) + body
        super().send(data)

    def getresponse(self) -> BaseHTTPResponse:  # type: ignore[override]
        return super(_WatchedHTTPConnection, _watched(self)).getresponse()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            _release(conn)
        super()._put_conn(conn)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            _release(conn)
        super()._put_conn(conn)


class _DeadlineAdapter(HTTPAdapter):
    """``requests``' adapter whose connections carry the deadline watch, direct or through
    an HTTP(S) proxy (a proxy trickling a reply held an add past its deadline for ever)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pools of its own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


class _RateLimiter:
    """At most ``per_minute`` requests in any 60 seconds, shared by every thread of a client."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: collections.deque[float] = collections.deque()

    def acquire(self) -> None:
        """Wait until one more request fits in the last minute, and take its slot."""
        with self._lock:
            now = self._clock()
            slot = now
            if len(self._slots) >= self.per_minute:  # the Nth most recent slot + 60 s
                slot = max(now, self._slots[0] + 60.0)
            self._slots.append(slot)
            if len(self._slots) > self.per_minute:
                self._slots.popleft()
        if slot > now:
            log.debug("rate limit of %d a minute: waiting %.2fs", self.per_minute, slot - now)
            self._sleep(slot - now)


def _is_clearparse_text(url: str) -> bool:
    """A plain ``http://`` URL to a host that is not this machine."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _session_for(url: str, *, direct: bool = False) -> requests.Session:
    """A session for ``url`` with the environment's settings for it read once, here.

    ``requests`` reads the proxy variables (``HTTPS_PROXY``, ``NO_PROXY``...), the CA bundle
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) and ``~/.netrc`` again for every request: a
    fifth of a 1,000-request refresh. The panel URL never changes, so the same answers are
    taken once and the session stops looking (``trust_env`` off).
    """
    session = requests.Session()
    # {} when NO_PROXY covers the URL, or for a ``direct`` client (see PanelClient)
    proxies = {} if direct else requests.utils.get_environ_proxies(url)
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    session.proxies.update(proxies)
    if verify:
        session.verify = verify
    if auth:
        session.auth = auth
    return session


class _Route:
    """Where and how every POST of a client goes, resolved once from its session.

    ``requests`` prepares each request anew (headers merged, URL parsed, auth, cookies),
    then looks up the adapter, the pool and the TLS settings for it: about half of the
    client's own CPU in a 1,000-request refresh. For one panel URL and one session every
    answer is the same each time, so they are taken once, here, the way ``requests``
    takes them (its ``prepare_request``, ``merge_environment_settings``, the adapter's
    ``get_connection_with_tls_context``, ``cert_verify`` and ``request_url``), and each
    request is the form body sent on that pool. Cookies the panel sets are kept in the
    session's jar and sent back as ``requests`` would.
    """

    def __init__(self, session: requests.Session, url: str, timeout: tuple[float, float]) -> None:
        template = session.prepare_request(requests.Request("POST", url, data={"action": ""}))
        settings = session.merge_environment_settings(template.url or url, {}, True, None, None)
        adapter = session.get_adapter(template.url or url)
        if not isinstance(adapter, HTTPAdapter):  # pragma: no cover - we mount our own
            raise TypeError(f"not an HTTPAdapter: {adapter!r}")
        verify, cert, proxies = settings["verify"], settings["cert"], settings["proxies"]
        try:
            pool = adapter.get_connection_with_tls_context(template, verify, proxies, cert)
        except u3.LocationValueError as exc:  # as requests' adapter does
            raise requests.exceptions.InvalidURL(exc, request=template) from None
        if not isinstance(pool, HTTPConnectionPool):  # pragma: no cover - http(s) only
            raise TypeError(f"not an HTTP connection pool: {pool!r}")
        adapter.cert_verify(pool, template.url or url, verify, cert)  # type: ignore[no-untyped-call]
        self.pool = pool
        self.path = adapter.request_url(template, proxies)
        self.template = template
        self.headers = {
            name: value
            for name, value in template.headers.items()
            if name.lower() not in ("content-length", "cookie")
        }
        self.jar = session.cookies
        self.retries = adapter.max_retries
        self.timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])

    def send(self, form: Mapping[str, str]) -> BaseHTTPResponse:
        """POST ``form`` (url-encoded), redirects not followed; the body is left to stream."""
        body = _form_body(form)
        headers = {**self.headers, "Content-Length": str(len(body))}
        if self.jar:  # only once the panel has set a cookie
            cookie = requests.cookies.get_cookie_header(self.jar, self.template)  # type: ignore[no-untyped-call]
            if cookie is not None:
                headers["Cookie"] = cookie
        response = self.pool.urlopen(
            "POST",
            self.path,
            body=body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=self.retries,
            timeout=self.timeout,
            chunked=False,
        )
        if "Set-Cookie" in response.headers:
            requests.cookies.extract_cookies_to_jar(self.jar, self.template, response)  # type: ignore[no-untyped-call]
        return response


#: Text that ``quote_plus`` keeps as it is, but for the comma of an id list.
_PLAIN_FORM_TEXT = re.compile(r"[A-Za-z0-9_.~,-]*")


def _form_body(form: Mapping[str, str]) -> bytes:
    """``urlencode(form)`` as bytes; ids, digits and names skip ``quote_plus``'s per-byte loop."""
    return "&".join(
        f"{_form_text(name)}={_form_text(value)}" for name, value in form.items()
    ).encode("ascii")


def _form_text(text: str) -> str:
    if _PLAIN_FORM_TEXT.fullmatch(text):
        return text.replace(",", "%2C")
    return quote_plus(text)


# --------------------------------------------------------------------------- the client


class PanelClient:
    """Client of one panel's API v2; thread-safe for the concurrent calls it makes itself.

    ``deadline`` bounds each request from connect to the last byte of its reply;
    ``max_requests_per_minute`` spaces requests for panels that limit them (``clock`` and
    ``sleep`` are injectable so tests need not wait). ``direct`` asks no proxy: for a
    simulator this process started on 127.0.0.1 (the Self-test, the demo), which an
    office's HTTP(S)_PROXY or Windows system proxy cannot reach.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_workers: int = DEFAULT_MAX_WORKERS,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_requests_per_minute: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        direct: bool = False,
    ) -> None:
        self.url = url
        self._key = api_key
        #: The URL as it may be shown: a secret in its query or userinfo hidden.
        self.shown_url = scrub(url, [api_key])
        self.timeout = timeout
        self.deadline = deadline if deadline > 0 else DEFAULT_DEADLINE
        self.max_workers = max(1, max_workers)
        self.retries = max(0, retries)
        self.backoff = backoff
        self._sleep = sleep
        self._limiter = (
            _RateLimiter(max_requests_per_minute, clock, sleep) if max_requests_per_minute else None
        )
        self._owns_session = session is None
        self._route: _Route | None = None
        self._session = session or _session_for(url, direct=direct)
        adapter = _DeadlineAdapter(pool_connections=1, pool_maxsize=self.max_workers, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._lock = threading.Lock()
        # At most max_workers requests in flight whoever sends them: workbooks run at once
        # share one client, so one pool of connections and one limit per panel.
        self._in_flight = threading.BoundedSemaphore(self.max_workers)
        #: Requests actually sent, per action (read by tests and benchmarks).
        self.requests_sent: dict[str, int] = {}
        if _is_clearparse_text(url):
            log.warning(
                "the panel URL %s is plain http:// to another machine: the API key travels "
                "in clear text; use https://",
                self.shown_url,
            )

    @property
    def max_requests_per_minute(self) -> int | None:
        """The client-side rate limit this client keeps to (None: only the panel's 429s)."""
        return None if self._limiter is None else self._limiter.per_minute

    def __repr__(self) -> str:
        return f"PanelClient(url={self.shown_url!r})"

    def __enter__(self) -> PanelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it (a later request opens anew)."""
        if self._owns_session:
            self._session.close()
            route, self._route = self._route, None
            if route is not None:  # its kept-alive connections, which the session forgot
                route.pool.close()

    # ----------------------------------------------------------------- read-only actions

    def services(self) -> list[Service]:
        """The panel's service list (a list, ``{"data": [...]}`` or an object keyed by id)."""
        reply = self._call("services", {})
        entries = _service_entries(reply)
        if entries is None:
            raise self._unexpected("services", reply)
        services: list[Service] = []
        for key, item in entries:
            try:
                services.append(Service.from_api(item, key))
            except ValueError:
                log.warning("services: skipped an entry without a usable service id")
        return services

    def balance(self) -> Balance:
        """The account balance and its currency (``{"balance": ..}``, a number, ``"12.50 EUR"``)."""
        reply = self._call("balance", {})
        raw = _field(reply, "balance", "amount", "funds") if isinstance(reply, Mapping) else reply
        amount = None if isinstance(raw, Mapping | list) else parse_decimal(raw)
        if amount is None:
            raise self._unexpected("balance", reply)
        return Balance(amount, parse_text(_field(reply, "currency")) or _currency_of(raw))

    def status(self, order: int | str) -> OrderStatus:
        """Status of one order; raises :class:`PanelRejectedError` for an unknown id."""
        reply = self._call("status", {"order": str(order)})
        if not isinstance(reply, Mapping):
            raise self._unexpected("status", reply)
        return OrderStatus.from_api(str(order), reply)

    def status_many(self, orders: Iterable[int | str]) -> dict[str, OrderStatus]:
        """Status of many orders, 100 ids a request; every id gets a result (maybe an error)."""
        results: dict[str, OrderStatus] = {}
        for part in self.status_chunks(orders):
            results.update(part)
        return results

    def status_chunks(self, orders: Iterable[int | str]) -> Iterator[dict[str, OrderStatus]]:
        """Like :meth:`status_many`, yielding each 100-id chunk's results as it arrives.

        Lets a caller write one chunk's results while the next requests are in flight.
        """
        return self._fan_out_chunks(_unique_ids(orders), self._status_chunk, _status_failed)

    def status_ahead(self, limit: int = AHEAD_IDS) -> StatusAhead:
        """Status requests that start before the caller knows every id it wants (see
        :class:`StatusAhead`): a refresh asks about the orders it has read so far."""
        return StatusAhead(self, limit)

    def _status_chunk(self, ids: Sequence[str]) -> dict[str, OrderStatus]:
        """One ``status`` request for up to 100 ids: every id gets a result."""
        reply = self._call("status", {"orders": ",".join(ids)})
        by_id: dict[str | None, object]
        if isinstance(reply, list):  # a list of {"order": id, "status": ...}
            by_id = {
                parse_id(_field(item, "order", "id")): item
                for item in reply
                if isinstance(item, Mapping)
            }
        elif isinstance(reply, Mapping):
            if len(ids) == 1 and "status" in reply:  # one id answered the single way
                reply = {ids[0]: reply}
            # Keyed by the ids as sent (they are parse_id's own answers): used as it is.
            by_id = (
                reply
                if isinstance(reply, dict) and reply.keys() <= set(ids)
                else {parse_id(k): v for k, v in reply.items()}
            )
        else:
            raise self._unexpected("status", reply)
        missing = {"error": "missing from the panel's reply"}
        build = OrderStatus.from_api
        return {i: build(i, by_id.get(i, missing)) for i in ids}

    def refill_status(self, refill: int | str) -> RefillStatus:
        """Status of one refill."""
        reply = self._call("refill_status", {"refill": str(refill)})
        if not isinstance(reply, Mapping):
            raise self._unexpected("refill_status", reply)
        return RefillStatus(str(refill), status=parse_text(reply.get("status")) or None)

    def refill_status_many(self, refills: Iterable[int | str]) -> dict[str, RefillStatus]:
        """Status of many refills, 100 ids a request; every id gets a result."""
        return _joined(self.refill_status_chunks(refills))

    def refill_status_chunks(
        self, refills: Iterable[int | str]
    ) -> Iterator[dict[str, RefillStatus]]:
        """Like :meth:`refill_status_many`, yielding each 100-id chunk's results as it
        arrives; closing it ends the requests in flight and sends no more."""
        return self._list_multi(
            "refill_status",
            "refills",
            ("refill", "status"),
            refills,
            lambda rid, value, error: RefillStatus(rid, parse_text(value) or None, error),
            lambda i, e: RefillStatus(i, error=_reason(e), unavailable=_down(e)),
        )

    # ----------------------------------------------------------------- paid actions

    def add(self, service: int, **fields: object) -> str:
        """Place one order and return its id; raises :class:`AmbiguousRequestError` when unsure.

        The id is text exactly as the panel gave it (``"151"``, ``"ORD-01HG..."``), from
        ``{"order": 151}``, ``{"status": "success", "order": 151}`` or ``{"data": {...}}``.

        ``fields`` are the service type's parameters (``link``, ``quantity``, ``runs``,
        ``comments``, ...). Lists (comments, usernames) are sent one item per line.
        """
        unknown = set(fields) - ADD_FIELDS
        if unknown:
            raise TypeError(f"unknown add fields: {', '.join(sorted(unknown))}")
        params = {"service": str(service)}
        for name, value in fields.items():
            if value is None or value == "":
                continue
            if isinstance(value, list | tuple):
                value = "\n".join(str(v) for v in value)
            params[name] = str(value)
        reply = self._call("add", params)
        order = parse_id(_field(reply, "order", "order_id"))
        if order is None:
            # The panel answered, but not with an order id: we cannot tell whether it placed.
            raise AmbiguousRequestError(
                "add: the panel replied without an order id; the order may have been placed",
                action="add",
            )
        return order

    def refill(self, order: int | str) -> str:
        """Request a refill of one order and return the refill id."""
        reply = self._call("refill", {"order": str(order)})
        refill = parse_id(_field(reply, "refill", "refill_id"))
        if refill is None:
            raise self._unexpected("refill", reply)
        return refill

    def refill_many(self, orders: Iterable[int | str]) -> dict[str, RefillResult]:
        """Request refills for many orders, 100 ids a request; per-order refill id or error."""

        def build(oid: str, value: object, error: str | None) -> RefillResult:
            rid = parse_id(value)
            if rid is None and error is None and value:
                # A yes without an id ({"refill": true}, {"success": true}): refused, the
                # flag would stay and the next run pay for the refill again.
                return RefillResult(oid, None, _NO_REFILL_ID, uncertain=True)
            return RefillResult(oid, rid, error or (None if rid else "no refill id"))

        return _joined(
            self._list_multi(
                "refill", "orders", ("order", "refill"), orders, build, _uncertain(RefillResult)
            )
        )

    def cancel(self, orders: Iterable[int | str]) -> dict[str, CancelResult]:
        """Cancel orders, 100 ids a request; per-order success or the panel's error."""

        def build(oid: str, value: object, error: str | None) -> CancelResult:
            ok = error is None and _accepted(value)
            return CancelResult(oid, ok, None if ok else error or "the panel did not cancel it")

        return _joined(
            self._list_multi(
                "cancel", "orders", ("order", "cancel"), orders, build, _uncertain(CancelResult)
            )
        )

    # ----------------------------------------------------------------- plumbing

    def _list_multi(
        self,
        action: str,
        param: str,
        fields: tuple[str, str],
        ids: Iterable[int | str],
        build: Callable[[str, object, str | None], T],
        failed: Callable[[str, PanelError], T],
    ) -> Iterator[dict[str, T]]:
        """A multi-id action answered per id, in whichever shape the panel uses.

        A list of ``{id_field: id, value_field: value | {"error": m}}`` (or ``"error": m``
        beside the id), an object keyed by id, a list in the order of the ids sent
        (``[1, {"error": m}]``), or, for one id, the single reply (``{"refill": "1"}``).
        ``build(id, value, error)`` makes each result; ``value`` is None when ``error`` is set.
        An id the reply leaves out, like every id of a chunk that failed, is ``failed(id,
        error)``: a paid request sent and not answered may have been done. An id answered
        twice keeps its first answer that it was done, or else its first refusal.
        Each 100-id chunk's results as they arrive (see :func:`_joined`).
        """
        id_field, value_field = fields

        def one_chunk(chunk: Sequence[str]) -> dict[str, T]:
            reply = self._call(action, {param: ",".join(chunk)})
            entries = self._entries(action, chunk, reply, id_field, value_field)
            out: dict[str, T] = {}
            refused: set[str] = set()
            for key, entry in entries:
                if key is None:
                    continue
                value, error = _entry(entry, value_field)
                if key in out and (error or key not in refused):
                    # Answered twice: an answer that it was done is kept (a refill made
                    # and read as refused would be flagged, and paid for, again).
                    continue
                if error == _EMPTY_ERROR and action in PAID_ACTIONS:  # as for an add: may be done
                    out[key] = failed(key, self._maybe_done(action, error, None))
                else:
                    out[key] = build(key, None if error else value, error)
                if error:
                    refused.add(key)
                else:
                    refused.discard(key)
            if not any(i in out for i in chunk):
                raise self._unexpected(action, reply)
            # An id sent and not answered: the panel may have done it all the same.
            left_out = self._maybe_done(action, "the panel's reply leaves this order out", None)
            return {i: out[i] if i in out else failed(i, left_out) for i in chunk}

        return self._fan_out_chunks(_unique_ids(ids), one_chunk, failed)

    def _entries(
        self, action: str, chunk: Sequence[str], reply: object, id_field: str, value_field: str
    ) -> list[tuple[str | None, object]]:
        """(id, entry) pairs of a multi reply; see :meth:`_list_multi` for the shapes."""
        if isinstance(reply, list):
            keyed = [e for e in reply if isinstance(e, Mapping) and id_field in e]
            if keyed:
                return [(parse_id(e[id_field]), e) for e in keyed]
            if len(reply) == len(chunk):  # positional: one answer per id sent, in order
                return list(zip(chunk, reply, strict=True))
        elif isinstance(reply, Mapping):
            if len(chunk) == 1 and (value_field in reply or "success" in reply):
                return [(chunk[0], reply)]
            return [
                (
                    parse_id(v[id_field])
                    if isinstance(v, Mapping) and id_field in v
                    else parse_id(k),
                    v,
                )
                for k, v in reply.items()
            ]
        raise self._unexpected(action, reply)

    def _fan_out_chunks(
        self,
        ids: list[str],
        one_chunk: Callable[[Sequence[str]], dict[str, T]],
        failed: Callable[[str, PanelError], T],
    ) -> Iterator[dict[str, T]]:
        """Run ``one_chunk`` over 100-id chunks with bounded concurrency, yielding as they end.

        A chunk that fails lands as a per-id error on each of its ids, so the other chunks'
        results are kept; only an error that stops the run (invalid key, a panel asking to
        wait longer than we do) is raised.
        """
        chunks = list(chunked(ids))
        guarded = _guarded(one_chunk, failed)
        if len(chunks) <= 1 or self.max_workers == 1:
            for chunk in chunks:
                yield guarded(chunk)
            return
        workers = min(self.max_workers, len(chunks))
        fan = _FanOut(guarded, workers, window=2 * workers)
        try:
            for chunk in chunks:
                fan.put(chunk)
            fan.end()
            fan.start()  # in the try: a Ctrl-C in a start() stops the workers already started
            yield from fan.results()
        finally:
            fan.close()

    def _unexpected(self, action: str, reply: object) -> PanelError:
        snippet = self._scrub(json.dumps(reply, default=str)[:120])
        if action in PAID_ACTIONS:
            return self._maybe_done(action, f"unexpected reply from the panel: {snippet}", None)
        return PanelUnavailableError(
            f"{action}: unexpected reply from the panel: {snippet}", action=action
        )

    def _scrub(self, text: str) -> str:
        """Remove every form of the API key (and secret URL parameters) from panel text."""
        return scrub(text, [self._key])

    def _call(self, action: str, params: Mapping[str, str]) -> Any:
        """Send one action, retrying only when that cannot spend money twice."""
        attempt = 0
        while True:
            try:
                return self._send(action, params)
            except _Final as final:
                raise final.error from None
            except (PanelUnavailableError, AmbiguousRequestError) as exc:
                if not exc.retry_safe or exc.stops_run or attempt >= self.retries:
                    raise
                wait = self.backoff * (2**attempt)
                if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                attempt += 1
                log.info("%s: %s; retry %d in %.2fs", action, exc.message, attempt, wait)
                self._sleep(wait)

    def _send(self, action: str, params: Mapping[str, str]) -> Any:
        """One HTTP POST within the deadline; every failure comes out as our error."""
        paid = action in PAID_ACTIONS
        data = {"key": self._key, "action": action, **params}
        with self._in_flight:  # the slot first: a rate-limit slot is used as soon as taken
            if self._limiter is not None:
                self._limiter.acquire()
            return self._post(action, data, paid)

    def _post(self, action: str, data: Mapping[str, str], paid: bool) -> Any:
        """The POST itself and its reply, read and parsed within the deadline."""
        with self._lock:
            self.requests_sent[action] = self.requests_sent.get(action, 0) + 1
        route = self._route
        if route is None or route.pool.pool is None:  # the first request, or after close()
            route = self._resolve(action)
        started = time.monotonic()
        watch = _Watch(started + self.deadline)
        response: BaseHTTPResponse | None = None
        read = False
        try:
            _current.watch, _current.sent = watch, None  # connect() of ours: False
            try:
                response = route.send(data)
            except (u3.HTTPError, OSError) as exc:
                if _current.sent is False:  # no byte left (a TLS handshake that stalls)
                    name = _failure_of(exc)[0]
                    name = "ConnectTimeout" if name == "ReadTimeout" else name
                    raise self._unreachable(action, name) from None
                if watch.fired or time.monotonic() >= watch.deadline:
                    raise _Final(self._too_slow(action)) from None
                raise self._transport_error(action, exc) from None
            finally:
                _current.watch = None
            body = self._read(action, response, watch)
            read = True
        finally:
            watch.disarm()
            if response is not None:
                if not read:  # a reply cut short: its connection is not lent again
                    response.close()
                response.release_conn()
        log.debug(
            "%s -> HTTP %s, %d bytes in %.3fs",
            action,
            response.status,
            len(body),
            time.monotonic() - started,
        )
        return self._parse(action, response.status, response.headers, body, paid)

    def _resolve(self, action: str) -> _Route:
        """This client's :class:`_Route`, made on its first request and again after close()."""
        with self._lock:
            if self._route is None or self._route.pool.pool is None:
                try:
                    self._route = _Route(self._session, self.url, self._timeouts())
                except requests.RequestException as exc:
                    raise self._transport_error(action, exc) from None
                except OSError as exc:  # a CA bundle or client certificate that is not there
                    raise PanelUnavailableError(
                        f"{action}: {self._scrub(str(exc))}", action=action
                    ) from None
            return self._route

    def _timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts, neither longer than the whole request's deadline."""
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        return min(connect, self.deadline), min(read, self.deadline)

    def _read(self, action: str, response: BaseHTTPResponse, watch: _Watch) -> bytes:
        """The whole reply body, streamed: at most the action's size cap, within the deadline."""
        limit = MAX_REPLY_BYTES.get(action, DEFAULT_MAX_REPLY_BYTES)
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and len(declared) < 20 and int(declared) > limit:
            raise _Final(self._too_large(action, limit, response.status))
        parts: list[bytes] = []
        size = 0
        try:
            for part in response.stream(READ_CHUNK_BYTES, decode_content=True):
                size += len(part)
                if size > limit:
                    raise _Final(self._too_large(action, limit, response.status))
                parts.append(part)
                if time.monotonic() > watch.deadline:
                    raise _Final(self._too_slow(action))
        except (u3.HTTPError, OSError) as exc:
            if watch.fired or time.monotonic() >= watch.deadline:
                raise _Final(self._too_slow(action)) from None
            raise self._lost_reply(action, _in_words(type(exc).__name__)) from None
        return b"".join(parts)

    def _too_slow(self, action: str) -> PanelError:
        what = f"no complete answer within the {self.deadline:g} s deadline"
        if action in PAID_ACTIONS:
            return self._maybe_done(action, what, None)
        return PanelUnavailableError(f"{action}: {what}", action=action, retry_safe=True)

    def _too_large(self, action: str, limit: int, status: int) -> PanelError:
        what = f"reply larger than {limit / MEGABYTE:g} MB"
        if action in PAID_ACTIONS:
            return self._maybe_done(action, what, status)
        return PanelUnavailableError(
            f"{action}: {what}, refused", action=action, status_code=status, retry_safe=True
        )

    def _lost_reply(self, action: str, kind: str) -> PanelError:
        """The connection broke after the request was sent: a paid one may have been done."""
        if action in PAID_ACTIONS:
            return self._maybe_done(action, f"no answer from the panel ({kind})", None)
        return PanelUnavailableError(
            f"{action}: no answer from the panel ({kind})", action=action, retry_safe=True
        )

    def _transport_error(self, action: str, exc: Exception) -> PanelError:
        """Translate a transport failure; decide whether the request can have been sent."""
        if isinstance(exc, requests.exceptions.InvalidSchema):  # found before sending
            if "SOCKS" in str(exc):
                what = 'is a SOCKS proxy, which needs PySocks (pip install "requests[socks]")'
            else:
                what = "has a scheme requests cannot send through"
            return PanelUnavailableError(
                f"{action}: the panel URL or the proxy set for {self.shown_url} {what}; "
                "nothing was sent",
                action=action,
            )
        # urllib3 refuses a host name it cannot look up (an empty label, one over 63
        # characters) before it opens a connection: as invalid as requests' InvalidURL.
        invalid = requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
        if isinstance(exc, invalid | u3.LocationValueError):
            if self._proxy_is_at_fault():
                return PanelUnavailableError(
                    f"{action}: the proxy set for {self.shown_url} is not a valid URL (see "
                    "HTTPS_PROXY, HTTP_PROXY and ALL_PROXY); nothing was sent: correct or unset "
                    "it",
                    action=action,
                )
            return PanelUnavailableError(
                f"{action}: invalid panel URL {self.shown_url!r}", action=action
            )
        name, never_sent = _failure_of(exc)
        if never_sent:
            return self._unreachable(action, name)
        return self._lost_reply(action, _in_words(name))

    def _unreachable(self, action: str, name: str) -> PanelError:
        """Nothing of the request was sent: safe to send again, whatever the action."""
        return PanelUnavailableError(
            f"{action}: cannot reach the panel at {self.shown_url} ({_in_words(name)})",
            action=action,
            retry_safe=True,
        )

    def _proxy_is_at_fault(self) -> bool:
        """A URL was refused while the panel's own is sound: the proxy chosen for it. (Its
        text is not repeated: a proxy URL may hold a password.)

        Sound as ``requests`` prepares it (a host with a leading dot or a ``*`` has one, and
        is refused all the same); the proxy is the one this client's session uses (none for
        a ``direct`` client, whatever the environment says).
        """
        try:
            requests.Request("POST", self.url).prepare()
        except (requests.RequestException, u3.LocationValueError):
            return False
        # The proxies as _Route takes them: requests' own merge of the session's and the
        # environment's (none read for a session that does not trust the environment).
        settings = self._session.merge_environment_settings(self.url, {}, True, None, None)
        return bool(requests.utils.select_proxy(self.url, settings["proxies"]))

    def _parse(
        self, action: str, status: int, headers: Mapping[str, str], raw: bytes, paid: bool
    ) -> Any:
        """Turn an HTTP status and body into JSON data or the matching error."""
        if 300 <= status < 400:
            target = self._scrub(headers.get("Location", "?"))
            if paid:  # the panel's code may have run before it redirected
                raise self._maybe_done(action, f"HTTP {status} redirect to {target}", status)
            raise PanelUnavailableError(
                f"{action}: the panel redirected to {target}; use that URL as the panel URL",
                action=action,
                status_code=status,
            )
        try:
            body = raw.decode(_encoding_of(headers) or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            body = raw.decode("utf-8", errors="replace")
        cleaned = self._scrub(body)
        data = _loads(body)
        if ("\\ud" in body or "\\uD" in body) and data is not _NOT_JSON:
            # JSON may escape half a character ("\ud800"): text no file or terminal takes.
            data = _scrub_tree(data, _whole_characters)
        if cleaned != body or _spells_out(body, self._key):
            # the panel echoed the key: hide it in every string of the reply
            body, data = cleaned, _scrub_tree(data, self._scrub)
        # An id, beside an error text or under an HTTP error status: the order (or refill)
        # exists, even under a 429: a retry would place a second order.
        made = data is not _NOT_JSON and parse_id(_field(data, *_ID_FIELDS.get(action, ())))
        if status == 429 and not (paid and made):
            raise self._rate_limited(action, headers)
        if data is _NOT_JSON:
            raise self._not_json(action, status, body, paid)
        definite = _is_definite_answer(status)
        refusal = None if _is_keyed_multi(action, data) else refusal_of(data)
        if made:  # taking it for a refusal would place the row again
            if refusal is not None or status >= 300:
                log.warning(
                    "%s: the panel answered an id with HTTP %d%s; took the id",
                    action,
                    status,
                    "" if refusal is None else f" and an error ({refusal})",
                )
            return data
        if paid and refusal is not None and _empty_error(data):
            # {"error": null} / false / "" says no word: no refusal we can be sure of.
            raise self._maybe_done(action, "the panel answered an empty error", status)
        if refusal is None and 400 <= status < 500 and definite:  # a 4xx JSON is a refusal
            refusal = message_of(data) or f"HTTP {status}"
        if refusal is not None:
            message = refusal[:300]
            if not definite:
                # A 5xx (or 408) after a request was sent proves nothing, whatever the body.
                if paid:
                    raise self._maybe_done(action, f"HTTP {status}: {message}", status)
                raise PanelUnavailableError(
                    f"{action}: the panel failed (HTTP {status}: {message})",
                    action=action,
                    status_code=status,
                    retry_safe=True,
                )
            if _INVALID_KEY.search(message):
                # Which panel: a workbook may use several, and each has its own key.
                raise InvalidKeyError(
                    f"the panel refused the API key for {self.shown_url} ({message})",
                    action=action,
                    status_code=status,
                )
            if status == 401 or (status == 403 and _ACCESS_DENIED.search(message)):
                raise InvalidKeyError(
                    f"the panel at {self.shown_url} refused this key or this machine "
                    f"(HTTP {status}: {message})",
                    action=action,
                    status_code=status,
                )
            raise PanelRejectedError(message, action=action, status_code=status)
        if status >= 400:
            raise self._not_json(action, status, body, paid)
        return data

    def _rate_limited(self, action: str, headers: Mapping[str, str]) -> RateLimitedError:
        """HTTP 429: refused, so safe to send again; but not after a wait longer than ours."""
        retry_after = _retry_after(headers.get("Retry-After"))
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            wait = f"{retry_after:,.0f} s" if retry_after < 1e9 else "indefinitely"
            return RateLimitedError(
                f"{action}: the panel asks to wait {wait} before the next request (HTTP 429), "
                f"longer than smmsheet waits ({MAX_RETRY_AFTER:g} s): stopped, nothing more "
                "was sent; run again later",
                action=action,
                status_code=429,
                retry_safe=True,
                stops_run=True,
                retry_after=retry_after,
            )
        return RateLimitedError(
            f"{action}: the panel is rate limiting requests (HTTP 429)",
            action=action,
            status_code=429,
            retry_safe=True,
            retry_after=retry_after,
        )

    def _maybe_done(self, action: str, what: str, status: int | None) -> AmbiguousRequestError:
        """A paid request was sent and the answer does not say no: it may have been done."""
        done = "the order may have been placed" if action == "add" else "it may have been done"
        return AmbiguousRequestError(
            f"{action}: {what}; {done}, check the panel", action=action, status_code=status
        )

    def _not_json(self, action: str, status: int, body: str, paid: bool) -> PanelError:
        challenge = bool(_CHALLENGE.search(body[:5000]))
        if status >= 500 or "<html" in body[:2000].lower() or challenge:
            what = f"HTTP {status}" + (" (browser challenge page)" if challenge else "")
        else:
            what = f"HTTP {status}, not JSON: {self._scrub(body[:60].strip())!r}"
        # A challenge page is served by the edge before the panel's code runs: not processed.
        if paid and not challenge:
            return self._maybe_done(action, f"the panel answered {what}", status)
        if status in (404, 405) and not challenge:
            # A web page, not an API, lives at this address: the URL is wrong, not the panel
            # down (the site's address without /api/v2, or a path with a typo).
            return PanelUnavailableError(
                f"{action}: no panel API at {self.shown_url} (HTTP {status}): check the panel "
                "URL, the API's address from the panel's API page (it usually ends in /api/v2)",
                action=action,
                status_code=status,
            )
        return PanelUnavailableError(
            f"{action}: the panel is unavailable ({what})",
            action=action,
            status_code=status,
            retry_safe=not paid,
        )


_NOT_JSON = object()
#: Where a paid action's reply carries the id of what it created.
_ID_FIELDS: dict[str, tuple[str, ...]] = {
    "add": ("order", "order_id"),
    "refill": ("refill", "refill_id"),
}
#: Python refuses to read an integer of more than 4,300 digits; longer ones stay Decimal
#: (and are then "no id" / "no number" for the parse helpers), never a ValueError.
_INT_DIGITS_READ = 4000


def _json_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _INT_DIGITS_READ else Decimal(text)


def _loads(body: str) -> Any:
    """Parse JSON that may be preceded by a BOM or PHP notices."""
    text = body.lstrip("\ufeff \r\n\t")
    try:
        return json.loads(text, parse_int=_json_int)
    except (ValueError, RecursionError):
        pass
    starts = [i for i in (text.find("{"), text.find("[")) if i > 0]
    if starts and not text.lstrip().lower().startswith(("<!doctype", "<html")):
        try:
            return json.loads(text[min(starts) :], parse_int=_json_int)
        except (ValueError, RecursionError):
            pass
    return _NOT_JSON


def _scrub_tree(data: Any, clean: Callable[[str], str]) -> Any:
    """``data`` with ``clean`` applied to every string in it, keys included."""
    if isinstance(data, str):
        return clean(data)
    if isinstance(data, list):
        return [_scrub_tree(item, clean) for item in data]
    if isinstance(data, dict):
        return {clean(str(k)): _scrub_tree(v, clean) for k, v in data.items()}
    return data


def _spells_out(body: str, secret: str) -> bool:
    """Whether ``body`` writes a character of ``secret`` as a JSON escape (``\\u0061``): the
    parsed reply may then hold the secret though the text does not."""
    if not secret or "\\u" not in body:
        return False
    escapes = "|".join(f"{ord(char):04x}" for char in set(secret))
    return re.search(rf"\\u(?:{escapes})", body, re.IGNORECASE) is not None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole_characters(text: str) -> str:
    """``text`` with each lone UTF-16 surrogate (half a character) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _is_keyed_multi(action: str, data: object) -> bool:
    """A multi ``status`` reply keyed by ids (each value an object) is not a top-level error."""
    return (
        action == "status"
        and isinstance(data, Mapping)
        and all(isinstance(v, dict) for v in data.values())  # JSON's objects are dicts
    )


def _empty_error(data: object) -> bool:
    """A reply whose ``error`` key carries no words (null, false, "", [])."""
    return isinstance(data, Mapping) and "error" in data and not message_of(data["error"])


def _is_definite_answer(status: int) -> bool:
    """An HTTP status whose JSON error means the panel refused a paid request for certain.

    2xx and 4xx are the panel's own word (429 is handled before: refused, retried). A 5xx
    or a 408 may come from a proxy or a crash after the panel processed the request.
    """
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return None if math.isnan(seconds) else max(0.0, seconds)


#: What a transport failure (a requests or urllib3 exception class) means, for a message.
TRANSPORT_WORDS = {
    "ConnectTimeout": "connecting timed out",
    "ConnectionError": "the connection failed",
    "SSLError": "a TLS (https) error",
    "ReadTimeout": "the answer timed out",
    "ChunkedEncodingError": "the answer broke off",
    "ProtocolError": "the answer broke off",
    "ContentDecodingError": "the answer could not be decoded",
    "DecodeError": "the answer could not be decoded",
    "ReadTimeoutError": "the answer timed out",
    "ProxyError": "the proxy failed",
}


def _in_words(kind: str) -> str:
    """A transport failure as a person reads it; a class not listed is named as it is."""
    return TRANSPORT_WORDS.get(kind, kind)


def _joined(chunks: Iterable[dict[str, T]]) -> dict[str, T]:
    """Every chunk's results in one dict."""
    results: dict[str, T] = {}
    for part in chunks:
        results.update(part)
    return results


def _failure_of(exc: Exception) -> tuple[str, bool]:
    """(the name ``requests`` gives a failed send, whether the request was never sent).

    Nothing was sent when the connection was never made: refused, no such host, a connect
    timeout (to the panel or to its proxy), a TLS handshake that failed. Names as
    ``requests``' adapter translates urllib3's exceptions, so messages read as they did when
    it sent the requests.
    """
    if isinstance(exc, requests.RequestException):
        if isinstance(exc, requests.exceptions.SSLError):
            return type(exc).__name__, _in_handshake(exc)
        return type(exc).__name__, isinstance(exc, requests.ConnectTimeout)
    table, default = _RAISED, (type(exc).__name__, False)
    if isinstance(exc, u3.MaxRetryError):  # what failed before the request could be sent
        exc = exc.reason or exc
        table, default = _GAVE_UP, ("ConnectionError", False)
    if isinstance(exc, u3.SSLError):
        return "SSLError", _in_handshake(exc)
    if isinstance(exc, u3.ProxyError) and isinstance(exc.original_error, u3.ConnectTimeoutError):
        return "ProxyError", True  # the proxy refused or never answered the connection
    return next(((name, sent) for kind, name, sent in table if isinstance(exc, kind)), default)


def _in_handshake(exc: BaseException) -> bool:
    """Whether a TLS error came from setting up the connection, before anything was sent.

    A certificate that fails its check, or a handshake that fails, sends nothing; a TLS
    error while the reply is read (a panel or a box in between that breaks the connection
    after the request went out) may follow an order the panel placed: resending it bought
    the same order again. Found in the chain of causes; not found means "may have been sent".
    """
    seen: set[int] = set()
    causes: list[object] = [exc]
    while causes:
        error = causes.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.CertificateError):  # checked in the handshake, or right after
            return True
        if isinstance(error, ssl.SSLError):
            frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
            return any(frame.name == "do_handshake" for frame in frames)
        causes += [error.__cause__, error.__context__, getattr(error, "reason", None), *error.args]
    return False


#: (urllib3 exception, requests' name for it, never sent): a reason urlopen gave up for.
_GAVE_UP: tuple[tuple[type[Exception] | types.UnionType, str, bool], ...] = (
    (u3.NewConnectionError | u3.NameResolutionError, "ConnectionError", True),
    (u3.ConnectTimeoutError, "ConnectTimeout", True),
    (u3.ResponseError, "RetryError", False),
    (u3.ProxyError, "ProxyError", False),
    (u3.SSLError, "SSLError", False),  # never sent only in the handshake: _in_handshake
)
#: The same for an exception urlopen raised itself.
_RAISED: tuple[tuple[type[Exception] | types.UnionType, str, bool], ...] = (
    (u3.ClosedPoolError, "ConnectionError", True),  # raised before a connection is taken
    (u3.ProtocolError | OSError, "ConnectionError", False),
    (u3.ProxyError, "ProxyError", False),
    (u3.SSLError, "SSLError", False),  # never sent only in the handshake: _in_handshake
    (u3.ReadTimeoutError, "ReadTimeout", False),
)


def _encoding_of(headers: Mapping[str, str]) -> str | None:
    """The reply's charset as ``requests`` reads it from Content-Type (None: not given)."""
    return requests.utils.get_encoding_from_headers(headers)


def _reason(exc: PanelError) -> str:
    """A failed request's message for each id it carried, without the action that callers add.

    ``"status: cannot reach the panel"`` became ``"status: status: cannot reach..."`` in cells.
    """
    prefix = f"{exc.action}: " if exc.action else ""
    return exc.message.removeprefix(prefix) if prefix else exc.message


def _down(exc: PanelError) -> bool:
    """Whether a failed request says nothing about its ids: the panel could not be asked."""
    return isinstance(exc, PanelUnavailableError)


def _status_failed(order: str, exc: PanelError) -> OrderStatus:
    return OrderStatus(order, error=_reason(exc), unavailable=_down(exc))


def _guarded(
    one_chunk: Callable[[Sequence[str]], dict[str, T]],
    failed: Callable[[str, PanelError], T],
) -> Callable[[Sequence[str]], dict[str, T]]:
    """``one_chunk`` whose failure lands on each of its ids, unless it stops the run."""

    def guarded(chunk: Sequence[str]) -> dict[str, T]:
        try:
            return one_chunk(chunk)
        except PanelError as exc:
            if exc.stops_run:
                raise
            return {i: failed(i, exc) for i in chunk}

    return guarded


# --------------------------------------------------------------------------- fan-out


class _FanOut(Generic[T]):
    """Workers sending the chunks put in, their results read in the order they end.

    Chunks may still be put while results come back (a caller still finding its ids);
    :meth:`end` says no more will come. ``window`` bounds the results sent but not yet read:
    a million ids are 10,000 chunks, whose results would all stay alive until the last one
    was read. ``ahead`` is extra room for chunks sent before anyone reads (given back as the
    first results are read, so the window is ``window`` again afterwards). Plain threads and
    queues: a pool's futures and ``wait`` cost a fifth of the client's CPU per request.

    The caller starts it in a try whose finally calls :meth:`close`: a Ctrl-C in a
    ``start()`` must stop the workers already started.
    """

    def __init__(
        self,
        guarded: Callable[[Sequence[str]], dict[str, T]],
        workers: int,
        window: int,
        ahead: int = 0,
    ) -> None:
        self._guarded = guarded
        self._window = threading.Semaphore(window + ahead)
        self._ahead = ahead
        self._todo: queue.SimpleQueue[Sequence[str] | None] = queue.SimpleQueue()
        self._out: queue.SimpleQueue[dict[str, T] | BaseException | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name="smmsheet-chunks", daemon=True)
            for _ in range(workers)
        ]
        self._turns = contextlib.ExitStack()

    def put(self, chunk: Sequence[str]) -> None:
        self._todo.put(chunk)

    def end(self) -> None:
        """No more chunks: each worker stops once the ones put are taken."""
        self._todo.put(None)

    def start(self) -> None:
        self._turns.enter_context(quick_turns())  # while requests are in flight
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        try:
            while self._window.acquire() and not self._stop.is_set():
                chunk = self._todo.get()
                if chunk is None or self._stop.is_set():
                    self._todo.put(None)  # the end, for the next worker too
                    return
                self._out.put(self._guarded(chunk))
        except BaseException as exc:  # stops the run: no worker takes another chunk
            self._stop.set()
            self._out.put(exc)
        finally:
            self._out.put(None)  # this worker is done

    def results(self) -> Iterator[dict[str, T]]:
        """Each chunk's results as it ends, until the last chunk put before :meth:`end`."""
        running = len(self._threads)
        owed = self._ahead  # room lent for chunks sent before this read: not given back
        while running:
            result = self._out.get()
            if result is None:
                running -= 1
            elif isinstance(result, BaseException):
                raise result
            else:
                if owed:
                    owed -= 1
                else:
                    self._window.release()
                yield result

    def close(self) -> None:
        """Stop the workers: each ends after the request it is in; idempotent.

        The turns are given back whatever is interrupted (as the ``with`` around the
        workers did): a Ctrl-C here must not leave the process on 1 ms turns.
        """
        try:
            self._stop.set()
            self._todo.put(None)  # wakes a worker waiting for a chunk
            self._window.release(len(self._threads))  # and those waiting for room: they see stop
            for thread in self._threads:
                if thread.is_alive():  # one never started, or not yet, sees stop
                    thread.join()
        finally:
            self._turns.close()


class StatusAhead:
    """Status requests sent while the caller is still finding the ids it will ask about.

    A ``status`` request changes nothing on the panel, so asking early costs only the
    request. A refresh hands over each open order's id as its row is read (:meth:`add`),
    and the requests start with the first 100 ids, while the rest of the sheet is still
    being read. Then it asks for exactly the ids it wants (:meth:`chunks`): the answers
    already in for those ids, then requests for the others. An answer for an id it no
    longer wants is dropped. At most ``limit`` ids are asked about ahead; :meth:`close`
    stops the requests, whether :meth:`chunks` ran or not.
    """

    def __init__(self, client: PanelClient, limit: int = AHEAD_IDS) -> None:
        self.client = client
        self._limit = limit
        self._seen: set[str] = set()  # added: sent, or pending
        self._pending: list[str] = []  # added, not yet sent: fewer than 100
        self._fan: _FanOut[OrderStatus] | None = None
        self._closed = False

    def add(self, order: str) -> bool:
        """Ask about ``order`` (an id as :func:`parse_id` gives it) with the next 99 ids;
        False once ``limit`` ids are in, or after :meth:`chunks` or :meth:`close`."""
        if self._closed or len(self._seen) >= self._limit:
            return False
        if order in self._seen:
            return True
        self._seen.add(order)
        pending = self._pending
        pending.append(order)
        if len(pending) >= MAX_IDS_PER_REQUEST:
            self._send(pending)
            self._pending = []
        return True

    def _send(self, chunk: list[str]) -> None:
        fan = self._fan
        if fan is None:
            workers = self.client.max_workers
            chunks = -(-self._limit // MAX_IDS_PER_REQUEST)
            fan = self._fan = _FanOut(
                _guarded(self.client._status_chunk, _status_failed),
                workers,
                window=2 * workers,
                ahead=chunks,
            )
            try:
                fan.start()
            except BaseException:
                self.close()
                raise
        fan.put(chunk)

    @property
    def unread(self) -> bool:
        """Whether :meth:`chunks` may still be called: neither read nor closed."""
        return not self._closed

    def chunks(self, orders: Iterable[int | str]) -> Iterator[dict[str, OrderStatus]]:
        """Like :meth:`PanelClient.status_chunks` over ``orders``: what was asked ahead,
        then the rest. Once only, and not after :meth:`close`: nothing more is added."""
        if self._closed:
            raise RuntimeError("status asked ahead was read or closed already")
        self._closed = True
        wanted = _unique_ids(orders)
        if self._fan is None:  # no request went out ahead: the plain way
            return self.client.status_chunks(wanted)
        return self._answers(self._fan, wanted)

    def _answers(
        self, fan: _FanOut[OrderStatus], wanted: list[str]
    ) -> Iterator[dict[str, OrderStatus]]:
        try:
            seen, pending = self._seen, set(self._pending)  # sent: seen and not pending
            for chunk in chunked([i for i in wanted if i not in seen or i in pending]):
                fan.put(chunk)
            fan.end()
            keep = set(wanted)
            for result in fan.results():
                if not keep.issuperset(result):  # asked ahead, wanted no more
                    result = {i: st for i, st in result.items() if i in keep}
                    if not result:
                        continue
                yield result
        finally:
            self.close()

    def close(self) -> None:
        """Stop the requests sent ahead (each worker ends after the one it is in)."""
        self._closed = True
        if self._fan is not None:
            self._fan.close()
        self._seen, self._pending = set(), []  # a run's last part: let go
