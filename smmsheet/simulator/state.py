"""The panel's books: one account, its orders and refills, and what each paid action does.

``PanelState`` is pure: no HTTP and no wording (``dialects.py`` turns forms into these calls
and the results into replies). ``place`` charges the balance and creates an order,
``request_refill`` and ``cancel`` act on one order, and each refuses with the panel's message
(``Refusal``). Orders move Pending -> In progress -> Completed each time their status is read
(``auto_progress``) or ``advance`` says so. Not thread-safe: ``PanelSimulator`` holds its lock
around every call.

Test markers in links: a service-3 order whose link contains ``partial`` ends ``Partial``
(part of the charge refunded); an order whose link contains ``fail`` ends ``Fail`` (all of
it refunded); a refill of an order whose link contains ``reject`` ends ``Rejected``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .catalogue import Catalogue, default_services, read_order
from .protocol import (
    E_ACTIVE,
    E_CANCEL_DISABLED,
    E_FUNDS,
    E_NOT_CANCELABLE,
    E_NOT_COMPLETED,
    E_ORDER,
    E_REFILL_DISABLED,
    Form,
    Refusal,
    to_money,
)

FIRST_ORDER_ID = 1001
FIRST_REFILL_ID = 501
ORDER_FINAL = frozenset({"Completed", "Partial", "Canceled", "Fail"})
REFILL_FINAL = frozenset({"Completed", "Rejected"})
#: The service whose ``partial`` links end Partial.
PARTIAL_SERVICE = 3


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


class PanelState:
    """One panel account: its key, balance, catalogue, orders and refills."""

    def __init__(
        self,
        *,
        api_key: str,
        balance: Decimal | str = "1000",
        currency: str = "USD",
        services: Iterable[Mapping[str, Any]] | None = None,
        seed: int = 0,
        auto_progress: bool = True,
    ) -> None:
        self.api_key = api_key
        self.balance = Decimal(balance)
        self.currency = currency
        self.catalogue = Catalogue(services if services is not None else default_services())
        self.seed = seed
        self.auto_progress = auto_progress
        self.orders: dict[int, SimOrder] = {}
        #: Order ids by (link, service): the "active order with this link" check looks at
        #: these few, not at every order (10,000 adds scanned 50 million orders).
        self._by_target: dict[tuple[str, int], list[int]] = {}
        self.refills: dict[int, SimRefill] = {}
        self._next_order = FIRST_ORDER_ID
        self._next_refill = FIRST_REFILL_ID

    @property
    def next_order_id(self) -> int:
        """The id the next accepted order gets."""
        return self._next_order

    # -- actions -----------------------------------------------------------------------------

    def place(self, form: Form) -> SimOrder:
        """Validate an ``add`` form per its service type, charge it and create the order."""
        request = read_order(self.catalogue.orderable(form.get("service", "")), form)
        service = request.service
        target = (request.target, service.id)
        if any(self.orders[i].status not in ORDER_FINAL for i in self._by_target.get(target, ())):
            raise Refusal(E_ACTIVE)
        if request.charge > self.balance:
            raise Refusal(E_FUNDS)
        order_id = self._next_order
        self._next_order += 1
        self.balance -= request.charge
        order = SimOrder(
            id=order_id,
            service=service.id,
            link=request.target,
            quantity=request.total,
            charge=request.charge,
            start_count=random.Random(self.seed * 1_000_003 + order_id).randint(0, 9999),
            remains=request.total,
            status="Pending",
            currency=self.currency,
            fields={k: v for k, v in form.items() if k not in ("key", "action")},
            created=time.time(),
        )
        self._put(order)
        return order

    def _put(self, order: SimOrder) -> None:
        self.orders[order.id] = order
        self._by_target.setdefault((order.link, order.service), []).append(order.id)

    def request_refill(self, order_id: int | None) -> SimRefill:
        """Create a refill for one order, or refuse with the panel's reason."""
        order = self.order(order_id)
        if order is None:
            raise Refusal(E_ORDER)
        service = self.catalogue.get(order.service)
        if service is None or not service.refill:
            raise Refusal(E_REFILL_DISABLED)
        if order.status not in ("Completed", "Partial"):
            raise Refusal(E_NOT_COMPLETED)
        refill = SimRefill(id=self._next_refill, order_id=order.id, status="Pending")
        self._next_refill += 1
        self.refills[refill.id] = refill
        return refill

    def cancel(self, order_id: int | None) -> None:
        """Cancel one order and refund its charge, or refuse with the panel's reason."""
        order = self.order(order_id)
        if order is None:
            raise Refusal(E_ORDER)
        service = self.catalogue.get(order.service)
        if service is None or not service.cancel:
            raise Refusal(E_CANCEL_DISABLED)
        if order.status in ORDER_FINAL:
            raise Refusal(E_NOT_CANCELABLE)
        order.status = "Canceled"
        self.balance += order.charge
        order.charge = Decimal(0)

    def order(self, order_id: int | None) -> SimOrder | None:
        """The order with this id (None for no id)."""
        return None if order_id is None else self.orders.get(order_id)

    def refill(self, refill_id: int | None) -> SimRefill | None:
        """The refill with this id (None for no id)."""
        return None if refill_id is None else self.refills.get(refill_id)

    def reported(self, orders: Iterable[SimOrder]) -> None:
        """The status of these orders was just read: advance them, when auto-progress is on."""
        if self.auto_progress:
            for order in orders:
                self._step_order(order)

    def reported_refills(self, refills: Iterable[SimRefill]) -> None:
        """The status of these refills was just read: advance them, when auto-progress is on."""
        if self.auto_progress:
            for refill in refills:
                self._step_refill(refill)

    # -- test controls -----------------------------------------------------------------------

    def advance(self, steps: int = 1) -> None:
        """Move every non-final order and refill ``steps`` steps forward."""
        for _ in range(steps):
            for order in self.orders.values():
                self._step_order(order)
            for refill in self.refills.values():
                self._step_refill(refill)

    def set_status(self, order_id: int | str, status: str, remains: int | None = None) -> None:
        """Force an order's status (and remains); no money moves. Completed implies remains 0."""
        order = self.orders[int(order_id)]
        order.status = status
        if remains is not None:
            order.remains = remains
        elif status == "Completed":
            order.remains = 0

    def add_orders(self, orders: Iterable[SimOrder]) -> None:
        """Put accepted orders straight into the books, uncharged; the next ``add`` follows them.

        For benchmarks that need 100,000 orders (as many ``add`` requests would only measure
        the simulator).
        """
        for order in orders:
            self._put(order)
            self._next_order = max(self._next_order, order.id + 1)

    # -- progress ----------------------------------------------------------------------------

    def _step_order(self, order: SimOrder) -> None:
        """Pending -> In progress -> Completed (or Partial with a partial refund, or Fail)."""
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
            refund = to_money(order.charge * order.remains / order.quantity)
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
