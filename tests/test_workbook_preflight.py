"""``XlsxWorkbook.check_writable(sheet, cells)``: a dry run of the save, before any order.

The promise under test: whatever would make the save of the planned cells fail makes
the check fail first, with one sentence, and the check itself changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.xlsx import XlsxWorkbook, save

from . import workbooks as wb

ORDERS = wb.ORDERS_PART
#: What a run writes for two placed rows: Order ID, Status, Charge and the header of a new
#: output column.
PLANNED = [(2, 6), (2, 7), (2, 8), (3, 6), (3, 7), (3, 8), (1, 12)]


def mutate(path: Path, part: str, change: Callable[[bytes], bytes]) -> None:
    xml = wb.read_member(path, part)
    changed = change(xml)
    assert changed != xml
    wb.replace_member(path, part, changed)


def with_array_formula(path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row("A1", ["Service", "Link", "Quantity", "Rate", "Total", "Order ID", "Status"])
    sheet.write_column("A2", [1, 2])
    sheet.write_array_formula("F2:F3", "{=A2:A3*2}", None, 2)
    book.close()


def with_merged_order_ids(path: Path) -> None:
    """Order ID F2:F3 merged into one cell: row 3's id would go where no one sees it."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row("A1", ["Service", "Link", "Quantity", "Rate", "Total", "Order ID", "Status"])
    sheet.write_column("A2", [1, 2])
    sheet.merge_range("F2:F3", None)
    sheet.merge_range("A5:G5", "December")  # a title row no write reaches: no matter
    book.close()


def workbook_xml_lxml_rejects(path: Path) -> None:
    wb.build_rich_workbook(path)
    mutate(path, "xl/workbook.xml", lambda x: x.replace(b"<workbookPr", b'<workbookPr a="1" a="2"'))


def workbook_rels_lxml_rejects(path: Path) -> None:
    wb.build_rich_workbook(path)
    rels = "xl/_rels/workbook.xml.rels"
    mutate(path, rels, lambda x: x.replace(b"<Relationship ", b'<Relationship a="" a="" ', 1))


def sheet_xml_lxml_rejects(path: Path) -> None:
    """A comment sends the sheet to the tree patcher, whose parser rejects a doubled attribute."""
    wb.build_rich_workbook(path)
    mutate(
        path,
        ORDERS,
        lambda x: x.replace(b"<sheetData>", b"<sheetData><!-- kept -->").replace(
            b'<row r="5"', b'<row r="5" x="1" x="2"'
        ),
    )


def rows_out_of_order(path: Path) -> None:
    """Row 3 before row 2: a row written as new before row 3 would exist twice."""
    wb.build_rich_workbook(path)

    def swap(xml: bytes) -> bytes:
        start, middle = xml.index(b'<row r="2"'), xml.index(b'<row r="3"')
        end = xml.index(b'<row r="4"')
        return xml[:start] + xml[middle:end] + xml[start:middle] + xml[end:]

    mutate(path, ORDERS, swap)


def encrypted_member(path: Path) -> None:
    """A part flagged as encrypted, which a raw copy cannot carry over."""
    wb.build_rich_workbook(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("docProps/app.xml")
    data[member.header_offset + 6] |= 0x1  # the local header's flag bits
    central = bytes(data).rindex(b"docProps/app.xml") - 46  # its central directory entry
    assert data[central : central + 4] == b"PK\x01\x02"
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))


#: Workbooks a reader accepts but a save of PLANNED cannot write, and what the check says.
UNSAVABLE: list[tuple[Callable[[Path], None], str]] = [
    (with_array_formula, r"F2 is part of the array formula F2:F3"),
    (with_merged_order_ids, r"F3 is hidden under the merged cells F2:F3.*unmerge them"),
    (workbook_xml_lxml_rejects, r"damaged.*xl/workbook\.xml is not XML smmsheet can rewrite"),
    (workbook_rels_lxml_rejects, r"xl/_rels/workbook\.xml\.rels is not XML smmsheet can rewrite"),
    (rows_out_of_order, r"rows are out of order"),
    (encrypted_member, r"docProps/app\.xml is encrypted"),
]


@pytest.mark.parametrize(("build", "message"), UNSAVABLE, ids=[b.__name__ for b, _ in UNSAVABLE])
def test_what_would_break_the_save_is_refused_before_anything_is_sent(
    tmp_path: Path, patcher: str, build: Callable[[Path], None], message: str
) -> None:
    path = tmp_path / "orders.xlsx"
    build(path)
    book = XlsxWorkbook(path)
    assert book.read_values("Orders")[0][0] == "Service"  # the reader is happy with it
    before = path.read_bytes()
    with pytest.raises(WorkbookError, match=message) as refused:
        book.check_writable("Orders", PLANNED)
    assert "\n" not in str(refused.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.xlsx"]
    book.write_cells("Orders", dict.fromkeys(PLANNED, "x"))
    with pytest.raises(WorkbookError):  # and indeed the save would have failed
        book.save()
    assert path.read_bytes() == before


def test_the_first_cell_of_merged_cells_and_cleared_cells_under_them_are_written(
    tmp_path: Path, patcher: str
) -> None:
    path = tmp_path / "orders.xlsx"
    with_merged_order_ids(path)
    book = XlsxWorkbook(path)
    book.check_writable("Orders", [(2, 6), (2, 7), (3, 7)])
    book.write_cells("Orders", {(2, 6): 1001, (3, 6): None, (5, 8): "x"})
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[1][5] == 1001


def test_a_sheet_part_the_writer_cannot_parse_is_refused_when_the_save_parses_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.xlsx"
    sheet_xml_lxml_rejects(path)
    book = XlsxWorkbook(path)
    with pytest.raises(WorkbookError, match="sheet 'Orders' is not XML smmsheet can rewrite"):
        book.check_writable("Orders", PLANNED)
    book.write_cells("Orders", dict.fromkeys(PLANNED, 1))
    with pytest.raises(WorkbookError, match="damaged"):
        book.save()


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("xl/styles.xml", r"xl/styles\.xml is not XML"),
        ("[Content_Types].xml", r"\[Content_Types\]\.xml is not XML"),
    ],
)
def test_parts_a_save_may_rewrite_are_parsed_up_front(rich: Path, part: str, message: str) -> None:
    """A date needs styles.xml, a sheet or an emptied calc chain the content types."""
    mutate(
        rich,
        part,
        lambda x: x.replace(b"<", b'<x a="" a=""/><', 2).replace(b'<x a="" a=""/>', b"", 1),
    )
    with pytest.raises(WorkbookError, match=message):
        XlsxWorkbook(rich).check_writable("Orders", PLANNED)


def test_a_header_row_that_already_uses_xfd_leaves_no_room_for_output_columns(
    tmp_path: Path,
) -> None:
    import xlsxwriter

    path = tmp_path / "wide.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row("A1", ["Service", "Link", "Quantity"])
    sheet.write("XFD1", "Notes")
    book.close()
    adapter = XlsxWorkbook(path)
    assert len(adapter.read_values("Orders")[0]) == 16_384
    adapter.check_writable("Orders", [(2, 16_384)])
    with pytest.raises(WorkbookError, match=r"^row 1, column 16385 is beyond column XFD"):
        adapter.check_writable("Orders", [(2, 4), (1, 16_385), (2, 16_385)])


def test_a_zip_bomb_put_in_place_after_opening_is_refused(rich: Path, tmp_path: Path) -> None:
    book = XlsxWorkbook(rich)
    wb.build_zip_bomb(tmp_path / "bomb.xlsx", 128)
    shutil.copy(tmp_path / "bomb.xlsx", rich)
    with pytest.raises(WorkbookError, match="zip bomb"):
        book.check_writable("Orders", PLANNED)


def test_the_check_tries_the_planned_cells_as_a_number_and_as_a_text(
    rich: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[Any] = []
    real = save.patch_sheet

    def spy(xml: bytes, edit: Any, *args: Any) -> Any:
        tried.append(edit.rows[2][6])
        return real(xml, edit, *args)

    monkeypatch.setattr(save, "patch_sheet", spy)
    XlsxWorkbook(rich).check_writable("Orders", PLANNED)
    assert {type(value) for value in tried} == {float, str}


def test_a_folder_without_room_for_the_new_file_is_refused(
    rich: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(1, 1, 1000))  # type: ignore[attr-defined]
    with pytest.raises(
        WorkbookError, match=r"needs about 0\.\d MiB and its folder has 0\.0 MiB free"
    ):
        XlsxWorkbook(rich).check_writable("Orders", PLANNED)


def test_a_folder_that_takes_no_new_file_is_refused(
    rich: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(WorkbookError, match="no new file can be created in .*Permission denied"):
        XlsxWorkbook(rich).check_writable("Orders", PLANNED)


def test_the_check_leaves_the_file_and_the_buffer_as_they_were(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "Pending"})
    book.replace_sheet("Services", [["ID", "Name"], [1, "Likes"]])
    stamp, before = rich.stat().st_mtime_ns, rich.read_bytes()
    book.check_writable("Orders", PLANNED)
    book.check_writable("Services", [(3, 1)])
    assert rich.stat().st_mtime_ns == stamp and rich.read_bytes() == before
    assert sorted(p.name for p in rich.parent.iterdir()) == ["orders.xlsx"]
    assert book.read_values("Orders")[1][5:8] == [None, "Pending", None]
    book.save()
    saved = XlsxWorkbook(rich)
    assert saved.read_values("Orders")[1][5:8] == [None, "Pending", None]
    assert saved.read_values("Services") == [["ID", "Name"], [1.0, "Likes"]]


def test_the_check_without_a_sheet_keeps_its_old_meaning(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.check_writable()
    rich.chmod(0o444)
    try:
        with pytest.raises(WorkbookError, match="read-only"):
            book.check_writable()
    finally:
        rich.chmod(0o644)


def test_cells_merged_across_on_every_row_are_checked_row_by_row_not_against_each_merge() -> None:
    # Error merged with the column beside it on each of 20,000 rows (a wider cell): every
    # write was compared with every merge of its column, 20 s a check, three checks a run.
    import time

    from smmsheet.workbook.xlsx.cells import MergedCells

    rows = range(2, 20_002)
    merged = MergedCells([f"J{r}:K{r}" for r in rows])
    started = time.monotonic()
    assert merged.hiding(((r, 10), "x") for r in rows) is None  # each write its merge's first
    assert time.monotonic() - started < 2
    assert merged.hiding([((20_001, 11), "x")]) == ("K20001", "J20001:K20001")
    # ranges that overlap (a damaged file: Excel's never do) are still read one by one
    assert MergedCells(["F2:F9", "F3:F4"]).hiding([((6, 6), 1)]) == ("F6", "F2:F9")
