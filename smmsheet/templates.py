"""The order workbook template: ``smmsheet new``, the demo, ``workbook_templates/orders.xlsx``.

Built in code, so ``smmsheet new`` and ``smmsheet demo`` work from an installed wheel, and
the committed file is regenerated from it (``python workbook_templates/build.py``; a test
checks the two agree). The layout comes from the column schema
(:func:`~smmsheet.orders.column_groups`), so a column added there takes its place here:

- **Orders**: the inputs most orders need on the left (Service, Link, Quantity), then the
  fields of particular service types (drip-feed, comments, usernames...) grouped and
  collapsed (the ``+`` above the sheet opens them), the Refill and Cancel flags, and the
  outputs smmsheet writes on the right. Frozen header, filters, widths and number formats
  per column (:func:`~smmsheet.orders.column_look`), and Service as a drop-down of
  "id – name" from the Services sheet (any id may be typed too).
- **Services**: the panel's services with names and rates, filled by Load services or
  ``smmsheet services --into``; its header is the one smmsheet recognises as its own.
- **Settings**: the panel profile and the spending cap, each row saying what it does.
- **Help**: how a row becomes an order.
- ``Lists`` (hidden): the drop-down's "id – name" entries, formulas over Services.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from .orders import INPUT_COLUMNS, OUTPUT_COLUMNS, column_groups, column_look
from .services_sheet import HEADER as SERVICES_HEADER

__all__ = [
    "GROUP_TITLES",
    "TEMPLATE_COLUMNS",
    "build_orders_template",
    "template_columns",
    "template_layout",
]

#: What each group of columns is, as the Help sheet and the header colours say it.
GROUP_TITLES: dict[str, str] = {
    "main": "Order: what most orders need",
    "optional": "Fields of some service types (click + above the sheet to show them)",
    "actions": "Actions: x to ask for a refill or a cancel",
    "outputs": "Written by smmsheet: do not type here",
}
#: Header colours per group (white bold text on them).
_GROUP_FILLS = {"main": "1F4E79", "optional": "5B7DA8", "actions": "B7791F", "outputs": "38761D"}
#: Rows the drop-down, formats and validation are laid over.
TEMPLATE_ROWS = 2000
#: Rows of the Services sheet the drop-down lists (panels rarely list more).
SERVICE_ROWS = 3000
#: When the template says it was made: fixed, so a rebuild is byte-for-byte the same parts.
_BUILT = dt.datetime(2026, 1, 1)
_W3CDTF = _BUILT.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
_EN_DASH = "\u2013"


def template_layout() -> list[tuple[str, list[str]]]:
    """The Orders sheet's column keys, left to right, by group (non-empty groups only)."""
    return [(group, keys) for group, keys in column_groups().items() if keys]


def _title(key: str) -> str:
    return {**INPUT_COLUMNS, **OUTPUT_COLUMNS}[key]


def template_columns() -> list[str]:
    """The Orders sheet's headers, left to right."""
    return [_title(k) for _, keys in template_layout() for k in keys]


#: The columns of the template, left to right (as the schema stood at import).
TEMPLATE_COLUMNS: list[str] = template_columns()

_HELP = [
    ("smmsheet order workbook", "title"),
    ("", ""),
    ("One row per order on the Orders sheet.", ""),
    ("1. Service: pick one from the list (after Load services) or type its id.", ""),
    ("2. Link: the post, profile or page to promote. Quantity: how many.", ""),
    (
        "3. Some service types need more (Comments one per line, Usernames, Runs and "
        "Interval for drip-feed...): click + above the sheet to show those columns.",
        "",
    ),
    (
        "4. Place the orders: the Excel ribbon's Place orders, or `smmsheet place orders.xlsx`.",
        "",
    ),
    (
        "Order ID, Status, Charge, Start Count, Remains, Error and Updated are written back "
        "(green headers). A row with an Order ID is never placed again.",
        "",
    ),
    (
        "Put x in Refill or Cancel and run Refill / Cancel (`smmsheet refill`, "
        "`smmsheet cancel`); `smmsheet status` refreshes every open order.",
        "",
    ),
    ("", ""),
    ("Header colours", "title"),
    *((GROUP_TITLES[group], group) for group in GROUP_TITLES),
    ("", ""),
    (
        "Load the panel's services (names, rates, limits) into the Services sheet with the "
        "ribbon's Load services or `smmsheet services --into orders.xlsx`.",
        "",
    ),
    ("Your API key never goes into this workbook: see the Settings sheet.", ""),
]

_SETTINGS: list[tuple[str, str, str]] = [
    (
        "Profile",
        "",
        "Which panel to use: the name of a profile in your smmsheet config file "
        "(`smmsheet config-path` shows where it is). Empty: SMMSHEET_PANEL_URL and "
        "SMMSHEET_API_KEY, or the config file's default profile.",
    ),
    (
        "Max spend",
        "",
        "The most one run may spend, in the panel's currency (e.g. 25). Orders beyond it are "
        "not placed. Empty: no cap (the balance still limits). `--max-spend` overrides it.",
    ),
    (
        "Max spend per day",
        "",
        "The most all runs of one day may spend together (e.g. 100), counted from the "
        "journal kept beside this workbook, for scheduled runs (`smmsheet watch`, cron). "
        "Empty: no daily cap. `--max-spend-per-day` overrides it.",
    ),
    (
        "Refill warning days",
        "",
        "`status` notes orders whose refill window (Refill until, read from the service's "
        "name) ends within this many days, so you can ask for a refill in time. Empty: 3.",
    ),
    (
        "Currency",
        "",
        "The currency Cost, Profit and Max spend are counted in when you use several panels "
        "(e.g. USD). Empty: the default panel's currency.",
    ),
    (
        "Rate EUR",
        "",
        "How much one EUR is worth in Currency (e.g. 1.08), typed by you and never fetched. "
        "Add a row like it for each other currency a panel bills in (Rate GBP, ...).",
    ),
]
_SETTINGS_NOTES = [
    "Only the Value column is read; change the values, not the names.",
    "The API key is never read from this workbook: keep it in a profile of the config file "
    "or in the SMMSHEET_API_KEY environment variable. A workbook travels; a key in it would too.",
]


def build_orders_template(path: str | Path) -> Path:
    """Write a fresh order workbook (Orders, Services, Settings, Help) to ``path``."""
    from openpyxl import Workbook

    book = Workbook()
    orders = book.active
    assert orders is not None
    orders.title = "Orders"
    _orders_sheet(orders)
    services = book.create_sheet("Services")
    _services_sheet(services)
    _settings_sheet(book.create_sheet("Settings"))
    _help_sheet(book.create_sheet("Help"))
    lists = book.create_sheet("Lists")
    _lists_sheet(lists)
    lists.sheet_state = "hidden"
    _service_drop_down(orders)
    book.properties.creator = "smmsheet"
    book.properties.created = book.properties.modified = _BUILT
    book.active = 0
    for sheet in book.worksheets:
        sheet.page_setup.orientation = "landscape"
        if sheet is not orders:  # the order sheet is wide: printed at its size, page by page
            sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
            sheet.sheet_properties.pageSetUpPr.fitToPage = True
    target = Path(path)
    book.save(target)
    _finish(target)
    return target


#: The order ECMA-376 gives a font's elements (CT_Font); openpyxl writes name and colour first.
_FONT_ORDER = (
    "b i strike condense extend outline shadow u vertAlign sz color name family charset scheme"
).split()


def _finish(path: Path) -> None:
    """Two fixes to what openpyxl wrote: each font's elements in the schema's order (the
    Open XML validator, and strict readers, refuse openpyxl's), and the same date for every
    part and for "modified", so a rebuild writes the same bytes."""
    import zipfile

    from lxml import etree

    stamp = _BUILT.timetuple()[:6]
    with zipfile.ZipFile(path) as archive:
        parts = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts:
            if name == "xl/styles.xml":
                root = etree.fromstring(data)
                for font in root.iter("{*}font"):
                    font[:] = sorted(
                        font, key=lambda e: _FONT_ORDER.index(etree.QName(e).localname)
                    )
                data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
            elif name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + _W3CDTF, data)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


# --------------------------------------------------------------------------- Orders


def _orders_sheet(sheet: Any) -> None:
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    edge = Side(style="thin", color="BFBFBF")
    white = Font(bold=True, color="FFFFFF")
    col = 0
    spans: dict[str, tuple[int, int]] = {}
    for group, keys in template_layout():
        fill = PatternFill("solid", fgColor=_GROUP_FILLS.get(group, "404040"))
        spans[group] = (col + 1, col + len(keys))
        for key in keys:
            col += 1
            look = column_look(key)
            cell = sheet.cell(row=1, column=col, value=look.title)
            cell.font, cell.fill = white, fill
            cell.alignment = Alignment(horizontal="center", vertical="center")
            cell.border = Border(bottom=edge, right=edge)
            letter = get_column_letter(col)
            dimension = sheet.column_dimensions[letter]
            dimension.width = look.width
            if look.number_format:
                dimension.number_format = look.number_format
            if key in ("comments", "usernames"):  # one item per line, as typed
                dimension.alignment = Alignment(vertical="top", wrap_text=True)
    sheet.row_dimensions[1].height = 22
    last = get_column_letter(col)
    sheet.freeze_panes = "B2"  # the header and the Service column stay in view
    sheet.auto_filter.ref = f"A1:{last}{TEMPLATE_ROWS}"
    if "optional" in spans:  # one level of outline, collapsed: the + above opens it
        low, high = spans["optional"]
        for col in range(low, high + 1):
            dimension = sheet.column_dimensions[get_column_letter(col)]
            dimension.outline_level, dimension.hidden = 1, True
        after = sheet.column_dimensions[get_column_letter(high + 1)]
        after.collapsed = True
    sheet.sheet_format.outlineLevelCol = 1

    keys = [k for _, group in template_layout() for k in group]
    letters = {key: get_column_letter(index) for index, key in enumerate(keys, start=1)}
    body = f"{TEMPLATE_ROWS}"
    flags = DataValidation(type="list", formula1='"x"', allow_blank=True)
    flags.error, flags.errorTitle = "Type x (or leave the cell empty).", "Refill / Cancel"
    for key in ("refill", "cancel"):
        if key in letters:
            flags.add(f"{letters[key]}2:{letters[key]}{body}")
    sheet.add_data_validation(flags)
    if "quantity" in letters:
        whole = DataValidation(type="whole", operator="greaterThan", formula1="0")
        whole.allow_blank, whole.errorStyle = True, "warning"
        whole.error, whole.errorTitle = "Quantity is a whole number above 0.", "Quantity"
        whole.add(f"{letters['quantity']}2:{letters['quantity']}{body}")
        sheet.add_data_validation(whole)
    if "error" in letters:
        red = PatternFill("solid", fgColor="FCE4E4", bgColor="FCE4E4")
        where = f"{letters['error']}2:{letters['error']}{body}"
        rule = FormulaRule(formula=[f"LEN(TRIM({letters['error']}2))>0"], fill=red)
        sheet.conditional_formatting.add(where, rule)
    sheet.print_title_rows = "1:1"


def _service_drop_down(sheet: Any) -> None:
    """Service as a drop-down of "id – name" (Lists!A), typing any id still allowed."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    letter = get_column_letter(template_columns().index(_title("service")) + 1)
    choice = DataValidation(type="list", formula1=f"=Lists!$A$2:$A${SERVICE_ROWS + 1}")
    choice.allow_blank = True
    choice.showErrorMessage = False  # an id typed by hand is fine: the list only helps
    choice.prompt = "Pick a service (Load services fills the list) or type its id."
    choice.promptTitle = "Service"
    choice.showInputMessage = True
    choice.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
    sheet.add_data_validation(choice)


# --------------------------------------------------------------------------- the others


def _header_row(sheet: Any, titles: list[str], widths: list[float], fill: str) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    for index, (title, width) in enumerate(zip(titles, widths, strict=True), start=1):
        cell = sheet.cell(row=1, column=index, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=fill)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"


def _services_sheet(sheet: Any) -> None:
    widths = {"Name": 48, "Type": 24, "Category": 28, "Rate per 1000": 14}
    titles = list(SERVICES_HEADER)
    _header_row(sheet, titles, [widths.get(t, max(9, len(t) + 3)) for t in titles], "1F4E79")
    rate = titles.index("Rate per 1000") + 1
    sheet.column_dimensions[_letter(rate)].number_format = "#,##0.00###"
    sheet.auto_filter.ref = f"A1:{_letter(len(titles))}1"


def _lists_sheet(sheet: Any) -> None:
    """Column A: "id – name" for each Services row (empty where the row is)."""
    sheet["A1"] = "Service choices (from the Services sheet; used by the Service drop-down)"
    for row in range(2, SERVICE_ROWS + 2):
        sheet.cell(
            row=row,
            column=1,
            value=f'=IF(Services!A{row}="","",Services!A{row}&" {_EN_DASH} "&Services!B{row})',
        )


def _settings_sheet(sheet: Any) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    _header_row(sheet, ["Setting", "Value", "What it does"], [21, 18, 90], "1F4E79")
    entry = PatternFill("solid", fgColor="FFF2CC")
    top = Alignment(vertical="top")
    for row, (name, value, meaning) in enumerate(_SETTINGS, start=2):
        label = sheet.cell(row=row, column=1, value=name)
        label.font, label.alignment = Font(bold=True), top
        field = sheet.cell(row=row, column=2, value=value or None)
        field.fill, field.alignment = entry, top
        cell = sheet.cell(row=row, column=3, value=meaning)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.row_dimensions[row].height = 45
    start = len(_SETTINGS) + 3
    for offset, note in enumerate(_SETTINGS_NOTES):
        cell = sheet.cell(row=start + offset, column=3, value=note)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.font = Font(italic=True, color="595959")
        sheet.row_dimensions[start + offset].height = 30


def _help_sheet(sheet: Any) -> None:
    from openpyxl.styles import Font, PatternFill

    sheet.column_dimensions["A"].width = 110
    for row, (line, kind) in enumerate(_HELP, start=1):
        cell = sheet.cell(row=row, column=1, value=line or None)
        if kind == "title":
            cell.font = Font(bold=True, size=13 if row == 1 else 11)
        elif kind in _GROUP_FILLS:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor=_GROUP_FILLS[kind])


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(col))
