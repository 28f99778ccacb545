"""The Services sheet: the panel's service list as cells, the same for sheet, CLI and formula."""

from __future__ import annotations

from decimal import Decimal

from smmsheet.models import Service
from smmsheet.services_sheet import services_table


def test_services_are_sorted_by_category_then_id_with_plain_values():
    table = services_table(
        [
            Service(2, "Views", "Default", "YouTube", Decimal("1.5"), 100, 1000),
            Service(9, "Likes", "Default", "Instagram", Decimal("0.9"), 50, 10000, refill=True),
            Service(1, "Followers", "Package", "YouTube", Decimal("3"), 1, 1, cancel=False),
        ]
    )
    header, *rows = table
    assert header[:5] == ["Service", "Name", "Type", "Category", "Rate per 1000"]
    assert [row[0] for row in rows] == [9, 1, 2]
    assert rows[0] == [9, "Likes", "Default", "Instagram", 0.9, 50, 10000, True, None, None]
    assert all(type(v) in (int, float, str, bool, type(None)) for row in rows for v in row)


def test_a_service_without_a_price_has_an_empty_rate_cell_that_a_workbook_takes():
    from smmsheet.workbook.base import cell_value_problem

    unpriced = Service(7, "Unpriced", "Default", "X", None, 1, 10)
    table = services_table([unpriced, Service(8, "Priced", "Default", "X", Decimal(1), 1, 10)])
    assert [row[4] for row in table[1:]] == [None, 1.0]  # not NaN, which no cell can hold
    assert not [v for row in table for v in row if cell_value_problem(v)]


def test_an_empty_list_is_a_header_only():
    assert services_table([]) == [
        ["Service", "Name", "Type", "Category", "Rate per 1000", "Min", "Max"]
    ]


def test_a_number_no_cell_holds_is_written_as_its_digits_not_refusing_the_whole_list():
    from smmsheet.workbook.base import cell_value_problem

    # One service of a hostile or careless panel with a max (or id) of 21 digits.
    huge = Service(2, "Unlimited", "Default", "X", Decimal("0.5"), 10, 10**20)
    table = services_table([Service(1, "Likes", "Default", "X", Decimal(1), 1, 10), huge])
    assert not [v for row in table for v in row if cell_value_problem(v)]
    assert table[1][6] == 10 and table[2][6] == "100000000000000000000"
