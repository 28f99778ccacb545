"""The ``SMM_*`` cell formulas as Excel sees them: xlwings declarations, one line each.

This is the module Excel imports (the add-in's ``UDF Modules = smmsheet.udf``); the add-in's
VBA declarations are generated from the signatures here (:func:`smmsheet.addin.udf_module_vba`).
Each formula hands its cells to its plain function in :mod:`smmsheet.formulas`, which does
the work (read-only, coalesced, cached) without xlwings.

Example, in Excel::

    =SMM_STATUS(A2:A500, "remains")     =SMM_BALANCE()     =SMM_COST(1, 1000)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import xlwings as xw  # already loaded when Excel imports this module: free there

from .formulas import smm_balance, smm_cost, smm_refill_status, smm_services, smm_status

__all__ = [
    "FORMULAS",
    "UDF_THREADS",
    "SMM_BALANCE",
    "SMM_COST",
    "SMM_REFILL_STATUS",
    "SMM_SERVICES",
    "SMM_STATUS",
    "udf_names",
    "widen_xlwings_pool",
]

#: Threads xlwings runs async UDFs on; its default, min(32, CPUs + 4), would cap how many
#: cells can share one request during the first calculation.
UDF_THREADS = 128


# --------------------------------------------------------------------------- Excel
# Type hints on the decorated functions double as xlwings converters: only types xlwings
# registers (Any, str, list, ...) may appear there, never a union such as ``float | str``.
# Outside Windows xlwings' decorators are no-ops; the add-in's VBA declarations are built
# from these signatures (smmsheet.addin.udf_module_vba).


def widen_xlwings_pool(threads: int = UDF_THREADS) -> bool:
    """Give xlwings' async-UDF executor ``threads`` workers so a filled-down column batches.

    Only inside Excel's UDF server on Windows (where ``xlwings.udfs`` is loaded); elsewhere
    a no-op. Returns whether the pool was replaced.
    """
    udfs = sys.modules.get("xlwings.udfs")
    pool = getattr(udfs, "com_executor", None)
    if udfs is None or not isinstance(pool, ThreadPoolExecutor):
        return False
    if pool._max_workers >= threads:
        return False
    try:
        import pythoncom
    except ImportError:
        return False
    udfs.com_executor = ThreadPoolExecutor(  # type: ignore[attr-defined]
        max_workers=threads, initializer=pythoncom.CoInitialize, thread_name_prefix="smmsheet"
    )
    return True


widen_xlwings_pool()


@xw.func(async_mode="threading", category="smmsheet")
@xw.arg("order_ids", ndim=2, doc="Order ID cell or range")
@xw.arg("field", doc="status (default), charge, start_count, remains or currency")
def SMM_STATUS(order_ids: Any, field: str = "status") -> list[list[Any]]:
    """Status of panel orders (read-only); returns the same shape as order_ids."""
    return smm_status(order_ids, field)


@xw.func(async_mode="threading", category="smmsheet")
@xw.arg("refill_ids", ndim=2, doc="Refill ID cell or range")
def SMM_REFILL_STATUS(refill_ids: Any) -> list[list[Any]]:
    """Status of refills (read-only); returns the same shape as refill_ids."""
    return smm_refill_status(refill_ids)


@xw.func(async_mode="threading", category="smmsheet")
def SMM_BALANCE() -> Any:
    """The panel account balance."""
    return smm_balance()


@xw.func(async_mode="threading", category="smmsheet")
def SMM_SERVICES() -> list[list[Any]]:
    """The panel's services with a header row (spills)."""
    return smm_services()


@xw.func(async_mode="threading", category="smmsheet")
@xw.arg("service", doc="Service ID")
@xw.arg("quantity", doc="Quantity (the rate is per 1000)")
def SMM_COST(service: Any, quantity: Any) -> Any:
    """Cost of a quantity of a service at the panel's current rate."""
    return smm_cost(service, quantity)


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
