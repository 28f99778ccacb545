"""The order workbook template and ``smmsheet new`` (issue 11 item 7).

The template is built in code (``smmsheet/templates.py``); the committed
``workbook_templates/orders.xlsx`` is what ``workbook_templates/build.py`` writes from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli
from smmsheet.config import workbook_settings
from smmsheet.orders import INPUT_COLUMNS, MAIN_INPUTS, OUTPUT_COLUMNS, OrderTable, column_groups
from smmsheet.services_sheet import services_sheet_of
from smmsheet.templates import build_orders_template, template_columns, template_layout
from smmsheet.workbook import open_workbook

from . import workbooks as wb

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "workbook_templates" / "orders.xlsx"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_orders_template(tmp_path_factory.mktemp("template") / "orders.xlsx")


def load(path: Path):
    from openpyxl import load_workbook

    return load_workbook(path)


# --------------------------------------------------------------------------- the file


def test_the_committed_template_is_what_build_writes(template):
    """Run ``python workbook_templates/build.py`` after changing the template or the schema."""
    assert COMMITTED.read_bytes() == template.read_bytes()


def test_a_rebuild_writes_the_same_bytes(template, tmp_path):
    assert build_orders_template(tmp_path / "again.xlsx").read_bytes() == template.read_bytes()


def test_the_template_reads_as_an_order_sheet_with_every_column(template):
    table = OrderTable.from_values(open_workbook(str(template)).read_values("Orders"))
    assert table.header_row == 1 and table.rows == [] and table.warnings == []
    assert table.new_columns == {}  # every output column is there already
    assert set(table.columns) == set(INPUT_COLUMNS) | set(OUTPUT_COLUMNS)


def test_inputs_most_orders_need_come_first_and_outputs_last(template):
    header = [c.value for c in load(template)["Orders"][1]]
    assert header == template_columns()
    assert header[: len(MAIN_INPUTS)] == [INPUT_COLUMNS[k] for k in MAIN_INPUTS]
    assert header[-len(OUTPUT_COLUMNS) :] == list(OUTPUT_COLUMNS.values())


def test_type_specific_fields_are_grouped_and_collapsed(template):
    from openpyxl.utils import get_column_letter

    sheet = load(template)["Orders"]
    header = [c.value for c in sheet[1]]
    for key in column_groups()["optional"]:
        dimension = sheet.column_dimensions[get_column_letter(header.index(INPUT_COLUMNS[key]) + 1)]
        assert dimension.outline_level == 1 and dimension.hidden, key
    for title in ("Service", "Link", "Quantity", "Refill", "Order ID", "Updated"):
        dimension = sheet.column_dimensions[get_column_letter(header.index(title) + 1)]
        assert not dimension.hidden and not dimension.outline_level, title


def test_a_column_added_to_the_schema_takes_its_groups_place(monkeypatch, tmp_path):
    """Other changes add columns (Sell price, Profit...): the layout follows the schema."""
    from smmsheet import orders

    monkeypatch.setitem(orders.INPUT_COLUMNS, "sell_price", "Sell price")
    monkeypatch.setitem(orders.OUTPUT_COLUMNS, "profit", "Profit")
    monkeypatch.setitem(orders._TITLES, "profit", "Profit")
    monkeypatch.setitem(orders._TITLES, "sell_price", "Sell price")
    layout = dict(template_layout())
    assert "sell_price" in layout["optional"] and layout["outputs"][-1] == "profit"
    header = [c.value for c in load(build_orders_template(tmp_path / "o.xlsx"))["Orders"][1]]
    assert header[-1] == "Profit" and "Sell price" in header
    assert header.index("Sell price") < header.index("Refill")


def test_header_frozen_filtered_formatted_and_wide_enough(template):
    from openpyxl.utils import get_column_letter

    sheet = load(template)["Orders"]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref.startswith(f"A1:{get_column_letter(len(header))}")

    def column(title: str):
        return sheet.column_dimensions[get_column_letter(header.index(title) + 1)]

    assert column("Charge").number_format == "#,##0.00###"
    assert column("Updated").number_format == "yyyy-mm-dd hh:mm"
    assert column("Start Count").number_format == "#,##0"
    assert column("Order ID").number_format == "0"
    for title in header:
        assert column(title).width >= len(title) + 2, title
    assert column("Link").width >= 30 and column("Error").width >= 30


def test_service_is_a_drop_down_of_id_and_name_from_the_services_sheet(template):
    book = load(template)
    orders = book["Orders"]
    (choice,) = [v for v in orders.data_validations.dataValidation if "Lists!" in v.formula1]
    assert str(choice.sqref).startswith("A2:A") and not choice.showErrorMessage  # ids typed too
    lists = book["Lists"]
    assert lists.sheet_state == "hidden"
    assert lists["A2"].value == '=IF(Services!A2="","",Services!A2&" \u2013 "&Services!B2)'
    # and the engine reads the drop-down's choice as that service
    table = OrderTable.from_values([["Service", "Link"], ["123 \u2013 IG Likes [30 days]", "x"]])
    assert table.rows[0].service_id == 123


def test_the_services_sheet_is_one_load_services_fills(template):
    assert services_sheet_of(open_workbook(str(template))) == "Services"


def test_the_settings_sheet_reads_as_no_settings_and_explains_each(template):
    rows = open_workbook(str(template)).read_values("Settings")
    settings = workbook_settings(rows)
    assert settings.profile is None and settings.max_spend is None
    assert settings.max_spend_per_day is None
    named = {row[0]: row for row in rows[1:] if row and row[0]}
    assert set(named) == {
        "Profile",
        "Max spend",
        "Max spend per day",
        "Refill warning days",
        "Currency",
        "Rate EUR",
    }
    assert settings.refill_warning_days is None and settings.currency is None
    assert not settings.rates
    assert all(len(str(row[2])) > 40 for row in named.values())  # each says what it does
    assert any("API key" in str(cell) for row in rows for cell in row)


@pytest.mark.skipif(wb.OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_the_template_is_valid_open_xml(template):
    assert wb.schema_errors(template) == set()


# --------------------------------------------------------------------------- smmsheet new


def test_new_writes_a_blank_order_workbook(tmp_path):
    target = tmp_path / "orders.xlsx"
    result = CliRunner().invoke(cli, ["new", str(target)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.output and "smmsheet place" in result.output
    # followed literally, the next steps fill rows before the dry run ("nothing to do" else)
    steps = ["smmsheet services --into", "fill in your orders", "smmsheet place"]
    at = [result.output.index(step) for step in steps]
    assert at == sorted(at), result.output
    assert target.read_bytes() == COMMITTED.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["orders.xlsx"]  # no temporary left


def test_new_never_overwrites_a_file_without_force(tmp_path):
    target = tmp_path / "orders.xlsx"
    target.write_bytes(b"my own work")
    result = CliRunner().invoke(cli, ["new", str(target)])
    assert result.exit_code == 2 and "exists" in result.output and "--force" in result.output
    assert target.read_bytes() == b"my own work"
    result = CliRunner().invoke(cli, ["new", str(target), "--force"])
    assert result.exit_code == 0 and target.read_bytes() == COMMITTED.read_bytes()


def test_new_with_force_keeps_the_journal_of_the_workbook_it_replaces(tmp_path):
    from smmsheet.journal import journal_path

    target = tmp_path / "orders.xlsx"
    target.write_bytes(b"old")
    journal_path(target).write_bytes(b"paid requests")
    result = CliRunner().invoke(cli, ["new", str(target), "--force"])
    assert result.exit_code == 0 and "Kept" in result.output
    assert journal_path(target).read_bytes() == b"paid requests"


def test_new_with_force_never_replaces_a_workbook_open_in_excel(tmp_path):
    """Found in review: --force replaced a workbook Excel had open (its ``~$`` owner file
    beside it); Excel's next save would then silently write the user's copy back over it,
    or the user would lose the edits not yet saved."""
    target = tmp_path / "orders.xlsx"
    target.write_bytes(b"my own work")
    (tmp_path / "~$orders.xlsx").write_bytes(b"owner")
    result = CliRunner().invoke(cli, ["new", str(target), "--force"])
    assert result.exit_code == 2 and "open in Excel" in result.output, result.output
    assert target.read_bytes() == b"my own work"


@pytest.mark.parametrize(
    ("name", "said"),
    [("missing/orders.xlsx", "there is no folder"), ("orders.xls", "an .xlsx file")],
)
def test_new_refuses_what_it_cannot_write_in_one_line(tmp_path, name, said):
    result = CliRunner().invoke(cli, ["new", str(tmp_path / name)])
    assert result.exit_code == 2 and said in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_new_workbook_takes_orders_end_to_end(tmp_path, panel_env):
    """new, load the services, pick "id – name" as the drop-down writes it, place."""
    from .conftest import read_orders

    target = tmp_path / "orders.xlsx"
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(target)]).exit_code == 0
    loaded = runner.invoke(cli, ["services", "--into", str(target)])
    assert loaded.exit_code == 0, loaded.output
    services = open_workbook(str(target)).read_values("Services")
    sid, name = services[1][0], services[1][1]
    book = open_workbook(str(target))
    book.write_cells(
        "Orders", {(2, 1): f"{int(sid)} \u2013 {name}", (2, 2): "https://x.com/p/1", (2, 3): 100}
    )
    book.save()
    placed = runner.invoke(cli, ["place", str(target), "--yes"])
    assert placed.exit_code == 0, placed.output
    (row,) = read_orders(target)
    assert row["Order ID"] == min(panel_env.orders) and panel_env.orders[row["Order ID"]].service
    assert int(panel_env.orders[row["Order ID"]].service) == int(sid)
    if wb.OOXML_VALIDATOR is not None:
        assert wb.schema_errors(target) == set()


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice is not installed")
def test_after_load_services_the_drop_down_lists_id_and_name(tmp_path, panel_env):
    """The Lists formulas, as a spreadsheet calculates them once Services is filled."""
    target = tmp_path / "orders.xlsx"
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(target)]).exit_code == 0
    assert runner.invoke(cli, ["services", "--into", str(target)]).exit_code == 0
    services = open_workbook(str(target)).read_values("Services")[1:]
    choices = wb.libreoffice_csv(target, tmp_path / "lo", "Lists")[1:]
    expected = [f"{int(row[0])} \u2013 {row[1]}" for row in services]
    assert [row[0] for row in choices[: len(expected)]] == expected
    assert not any(row and row[0] for row in choices[len(expected) :])


# --------------------------------------------------------------------------- the render


def header_cells(page) -> list[tuple[str, float, float, float, float]]:
    """The header row as LibreOffice drew it: (text, text left, text right, cell left,
    cell right) for each header text, cells bounded by the vertical border lines."""
    objects = list(page.get_objects())
    paths = [o.get_bounds() for o in objects if o.type == 2]
    fills = [b for b in paths if b[2] - b[0] > 5 and b[3] - b[1] > 8]
    if not fills:
        return []
    top = max(b[3] for b in fills)
    band = [b for b in fills if abs(b[3] - top) < 2]
    bottom = min(b[1] for b in band)
    lines = [(b[0] + b[2]) / 2 for b in paths if b[2] - b[0] < 3 and b[3] - b[1] > 8]
    edges = sorted({round(x, 1) for x in lines} | {min(b[0] for b in band)})
    edges.append(max(b[2] for b in band))
    text = page.get_textpage()
    cells = []
    for o in objects:
        left, low, right, high = o.get_bounds()
        if o.type != 1 or low < bottom - 1 or high > top + 1:
            continue
        middle = (left + right) / 2
        start = max(e for e in edges if e <= middle)
        end = min(e for e in edges if e > middle)
        words = text.get_text_bounded(left, low, right, high).strip()
        cells.append((words, left, right, start, end))
    return cells


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_renders_the_order_sheet_with_no_header_cut(tmp_path, panel_env):
    """A filled-in new workbook printed by LibreOffice: every visible header fits its cell,
    the collapsed fields are not shown, no value shows as ###."""
    pdfium = pytest.importorskip("pypdfium2")
    target = tmp_path / "orders.xlsx"
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(target)]).exit_code == 0
    book = open_workbook(str(target))
    book.write_cells(
        "Orders",
        {
            (2, 1): 1,
            (2, 2): "https://instagram.com/p/render",
            (2, 3): 1500,
            (3, 1): 999,
            (3, 2): "https://instagram.com/p/unknown",
            (3, 3): 100,
        },
    )
    book.save()
    assert runner.invoke(cli, ["place", str(target), "--yes"]).exit_code == 1  # row 3 refused
    pdf = pdfium.PdfDocument(wb.libreoffice_convert(target, tmp_path / "render", "pdf"))
    seen: list[str] = []
    for page in pdf:
        page_text = page.get_textpage().get_text_range()
        if "Rate per 1000" in page_text:
            break  # the Services sheet: the order sheet's pages are done
        assert "###" not in page_text
        for words, left, right, start, end in header_cells(page):
            assert start - 0.5 <= left and right <= end + 0.5, f"{words!r} is cut"
            seen.append(words)
    hidden = {INPUT_COLUMNS[k] for k in column_groups()["optional"]}
    shown = [t for t in template_columns() if t not in hidden]
    assert seen == shown
