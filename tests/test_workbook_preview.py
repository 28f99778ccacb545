"""The first look at a sheet's rows while calamine reads it (smmsheet.workbook.xlsx.preview)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from smmsheet.workbook.base import CellValue
from smmsheet.workbook.xlsx import XlsxWorkbook, adapter
from smmsheet.workbook.xlsx.preview import first_rows

from .contract_workbook import trim
from .workbooks import (
    MAIN_NS,
    ORDERS_PART,
    build_rich_workbook,
    build_sparse_workbook,
    build_zip_bomb,
    replace_member,
)

DATA = Path(__file__).parent / "data"


def same_as_the_read(path: Path, sheet: str = "Orders") -> list[list[CellValue]]:
    """The look's rows, checked against the rows the read returns (links as their text)."""
    look = list(first_rows(path, sheet))
    read = XlsxWorkbook(path).read_values(sheet)
    assert trim(look) == trim(read[: len(look)])  # a linked cell: its text
    return look


def test_the_look_reads_what_calamine_reads_from_each_writer(tmp_path):
    """openpyxl (shared strings), xlsxwriter (its own layout, formulas with cached values)
    and LibreOffice (its own attributes on every row)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["Service", "Link", "Quantity", "Order ID", "Status"])
    for n in range(1, 300):
        sheet.append([1, f"https://instagram.com/p/{n}", 100, 1000 + n, "In progress"])
    sheet.append([None, "a & b < c", True, "ORD-7", "  Pending "])
    book.save(tmp_path / "openpyxl.xlsx")
    assert len(same_as_the_read(tmp_path / "openpyxl.xlsx")) == 301
    build_rich_workbook(tmp_path / "rich.xlsx")
    assert same_as_the_read(tmp_path / "rich.xlsx")[0][:3] == ["Service", "Link", "Quantity"]
    assert same_as_the_read(DATA / "libreoffice_orders.xlsx")[0][0] == "Service"


def test_the_look_starts_at_a1_with_empty_rows_where_the_sheet_has_none(tmp_path):
    build_sparse_workbook(tmp_path / "sparse.xlsx")
    look = same_as_the_read(tmp_path / "sparse.xlsx")
    assert look[:4] == [[], [], [], []]
    assert look[4] == [None, None, "Service", "Link"]
    assert look[6] == []  # row 7 is empty


def test_the_look_reads_inline_and_rich_text_but_not_phonetic_guides(tmp_path):
    build_sparse_workbook(tmp_path / "o.xlsx")
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><r><t>Ser</t></r><r><t>vice</t></r>'
        '<rPh sb="0" eb="1"><t>X</t></rPh></is></c><c r="B1" t="str"><v>Link</v></c></row>'
        '<row r="2"><c t="n"><v>7</v></c><c t="b"><v>1</v></c><c t="e"><v>#N/A</v></c>'
        "<c><v>1.5</v></c></row></sheetData></worksheet>"
    )
    replace_member(tmp_path / "o.xlsx", ORDERS_PART, sheet.encode())
    assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [
        ["Service", "Link"],
        [7.0, True, None, 1.5],
    ]


def test_the_look_stops_at_its_limit_and_at_what_it_cannot_read(tmp_path):
    build_sparse_workbook(tmp_path / "o.xlsx")
    assert len(list(first_rows(tmp_path / "o.xlsx", "Orders", limit=5))) == 5
    assert list(first_rows(tmp_path / "o.xlsx", "Nope")) == []
    broken = (
        f'<?xml version="1.0"?><worksheet xmlns="{MAIN_NS}"><sheetData>'
        '<row r="1"><c r="A1" t="n"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>99'
    )
    replace_member(tmp_path / "o.xlsx", ORDERS_PART, broken.encode())
    assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [[1.0]]  # then the damage
    backwards = (
        f'<?xml version="1.0"?><worksheet xmlns="{MAIN_NS}"><sheetData>'
        '<row r="3"><c r="A3"><v>3</v></c></row><row r="2"><c r="A2"><v>2</v></c></row>'
        "</sheetData></worksheet>"
    )
    replace_member(tmp_path / "o.xlsx", ORDERS_PART, backwards.encode())
    assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [[], [], [3.0]]
    (tmp_path / "not.xlsx").write_bytes(b"PK\x03\x04 not a zip at all")
    assert list(first_rows(tmp_path / "not.xlsx", "Orders")) == []


def test_a_zip_bomb_ends_the_look_early(tmp_path, monkeypatch):
    """A part that inflates past what the zip declares is refused at its first bytes; one
    that declares its 200 MiB of whitespace is looked at for 64 MiB at most."""
    from smmsheet.workbook.xlsx import preview

    build_zip_bomb(tmp_path / "liar.xlsx", 200, declared=1000)
    assert list(first_rows(tmp_path / "liar.xlsx", "Orders")) == []
    inflated = [0]
    inflate = preview.inflate

    def counted(*args):
        for chunk in inflate(*args):
            inflated[0] += len(chunk)
            yield chunk

    monkeypatch.setattr(preview, "inflate", counted)
    build_zip_bomb(tmp_path / "bomb.xlsx", 200)
    assert list(first_rows(tmp_path / "bomb.xlsx", "Orders")) == [["Service"]]
    assert inflated[0] <= preview._MAX_BYTES + preview._STEP


def _look_to_the_end(monkeypatch):
    """The look shows every row it will before the read goes on (as on a big sheet,
    whose parse by calamine outlasts it)."""
    stop = adapter._FirstLook.stop

    def stop_when_done(self):
        self._thread.join()
        return stop(self)

    monkeypatch.setattr(adapter._FirstLook, "stop", stop_when_done)


def test_a_read_shows_each_row_once_in_order_whoever_shows_it(tmp_path, monkeypatch):
    from openpyxl import Workbook

    _look_to_the_end(monkeypatch)
    monkeypatch.setattr("smmsheet.workbook.xlsx.preview.PREVIEW_ROWS", 40)
    book = Workbook()
    for n in range(1, 101):
        book.active.append([n, f"row {n}"])
    book.active.title = "Orders"
    book.save(tmp_path / "o.xlsx")
    seen: list[tuple[str, list[CellValue]]] = []
    rows = XlsxWorkbook(tmp_path / "o.xlsx").read_values(
        "Orders", watch=lambda row: seen.append((threading.current_thread().name, list(row)))
    )
    assert [row for _, row in seen] == rows
    assert [name for name, _ in seen] == ["smmsheet-look"] * 40 + [
        threading.current_thread().name
    ] * 60


def test_a_watch_that_fails_while_looking_fails_the_read(tmp_path, monkeypatch):
    _look_to_the_end(monkeypatch)
    build_sparse_workbook(tmp_path / "o.xlsx")

    def watch(row):
        raise RuntimeError("can't start new thread")

    with pytest.raises(RuntimeError, match="new thread"):
        XlsxWorkbook(tmp_path / "o.xlsx").read_values("Orders", watch=watch)
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-look"]


def test_the_look_gives_up_on_megabytes_that_are_no_row(tmp_path):
    """Only rows (and shared strings) are let go of as they are parsed: anything else stays
    in lxml's tree. A 70 KB workbook whose row holds 60 MB of ``<x/>`` cost the look 2 GB
    and 9 s (the read without a look: 0.2 GB); the look now stops once 1 MiB has gone by
    without a row ending, inside a row, between rows or before the first, and so for the
    shared strings. The read itself still returns every row."""
    from smmsheet.workbook.xlsx import preview

    junk = b"<x/>" * ((preview._QUIET_BYTES + 4 * preview._STEP) // 4)
    head = b'<row r="1"><c r="A1" t="inlineStr"><is><t>Service</t></is></c></row>'
    tail = b'<row r="3"><c r="A3" t="n"><v>3</v></c></row>'
    for body in (
        head + b'<row r="2"><c r="A2" t="n"><v>2</v></c>' + junk + b"</row>" + tail,
        head + junk + b'<row r="2"/>' + tail,
    ):
        build_sparse_workbook(tmp_path / "o.xlsx")
        sheet = b'<worksheet xmlns="%s"><sheetData>%s</sheetData></worksheet>'
        replace_member(tmp_path / "o.xlsx", ORDERS_PART, sheet % (MAIN_NS.encode(), body))
        assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [["Service"]]
        assert len(XlsxWorkbook(tmp_path / "o.xlsx").read_values("Orders")) == 3
    build_sparse_workbook(tmp_path / "o.xlsx")
    strings = b'<sst xmlns="%s"><si><t>Service</t></si><si>%s<t>x</t></si><si><t>z</t></si></sst>'
    replace_member(tmp_path / "o.xlsx", "xl/sharedStrings.xml", strings % (MAIN_NS.encode(), junk))
    sheet = (
        b'<worksheet xmlns="%s"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        b'<row r="2"><c r="A2" t="s"><v>2</v></c></row></sheetData></worksheet>'
    )
    replace_member(tmp_path / "o.xlsx", ORDERS_PART, sheet % MAIN_NS.encode())
    assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [["Service"]]


def test_the_look_ends_at_its_next_step_once_told_to_stop(tmp_path, monkeypatch):
    """The look heard its stop only between rows: a first row whose string is the last of
    60 MB of shared strings kept it parsing them all, and the read waited in stop() (14 s
    instead of 4). Now it ends before the next 64 KiB it would parse, strings or sheet."""
    from smmsheet.workbook.xlsx import preview

    build_sparse_workbook(tmp_path / "o.xlsx")
    count = 3 * preview._STEP // len(b"<si><t>a</t></si>")
    strings = b'<sst xmlns="%s">%s</sst>' % (MAIN_NS.encode(), b"<si><t>a</t></si>" * count)
    replace_member(tmp_path / "o.xlsx", "xl/sharedStrings.xml", strings)
    sheet = (
        b'<worksheet xmlns="%s"><sheetData><row r="1"><c r="A1" t="s"><v>%d</v></c></row>'
        b"</sheetData></worksheet>"
    )
    replace_member(tmp_path / "o.xlsx", ORDERS_PART, sheet % (MAIN_NS.encode(), count - 1))
    assert list(first_rows(tmp_path / "o.xlsx", "Orders")) == [["a"]]
    stop = threading.Event()
    inflated: list[str] = []
    inflate = preview.inflate

    def counted(source, member, *args):
        for chunk in inflate(source, member, *args):
            inflated.append(member.filename)
            if member.filename.endswith("sharedStrings.xml"):
                stop.set()  # the read has its rows: the look is no longer needed
            yield chunk

    monkeypatch.setattr(preview, "inflate", counted)
    assert list(first_rows(tmp_path / "o.xlsx", "Orders", stop=stop)) == []
    assert inflated.count("xl/sharedStrings.xml") == 1
    given: list[object] = []
    look = adapter.first_rows

    def told(path, sheet, limit=None, stop=None):
        given.append(stop)
        return look(path, sheet, limit, stop)

    monkeypatch.setattr(adapter, "first_rows", told)
    XlsxWorkbook(tmp_path / "o.xlsx").read_values("Orders", watch=lambda row: None)
    assert len(given) == 1 and isinstance(given[0], threading.Event)  # the read's own stop
