"""The words of API v2 that every room of the simulator shares: refusals and form fields.

A request is a form: field name to text (the last value when a name repeats, as PHP keeps
it). Any room refuses a request by raising ``Refusal`` with one of the messages below, the
ones real panels send; the dialect (``dialects.py``) words it for the wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

#: A request's form fields, each the text of its last value.
Form = Mapping[str, str]

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

#: Most ids one multi-id request may carry, as on real panels.
MAX_IDS = 100
#: Amounts are kept and shown with five decimals, like real panels.
MONEY_PLACES = Decimal("0.00001")
DIGITS = re.compile(r"\d+")


class Refusal(Exception):
    """A request the panel refuses with its message (``{"error": message}`` in ``standard``)."""


def to_money(value: Decimal) -> Decimal:
    """Round an amount to the panel's five decimals."""
    return value.quantize(MONEY_PLACES, ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """Format an amount the way panels do: a string with five decimals."""
    return str(to_money(value))


def error(message: str) -> dict[str, str]:
    """The panel's error object."""
    return {"error": message}


def text(form: Form, name: str) -> str | None:
    """Return a form field, treating a blank one as absent."""
    value = form.get(name)
    return value if value is not None and value.strip() else None


def integer(form: Form, name: str, *, required: bool = True) -> int | None:
    """Return a non-negative integer field; malformed (or missing when required) is refused."""
    value = text(form, name)
    if value is None:
        if required:
            raise Refusal(E_REQUEST)
        return None
    if not DIGITS.fullmatch(value.strip()):
        raise Refusal(E_REQUEST)
    return int(value)


def required_int(form: Form, name: str) -> int:
    """Return a required integer field."""
    value = integer(form, name)
    assert value is not None  # integer() raised otherwise
    return value


def count_lines(form: Form, name: str) -> int:
    """Count the non-empty lines of a one-per-line field (comments, usernames)."""
    return sum(1 for line in (form.get(name) or "").splitlines() if line.strip())


def split_ids(raw: str) -> list[str]:
    """Split a comma list of ids (spaces allowed); empty or more than ``MAX_IDS`` is refused."""
    ids = [token.strip() for token in raw.split(",") if token.strip()]
    if not ids or len(ids) > MAX_IDS:
        raise Refusal(E_REQUEST)
    return ids


def echo_id(token: str) -> int | str:
    """Echo an id back as panels do: a number when it is one."""
    return int(token) if DIGITS.fullmatch(token) else token
