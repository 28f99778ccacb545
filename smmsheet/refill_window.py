"""Refill windows read from a service's name or description. Pure.

Panels name their refill guarantee in the service name, each in its own words:
``"[Refill 30d]"``, ``"30 Days Refill"``, ``"R30"``, ``"Refill: 60 days"``, ``"♻️ 30D"``,
``"Lifetime"``, ``"No refill"``. :func:`parse_refill_window` reads them into a
:class:`RefillWindow`; text that says nothing clear (``"Refill button"``, ``"Max 30K"``,
``"30 days"`` alone, or two windows that disagree) reads as ``None``: the panel decides.

Example::

    window = parse_refill_window("Instagram Followers [Refill 30d]")
    window.until(dt.date(2026, 11, 1))      # datetime.date(2026, 12, 1)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_REFILL_WARNING_DAYS",
    "LIFETIME_TEXT",
    "NOT_STATED_TEXT",
    "NO_REFILL_TEXT",
    "RefillKind",
    "RefillWindow",
    "parse_refill_window",
]

#: How the ``Refill until`` cell reads for a service that refills for ever / never.
LIFETIME_TEXT = "Lifetime"
NO_REFILL_TEXT = "No refill"
#: How it reads when the service's name and description state no window (the panel decides).
NOT_STATED_TEXT = "Not stated"
#: Days before a window ends that ``status`` starts noting it (the Settings sheet's
#: ``Refill warning days`` overrides).
DEFAULT_REFILL_WARNING_DAYS = 3
#: Longest window believed, in days (ten years): a bigger number is not a window.
MAX_DAYS = 3650


class RefillKind(StrEnum):
    """What a service's name says about refills."""

    DAYS = "days"
    LIFETIME = "lifetime"
    NONE = "none"


@dataclass(frozen=True)
class RefillWindow:
    """A refill guarantee: ``days`` after the order was placed, for ever, or none."""

    kind: RefillKind
    days: int = 0

    def until(self, placed: dt.date) -> dt.date | str:
        """The last day a refill may be asked for (inclusive), or the cell's words.

        >>> RefillWindow(RefillKind.DAYS, 30).until(dt.date(2026, 11, 1))
        datetime.date(2026, 12, 1)
        """
        if self.kind == RefillKind.LIFETIME:
            return LIFETIME_TEXT
        if self.kind == RefillKind.NONE:
            return NO_REFILL_TEXT
        return placed + dt.timedelta(days=self.days)


_UNITS = {"d": 1, "day": 1, "days": 1, "w": 7, "week": 7, "weeks": 7, "m": 30, "month": 30}
_UNITS.update({"months": 30, "mo": 30, "y": 365, "yr": 365, "year": 365, "years": 365})
_UNIT = r"(?P<unit>days?|d|weeks?|w|months?|mo|years?|yr|y)"
_NUMBER = r"(?P<n>\d{1,4})"
#: The words that make a number a refill window (not a speed, a size or a start time).
_REFILL = r"(?:auto[\s-]?)?(?:refill|refil|guarantee[d]?|warranty|♻️|♻)"
#: Things after a number that make it no window: "30K", "30%", "30 min", "30/day".
_NOT_A_WINDOW = (
    r"(?!\d)(?!\s*(?:k\b|%|/|min|h\b|hours?|mins?|minutes?|sec|\.\d|,\d))"
    r"(?!\s*(?:-|–|~|to)\s*\d)"  # a range ("30 - 60 days"): which end?
)

_DAYS_PATTERNS = [
    # "Refill 30d", "[Refill: 60 days]", "♻️ 30D", "Guarantee 1 month", "Refill 30"
    re.compile(rf"{_REFILL}[\s:\-\[\]()|]*{_NUMBER}{_NOT_A_WINDOW}\s*{_UNIT}?(?![a-z])", re.I),
    # "30 days refill", "30-day auto refill", "30D ♻️", "1 year guarantee"
    re.compile(
        rf"(?<![\d.,])(?<!\d-)(?<!\d -)(?<!\d - ){_NUMBER}[\s-]*{_UNIT}[\s\-\[\]()|:]*{_REFILL}",
        re.I,
    ),
    # "R30", "R60D", "AR30" (auto refill): a token of its own, two digits or more
    re.compile(r"(?<![\w])A?R(?P<n>\d{2,4})(?P<unit>d)?(?![\w])", re.I),
]
_LIFETIME = re.compile(
    rf"\blife[\s-]?time\b|{_REFILL}[\s:\-\[\]()|]*(?:∞|forever|permanent)|\bLTR\b", re.I
)
_NO_REFILL = re.compile(
    r"\b(?:no|non|without|w/o)[\s-]?(?:auto[\s-]?)?(?:refill|refil|guarantee)"
    r"|\brefill\s*[:=]?\s*(?:no|none|not\s+available|n/?a|✘|❌)(?![a-z])"
    r"|\bR0D?\b|🚫\s*(?:refill|♻️|♻)",
    re.I,
)


def parse_refill_window(*texts: str | None) -> RefillWindow | None:
    """The refill window the first text that names one says (a name, then a description).

    None when none of them says anything clear: no window words, or words that disagree
    (``"No refill | Refill 30 days"``).

    >>> parse_refill_window("Followers [Refill 30d]")
    RefillWindow(kind=<RefillKind.DAYS: 'days'>, days=30)
    >>> parse_refill_window("Likes [Max 30K] | Start 0-1h") is None
    True
    """
    for text in texts:
        if text:
            window = _read(text)
            if window is not None:
                return window
    return None


def _read(text: str) -> RefillWindow | None:
    found: set[RefillWindow] = set()
    if _NO_REFILL.search(text):
        found.add(RefillWindow(RefillKind.NONE))
    if _LIFETIME.search(text):
        found.add(RefillWindow(RefillKind.LIFETIME))
    # A "no refill" phrase also holds the word refill: read days only where it is not one.
    rest = _NO_REFILL.sub(" ", text)
    for pattern in _DAYS_PATTERNS:
        for match in pattern.finditer(rest):
            days = int(match.group("n")) * _UNITS[(match.group("unit") or "d").lower()]
            if days > MAX_DAYS:
                continue
            found.add(
                RefillWindow(RefillKind.DAYS, days) if days else RefillWindow(RefillKind.NONE)
            )
    if len(found) != 1:
        return None  # nothing, or words that disagree: the panel decides
    return found.pop()
