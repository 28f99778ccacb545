"""The panel's answers as typed values: services, balance, order and refill statuses, outcomes.

Pure (no HTTP): :mod:`smmsheet.panel` sends the requests and builds these from the replies;
the order model, the engine and the formulas use them without importing the client. The
readers of a refusal (:func:`refusal_of`, :func:`message_of`) live here because building a
status must tell an order's own "Fail" from a refused request.

Example::

    >>> Service.from_api({"service": "1", "rate": "0.90", "min": "50", "max": "10000"}).rate
    Decimal('0.90')
    >>> OrderStatus.from_api("1001", {"error": "Incorrect order ID"}).error
    'Incorrect order ID'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .values import (
    Unreadable,
    amount,
    is_blank,
    parse_bool,
    parse_decimal,
    parse_int,
    parse_text,
)

__all__ = [
    "Balance",
    "CancelResult",
    "OrderStatus",
    "RefillResult",
    "RefillStatus",
    "Service",
    "message_of",
    "refusal_of",
    "services_by_id",
]


def _flag_of(item: Mapping[str, Any], name: str) -> bool | None:
    """A service flag, or None when the list does not say (missing or null)."""
    value = item.get(name)
    return None if value is None else parse_bool(value)


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
    #: The service's description, when the list gives one (read for its refill window).
    description: str = ""

    @classmethod
    def from_api(cls, item: Mapping[str, Any], key: object = None) -> Service:
        """Build from one element of the ``services`` reply, tolerating strings for numbers.

        ``key`` is the element's key when the panel lists services as an object keyed by
        id (then the element itself may not repeat the id). Raises ValueError without an id.
        A flag given as null is "the list does not say", like a missing one.
        """
        raw_id = next((item[k] for k in ("service", "id", "service_id") if k in item), key)
        service_id = parse_int(raw_id)
        if service_id is None or service_id <= 0:
            raise ValueError(f"service without a usable id: {item!r}"[:200])
        rate = _rate(item.get("rate"))
        return cls(
            id=service_id,
            name=parse_text(item.get("name")),
            type=parse_text(item.get("type")) or "Default",
            category=parse_text(item.get("category")),
            rate=rate if rate is not None and rate >= 0 else None,
            min=parse_int(item.get("min")) or 0,
            max=parse_int(item.get("max")) or 0,
            refill=_flag_of(item, "refill"),
            cancel=_flag_of(item, "cancel"),
            dripfeed=_flag_of(item, "dripfeed"),
            description=parse_text(item.get("description", item.get("desc"))),
        )


def services_by_id(services: Iterable[Service]) -> dict[int, Service]:
    """The services by id. An id the list gives twice at two prices keeps its dearer entry
    (no price counts as the dearest): the panel may charge either, and a cap checked at the
    cheaper one could be passed.

    >>> cheap = Service(1, "F", "Default", "A", Decimal("0.01"), 10, 100)
    >>> dear = Service(1, "F", "Default", "B", Decimal("100"), 10, 100)
    >>> services_by_id([dear, cheap])[1].rate
    Decimal('100')
    """
    found: dict[int, Service] = {}
    for service in services:
        kept = found.get(service.id)
        if kept is None or (
            kept.rate is not None and (service.rate is None or service.rate > kept.rate)
        ):
            found[service.id] = service
    return found


@dataclass(frozen=True)
class Balance:
    """The account balance."""

    amount: Decimal
    currency: str


_new = object.__new__


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
    #: The panel could not be asked (unreachable, down): ``error`` is about the panel,
    #: not this order.
    unavailable: bool = False
    #: ``error`` is the panel's answer about this order (``Incorrect order ID``), not its
    #: refusal of the whole request (``Maximum 50 orders``).
    refused: bool = False

    @classmethod
    def from_api(cls, order: str, item: object) -> OrderStatus:
        """Build from a ``status`` reply object (single or one value of a multi reply)."""
        if type(item) is not dict and not isinstance(item, Mapping):
            return cls(order, error=f"unexpected status reply: {str(item)[:80]}")
        refusal = refusal_of(item)
        if refusal is not None:
            return cls(order, error=refusal, refused=True)
        get = item.get  # once per order of a 100,000-order refresh: kept lean
        charge = parse_decimal(get("charge"))
        start_count = parse_int(get("start_count"))
        remains = parse_int(get("remains"))
        if charge is None or start_count is None or remains is None:
            numbers = (("charge", charge), ("start_count", start_count), ("remains", remains))
            for name, value in numbers:
                if value is None and _overlong(get(name)):
                    # "Unknown" or null is no number; 5,000 digits is a panel fault to show.
                    what = name.replace("_", " ")
                    return cls(order, error=f"the panel sent a {what} too long for a cell")
        status, currency = parse_text(get("status")), parse_text(get("currency"))
        # cls(order, status, ...) without the frozen __init__, which pays object.__setattr__
        # per field: the same object, in a third of the time (one per order of a refresh).
        made = _new(cls)
        made.__dict__.update(
            order=order,
            status=status or None,
            charge=charge,
            start_count=start_count,
            remains=remains,
            currency=currency or None,
            error=None,
            unavailable=False,
            refused=False,
        )
        return made


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
    #: The panel could not be asked: ``error`` is about the panel, not this refill.
    unavailable: bool = False


@dataclass(frozen=True)
class CancelResult:
    """Outcome of a cancel request for one order."""

    order: str
    ok: bool = False
    error: str | None = None
    #: The request may have reached the panel but its answer was lost.
    uncertain: bool = False


#: Where panels put the text of a refusal, most specific first.
MESSAGE_KEYS = ("error", "errors", "message", "msg", "description", "detail", "reason")
#: ``success``/``status`` values that mean the request was refused.
REFUSED_WORDS = frozenset({"fail", "failed", "failure", "error", "false", "0", "no"})
#: Fields of an order status: a ``status`` of "Fail" beside them is the order's, not a refusal.
_ORDER_FIELDS = ("charge", "remains", "start_count", "currency")


def message_of(value: object) -> str:
    """The text of a panel message given as text, a list or an object of messages."""
    if isinstance(value, Mapping):  # {"message": "The given data was invalid.", "errors": {...}}
        texts = (message_of(value[key]) for key in MESSAGE_KEYS if key != "errors" and key in value)
        main = next((text for text in texts if text), "")
        details = message_of(value["errors"]) if "errors" in value else ""
        if main and details and details != main:
            return f"{main} ({details})"
        return main or details or "; ".join(t for t in (message_of(v) for v in value.values()) if t)
    if isinstance(value, list | tuple):
        return "; ".join(t for t in (message_of(v) for v in value) if t)
    if value is None or isinstance(value, bool):
        return ""
    return parse_text(value)


def refusal_of(reply: object) -> str | None:
    """The panel's message when ``reply`` refuses the request, in any shape panels use.

    ``{"error": m}``, ``{"status": "fail", "message": m}``, ``{"success": false, "msg": m}``.
    An empty error beside a real answer (``{"order": 5, "error": null}``) is no refusal.
    """
    if type(reply) is not dict and not isinstance(reply, Mapping):
        return None
    if "error" in reply:
        text = message_of(reply["error"])
        if text or len(reply) == 1:
            return text or "error"
    success = reply.get("success")
    failed = success is False or (type(success) is int and success == 0)
    if isinstance(success, str):
        failed = success.strip().lower() in REFUSED_WORDS
    status = reply.get("status")
    if (
        isinstance(status, str)
        and status.strip().lower() in REFUSED_WORDS
        and any(key in reply for key in MESSAGE_KEYS)
        and not any(key in reply for key in _ORDER_FIELDS)
    ):
        failed = True
    if not failed:
        return None
    words = message_of({key: reply[key] for key in MESSAGE_KEYS if key in reply})
    return words or "the panel refused the request"


def _overlong(value: object) -> bool:
    """A number the panel sent that no count or amount can be (``1e400``, 5,000 digits).

    Called only for values the parser refused, to tell them from "Unknown", null or "".
    """
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, float | Decimal) and value != value:  # NaN: no number, as "Unknown"
        return False
    if isinstance(value, int | float | Decimal):
        return True
    try:
        return Decimal(str(value).strip()).is_finite()
    except InvalidOperation:
        return False


def _rate(value: object) -> Decimal | None:
    """A service's price per 1000, read exactly or not at all: it decides what a cap lets through.

    A number, optionally with a currency mark (``"0.90"``, ``"$0.90"``, ``"1 500"``,
    ``"0,5"``, ``"1.234,56"``). Anything else (``"N/A"``, ``"1.5k"``, ``"0.5 - 1.5"``,
    ``"0x10"``, a negative price, ``"1,234"`` that reads two ways) is no price: such rows
    are refused under a cap and by the balance check, never priced at the first number
    seen in the text.
    """
    if is_blank(value):
        return None
    try:
        rate = amount(value)
    except Unreadable:
        return None
    return rate if rate >= 0 else None
