"""PanelClient: one method per action of the SMM panel API v2, typed results, safe retries.

Example::

    from smmsheet.panel import PanelClient

    with PanelClient("https://panel.example/api/v2", api_key) as panel:
        print(panel.balance())                       # Balance(amount=Decimal('100.84'), ...)
        order_id = panel.add(1, link="https://instagram.com/x", quantity=1000)
        print(panel.status_many([order_id, "42"]))   # {"1001": OrderStatus(...), "42": error}

This module is the only place that turns ``requests`` exceptions, HTTP statuses, HTML pages
and ``{"error": ...}`` bodies into :mod:`smmsheet.errors`. Read-only actions are retried on
transient faults; paid actions (add, refill, cancel) are sent again only when the request
provably never reached the panel (connection refused, connect timeout, HTTP 429).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from .errors import (
    AmbiguousRequestError,
    InvalidKeyError,
    PanelError,
    PanelRejectedError,
    PanelUnavailableError,
    RateLimitedError,
)

__all__ = [
    "ADD_FIELDS",
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MAX_IDS_PER_REQUEST",
    "Balance",
    "CancelResult",
    "OrderStatus",
    "PanelClient",
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
#: Chunks of a multi-id action, and ``add`` calls, in flight at once. 8 places 1,000 orders
#: on a 100 ms panel in ~14 s (4 took ~27 s); a panel that allows fewer answers 429, which
#: is retried safely (the request was refused, not processed). Profiles may lower it.
DEFAULT_MAX_WORKERS = 8
#: The API's limit for ``orders``/``refills`` lists.
MAX_IDS_PER_REQUEST = 100
#: Extra attempts for read-only actions (and for paid ones that never reached the panel).
DEFAULT_RETRIES = 3
#: First back-off in seconds; doubles each attempt.
DEFAULT_BACKOFF = 0.5
#: Longest ``Retry-After`` we are willing to honour, in seconds.
MAX_RETRY_AFTER = 60.0

USER_AGENT = "smmsheet/0.1 (+panel API v2 client)"

#: Every ``add`` parameter of every service type (PANEL_API.md).
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
_CHALLENGE = re.compile(r"just a moment|cf-chl|attention required|cf-browser-verification", re.I)
_NUMBER = re.compile(r"[-+]?[\d.,]+")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_NUMBER_ONLY = re.compile(r"[-+]?[\d.,]+", re.ASCII)
#: Longest order or refill id we accept from a panel or a cell; longer is garbage.
MAX_ID_CHARS = 100


# --------------------------------------------------------------------------- parsing helpers


def parse_decimal(value: object) -> Decimal | None:
    """Read a panel number: ``"0.90"``, ``1.5``, ``"1,234.56"``, ``"12.50 EUR"``, ``"0,5"``.

    >>> parse_decimal("1,234.56")
    Decimal('1234.56')
    """
    if type(value) is str and _PLAIN_NUMBER.fullmatch(value):
        return Decimal(value)  # the common case: "0.27819", "3572"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else Decimal(repr(value))
    match = _NUMBER.search(str(value))
    if not match:
        return None
    text = match.group(0)
    if "," in text:
        if "." in text:  # "1,234.56": commas group thousands
            text = text.replace(",", "")
        elif re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", text):  # "1,234" / "12,345,678"
            text = text.replace(",", "")
        else:  # "0,5": a decimal comma
            text = text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_int(value: object) -> int | None:
    """Read a panel count or id: ``"3572"``, ``3572``, ``"3,572"``, ``12.0``; None if unreadable."""
    if type(value) is int:  # fast paths: ids in a 100,000-order refresh are ints or "3572"
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def parse_id(value: object) -> str | None:
    """An order or refill id exactly as given, as text; None when there is no usable id.

    Panels send ids as numbers (``151``) or text (``"ORD-01HG..."``). A number becomes its
    digits (a workbook reads ``1001`` back as ``1001.0``); text is kept as it is, stripped.
    0, negative numbers, empty text, booleans and ids too long to be real are "no id".

    >>> parse_id(1001.0), parse_id("ORD-880332"), parse_id(0)
    ('1001', 'ORD-880332', None)
    """
    if type(value) is str:
        text = value.strip()
        if not text or len(text) > MAX_ID_CHARS:
            return None
        if not _NUMBER_ONLY.fullmatch(text):
            return text  # "ORD-01HG...", "ord_5f2": kept exactly
        if text.isdigit():
            return text if text.strip("0") else None
        number = parse_decimal(text)  # "1,234", "151.0", "-5"
        if number is None or number <= 0 or number != number.to_integral_value():
            return None
        return str(int(number))
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 < value < 10**MAX_ID_CHARS else None
    if isinstance(value, float | Decimal):
        try:
            integral = value == int(value)
        except (OverflowError, ValueError):  # inf, nan
            return None
        if integral and 0 < value < 10**MAX_ID_CHARS:
            return str(int(value))
        return None
    return parse_id(str(value))


def parse_bool(value: object) -> bool:
    """Read a panel flag: ``true``, ``"true"``, ``1``, ``"1"``, ``"yes"`` are True."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "on"}
    return bool(value)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


# --------------------------------------------------------------------------- typed results


@dataclass(frozen=True)
class Service:
    """One line of the panel's service list; ``rate`` is per 1000 in the account currency.

    ``rate`` is None when the list gives no usable price (missing, ``"N/A"``, negative);
    ``refill``, ``cancel`` and ``dripfeed`` are None when the list does not say.
    """

    id: int
    name: str
    type: str
    category: str
    rate: Decimal | None
    min: int
    max: int
    refill: bool | None = None
    cancel: bool | None = None
    #: None when the panel's list does not say (many panels omit the field).
    dripfeed: bool | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Service:
        """Build from one element of the ``services`` reply, tolerating strings for numbers."""
        service_id = parse_int(item.get("service"))
        if service_id is None:
            raise ValueError(f"service without an id: {item!r}"[:200])
        rate = parse_decimal(item.get("rate"))
        return cls(
            id=service_id,
            name=_text(item.get("name")),
            type=_text(item.get("type")) or "Default",
            category=_text(item.get("category")),
            rate=rate if rate is not None and rate >= 0 else None,
            min=parse_int(item.get("min")) or 0,
            max=parse_int(item.get("max")) or 0,
            refill=parse_bool(item["refill"]) if "refill" in item else None,
            cancel=parse_bool(item["cancel"]) if "cancel" in item else None,
            dripfeed=parse_bool(item["dripfeed"]) if "dripfeed" in item else None,
        )


@dataclass(frozen=True)
class Balance:
    """The account balance."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class OrderStatus:
    """Status of one order; ``error`` is set (and the rest None) when the panel refused the id."""

    order: str
    status: str | None = None
    charge: Decimal | None = None
    start_count: int | None = None
    remains: int | None = None
    currency: str | None = None
    error: str | None = None

    @classmethod
    def from_api(cls, order: str, item: object) -> OrderStatus:
        """Build from a ``status`` reply object (single or one value of a multi reply)."""
        if not isinstance(item, Mapping):
            return cls(order, error=f"unexpected status reply: {str(item)[:80]}")
        if "error" in item:
            return cls(order, error=_text(item["error"]) or "error")
        return cls(
            order=order,
            status=_text(item.get("status")) or None,
            charge=parse_decimal(item.get("charge")),
            start_count=parse_int(item.get("start_count")),
            remains=parse_int(item.get("remains")),
            currency=_text(item.get("currency")) or None,
        )


@dataclass(frozen=True)
class RefillResult:
    """Outcome of a refill request for one order: a refill id, or the panel's error."""

    order: str
    refill: str | None = None
    error: str | None = None
    #: The request may have reached the panel but its answer was lost.
    uncertain: bool = False


@dataclass(frozen=True)
class RefillStatus:
    """Status of one refill, or the panel's error for it."""

    refill: str
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CancelResult:
    """Outcome of a cancel request for one order."""

    order: str
    ok: bool = False
    error: str | None = None
    #: The request may have reached the panel but its answer was lost.
    uncertain: bool = False


def _error_of(value: object) -> str | None:
    """The panel's per-item error text in a multi reply (``{"error": "..."}``), if any."""
    if isinstance(value, Mapping):
        return _text(value.get("error")) or "error"
    return None


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


# --------------------------------------------------------------------------- the client


class PanelClient:
    """Client of one panel's API v2; thread-safe for the concurrent calls it makes itself."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self._key = api_key
        self.timeout = timeout
        self.max_workers = max(1, max_workers)
        self.retries = max(0, retries)
        self.backoff = backoff
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.max_workers, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._lock = threading.Lock()
        #: Requests actually sent, per action (read by tests and benchmarks).
        self.requests_sent: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"PanelClient(url={self.url!r})"

    def __enter__(self) -> PanelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    # ----------------------------------------------------------------- read-only actions

    def services(self) -> list[Service]:
        """The panel's service list."""
        reply = self._call("services", {})
        if not isinstance(reply, list):
            raise self._unexpected("services", reply)
        return [Service.from_api(item) for item in reply if isinstance(item, Mapping)]

    def balance(self) -> Balance:
        """The account balance and its currency."""
        reply = self._call("balance", {})
        amount = parse_decimal(reply.get("balance")) if isinstance(reply, Mapping) else None
        if amount is None:
            raise self._unexpected("balance", reply)
        return Balance(amount, _text(reply.get("currency")))

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

        def one_chunk(ids: Sequence[str]) -> dict[str, OrderStatus]:
            reply = self._call("status", {"orders": ",".join(ids)})
            if not isinstance(reply, Mapping):
                raise self._unexpected("status", reply)
            if len(ids) == 1 and "status" in reply:  # some panels answer one id the single way
                reply = {ids[0]: reply}
            by_id = {parse_id(k): v for k, v in reply.items()}
            return {i: OrderStatus.from_api(i, by_id.get(i, {"error": "missing"})) for i in ids}

        return self._fan_out_chunks(
            _unique_ids(orders), one_chunk, lambda i, e: OrderStatus(i, error=e.message)
        )

    def refill_status(self, refill: int | str) -> RefillStatus:
        """Status of one refill."""
        reply = self._call("refill_status", {"refill": str(refill)})
        if not isinstance(reply, Mapping):
            raise self._unexpected("refill_status", reply)
        return RefillStatus(str(refill), status=_text(reply.get("status")) or None)

    def refill_status_many(self, refills: Iterable[int | str]) -> dict[str, RefillStatus]:
        """Status of many refills, 100 ids a request; every id gets a result."""
        return self._list_multi(
            "refill_status",
            "refills",
            ("refill", "status"),
            refills,
            lambda rid, value, error: RefillStatus(rid, _text(value) or None, error),
            lambda i, e: RefillStatus(i, error=e.message),
        )

    # ----------------------------------------------------------------- paid actions

    def add(self, service: int, **fields: object) -> str:
        """Place one order and return its id; raises :class:`AmbiguousRequestError` when unsure.

        The id is text exactly as the panel gave it (``"151"``, ``"ORD-01HG..."``).

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
        order = parse_id(reply.get("order")) if isinstance(reply, Mapping) else None
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
        refill = parse_id(reply.get("refill")) if isinstance(reply, Mapping) else None
        if refill is None:
            raise self._unexpected("refill", reply)
        return refill

    def refill_many(self, orders: Iterable[int | str]) -> dict[str, RefillResult]:
        """Request refills for many orders, 100 ids a request; per-order refill id or error."""

        def build(oid: str, value: object, error: str | None) -> RefillResult:
            rid = parse_id(value)
            return RefillResult(oid, rid, error or (None if rid else "no refill id"))

        return self._list_multi(
            "refill", "orders", ("order", "refill"), orders, build, _uncertain(RefillResult)
        )

    def cancel(self, orders: Iterable[int | str]) -> dict[str, CancelResult]:
        """Cancel orders, 100 ids a request; per-order success or the panel's error."""
        return self._list_multi(
            "cancel",
            "orders",
            ("order", "cancel"),
            orders,
            lambda oid, value, error: CancelResult(oid, error is None and parse_bool(value), error),
            _uncertain(CancelResult),
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
    ) -> dict[str, T]:
        """A multi-id action whose reply lists ``{id_field: id, value_field: value|{error}}``.

        ``build(id, value, error)`` makes each result; ``value`` is None when ``error`` is set.
        """
        id_field, value_field = fields

        def one_chunk(chunk: Sequence[str]) -> dict[str, T]:
            reply = self._call(action, {param: ",".join(chunk)})
            out: dict[str, T] = {}
            for item in self._items(reply, action):
                key = parse_id(item.get(id_field))
                if key is not None:
                    value = item.get(value_field)
                    error = _error_of(value)
                    out[key] = build(key, None if error else value, error)
            return {i: out[i] if i in out else build(i, None, "missing from reply") for i in chunk}

        return self._fan_out(_unique_ids(ids), one_chunk, failed)

    def _fan_out(
        self,
        ids: list[str],
        one_chunk: Callable[[Sequence[str]], dict[str, T]],
        failed: Callable[[str, PanelError], T],
    ) -> dict[str, T]:
        """All the results of :meth:`_fan_out_chunks`, merged."""
        results: dict[str, T] = {}
        for part in self._fan_out_chunks(ids, one_chunk, failed):
            results.update(part)
        return results

    def _fan_out_chunks(
        self,
        ids: list[str],
        one_chunk: Callable[[Sequence[str]], dict[str, T]],
        failed: Callable[[str, PanelError], T],
    ) -> Iterator[dict[str, T]]:
        """Run ``one_chunk`` over 100-id chunks with bounded concurrency, yielding as they end.

        A chunk that fails lands as a per-id error on each of its ids, so the other chunks'
        results are kept; only an invalid key (every chunk would fail) is raised.
        """
        chunks = list(chunked(ids))

        def guarded(chunk: Sequence[str]) -> dict[str, T]:
            try:
                return one_chunk(chunk)
            except InvalidKeyError:
                raise
            except PanelError as exc:
                return {i: failed(i, exc) for i in chunk}

        if len(chunks) <= 1 or self.max_workers == 1:
            for chunk in chunks:
                yield guarded(chunk)
            return
        pool = ThreadPoolExecutor(max_workers=min(self.max_workers, len(chunks)))
        try:
            for future in as_completed([pool.submit(guarded, c) for c in chunks]):
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _items(self, reply: object, action: str) -> list[Mapping[str, Any]]:
        """The list of per-id objects of a multi reply (some panels key them by id instead)."""
        if isinstance(reply, Mapping):
            reply = list(reply.values())
        if not isinstance(reply, list):
            raise self._unexpected(action, reply)
        return [item for item in reply if isinstance(item, Mapping)]

    def _unexpected(self, action: str, reply: object) -> PanelError:
        snippet = self._scrub(json.dumps(reply, default=str)[:120])
        cls = AmbiguousRequestError if action in PAID_ACTIONS else PanelUnavailableError
        return cls(f"{action}: unexpected reply from the panel: {snippet}", action=action)

    def _scrub(self, text: str) -> str:
        """Remove the API key from text that may echo the request."""
        return text.replace(self._key, "***") if self._key else text

    def _call(self, action: str, params: Mapping[str, str]) -> Any:
        """Send one action, retrying only when that cannot spend money twice."""
        attempt = 0
        while True:
            try:
                return self._send(action, params)
            except (PanelUnavailableError, AmbiguousRequestError) as exc:
                if not exc.retry_safe or attempt >= self.retries:
                    raise
                wait = self.backoff * (2**attempt)
                if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                    wait = max(wait, min(exc.retry_after, MAX_RETRY_AFTER))
                attempt += 1
                log.info("%s: %s; retry %d in %.2fs", action, exc.message, attempt, wait)
                self._sleep(wait)

    def _send(self, action: str, params: Mapping[str, str]) -> Any:
        """One HTTP POST; every failure comes out as an error of :mod:`smmsheet.errors`."""
        paid = action in PAID_ACTIONS
        data = {"key": self._key, "action": action, **params}
        with self._lock:
            self.requests_sent[action] = self.requests_sent.get(action, 0) + 1
        started = time.perf_counter()
        try:
            response = self._session.post(
                self.url, data=data, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise self._transport_error(action, exc) from None
        log.debug(
            "%s -> HTTP %s in %.3fs", action, response.status_code, time.perf_counter() - started
        )
        return self._parse(action, response, paid)

    def _transport_error(self, action: str, exc: requests.RequestException) -> PanelError:
        """Translate a requests exception; decide whether the request can have been sent."""
        never_sent = isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError) or (
            isinstance(exc, requests.ConnectionError) and _is_connect_failure(exc)
        )
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return PanelUnavailableError(f"{action}: invalid panel URL {self.url!r}", action=action)
        kind = type(exc).__name__
        if never_sent:
            return PanelUnavailableError(
                f"{action}: cannot reach the panel at {self.url} ({kind})",
                action=action,
                retry_safe=True,
            )
        if action in PAID_ACTIONS:
            what = "the order may have been placed" if action == "add" else "it may have been done"
            return AmbiguousRequestError(
                f"{action}: no answer from the panel ({kind}); {what}, check the panel",
                action=action,
            )
        return PanelUnavailableError(
            f"{action}: no answer from the panel ({kind})", action=action, retry_safe=True
        )

    def _parse(self, action: str, response: requests.Response, paid: bool) -> Any:
        """Turn an HTTP response into JSON data or the matching error."""
        status = response.status_code
        body = response.content.decode(response.encoding or "utf-8", errors="replace")
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            return_error = RateLimitedError(
                f"{action}: the panel is rate limiting requests (HTTP 429)",
                action=action,
                status_code=status,
                retry_safe=True,
                retry_after=retry_after,
            )
            raise return_error
        if 300 <= status < 400:
            target = self._scrub(response.headers.get("Location", "?"))
            if paid:  # the panel's code may have run before it redirected
                raise self._maybe_done(action, f"HTTP {status} redirect to {target}", status)
            raise PanelUnavailableError(
                f"{action}: the panel redirected to {target}; use that URL as the panel URL",
                action=action,
                status_code=status,
            )
        data = _loads(body)
        if data is _NOT_JSON:
            return self._not_json(action, status, body, paid)
        if isinstance(data, Mapping) and "error" in data and not _is_keyed_multi(action, data):
            message = self._scrub(_text(data.get("error")) or "error")[:300]
            if paid and not _is_definite_answer(status):
                # A 5xx (or 408) after a paid request was sent proves nothing, whatever the body.
                raise self._maybe_done(action, f"HTTP {status}: {message}", status)
            if _INVALID_KEY.search(message):
                raise InvalidKeyError(
                    f"the panel refused the API key ({message})", action=action, status_code=status
                )
            raise PanelRejectedError(message, action=action, status_code=status)
        if status >= 400:
            raise self._not_json(action, status, body, paid)
        return data

    def _maybe_done(self, action: str, what: str, status: int) -> AmbiguousRequestError:
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
            raise self._maybe_done(action, f"the panel answered {what}", status)
        raise PanelUnavailableError(
            f"{action}: the panel is unavailable ({what})",
            action=action,
            status_code=status,
            retry_safe=not paid,
        )


_NOT_JSON = object()


def _loads(body: str) -> Any:
    """Parse JSON that may be preceded by a BOM or PHP notices."""
    text = body.lstrip("\ufeff \r\n\t")
    try:
        return json.loads(text)
    except ValueError:
        pass
    starts = [i for i in (text.find("{"), text.find("[")) if i > 0]
    if starts and not text.lstrip().lower().startswith(("<!doctype", "<html")):
        try:
            return json.loads(text[min(starts) :])
        except ValueError:
            pass
    return _NOT_JSON


def _is_keyed_multi(action: str, data: Mapping[str, Any]) -> bool:
    """A multi ``status`` reply keyed by ids (each value an object) is not a top-level error."""
    return action == "status" and all(isinstance(v, Mapping) for v in data.values())


def _is_definite_answer(status: int) -> bool:
    """An HTTP status whose JSON error means the panel refused a paid request for certain.

    2xx and 4xx are the panel's own word (429 is handled before: refused, retried). A 5xx
    or a 408 may come from a proxy or a crash after the panel processed the request.
    """
    return 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established (refused, DNS): nothing was sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    reason: object = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError | NameResolutionError)
