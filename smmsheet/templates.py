"""The order workbook template (``workbook_templates/orders.xlsx`` and the demo's copy).

Built in code, so ``smmsheet demo`` works from an installed wheel and the committed file can
be regenerated: ``python workbook_templates/build.py``.
"""

from __future__ import annotations

from pathlib import Path

from .orders import INPUT_COLUMNS, OUTPUT_COLUMNS

__all__ = ["TEMPLATE_COLUMNS", "build_orders_template"]

#: The columns of the template, left to right: the common inputs, outputs, then the rest.
TEMPLATE_COLUMNS: list[str] = [
    *(INPUT_COLUMNS[k] for k in ("service", "link", "quantity", "runs", "interval", "comments")),
    *(INPUT_COLUMNS[k] for k in ("refill", "cancel")),
    *OUTPUT_COLUMNS.values(),
    *(
        INPUT_COLUMNS[k]
        for k in INPUT_COLUMNS
        if k not in {"service", "link", "quantity", "runs", "interval", "comments"}
        and k not in {"refill", "cancel"}
    ),
]

_HELP = [
    "smmsheet order workbook",
    "",
    "One row per order on the Orders sheet: Service (id), Link, Quantity, plus the fields your",
    "service type needs (Comments one per line, Usernames, Runs + Interval for drip-feed...).",
    "Run `smmsheet place orders.xlsx` (or the Excel ribbon's Place orders). Order ID, Status,",
    "Charge, Start Count, Remains and Error are written back. A row with an Order ID is never",
    "placed again. Put x in Refill or Cancel and run `smmsheet refill` / `smmsheet cancel`.",
    "",
    "Settings sheet: Profile (a panel profile of your smmsheet config) and Max spend.",
    "Never put your API key in this workbook: use a profile or SMMSHEET_API_KEY.",
]


def build_orders_template(path: str | Path) -> Path:
    """Write a fresh order workbook (Orders, Settings, Help sheets) to ``path``."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    orders = book.active
    assert orders is not None
    orders.title = "Orders"
    orders.append(TEMPLATE_COLUMNS)
    bold = Font(bold=True, color="FFFFFF")
    inputs = PatternFill("solid", fgColor="305496")
    outputs = PatternFill("solid", fgColor="548235")
    output_titles = set(OUTPUT_COLUMNS.values())
    for index, title in enumerate(TEMPLATE_COLUMNS, start=1):
        cell = orders.cell(row=1, column=index)
        cell.font = bold
        cell.fill = outputs if title in output_titles else inputs
        cell.alignment = Alignment(horizontal="center")
        width = 40 if title in {"Link", "Comments", "Error"} else max(10, len(title) + 2)
        orders.column_dimensions[get_column_letter(index)].width = width
    orders.freeze_panes = "A2"
    flags = DataValidation(type="list", formula1='"x"', allow_blank=True)
    for title in ("Refill", "Cancel"):
        letter = get_column_letter(TEMPLATE_COLUMNS.index(title) + 1)
        flags.add(f"{letter}2:{letter}100000")
    orders.add_data_validation(flags)
    charge = get_column_letter(TEMPLATE_COLUMNS.index("Charge") + 1)
    for row in range(2, 1002):
        orders[f"{charge}{row}"].number_format = "0.00000"

    settings = book.create_sheet("Settings")
    settings.append(["Setting", "Value", "Meaning"])
    settings.append(["Profile", None, "panel profile from your smmsheet config file"])
    settings.append(["Max spend", None, "refuse to place more than this per run"])
    for col in ("A", "B", "C"):
        settings.column_dimensions[col].width = 20 if col != "C" else 50
    help_sheet = book.create_sheet("Help")
    for line in _HELP:
        help_sheet.append([line])
    help_sheet.column_dimensions["A"].width = 100

    target = Path(path)
    book.save(target)
    return target
