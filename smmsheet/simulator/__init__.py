"""A real panel API v2 on 127.0.0.1, for tests, ``smmsheet demo`` and benchmarks.

It speaks the form-encoded POST protocol of ``docs/panel-api.md``, keeps orders, refills and
a balance in memory, moves orders forward as their status is read, and can misbehave on
purpose (``Faults``). Standard library only. Its rooms, from the bottom up:

- ``protocol``: the panel's refusal messages, ``Refusal`` and how a form field is read;
- ``catalogue``: the seeded services and the rules of each service type for ``add``;
- ``state``: the account, orders and refills, and what each action does to them (no HTTP);
- ``dialects``: how families of real panels word replies, and the ``Responder`` that turns
  one form into one worded reply;
- ``server``: ``PanelSimulator``, the HTTP handler, the fault knobs applied on the wire,
  start and stop.

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

from .catalogue import default_services, misleading_services
from .dialects import DIALECTS, Dialect
from .protocol import (
    E_ACTIVE,
    E_CANCEL_DISABLED,
    E_DISABLED,
    E_FUNDS,
    E_KEY,
    E_LINK,
    E_NO_DRIPFEED,
    E_NOT_CANCELABLE,
    E_NOT_COMPLETED,
    E_ORDER,
    E_REFILL_DISABLED,
    E_REFILL_NOT_FOUND,
    E_REQUEST,
    E_SERVICE,
    E_TOO_MANY,
    MAX_IDS,
)
from .server import API_PATH, DEFAULT_API_KEY, Faults, PanelSimulator, Served
from .state import PanelState, SimOrder, SimRefill

__all__ = [
    "API_PATH",
    "DEFAULT_API_KEY",
    "DIALECTS",
    "E_ACTIVE",
    "E_CANCEL_DISABLED",
    "E_DISABLED",
    "E_FUNDS",
    "E_KEY",
    "E_LINK",
    "E_NOT_CANCELABLE",
    "E_NOT_COMPLETED",
    "E_NO_DRIPFEED",
    "E_ORDER",
    "E_REFILL_DISABLED",
    "E_REFILL_NOT_FOUND",
    "E_REQUEST",
    "E_SERVICE",
    "E_TOO_MANY",
    "MAX_IDS",
    "Dialect",
    "Faults",
    "PanelSimulator",
    "PanelState",
    "SimOrder",
    "Served",
    "SimRefill",
    "default_services",
    "misleading_services",
]
