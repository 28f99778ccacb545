"""How the simulated panel words its replies: one ``Dialect`` per family of real panels.

``Responder`` answers one API call without any HTTP: it reads the form, has the
``PanelState`` act, and words the reply (or the refusal) the way its dialect does.
``standard`` replies exactly as ``docs/panel-api.md`` shows; the others as real panels were
seen to: ``{"status": "success", "order": 151}``, text order ids, refusals as
``{"status": "fail", "message": ...}`` or HTTP 422, status spellings such as ``in_progress``,
and so on. Some dialects take turns between wordings, so a ``Responder`` keeps count.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .protocol import (
    DIGITS,
    E_ACTIVE,
    E_FUNDS,
    E_KEY,
    E_ORDER,
    E_REFILL_NOT_FOUND,
    E_REQUEST,
    Form,
    Refusal,
    echo_id,
    error,
    money_text,
    split_ids,
    text,
)
from .state import PanelState, SimOrder, SimRefill


@dataclass(frozen=True)
class Dialect:
    """How one family of real panels words API v2 replies; ``standard`` is ``docs/panel-api.md``."""

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
        Dialect("standard", "replies exactly as docs/panel-api.md documents them"),
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
TEXT_ORDER, TEXT_REFILL = "ORD-01HGX", "rf_5f2"
#: HTTP statuses of refusals in the ``http`` dialects (400 for the rest).
REFUSAL_STATUS = {
    E_KEY: 401,
    E_ORDER: 404,
    E_REFILL_NOT_FOUND: 404,
    E_FUNDS: 422,
    E_ACTIVE: 422,
}
#: How the ``spellings`` dialects write each status; an order's id picks one.
SPELLINGS = {
    "Pending": ("Pending", "pending"),
    "In progress": ("Processing", "in_progress", "In progress", "inprogress"),
    "Completed": ("completed", "Completed"),
    "Partial": ("Partial", "partial"),
    "Canceled": ("Cancelled", "Refunded", "canceled", "Canceled"),
    "Fail": ("Failed", "Fail"),
    "Rejected": ("rejected", "Rejected"),
}
UNKNOWN_COUNTS = ("Unknown", None, "")


@dataclass(frozen=True)
class Reply:
    """One API call's answer before it goes on the wire."""

    status: int
    body: Any
    #: The panel refused the request (in any wording, whatever the HTTP status).
    refused: bool = False


class Responder:
    """Answers API calls for one ``PanelState`` in one dialect; not thread-safe.

    Example::

        responder = Responder(PanelState(api_key="k"), DIALECTS["success-wrapped"])
        form = {"key": "k", "action": "add", "service": "1", "link": "l", "quantity": "100"}
        responder.answer(form).body   # {'status': 'success', 'order': 1001}
    """

    def __init__(self, state: PanelState, dialect: Dialect) -> None:
        self.state = state
        self.dialect = dialect
        self._turns: collections.Counter[str] = collections.Counter()

    def answer(self, form: Form) -> Reply:
        """Check the key, run the form's action and word its reply (or refusal)."""
        if form.get("key") != self.state.api_key:
            return self._refusal(E_KEY)
        action = self._actions.get(form.get("action", ""))
        if action is None:
            return self._refusal(E_REQUEST)
        try:
            return Reply(200, action(self, form))
        except Refusal as refusal:
            return self._refusal(str(refusal))

    def public_id(self, item: SimOrder | SimRefill) -> str:
        """An order's (or refill's) id as this dialect shows it to clients."""
        return str(self._ref(item.id, refill=isinstance(item, SimRefill)))

    def find_order(self, public_id: object) -> SimOrder | None:
        """The order behind an id as a client shows it (``1001``, ``"ORD-01HGX1001"``)."""
        return self.state.order(self._number_of(str(public_id).removesuffix(".0")))

    # -- wording -----------------------------------------------------------------------------

    def _refusal(self, message: str) -> Reply:
        """A refused request, worded in the dialect."""
        style = self.dialect.refusals
        if style == "http":  # 422 the way Laravel words validation errors
            status = REFUSAL_STATUS.get(message, 400)
            return Reply(status, {"message": message} if status == 422 else error(message), True)
        if style == "fail":
            if self._turn("refusal", 2) == 0:
                return Reply(200, {"status": "fail", "message": message}, True)
            return Reply(200, {"success": False, "msg": message}, True)
        return Reply(200, error(message), True)

    def _turn(self, kind: str, choices: int) -> int:
        """Which of ``choices`` wordings of ``kind`` to use next: each in turn."""
        index = self._turns[kind] % choices
        self._turns[kind] += 1
        return index

    def _ref(self, number: int, refill: bool = False) -> int | str:
        """An order or refill id as the dialect writes it."""
        if self.dialect.ids == "text":
            return f"{TEXT_REFILL if refill else TEXT_ORDER}{number}"
        return number

    def _number_of(self, token: str, refill: bool = False) -> int | None:
        """The number behind an id as a client sent it (None: not an id of this panel)."""
        token = token.strip()
        if self.dialect.ids == "text":
            prefix = TEXT_REFILL if refill else TEXT_ORDER
            if not token.startswith(prefix):
                return None
            token = token[len(prefix) :]
        return int(token) if DIGITS.fullmatch(token) and len(token) < 20 else None

    def _spelled(self, status: str, number: int) -> str:
        """A status as the dialect spells it; ``number`` picks one of the spellings."""
        if self.dialect.statuses != "spellings" or status not in SPELLINGS:
            return status
        options = SPELLINGS[status]
        return options[number % len(options)]

    def _order_status(self, order: SimOrder) -> dict[str, Any]:
        """An order's status object with numbers as strings, like real panels."""
        reply: dict[str, Any] = {
            "charge": money_text(order.charge),
            "start_count": str(order.start_count),
            "status": self._spelled(order.status, order.id),
            "remains": str(order.remains),
            "currency": order.currency,
        }
        if self.dialect.statuses == "spellings" and order.status == "Pending":
            reply["start_count"] = UNKNOWN_COUNTS[order.id % 3]
            reply["remains"] = UNKNOWN_COUNTS[(order.id + 1) % 3]
        return reply

    # -- actions -----------------------------------------------------------------------------

    def _services_action(self, form: Form) -> Any:
        """List the catalogue."""
        listing = self.state.catalogue.listing()
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

    def _balance_action(self, form: Form) -> Any:
        """Report the balance."""
        money, currency = money_text(self.state.balance), self.state.currency
        if self.dialect.balance == "variants":
            turn = self._turn("balance", 3)
            if turn == 0:
                return float(money)
            if turn == 1:
                return f"{money} {currency}"
            return {"amount": money, "currency": currency}
        return {"balance": money, "currency": currency}

    def _add_action(self, form: Form) -> Any:
        """Place an order."""
        order = self.state.place(form)
        if self.dialect.add == "wrapped":
            return {"status": "success", "order": self._ref(order.id)}
        return {"order": self._ref(order.id)}

    def _status_action(self, form: Form) -> Any:
        """Report one order, or many keyed by id; they progress after the answer is built."""
        if text(form, "orders") is not None:
            reply: dict[str, Any] = {}
            seen: dict[int, SimOrder] = {}
            for token in split_ids(form["orders"]):
                order = self.state.order(self._number_of(token))
                reply[token] = self._order_status(order) if order else error(E_ORDER)
                if order:
                    seen[order.id] = order
            self.state.reported(seen.values())
            return reply
        order = self.state.order(self._number_of(form.get("order", "")))
        if order is None:
            raise Refusal(E_ORDER)
        single = self._order_status(order)
        self.state.reported([order])
        return single

    def _refill_one(self, token: str) -> int | str:
        """Request a refill of one order; its id as the dialect writes it."""
        refill = self.state.request_refill(self._number_of(token))
        return self._ref(refill.id, refill=True)

    def _refill_action(self, form: Form) -> Any:
        """Request refills for one order or many."""
        variants = self.dialect.refill == "variants"
        if text(form, "orders") is not None:
            tokens = split_ids(form["orders"])
            if variants and len(tokens) > 1:
                results: list[dict[str, Any]] = []
                for token in tokens:
                    try:
                        results.append({"order": echo_id(token), "refill": self._refill_one(token)})
                    except Refusal as refusal:
                        results.append({"order": echo_id(token), "error": str(refusal)})
                return results
            if not variants:
                return _per_order(tokens, "refill", self._refill_one)
            return self._single_refill(tokens[0])
        if variants:
            return self._single_refill(form.get("order", ""))
        return {"refill": str(self._refill_one(form.get("order", "")))}

    def _single_refill(self, token: str) -> Any:
        """A one-order refill the ``variants`` way: two wordings in turn."""
        refill = self._refill_one(token)
        if self._turn("refill", 2) == 0:
            return {"refill": str(refill)}
        return {"success": "Refill request has been received", "refill": refill}

    def _refill_status_action(self, form: Form) -> Any:
        """Report one refill, or many as a list; they progress after the answer is built."""
        if text(form, "refills") is not None:
            results: list[dict[str, Any]] = []
            seen: dict[int, SimRefill] = {}
            for token in split_ids(form["refills"]):
                refill = self.state.refill(self._number_of(token, refill=True))
                status: Any = (
                    self._spelled(refill.status, refill.id) if refill else error(E_REFILL_NOT_FOUND)
                )
                results.append({"refill": echo_id(token), "status": status})
                if refill:
                    seen[refill.id] = refill
            self.state.reported_refills(seen.values())
            return results
        refill = self.state.refill(self._number_of(form.get("refill", ""), refill=True))
        if refill is None:
            raise Refusal(E_REFILL_NOT_FOUND)
        single = {"status": self._spelled(refill.status, refill.id)}
        self.state.reported_refills([refill])
        return single

    def _cancel_one(self, token: str) -> int:
        """Cancel one order: 1, the API's "done"."""
        self.state.cancel(self._number_of(token))
        return 1

    def _cancel_action(self, form: Form) -> Any:
        """Cancel many orders (or a single ``order``), refunding each charge."""
        if text(form, "orders") is not None:
            results = _per_order(split_ids(form["orders"]), "cancel", self._cancel_one)
            if self.dialect.cancel == "list":
                return [entry["cancel"] for entry in results]
            return results
        return {"cancel": self._cancel_one(form.get("order", ""))}

    _actions: dict[str, Callable[[Responder, Form], Any]] = {
        "services": _services_action,
        "balance": _balance_action,
        "add": _add_action,
        "status": _status_action,
        "refill": _refill_action,
        "refill_status": _refill_status_action,
        "cancel": _cancel_action,
    }


def _per_order(tokens: Iterable[str], key: str, one: Callable[[str], Any]) -> list[dict[str, Any]]:
    """A multi-order reply: ``[{"order": id, key: one(id) or {"error": reason}}, ...]``."""
    results: list[dict[str, Any]] = []
    for token in tokens:
        try:
            outcome = one(token)
        except Refusal as refusal:
            outcome = error(str(refusal))
        results.append({"order": echo_id(token), key: outcome})
    return results
