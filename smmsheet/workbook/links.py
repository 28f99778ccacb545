"""Linked cells, for both adapters: the :class:`LinkRange` a link covers, and the targets of
``HYPERLINK()`` formulas.

A cell made with Insert > Link shows one text ("Client post") and points elsewhere; so
does ``=HYPERLINK("https://x.com/p/2","Post 2")``. Ordering the text shown would buy the
wrong thing, so adapters return such cells as :class:`~smmsheet.workbook.base.LinkedText`
with the target found here, or ``None`` when it cannot be known (a link inside the
workbook, a first argument that is not a text constant). Where a saved file's links are
(``<hyperlinks>`` and formulas in sheet XML) is found by :mod:`.xlsx.links`; the live
adapter asks Excel.

Example::

    apply_links(grid, [LinkRange(2, 2, 2, 2, formula_target('=HYPERLINK("https://x.com")'))])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from .base import CellValue, LinkedText

__all__ = ["LinkRange", "apply_links", "calls_hyperlink", "formula_target", "shown_text"]


class LinkRange(NamedTuple):
    """Cells ``top..bottom`` x ``left..right`` (1-based) that link to ``target`` (None: unknown).

    ``formula``: the cells hold a HYPERLINK formula, so they are not empty even when the file
    saved no value for them (a program that does not calculate, such as openpyxl, wrote it).
    """

    top: int
    left: int
    bottom: int
    right: int
    target: str | None
    formula: bool = False


_CALL = re.compile(r"\s*=?\s*(?:_xlfn\.)?HYPERLINK\s*\(\s*", re.IGNORECASE)
_TEXT_CONSTANT = re.compile(r'"((?:[^"]|"")*)"\s*(?=[,)])')
_CALLS = re.compile(r"(?<![\w.])(?:_xlfn\.)?HYPERLINK\s*\(", re.IGNORECASE)


def apply_links(grid: list[list[CellValue]], ranges: Iterable[LinkRange]) -> None:
    """Turn each linked, non-empty cell of ``grid`` into LinkedText (in place).

    Ranges are clipped to the grid, so a link over a whole column costs only its cells.
    Two links on one cell that disagree leave its target unknown. A HYPERLINK formula with
    a known address and no saved value is a link that shows nothing yet (``""``): it is
    what the user sees once Excel calculates, and an empty cell would read as no link.
    """
    targets: dict[tuple[int, int], str | None] = {}
    for top, left, bottom, right, target, formula in ranges:
        uncalculated = formula and target is not None
        for r in range(top, min(bottom, len(grid)) + 1):
            line = grid[r - 1]
            if uncalculated and len(line) < right:
                line.extend([None] * (right - len(line)))
            for c in range(left, min(right, len(line)) + 1):
                if line[c - 1] is not None or uncalculated:
                    key = (r, c)
                    targets[key] = target if targets.get(key, target) == target else None
    for (r, c), target in targets.items():
        value = grid[r - 1][c - 1]
        grid[r - 1][c - 1] = LinkedText("" if value is None else shown_text(value), target)


def shown_text(value: CellValue) -> str:
    """A cell's value as the text a link shows (a whole number without ".0").

    >>> shown_text(5.0), shown_text("Post 2")
    ('5', 'Post 2')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def calls_hyperlink(formula: str) -> bool:
    """Whether ``formula`` calls HYPERLINK anywhere, so that its cell may show a link.

    >>> calls_hyperlink('=IF(A1,hyperlink("https://x.com"))'), calls_hyperlink("=A1")
    (True, False)
    """
    return _CALLS.search(formula) is not None


def formula_target(formula: str) -> str | None:
    """The target of a formula that is one HYPERLINK call with a text constant first.

    Any other formula that calls HYPERLINK (``IF(..., HYPERLINK(...))``, a target built
    from cells) has a target that cannot be known from the file: None.

    >>> formula_target('=HYPERLINK("https://x.com/p/2","Post 2")')
    'https://x.com/p/2'
    >>> formula_target('HYPERLINK("https://"&B2)') is None
    True
    """
    call = _CALL.match(formula)
    if call is None:
        return None
    constant = _TEXT_CONSTANT.match(formula, call.end())
    if constant is None:
        return None
    return constant.group(1).replace('""', '"').strip() or None
