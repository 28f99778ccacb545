"""The pure helpers every workbook adapter shares: what a cell can hold, and the marker."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import MAX_EXACT_INT, cell_value_problem
from smmsheet.workbook.xlsx import XlsxWorkbook

from . import workbooks as wb

#: Values a panel really sent (or could): each must become a row error, never a crash.
ABSURD: list[tuple[object, str]] = [
    (10**5000, "about 5,000 digits"),
    (-(10**5000), "about 5,000 digits"),
    (10**400, "401 digits"),
    (MAX_EXACT_INT + 1, "9007199254740993"),
    (Decimal("1E+400"), "larger than the largest number Excel stores"),
    (Decimal("1" + "0" * 400), "401 digits"),
    (Decimal("NaN"), "not a finite number"),
    (Decimal("-Infinity"), "not a finite number"),
    (float("inf"), "not a finite number"),
    (float("nan"), "not a finite number"),
    (1e308, "larger than the largest number Excel stores"),
    (Decimal("1E-400"), "smaller than the smallest number Excel stores"),
    (5e-324, "smaller than the smallest number Excel stores"),
    (dt.date(1899, 12, 31), "no dates before 1900"),
    (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "time zone"),
]

FAITHFUL: list[object] = [
    None,
    "",
    "x" * 40_000,  # long text is cut, which is expected, not a problem
    True,
    0,
    -1,
    MAX_EXACT_INT,
    -MAX_EXACT_INT,
    0.0,
    -0.0,
    1e307,
    2.5e-308,
    Decimal("0.27819"),
    Decimal("0"),
    Decimal("-12.5"),
    dt.date(1900, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59),
]


ABSURD_IDS = [f"{type(value).__name__}-{i}" for i, (value, _) in enumerate(ABSURD)]


@pytest.mark.parametrize(("value", "reason"), ABSURD, ids=ABSURD_IDS)
def test_cell_value_problem_names_what_no_cell_can_hold(value: object, reason: str) -> None:
    problem = cell_value_problem(value)
    assert problem is not None and reason in problem
    assert len(problem) < 120 and "\n" not in problem


@pytest.mark.parametrize("value", FAITHFUL, ids=[type(v).__name__ for v in FAITHFUL])
def test_cell_value_problem_passes_what_a_cell_holds(value: object) -> None:
    assert cell_value_problem(value) is None


def test_cell_value_problem_refuses_what_is_no_cell_value() -> None:
    assert cell_value_problem([1, 2]) == "a list is not a cell value"


@settings(max_examples=30, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.integers(-MAX_EXACT_INT, MAX_EXACT_INT),
            st.floats(allow_nan=False, allow_infinity=False).filter(
                lambda x: cell_value_problem(x) is None
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_every_number_without_a_problem_reads_back_exactly_from_a_saved_file(
    numbers: list[float], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("numbers") / "numbers.xlsx"
    wb.build_sparse_workbook(path)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(20 + i, 1): number for i, number in enumerate(numbers)})
    book.save()
    rows = XlsxWorkbook(path).read_values("Orders")
    for i, number in enumerate(numbers):
        got = rows[19 + i][0]
        assert isinstance(got, float) and got == float(number)
        assert math.copysign(1, got) == math.copysign(1, number) or number == 0


@pytest.mark.parametrize(("value", "reason"), ABSURD[:6], ids=ABSURD_IDS[:6])
def test_saved_workbook_refuses_an_absurd_value_and_still_saves_the_rest(
    tmp_path: Path, value: object, reason: str
) -> None:
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path)
    book = XlsxWorkbook(path)
    with pytest.raises(WorkbookError, match=reason):
        book.write_cells("Orders", {(2, 7): "kept out", (2, 8): value})  # type: ignore[dict-item]
    book.write_cells("Orders", {(2, 7): "Completed"})
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[1][6:8] == ["Completed", None]
