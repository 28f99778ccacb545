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


def test_an_empty_list_is_a_header_only():
    assert services_table([]) == [
        ["Service", "Name", "Type", "Category", "Rate per 1000", "Min", "Max"]
    ]
