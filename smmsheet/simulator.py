"""A real panel API v2 on 127.0.0.1, for tests, ``smmsheet demo`` and benchmarks.

It speaks the form-encoded POST protocol of ``PANEL_API.md``, keeps orders, refills and a
balance in memory, moves orders forward as their status is read, and can misbehave on
purpose (``Faults``): latency, 5xx, Cloudflare pages, garbage, 429, and an ``add`` whose
reply is lost after the order was placed. Standard library only; one lock guards all state.

Example::

    import requests
    from smmsheet.simulator import Faults, PanelSimulator

    with PanelSimulator(balance="10") as sim:
        form = {"key": sim.api_key, "action": "add", "service": 1,
                "link": "https://instagram.com/x", "quantity": 100}
        requests.post(sim.url, data=form, timeout=5).json()   # {'order': 1001}
        sim.balance                                            # Decimal('9.91000')
        sim.faults.html_rate = 1.0                             # now every reply is a challenge page

Test markers in links: a service-3 order whose link contains ``partial`` ends ``Partial``
(part of the charge refunded); an order whose link contains ``fail`` ends ``Fail`` (all of
it refunded); a refill of an order whose link contains ``reject`` ends ``Rejected``.

``dialect`` (one of ``DIALECTS``) makes it word its replies like a family of real panels:
``{"status": "success", "order": 151}``, text order ids, refusals as ``{"status": "fail",
"message": ...}`` or HTTP 422, status spellings such as ``in_progress``, and so on.
"""

from __future__ import annotations

import collections
import json
import math
import random
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_API_KEY",
    "DIALECTS",
    "Dialect",
    "Faults",
    "PanelSimulator",
    "SimOrder",
    "SimRefill",
    "default_services",
    "misleading_services",
]

#: The only key the simulator accepts by default; never a real panel's key.
DEFAULT_API_KEY = "sim-test-key"
#: The one path that answers the API; anything else is a 404 page.
API_PATH = "/api/v2"
FIRST_ORDER_ID = 1001
FIRST_REFILL_ID = 501
#: Most ids one multi-id request may carry, as on real panels.
MAX_IDS = 100
ORDER_FINAL = frozenset({"Completed", "Partial", "Canceled", "Fail"})
REFILL_FINAL = frozenset({"Completed", "Rejected"})
#: Subscription ``delay`` values (minutes) real panels accept.
SUBSCRIPTION_DELAYS = frozenset({0, 5, 10, 15, 30, *range(60, 601, 30)})
#: The service whose ``partial`` links end Partial.
PARTIAL_SERVICE = 3

E_KEY = "Invalid API key"
E_REQUEST = "Incorrect request"
E_SERVICE = "Incorrect service ID"
E_DISABLED = "Disabled service ID"
E_LINK = "Incorrect link"
E_FUNDS = "Not enough funds on balance"
E_ACTIVE = "You have active order with this link. Please wait until order being completed."
E_ORDER = "Incorrect order ID"
E_NO_DRIPFEED = "Drip-feed is disabled for this service"
E_REFILL_DISABLED = "Refill is disabled for this service"
E_NOT_COMPLETED = "Order is not completed"
E_REFILL_NOT_FOUND = "Refill not found"
E_CANCEL_DISABLED = "Cancel is disabled for this service"
E_NOT_CANCELABLE = "Order cannot be canceled"
E_TOO_MANY = "Too many requests"

_PLACES = Decimal("0.00001")
_DIGITS = re.compile(r"\d+")

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


@dataclass(frozen=True)
class Dialect:
    """How one family of real panels words API v2 replies; ``standard`` is PANEL_API.md."""

    name: str
    about: str
    #: ``{"order": 151}`` or ``{"status": "success", "order": 151}``.
    add: Literal["plain", "wrapped"] = "plain"
    #: ``{"error": m}``; ``{"status": "fail", "message": m}`` / ``{"success": false,
    #: "msg": m}`` in turn; or HTTP 401/404/400 with ``{"error": m}``, 422 ``{"message": m}``.
    refusals: Literal["error", "fail", "http"] = "error"
    #: Order and refill ids as numbers, or as text (``"ORD-01HGX1001"``, ``"rf_5f2501"``).
    ids: Literal["numbers", "text"] = "numbers"
    #: One-order refills answered ``{"refill": "1"}`` / ``{"success": ..., "refill": 1}``,
    #: several as ``[{"order": id, "refill": id} | {"order": id, "error": m}]``.
    refill: Literal["standard", "variants"] = "standard"
    #: Multi cancel as a list in the order of the ids sent: ``[1, {"error": m}]``.
    cancel: Literal["standard", "list"] = "standard"
    #: Balance as a number, ``"12.50 USD"`` or ``{"amount": ..}``, in turn.
    balance: Literal["standard", "variants"] = "standard"
    #: Status spellings (``in_progress``, ``Cancelled``, ``Refunded``, ``Failed``, ...) and
    #: ``start_count``/``remains`` as ``"Unknown"``, null or ``""`` while pending.
    statuses: Literal["standard", "spellings"] = "standard"
    #: A list; ``{"data": [...]}`` with ids and flags as text; or an object keyed by id.
    services: Literal["list", "wrapped", "keyed"] = "list"


#: Every dialect the simulator speaks, by name (``smmsheet sim --dialect NAME``).
DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("standard", "replies exactly as PANEL_API.md documents them"),
        Dialect(
            "success-wrapped",
            'add answers {"status": "success", "order": 151}; refusals {"status": "fail", '
            '"message": ...} or {"success": false, "msg": ...}',
            add="wrapped",
            refusals="fail",
        ),
        Dialect("text-ids", 'order and refill ids are text ("ORD-01HGX1001")', ids="text"),
        Dialect(
            "refill-variants",
            'refill answers {"refill": "1"}, {"success": ..., "refill": 501}, or a list with '
            "per-order errors beside the id",
            refill="variants",
        ),
        Dialect("cancel-list", 'multi cancel answers [1, {"error": ...}]', cancel="list"),
        Dialect(
            "balance-variants",
            'balance answers a number, "12.50 USD" or {"amount": ...}',
            balance="variants",
        ),
        Dialect(
            "status-spellings",
            "statuses spelled Processing, in_progress, Cancelled, Refunded, Failed...; "
            'remains/start_count "Unknown", null or ""',
            statuses="spellings",
        ),
        Dialect(
            "http-errors",
            'refusals come as HTTP 401 (key), 404 (unknown id) or 400 with {"error": ...}, '
            '422 (funds, active order) with {"message": ...}',
            refusals="http",
        ),
        Dialect(
            "services-wrapped",
            'services answers {"data": [...]} with ids, numbers and flags as text, no '
            "dripfeed, extra fields",
            services="wrapped",
        ),
        Dialect(
            "services-keyed", "services answers an object keyed by service id", services="keyed"
        ),
        Dialect(
            "everything",
            'all of the above at once (refusals as {"status": "fail"} bodies)',
            add="wrapped",
            refusals="fail",
            ids="text",
            refill="variants",
            cancel="list",
            balance="variants",
            statuses="spellings",
            services="keyed",
        ),
    )
}
#: Text ids of the ``text`` dialects.
_TEXT_ORDER, _TEXT_REFILL = "ORD-01HGX", "rf_5f2"
#: HTTP statuses of refusals in the ``http`` dialects (400 for the rest).
_REFUSAL_STATUS = {
    E_KEY: 401,
    E_ORDER: 404,
    E_REFILL_NOT_FOUND: 404,
    E_FUNDS: 422,
    E_ACTIVE: 422,
}
#: How the ``spellings`` dialects write each status; an order's id picks one.
_SPELLINGS = {
    "Pending": ("Pending", "pending"),
    "In progress": ("Processing", "in_progress", "In progress", "inprogress"),
    "Completed": ("completed", "Completed"),
    "Partial": ("Partial", "partial"),
    "Canceled": ("Cancelled", "Refunded", "canceled", "Canceled"),
    "Fail": ("Failed", "Fail"),
    "Rejected": ("rejected", "Rejected"),
}
_UNKNOWN_COUNTS = ("Unknown", None, "")


@dataclass
class SimOrder:
    """One order the panel accepted (even if its reply never arrived)."""

    id: int
    service: int
    link: str
    quantity: int
    charge: Decimal
    start_count: int
    remains: int
    status: str
    currency: str
    fields: dict[str, str]
    created: float


@dataclass
class SimRefill:
    """One refill the panel accepted for an order."""

    id: int
    order_id: int
    status: str


def default_services() -> list[dict[str, Any]]:
    """Return a fresh copy of the seeded catalogue, one dict per service as the API lists it."""

    def svc(
        sid: int,
        name: str,
        type_: str,
        category: str,
        rate: str,
        lo: str,
        hi: str,
        refill: bool = False,
        cancel: bool = False,
        dripfeed: bool = False,
    ) -> dict[str, Any]:
        return {
            "service": sid,
            "name": name,
            "type": type_,
            "category": category,
            "rate": rate,
            "min": lo,
            "max": hi,
            "refill": refill,
            "cancel": cancel,
            "dripfeed": dripfeed,
        }

    services = [
        svc(1, "Instagram Followers [Refill 30d]", "Default", "Instagram Followers",
            "0.90", "50", "10000", refill=True, cancel=True, dripfeed=True),
        svc(2, "Instagram Custom Comments", "Custom Comments", "Instagram Comments",
            "8", "10", "1500", cancel=True),
        svc(3, "Instagram Likes", "Default", "Instagram Likes", "0.25", "10", "50000"),
        svc(4, "YouTube Views", "Default", "YouTube Views", "1.20", "100", "1000000",
            refill=True, cancel=True),
        svc(5, "Instagram Mentions", "Mentions", "Instagram Mentions", "4.00", "100", "10000"),
        svc(6, "Instagram Mentions Custom List", "Mentions Custom List", "Instagram Mentions",
            "5.00", "10", "1000"),
        svc(7, "Instagram Mentions Hashtag", "Mentions Hashtag", "Instagram Mentions",
            "4.00", "100", "10000"),
        svc(8, "Instagram Mentions User Followers", "Mentions User Followers",
            "Instagram Mentions", "4.00", "100", "10000"),
        svc(9, "Instagram Mentions Media Likers", "Mentions Media Likers", "Instagram Mentions",
            "4.00", "100", "10000"),
        svc(10, "Instagram Mentions with Hashtags", "Mentions with Hashtags",
            "Instagram Mentions", "4.50", "100", "10000"),
        svc(11, "Instagram Package: 1000 Likes + 10 Comments", "Package", "Instagram Packages",
            "3.00", "1", "1"),
        svc(12, "Google SEO Backlinks", "SEO", "SEO", "2.50", "100", "5000"),
        svc(13, "Instagram Comment Likes", "Comment Likes", "Instagram Comments",
            "1.50", "50", "10000"),
        svc(14, "Twitter Poll Votes", "Poll", "Twitter", "2.00", "100", "10000"),
        svc(15, "Telegram Invites from Groups", "Invites from Groups", "Telegram",
            "6.00", "100", "5000"),
        svc(16, "Instagram Comment Replies", "Comment Replies", "Instagram Comments",
            "10.00", "5", "500"),
        svc(17, "Instagram Auto Likes [Subscription]", "Subscriptions", "Instagram Auto Likes",
            "0.30", "50", "5000"),
        svc(18, "Website Traffic [Worldwide]", "Web Traffic", "Website Traffic",
            "0.50", "500", "1000000", dripfeed=True),
        svc(19, "Instagram Custom Comments Package [up to 10]", "Custom Comments Package",
            "Instagram Packages", "2.00", "1", "10"),
        svc(20, '=HYPERLINK("http://evil","x")', "Default", "@Weird +Category",
            "1", "10", "100"),
        svc(21, "TikTok Views", "Default", "TikTok Views", "0.0123", "100", "10000000",
            cancel=True),
        svc(22, "Instagram Story Views [disabled]", "Default", "Instagram Story Views",
            "0.10", "100", "10000"),
    ]  # fmt: skip
    services[-1]["disabled"] = True  # hidden from the listing; add answers "Disabled service ID"
    return services


#: Catalogue keys that say how the simulator really behaves; never part of the listing.
_HIDDEN_KEYS = frozenset({"disabled", "charge_rate", "package_per_1000", "unlisted"})


def misleading_services() -> list[dict[str, Any]]:
    """Services whose listing does not tell the whole price, as found on real panels.

    Not in the default catalogue; add them with
    ``PanelSimulator(services=default_services() + misleading_services())``:
    30-32 list no usable rate (missing, ``"N/A"``, negative) yet charge 2.00 per 1000;
    33 is a Package billed ``rate x 1 / 1000`` instead of its rate; 34 lists neither
    ``refill`` nor ``cancel`` (the panel does not say) and offers both.
    """
    odd = {"type": "Default", "category": "Misleading", "min": "10", "max": "10000"}
    return [
        {**odd, "service": 30, "name": "No rate field", "charge_rate": "2.00"},
        {**odd, "service": 31, "name": "Rate N/A", "rate": "N/A", "charge_rate": "2.00"},
        {**odd, "service": 32, "name": "Negative rate", "rate": "-1.00", "charge_rate": "2.00"},
        {
            **odd,
            "service": 33,
            "name": "Package billed per 1000",
            "type": "Package",
            "rate": "3.00",
            "min": "1",
            "max": "1",
            "package_per_1000": True,
        },
        {
            **odd,
            "service": 34,
            "name": "Says nothing on refill/cancel",
            "rate": "1.00",
            "refill": True,
            "cancel": True,
            "unlisted": ("refill", "cancel"),
        },
    ]


@dataclass(frozen=True)
class _Service:
    """A catalogue entry with its numbers parsed."""

    id: int
    type: str
    rate: Decimal
    min: int
    max: int
    refill: bool
    cancel: bool
    dripfeed: bool
    disabled: bool
    listing: dict[str, Any]
    #: A Package charged ``rate x 1 / 1000`` instead of its rate (panels differ).
    package_per_1000: bool = False


@dataclass(frozen=True)
class _TypeRule:
    """Which ``add`` fields one service type needs and how its quantity is counted."""

    needs_link: bool = True
    count: str = "quantity"  # quantity | comments | usernames | one | subscription
    extra: tuple[str, ...] = ()
    per_package: bool = False


_DEFAULT_RULE = _TypeRule()
_RULES: dict[str, _TypeRule] = {
    "Default": _DEFAULT_RULE,
    "Package": _TypeRule(count="one", per_package=True),
    "SEO": _TypeRule(extra=("keywords",)),
    "Custom Comments": _TypeRule(count="comments", extra=("comments",)),
    "Custom Comments Package": _TypeRule(count="comments", extra=("comments",), per_package=True),
    "Mentions": _TypeRule(extra=("usernames",)),
    "Mentions with Hashtags": _TypeRule(extra=("usernames", "hashtags")),
    "Mentions Custom List": _TypeRule(count="usernames", extra=("usernames",)),
    "Mentions Hashtag": _TypeRule(extra=("hashtag",)),
    "Mentions User Followers": _TypeRule(extra=("username",)),
    "Mentions Media Likers": _TypeRule(extra=("media",)),
    "Comment Likes": _TypeRule(extra=("username",)),
    "Poll": _TypeRule(extra=("answer_number",)),
    "Invites from Groups": _TypeRule(extra=("groups",)),
    "Comment Replies": _TypeRule(count="comments", extra=("username", "comments")),
    "Subscriptions": _TypeRule(
        needs_link=False, count="subscription", extra=("username", "min", "max", "delay")
    ),
    "Web Traffic": _DEFAULT_RULE,
}


class _Refusal(Exception):
    """A request the panel answers with ``{"error": message}``."""


def _flag(value: Any) -> bool:
    """Read a panel flag given as ``true``, ``"true"``, ``1`` or ``"1"``."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes"}


def _parse_service(raw: Mapping[str, Any]) -> _Service:
    """Turn one catalogue dict into a ``_Service``; the listing keeps strings as panels do."""
    listing = {k: v for k, v in raw.items() if k not in _HIDDEN_KEYS}
    listing["service"] = int(raw["service"])
    for key in ("rate", "min", "max"):
        if key in raw:
            listing[key] = str(raw[key])
    for key in ("refill", "cancel"):
        listing[key] = _flag(raw.get(key, False))
    for key in raw.get("unlisted", ()):  # fields this panel leaves out of its listing
        listing.pop(key, None)
    return _Service(
        id=int(raw["service"]),
        type=str(raw.get("type", "Default")),
        rate=Decimal(str(raw.get("charge_rate", raw.get("rate")))),
        min=int(raw["min"]),
        max=int(raw["max"]),
        refill=_flag(raw.get("refill", False)),
        cancel=_flag(raw.get("cancel", False)),
        dripfeed=_flag(raw.get("dripfeed", False)),
        disabled=_flag(raw.get("disabled", False)),
        listing=listing,
        package_per_1000=_flag(raw.get("package_per_1000", False)),
    )


def _money(value: Decimal) -> str:
    """Format an amount the way panels do: a string with five decimals."""
    return str(value.quantize(_PLACES, ROUND_HALF_UP))


def _text(params: Mapping[str, str], name: str) -> str | None:
    """Return a form field, treating a blank one as absent."""
    value = params.get(name)
    return value if value is not None and value.strip() else None


def _int(params: Mapping[str, str], name: str, *, required: bool = True) -> int | None:
    """Return a non-negative integer field; malformed (or missing when required) is refused."""
    value = _text(params, name)
    if value is None:
        if required:
            raise _Refusal(E_REQUEST)
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise _Refusal(E_REQUEST)
    return int(value)


def _need_int(params: Mapping[str, str], name: str) -> int:
    """Return a required integer field."""
    value = _int(params, name)
    assert value is not None  # _int raised otherwise
    return value


def _count_lines(params: Mapping[str, str], name: str) -> int:
    """Count the non-empty lines of a one-per-line field (comments, usernames)."""
    return sum(1 for line in (params.get(name) or "").splitlines() if line.strip())


def _check_bounds(quantity: int, svc: _Service) -> None:
    """Refuse a quantity outside the service's min/max with the panel's wording."""
    if quantity < svc.min:
        raise _Refusal(f"Quantity less than minimal {svc.min}")
    if quantity > svc.max:
        raise _Refusal(f"Quantity more than maximal {svc.max}")


def _quantity_total(params: Mapping[str, str], svc: _Service, rule: _TypeRule) -> int:
    """Total units of a non-subscription order; min/max apply per drip-feed run."""
    if rule.count == "quantity":
        quantity = _need_int(params, "quantity")
    elif rule.count == "one":
        quantity = 1
    else:
        quantity = _count_lines(params, rule.count)
    _check_bounds(quantity, svc)
    runs = _int(params, "runs", required=False)
    interval = _int(params, "interval", required=False)
    if runs is None and interval is None:
        return quantity
    if not svc.dripfeed:
        raise _Refusal(E_NO_DRIPFEED)
    if runs is None or interval is None or runs < 1 or interval < 1:
        raise _Refusal(E_REQUEST)
    return quantity * runs


def _subscription_total(params: Mapping[str, str], svc: _Service) -> int:
    """Total units of a subscription: ``max`` per post times ``posts`` (one if not given)."""
    low, high = _need_int(params, "min"), _need_int(params, "max")
    if _need_int(params, "delay") not in SUBSCRIPTION_DELAYS or low > high:
        raise _Refusal(E_REQUEST)
    _check_bounds(low, svc)
    _check_bounds(high, svc)
    posts = _int(params, "posts", required=False)
    _int(params, "old_posts", required=False)
    if posts == 0:
        raise _Refusal(E_REQUEST)
    expiry = _text(params, "expiry")
    if expiry is not None:
        try:
            datetime.strptime(expiry.strip(), "%d/%m/%Y")
        except ValueError:
            raise _Refusal(E_REQUEST) from None
    return high * (posts or 1)


def _check_web_traffic(params: Mapping[str, str]) -> None:
    """Validate the optional Web Traffic fields: device 1-5, traffic type 1-3 and its companion."""
    device = _int(params, "device", required=False)
    kind = _int(params, "type_of_traffic", required=False)
    if device is not None and not 1 <= device <= 5:
        raise _Refusal(E_REQUEST)
    if kind is not None and not 1 <= kind <= 3:
        raise _Refusal(E_REQUEST)
    if kind == 1 and _text(params, "google_keyword") is None:
        raise _Refusal(E_REQUEST)
    if kind == 2 and _text(params, "referring_url") is None:
        raise _Refusal(E_REQUEST)


def _split_ids(raw: str) -> list[str]:
    """Split a comma list of ids (spaces allowed); empty or more than ``MAX_IDS`` is refused."""
    ids = [token.strip() for token in raw.split(",") if token.strip()]
    if not ids or len(ids) > MAX_IDS:
        raise _Refusal(E_REQUEST)
    return ids


def _echo_id(token: str) -> int | str:
    """Echo an id back as panels do: a number when it is one."""
    return int(token) if _DIGITS.fullmatch(token) else token


def _per_order(raw: str, key: str, one: Callable[[str], Any]) -> list[dict[str, Any]]:
    """A multi-order reply: ``[{"order": id, key: one(id) or {"error": reason}}, ...]``."""
    results: list[dict[str, Any]] = []
    for token in _split_ids(raw):
        try:
            outcome = one(token)
        except _Refusal as refusal:
            outcome = _error(str(refusal))
        results.append({"order": _echo_id(token), key: outcome})
    return results


def _error(message: str) -> dict[str, str]:
    """Build the panel's error object."""
    return {"error": message}


def _number_text(value: Any) -> Any:
    """A catalogue number as text, the way some panels list everything."""
    return str(value)


class PanelSimulator:
    """An in-memory SMM panel serving API v2 over HTTP on loopback."""

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
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
        self.dialect = DIALECTS[dialect]
        self.api_key = api_key
        self.balance = Decimal(balance)
        self.currency = currency
        self.faults = faults if faults is not None else Faults()
        self.seed = seed
        self.auto_progress = auto_progress
        self.host = host
        self.port = port
        self.counts: collections.Counter[str] = collections.Counter()
        self.orders: dict[int, SimOrder] = {}
        self.refills: dict[int, SimRefill] = {}
        parsed = [
            _parse_service(s) for s in (services if services is not None else default_services())
        ]
        self._services = {s.id: s for s in parsed}
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._next_order = FIRST_ORDER_ID
        self._next_refill = FIRST_REFILL_ID
        self._in_flight = 0
        self._clock = clock
        self._recent: collections.deque[float] = collections.deque()
        self._turns: collections.Counter[str] = collections.Counter()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API endpoint, e.g. ``http://127.0.0.1:40123/api/v2``; valid once started."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}{API_PATH}"

    @property
    def services(self) -> list[dict[str, Any]]:
        """The catalogue as the ``services`` action lists it (disabled services left out)."""
        return [dict(s.listing) for s in self._services.values() if not s.disabled]

    def public_id(self, order: SimOrder | SimRefill) -> str:
        """An order's (or refill's) id as this dialect shows it to clients."""
        return str(self._ref(order.id, refill=isinstance(order, SimRefill)))

    def find_order(self, public_id: object) -> SimOrder | None:
        """The order behind an id as a client shows it (``1001``, ``"ORD-01HGX1001"``)."""
        with self._lock:
            return self._order(str(public_id).removesuffix(".0"))

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

    # -- test controls -----------------------------------------------------------------------

    def reset_counts(self) -> None:
        """Forget the request counters."""
        with self._lock:
            self.counts.clear()

    def advance(self, steps: int = 1) -> None:
        """Move every non-final order and refill ``steps`` steps forward."""
        with self._lock:
            for _ in range(steps):
                for order in self.orders.values():
                    self._step_order(order)
                for refill in self.refills.values():
                    self._step_refill(refill)

    def set_status(self, order_id: int | str, status: str, remains: int | None = None) -> None:
        """Force an order's status (and remains); no money moves. Completed implies remains 0."""
        with self._lock:
            order = self.orders[int(order_id)]
            order.status = status
            if remains is not None:
                order.remains = remains
            elif status == "Completed":
                order.remains = 0

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

    def _process(self, params: Mapping[str, str], faults: Faults) -> tuple[int, Any, bool]:
        """Answer one API call: (HTTP status, reply, whether a placed order's reply is lost)."""
        with self._lock:
            if params.get("key") != self.api_key:
                return self._refusal(E_KEY)
            handler = self._actions.get(params.get("action", ""))
            if handler is None:
                return self._refusal(E_REQUEST)
            try:
                reply = handler(self, params)
            except _Refusal as refusal:
                return self._refusal(str(refusal))
            drop = (
                params.get("action") == "add"
                and faults.drop_after_accept > 0
                and self._rng.random() < faults.drop_after_accept
            )
            if drop:
                self.counts["fault:drop"] += 1
            return 200, reply, drop

    def _refusal(self, message: str) -> tuple[int, Any, bool]:
        """A refused request, worded in the dialect."""
        style = self.dialect.refusals
        if style == "http":  # 422 the way Laravel words validation errors
            status = _REFUSAL_STATUS.get(message, 400)
            return status, {"message": message} if status == 422 else _error(message), False
        if style == "fail":
            if self._turn("refusal", 2) == 0:
                return 200, {"status": "fail", "message": message}, False
            return 200, {"success": False, "msg": message}, False
        return 200, _error(message), False

    def _turn(self, kind: str, choices: int) -> int:
        """Which of ``choices`` wordings of ``kind`` to use next: each in turn."""
        index = self._turns[kind] % choices
        self._turns[kind] += 1
        return index

    def _ref(self, number: int, refill: bool = False) -> int | str:
        """An order or refill id as the dialect writes it."""
        if self.dialect.ids == "text":
            return f"{_TEXT_REFILL if refill else _TEXT_ORDER}{number}"
        return number

    def _number_of(self, token: str, refill: bool = False) -> int | None:
        """The number behind an id as a client sent it (None: not an id of this panel)."""
        token = token.strip()
        if self.dialect.ids == "text":
            prefix = _TEXT_REFILL if refill else _TEXT_ORDER
            if not token.startswith(prefix):
                return None
            token = token[len(prefix) :]
        return int(token) if _DIGITS.fullmatch(token) and len(token) < 20 else None

    def _spelled(self, status: str, number: int) -> str:
        """A status as the dialect spells it; ``number`` picks one of the spellings."""
        if self.dialect.statuses != "spellings" or status not in _SPELLINGS:
            return status
        options = _SPELLINGS[status]
        return options[number % len(options)]

    # -- actions (run under the lock) --------------------------------------------------------

    def _services_action(self, params: Mapping[str, str]) -> Any:
        """List the catalogue."""
        listing = self.services
        if self.dialect.services == "wrapped":
            items = [
                {
                    **{k: v for k, v in item.items() if k != "dripfeed"},
                    "service": str(item["service"]),
                    **({"refill": int(item["refill"])} if "refill" in item else {}),
                    **(
                        {"cancel": "true" if item["cancel"] else "false"}
                        if "cancel" in item
                        else {}
                    ),
                    "desc": f"{item['name']}: start 0-1h, speed 1k/day",
                }
                for item in listing
            ]
            return {"status": "success", "data": items}
        if self.dialect.services == "keyed":
            return {
                str(item["service"]): {
                    **{k: v for k, v in item.items() if k != "service"},
                    **({"refill": "1" if item["refill"] else "0"} if "refill" in item else {}),
                    "dripfeed": 1 if item.get("dripfeed") else 0,
                }
                for item in listing
            }
        return listing

    def _balance_action(self, params: Mapping[str, str]) -> Any:
        """Report the balance."""
        money = _money(self.balance)
        if self.dialect.balance == "variants":
            turn = self._turn("balance", 3)
            if turn == 0:
                return float(money)
            if turn == 1:
                return f"{money} {self.currency}"
            return {"amount": money, "currency": self.currency}
        return {"balance": money, "currency": self.currency}

    def _add_action(self, params: Mapping[str, str]) -> Any:
        """Validate an order per its service type, charge it and create it."""
        svc = self._service(params.get("service", ""))
        rule = _RULES.get(svc.type, _DEFAULT_RULE)
        link = _text(params, "link")
        if rule.needs_link and link is None:
            raise _Refusal(E_LINK)
        if any(_text(params, name) is None for name in rule.extra):
            raise _Refusal(E_REQUEST)
        if rule.count == "subscription":
            total = _subscription_total(params, svc)
            target = (params.get("username") or "").strip()
        else:
            total = _quantity_total(params, svc, rule)
            target = (link or "").strip()
        if svc.type == "Web Traffic":
            _check_web_traffic(params)
        per_package = rule.per_package and not svc.package_per_1000
        raw_charge = svc.rate if per_package else svc.rate * total / 1000
        charge = raw_charge.quantize(_PLACES, ROUND_HALF_UP)
        if any(
            o.link == target and o.service == svc.id and o.status not in ORDER_FINAL
            for o in self.orders.values()
        ):
            raise _Refusal(E_ACTIVE)
        if charge > self.balance:
            raise _Refusal(E_FUNDS)
        order_id = self._next_order
        self._next_order += 1
        self.balance -= charge
        self.orders[order_id] = SimOrder(
            id=order_id,
            service=svc.id,
            link=target,
            quantity=total,
            charge=charge,
            start_count=random.Random(self.seed * 1_000_003 + order_id).randint(0, 9999),
            remains=total,
            status="Pending",
            currency=self.currency,
            fields={k: v for k, v in params.items() if k not in ("key", "action")},
            created=time.time(),
        )
        if self.dialect.add == "wrapped":
            return {"status": "success", "order": self._ref(order_id)}
        return {"order": self._ref(order_id)}

    def _status_action(self, params: Mapping[str, str]) -> Any:
        """Report one order, or many keyed by id; auto-progress after answering."""
        if _text(params, "orders") is not None:
            tokens = _split_ids(params["orders"])
            reply: dict[str, Any] = {}
            seen: dict[int, SimOrder] = {}
            for token in tokens:
                order = self._order(token)
                reply[token] = self._order_status(order) if order else _error(E_ORDER)
                if order:
                    seen[order.id] = order
            self._progress(seen.values())
            return reply
        order = self._order(params.get("order", ""))
        if order is None:
            raise _Refusal(E_ORDER)
        single = self._order_status(order)
        self._progress([order])
        return single

    def _refill_action(self, params: Mapping[str, str]) -> Any:
        """Request refills for one order or many."""
        variants = self.dialect.refill == "variants"
        if _text(params, "orders") is not None:
            tokens = _split_ids(params["orders"])
            if variants and len(tokens) > 1:
                results: list[dict[str, Any]] = []
                for token in tokens:
                    try:
                        results.append(
                            {"order": _echo_id(token), "refill": self._refill_one(token)}
                        )
                    except _Refusal as refusal:
                        results.append({"order": _echo_id(token), "error": str(refusal)})
                return results
            if not variants:
                return _per_order(params["orders"], "refill", self._refill_one)
            return self._single_refill(tokens[0])
        if variants:
            return self._single_refill(params.get("order", ""))
        return {"refill": str(self._refill_one(params.get("order", "")))}

    def _single_refill(self, token: str) -> Any:
        """A one-order refill the ``variants`` way: two wordings in turn."""
        refill = self._refill_one(token)
        if self._turn("refill", 2) == 0:
            return {"refill": str(refill)}
        return {"success": "Refill request has been received", "refill": refill}

    def _refill_status_action(self, params: Mapping[str, str]) -> Any:
        """Report one refill, or many as a list; auto-progress after answering."""
        if _text(params, "refills") is not None:
            results: list[dict[str, Any]] = []
            seen: dict[int, SimRefill] = {}
            for token in _split_ids(params["refills"]):
                refill = self._refill(token)
                status: Any = (
                    self._spelled(refill.status, refill.id)
                    if refill
                    else _error(E_REFILL_NOT_FOUND)
                )
                results.append({"refill": _echo_id(token), "status": status})
                if refill:
                    seen[refill.id] = refill
            self._progress_refills(seen.values())
            return results
        refill = self._refill(params.get("refill", ""))
        if refill is None:
            raise _Refusal(E_REFILL_NOT_FOUND)
        single = {"status": self._spelled(refill.status, refill.id)}
        self._progress_refills([refill])
        return single

    def _cancel_action(self, params: Mapping[str, str]) -> Any:
        """Cancel many orders (or a single ``order``), refunding each charge."""
        if _text(params, "orders") is not None:
            if self.dialect.cancel == "list":
                return [
                    entry["cancel"]
                    for entry in _per_order(params["orders"], "cancel", self._cancel_one)
                ]
            return _per_order(params["orders"], "cancel", self._cancel_one)
        return {"cancel": self._cancel_one(params.get("order", ""))}

    _actions: dict[str, Callable[[PanelSimulator, Mapping[str, str]], Any]] = {
        "services": _services_action,
        "balance": _balance_action,
        "add": _add_action,
        "status": _status_action,
        "refill": _refill_action,
        "refill_status": _refill_status_action,
        "cancel": _cancel_action,
    }

    # -- state helpers (run under the lock) --------------------------------------------------

    def _service(self, token: str) -> _Service:
        """Look up an orderable service by its id field."""
        token = token.strip()
        svc = self._services.get(int(token)) if _DIGITS.fullmatch(token) else None
        if svc is None:
            raise _Refusal(E_SERVICE)
        if svc.disabled:
            raise _Refusal(E_DISABLED)
        return svc

    def _order(self, token: str) -> SimOrder | None:
        """Look up an order by an id as sent (ids of another form find nothing)."""
        number = self._number_of(token)
        return None if number is None else self.orders.get(number)

    def _refill(self, token: str) -> SimRefill | None:
        """Look up a refill by an id as sent."""
        number = self._number_of(token, refill=True)
        return None if number is None else self.refills.get(number)

    def _order_status(self, order: SimOrder) -> dict[str, Any]:
        """Build an order's status object with numbers as strings, like real panels."""
        reply: dict[str, Any] = {
            "charge": _money(order.charge),
            "start_count": str(order.start_count),
            "status": self._spelled(order.status, order.id),
            "remains": str(order.remains),
            "currency": order.currency,
        }
        if self.dialect.statuses == "spellings" and order.status == "Pending":
            reply["start_count"] = _UNKNOWN_COUNTS[order.id % 3]
            reply["remains"] = _UNKNOWN_COUNTS[(order.id + 1) % 3]
        return reply

    def _refill_one(self, token: str) -> int | str:
        """Create a refill for one order or refuse with the panel's reason."""
        order = self._order(token)
        if order is None:
            raise _Refusal(E_ORDER)
        svc = self._services.get(order.service)
        if svc is None or not svc.refill:
            raise _Refusal(E_REFILL_DISABLED)
        if order.status not in ("Completed", "Partial"):
            raise _Refusal(E_NOT_COMPLETED)
        refill_id = self._next_refill
        self._next_refill += 1
        self.refills[refill_id] = SimRefill(id=refill_id, order_id=order.id, status="Pending")
        return self._ref(refill_id, refill=True)

    def _cancel_one(self, token: str) -> int:
        """Cancel one order and refund its charge (1, the API's "done"), or refuse with a reason."""
        order = self._order(token)
        if order is None:
            raise _Refusal(E_ORDER)
        svc = self._services.get(order.service)
        if svc is None or not svc.cancel:
            raise _Refusal(E_CANCEL_DISABLED)
        if order.status in ORDER_FINAL:
            raise _Refusal(E_NOT_CANCELABLE)
        order.status = "Canceled"
        self.balance += order.charge
        order.charge = Decimal(0)
        return 1

    def _progress(self, orders: Iterable[SimOrder]) -> None:
        """Advance the orders just reported, when auto-progress is on."""
        if self.auto_progress:
            for order in orders:
                self._step_order(order)

    def _progress_refills(self, refills: Iterable[SimRefill]) -> None:
        """Advance the refills just reported, when auto-progress is on."""
        if self.auto_progress:
            for refill in refills:
                self._step_refill(refill)

    def _step_order(self, order: SimOrder) -> None:
        """Pending -> In progress -> Completed (or Partial with a partial refund)."""
        if order.status in ORDER_FINAL:
            return
        if order.status == "Pending":
            order.status = "In progress"
            order.remains = (order.quantity + 1) // 2
        elif "fail" in order.link.lower():
            order.status = "Fail"
            self.balance += order.charge
            order.charge = Decimal(0)
        elif order.service == PARTIAL_SERVICE and "partial" in order.link.lower():
            order.status = "Partial"
            order.remains = max(1, order.quantity // 4)
            refund = (order.charge * order.remains / order.quantity).quantize(
                _PLACES, ROUND_HALF_UP
            )
            order.charge -= refund
            self.balance += refund
        else:
            order.status = "Completed"
            order.remains = 0

    def _step_refill(self, refill: SimRefill) -> None:
        """Pending -> In progress -> Completed (or Rejected for ``reject`` links)."""
        if refill.status in REFILL_FINAL:
            return
        if refill.status == "Pending":
            refill.status = "In progress"
            return
        order = self.orders.get(refill.order_id)
        rejected = order is not None and "reject" in order.link.lower()
        refill.status = "Rejected" if rejected else "Completed"


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
        if urlsplit(self.path).path == API_PATH:
            self._send(405, _NOT_ALLOWED_PAGE, "text/html", {"Allow": "POST"})
        else:
            self._send(404, _NOT_FOUND_PAGE, "text/html")

    def do_POST(self) -> None:
        """Run one API call through the fault knobs and answer it."""
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length) if length.isdigit() else 0)
        if urlsplit(self.path).path != API_PATH:
            self.sim._count(None)
            self._send(404, _NOT_FOUND_PAGE, "text/html")
            return
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {name: values[-1] for name, values in form.items()}  # PHP keeps the last one
        sim, faults = self.sim, self.sim.faults
        sim._count(params.get("action", ""))
        rate_wait = sim._rate_wait(faults)
        if rate_wait is not None:
            self._send_json(429, _error(E_TOO_MANY), {"Retry-After": str(math.ceil(rate_wait))})
            return
        if not sim._enter(faults):
            wait = faults.retry_after
            header = str(int(wait)) if float(wait).is_integer() else str(wait)
            self._send_json(429, _error(E_TOO_MANY), {"Retry-After": header})
            return
        try:
            if faults.latency > 0:
                time.sleep(faults.latency)
            fault = sim._roll_fault(faults)
            if fault == "5xx":
                self._send(502, _BAD_GATEWAY_PAGE, "text/html")
            elif fault == "html":
                self._send(
                    sim._html_status(), _CHALLENGE_PAGE, "text/html", {"Server": "cloudflare"}
                )
            elif fault == "garbage":
                self._send(200, _GARBAGE_BODY, "application/json")
            else:
                status, reply, drop = sim._process(params, faults)
                if drop and faults.lost_reply == "302":
                    self._send(302, b"", "text/html", {"Location": "https://panel.example/v3"})
                elif drop and faults.lost_reply.isdigit():
                    self._send_json(int(faults.lost_reply), {"error": "Internal Server Error"})
                elif drop:
                    self._drop()
                else:
                    self._send_json(status, reply)
        finally:
            sim._leave()

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
