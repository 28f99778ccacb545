"""A dict-backed WorkbookAdapter: the adapter contract without a file, for fast property tests.

It is a real implementation of ``smmsheet.workbook.base.WorkbookAdapter`` (it passes the
same contract as the .xlsx and live adapters, see ``test_faults.py``), kept in the tests
because only they need a workbook that lives in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import (
    CellValue,
    NewColumn,
    RowWatch,
    cell_value_problem,
    check_cell_range,
    check_marker,
)

Grid = list[list[CellValue]]
#: Where the marker is kept in ``store``: brackets make it a name no sheet can have.
MARKER_KEY = "[marker]"


class MemoryWorkbook:
    """Sheets as lists of rows; writes are buffered until :meth:`save`, like a file.

    ``store`` is what a later run sees (the "file"); pass the same dict to a new
    ``MemoryWorkbook`` to reopen it.
    """

    def __init__(self, store: dict[str, Grid]) -> None:
        self.store = store
        self._cells: dict[str, dict[tuple[int, int], CellValue]] = {}
        self._replaced: dict[str, Grid] = {}
        self._marker: str | None = None
        self.saves = 0
        #: Rows hidden, by sheet (a filter or by hand).
        self.hidden: dict[str, set[int]] = {}

    def sheet_names(self) -> list[str]:
        sheets = [name for name in self.store if name != MARKER_KEY]
        return [*sheets, *(n for n in self._replaced if n not in self.store)]

    def read_marker(self) -> str | None:
        if self._marker is not None:
            return self._marker
        stored = self.store.get(MARKER_KEY)
        return None if not stored else str(stored[0][0])

    def write_marker(self, text: str) -> None:
        self._marker = check_marker(text)

    def _resolve(self, sheet: str) -> str:
        for name in self.sheet_names():
            if name.casefold() == sheet.casefold():
                return name
        raise WorkbookError(f"no worksheet named {sheet!r}")

    def read_values(self, sheet: str, watch: RowWatch | None = None) -> Grid:
        name = self._resolve(sheet)
        grid = [list(row) for row in self._replaced.get(name, self.store.get(name, []))]
        for (row, col), value in self._cells.get(name, {}).items():
            while len(grid) < row:
                grid.append([])
            line = grid[row - 1]
            line.extend([None] * (col - len(line)))
            line[col - 1] = value
        for line in grid if watch is not None else ():
            watch(line)
        return grid

    def hidden_rows(self, sheet: str, rows: Collection[int]) -> set[int]:
        return self.hidden.get(self._resolve(sheet), set()) & set(rows)

    def totals_rows(self, sheet: str) -> Mapping[int, Mapping[int, CellValue]]:
        """Memory has no tables: no totals row."""
        return {}

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        stored = {key: _as_stored(value) for key, value in cells.items()}
        self._cells.setdefault(self._resolve(sheet), {}).update(stored)

    def prepare(self, sheet: str, before_row: int) -> bool:
        """Memory has nothing to start early."""
        return False

    def add_columns(self, sheet: str, header_row: int, columns: Mapping[int, NewColumn]) -> None:
        """Memory has no tables, widths or formats: only the headers are written."""
        self.write_cells(sheet, {(header_row, col): new.title for col, new in columns.items()})

    def replace_sheet(self, sheet: str, rows: Sequence[Sequence[CellValue]]) -> None:
        try:
            name = self._resolve(sheet)
        except WorkbookError:
            name = sheet
        self._replaced[name] = [[_as_stored(value) for value in row] for row in rows]
        self._cells.pop(name, None)

    def check_writable(
        self, sheet: str | None = None, cells: Collection[tuple[int, int]] = ()
    ) -> None:
        """Memory is always writable; only a missing sheet or a cell off the grid is refused."""
        if sheet is not None:
            self._resolve(sheet)
            for row, col in cells:
                check_cell_range(row, col)

    def save(self) -> None:
        for name in self.sheet_names():
            self.store[name] = self.read_values(name)
        if self._marker is not None:
            self.store[MARKER_KEY] = [[self._marker]]
        self.close()
        self.saves += 1

    def close(self) -> None:
        self._cells.clear()
        self._replaced.clear()
        self._marker = None


def _as_stored(value: CellValue) -> CellValue:
    """What a spreadsheet keeps: every number that is not an int is a double.

    A value no cell can hold (``cell_value_problem``) is refused as the file adapters
    refuse it, so engine tests on this adapter meet the same errors.
    """
    problem = cell_value_problem(value)
    if problem is not None:
        raise WorkbookError(f"cannot write to a cell: {problem}")
    return float(value) if isinstance(value, Decimal) else value
