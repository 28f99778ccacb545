"""smmsheet: drive an SMM panel (API v2) from spreadsheet rows.

The public API, imported lazily so ``import smmsheet`` stays instant (Excel imports this
package on every macro call)::

    from smmsheet import Engine, Journal, PanelClient, RunOptions, journal_path, open_workbook

    with PanelClient(url, key) as panel, Journal(journal_path("orders.xlsx")) as journal:
        report = Engine(open_workbook("orders.xlsx"), panel, journal, RunOptions()).execute("run")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AmbiguousRequestError,
    ConfigError,
    InvalidKeyError,
    JournalError,
    LayoutError,
    PanelError,
    PanelRejectedError,
    PanelUnavailableError,
    RateLimitedError,
    SmmsheetError,
    WorkbookBusyError,
    WorkbookError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors (same as _LAZY)
    from .batch import Engine, Report, RunOptions
    from .config import resolve_panel
    from .journal import Journal, journal_path
    from .models import OrderStatus, Service
    from .panel import PanelClient
    from .simulator import PanelSimulator
    from .workbook import open_workbook

#: Where each lazily imported public name lives.
_LAZY = {
    "PanelClient": "smmsheet.panel",
    "Service": "smmsheet.models",
    "OrderStatus": "smmsheet.models",
    "Engine": "smmsheet.batch",
    "RunOptions": "smmsheet.batch",
    "Report": "smmsheet.batch",
    "Journal": "smmsheet.journal",
    "journal_path": "smmsheet.journal",
    "open_workbook": "smmsheet.workbook",
    "resolve_panel": "smmsheet.config",
    "PanelSimulator": "smmsheet.simulator",
}

__all__ = [
    "AmbiguousRequestError",
    "ConfigError",
    "Engine",
    "InvalidKeyError",
    "Journal",
    "JournalError",
    "LayoutError",
    "OrderStatus",
    "PanelClient",
    "PanelError",
    "PanelRejectedError",
    "PanelSimulator",
    "PanelUnavailableError",
    "RateLimitedError",
    "Report",
    "RunOptions",
    "Service",
    "SmmsheetError",
    "WorkbookBusyError",
    "WorkbookError",
    "__version__",
    "journal_path",
    "open_workbook",
    "resolve_panel",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smmsheet' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
