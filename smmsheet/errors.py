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
        ├── InvalidKeyError         the panel refused the API key (or this machine: 401/403)
        ├── PanelRejectedError      the panel answered ``{"error": ...}``; ``str()`` is its message
        ├── PanelUnavailableError   HTML page, 5xx, bad JSON, timeout, deadline, reply too large
        │   └── RateLimitedError    HTTP 429 (``retry_after`` seconds when the panel said)
        └── AmbiguousRequestError   a paid request may have reached the panel, outcome unknown

``PanelError`` carries ``action``, ``status_code``, ``retry_safe`` (whether sending the
same request again cannot spend money twice) and ``stops_run`` (every further request
would fail the same way: an invalid key, a panel that asks to wait longer than we do).
Only ``panel.py`` turns ``requests``/urllib3 exceptions and panel replies into these classes, and
no message ever contains the API key: :func:`scrub` is the one function that removes it
from text that leaves the process (terminal, logs, workbook cells, journal).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

__all__ = [
    "SmmsheetError",
    "ConfigError",
    "WorkbookError",
    "WorkbookBusyError",
    "LayoutError",
    "NoSheetError",
    "JournalError",
    "JournalMismatchError",
    "PanelError",
    "InvalidKeyError",
    "PanelRejectedError",
    "PanelUnavailableError",
    "RateLimitedError",
    "AmbiguousRequestError",
    "scrub",
]

#: What replaces a secret in text.
REDACTED = "***"
#: ``name=value`` pairs whose value is a secret wherever they appear (URLs, echoed forms).
_SECRET_PARAM = re.compile(
    r"(?<![A-Za-z0-9_.-])((?:api[_-]?)?key|api[_-]?token|access[_-]?token|token|secret"
    r"|password|passwd|pwd|auth|signature|sig)(=|%3D)[^&#\s\"'<>\\]+",
    re.IGNORECASE,
)
#: Names of those parameters as substrings, to skip the regex on text that has none.
_SECRET_PARAM_HINTS = ("key", "token", "secret", "passw", "pwd", "auth", "sig")
#: The password of ``scheme://user:password@host`` (the literal ``://`` keeps it fast).
_URL_PASSWORD = re.compile(r"://([^/\s:@\"'<>]*):[^/\s@\"'<>]*@")


@lru_cache(maxsize=16)
def _forms(secret: str) -> tuple[str, ...]:
    """Every way ``secret`` may come back: raw, in capitals or small letters (a panel's
    shouted error), URL-encoded (both cases), JSON-escaped (also PHP's ``\\/`` and that
    escaped once more), HTML-escaped, or each character an HTML number (``&#97;``)."""
    encoded = {quote(secret, safe=""), quote(secret), quote_plus(secret), quote(quote(secret))}
    encoded |= {secret.upper(), secret.lower()}
    encoded |= {"".join(f"&#{ord(c)};" for c in secret), "".join(f"&#x{ord(c):x};" for c in secret)}
    encoded |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), e) for e in encoded}
    php = secret.replace("/", "\\/")  # PHP's json_encode escapes "/"
    escaped = {json.dumps(secret)[1:-1], php, json.dumps(php)[1:-1], html.escape(secret)}
    forms = {secret, *encoded, *escaped} - {""}
    return tuple(sorted(forms, key=len, reverse=True))  # longest first: no half-replaced form


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every form of each secret, secret URL parameters and URL passwords hidden.

    The one scrubber of smmsheet: panel replies, error messages, log records and
    everything printed go through it.

    >>> scrub("https://p.example/?key=k%2B1&x=1 said k+1", ["k+1"])
    'https://p.example/?key=***&x=1 said ***'
    """
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                if form in text:
                    text = text.replace(form, REDACTED)
    # No "=" and no "%" (of "%3D"): no name=value pair (a JSON reply, mostly), nothing to look for.
    if "=" in text or "%" in text:
        lower = text.lower()
        if any(hint + "=" in lower or hint + "%3d" in lower for hint in _SECRET_PARAM_HINTS):
            text = _SECRET_PARAM.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(lambda m: "://" + m.group(1) + ":" + REDACTED + "@", text)
    return text


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


class NoSheetError(LayoutError):
    """The workbook has no sheet of the order sheet's name; a shell that lets the user
    choose another sheet (``--sheet``) says so."""


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
        stops_run: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.status_code = status_code
        self.retry_safe = retry_safe
        if stops_run is not None:
            self.stops_run = stops_run

    #: Every further request of this run would fail the same way: stop, send nothing more.
    stops_run: bool = False


class InvalidKeyError(PanelError):
    """The panel refused the API key (or this machine: HTTP 401/403); stops the run."""

    stops_run = True


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
