"""The one error tree of smmsheet.

Every error smmsheet raises on purpose derives from ``SmmsheetError``::

    SmmsheetError
    ├── ConfigError                 bad/missing settings, profile, API key, CLI usage (exit 2)
    ├── WorkbookError               a workbook cannot be read or written; nothing was changed
    │   ├── WorkbookBusyError       open in Excel (``~$`` owner file) or another run holds the lock
    │   └── LayoutError             no Orders sheet / no header row with Service and Link
    ├── JournalError                the write-ahead journal cannot be opened or written
    │   └── JournalMismatchError    the workbook names a journal run this journal lacks (exit 2)
    └── PanelError                  anything that went wrong talking to the panel
        ├── InvalidKeyError         the panel refused the API key
        ├── PanelRejectedError      the panel answered ``{"error": ...}``; ``str()`` is its message
        ├── PanelUnavailableError   HTML page, 5xx, bad JSON, timeout, connection refused
        │   └── RateLimitedError    HTTP 429 (``retry_after`` seconds when the panel said)
        └── AmbiguousRequestError   a paid request may have reached the panel, outcome unknown

``PanelError`` carries ``action``, ``status_code`` and ``retry_safe``: whether sending the
same request again cannot spend money twice. Only ``panel.py`` turns ``requests``
exceptions and panel replies into these classes, and no message ever contains the API key.
"""

from __future__ import annotations

__all__ = [
    "SmmsheetError",
    "ConfigError",
    "WorkbookError",
    "WorkbookBusyError",
    "LayoutError",
    "JournalError",
    "JournalMismatchError",
    "PanelError",
    "InvalidKeyError",
    "PanelRejectedError",
    "PanelUnavailableError",
    "RateLimitedError",
    "AmbiguousRequestError",
]


class SmmsheetError(Exception):
    """Base class of every error smmsheet raises on purpose."""


class ConfigError(SmmsheetError):
    """Settings, profile, API key or command-line usage is wrong; nothing was sent."""


class WorkbookError(SmmsheetError):
    """A workbook cannot be read or written; the file on disk is unchanged."""


class WorkbookBusyError(WorkbookError):
    """The workbook is open in Excel or another smmsheet run holds its lock."""


class LayoutError(WorkbookError):
    """The sheet has no order table smmsheet can recognise."""


class JournalError(SmmsheetError):
    """The write-ahead journal cannot be opened or written."""


class JournalMismatchError(JournalError):
    """The workbook was run with a journal that is gone or damaged; nothing was sent.

    Placing now could buy again what the lost journal recorded, so the user has to agree
    to start a new journal (``--new-journal``, or Yes in Excel).
    """


class PanelError(SmmsheetError):
    """Talking to the panel failed.

    ``retry_safe`` is True when sending the same request again cannot cause a second
    charge (read-only actions, or a paid request that provably never left this machine).
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        status_code: int | None = None,
        retry_safe: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.status_code = status_code
        self.retry_safe = retry_safe


class InvalidKeyError(PanelError):
    """The panel refused the API key."""


class PanelRejectedError(PanelError):
    """The panel answered with ``{"error": ...}``: the request was processed and refused."""


class PanelUnavailableError(PanelError):
    """The panel could not be reached or answered with something that is not its API."""


class RateLimitedError(PanelUnavailableError):
    """The panel answered HTTP 429; ``retry_after`` is the wait it asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AmbiguousRequestError(PanelError):
    """A paid request (add, refill, cancel) may have reached the panel; its outcome is unknown.

    Never retried automatically: for ``add`` the order may have been placed and charged.
    """
