"""The ``SMM_*`` cell formulas as Excel sees them: xlwings declarations, one line each.

This is the module Excel imports (the add-in's ``UDF Modules = smmsheet.udf``); the add-in's
VBA declarations are generated from the signatures here (:func:`smmsheet.addin.udf_module_vba`).
Each formula hands its cells to its plain function in :mod:`smmsheet.formulas`, which does
the work (read-only, batched, cached) without xlwings. Excel calls them synchronously, one
cell after another.

Example, in Excel::

    =SMM_STATUS(A2:A500, "remains")     =SMM_BALANCE()     =SMM_COST(1, 1000)

Each takes a last, optional argument: the config profile of the panel to ask, as a row's
Panel cell names it (``=SMM_STATUS(A2:A500, , "b")``, ``=SMM_BALANCE("b")``); empty asks
the default panel. The lookups also take the Panel cells beside their ids
(``=SMM_STATUS(D2:D500, , J2:J500)``): each order is asked of its own row's panel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xlwings as xw  # already loaded when Excel imports this module: free there

from .formulas import smm_balance, smm_cost, smm_refill_status, smm_services, smm_status

__all__ = [
    "ARG_HELP",
    "CATEGORY",
    "PANEL_HELP",
    "PANELS_HELP",
    "FORMULAS",
    "SMM_BALANCE",
    "SMM_COST",
    "SMM_REFILL_STATUS",
    "SMM_SERVICES",
    "SMM_STATUS",
    "udf_names",
]

#: The Function Wizard's category for the SMM_* formulas.
CATEGORY = "smmsheet"
#: The Function Wizard's help for the optional panel argument every formula takes.
PANEL_HELP = "A profile of your config, as a Panel cell names it (empty: the default panel)"
#: ... and for the lookups, which also take the Panel cells beside their ids.
PANELS_HELP = (
    "A profile of your config, or the Panel cells beside the ids, one a row "
    "(empty: the default panel)"
)
#: The Function Wizard's help for each argument (the add-in registers it when it opens).
ARG_HELP: dict[str, dict[str, str]] = {
    "SMM_STATUS": {
        "order_ids": "An Order ID cell, or a range of them (one call for a column: A2:A500)",
        "field": "status (default), charge, start_count, remains or currency",
        "panel": PANELS_HELP,
    },
    "SMM_REFILL_STATUS": {
        "refill_ids": "A Refill ID cell, or a range of them",
        "panel": PANELS_HELP,
    },
    "SMM_BALANCE": {"panel": PANEL_HELP},
    "SMM_SERVICES": {"panel": PANEL_HELP},
    "SMM_COST": {
        "service": "Service ID",
        "quantity": "Quantity (the rate is per 1000)",
        "panel": PANEL_HELP,
    },
}


# --------------------------------------------------------------------------- Excel
# Type hints on the decorated functions double as xlwings converters: only types xlwings
# registers (Any, str, list, ...) may appear there, never a union such as ``float | str``.
# Outside Windows xlwings' decorators are no-ops; the add-in's VBA declarations and its
# Function Wizard descriptions are built from these signatures, docstrings and ``doc``s
# (smmsheet.addin.udf_module_vba, smmsheet.addin.function_help_vba).
# The functions are synchronous on purpose: xlwings' async mode shows "#N/A waiting..." and
# rewrites the formula later, which clears Excel's undo and marks the book as changed.


@xw.func(category=CATEGORY)
@xw.arg("order_ids", ndim=2, doc=ARG_HELP["SMM_STATUS"]["order_ids"])
@xw.arg("field", doc=ARG_HELP["SMM_STATUS"]["field"])
@xw.arg("panel", ndim=2, doc=PANELS_HELP, err_to_str=True)  # #N/A is not empty
def SMM_STATUS(order_ids: Any, field: str = "status", panel: Any = None) -> list[list[Any]]:
    """Status of panel orders (read-only); returns the same shape as order_ids."""
    return smm_status(order_ids, field, panel)


@xw.func(category=CATEGORY)
@xw.arg("refill_ids", ndim=2, doc=ARG_HELP["SMM_REFILL_STATUS"]["refill_ids"])
@xw.arg("panel", ndim=2, doc=PANELS_HELP, err_to_str=True)  # #N/A is not empty
def SMM_REFILL_STATUS(refill_ids: Any, panel: Any = None) -> list[list[Any]]:
    """Status of refills (read-only); returns the same shape as refill_ids."""
    return smm_refill_status(refill_ids, panel)


@xw.func(category=CATEGORY)
@xw.arg("panel", doc=PANEL_HELP, err_to_str=True)  # #N/A is not empty
def SMM_BALANCE(panel: Any = None) -> Any:
    """The panel account balance (of the default panel, or of the profile named)."""
    return smm_balance(panel)


@xw.func(category=CATEGORY)
@xw.arg("panel", doc=PANEL_HELP, err_to_str=True)  # #N/A is not empty
def SMM_SERVICES(panel: Any = None) -> list[list[Any]]:
    """The panel's services with a header row (spills)."""
    return smm_services(panel)


@xw.func(category=CATEGORY)
@xw.arg("service", doc=ARG_HELP["SMM_COST"]["service"])
@xw.arg("quantity", doc=ARG_HELP["SMM_COST"]["quantity"])
@xw.arg("panel", doc=PANEL_HELP, err_to_str=True)  # #N/A is not empty
def SMM_COST(service: Any, quantity: Any, panel: Any = None) -> Any:
    """Cost of a quantity of a service at the panel's current rate."""
    return smm_cost(service, quantity, panel)


#: The formulas this module gives Excel, in the order the add-in declares them.
FORMULAS: tuple[Callable[..., Any], ...] = (
    SMM_STATUS,
    SMM_REFILL_STATUS,
    SMM_BALANCE,
    SMM_SERVICES,
    SMM_COST,
)


def udf_names() -> list[str]:
    """Names of the formulas this module gives Excel."""
    return [f.__name__ for f in FORMULAS]
