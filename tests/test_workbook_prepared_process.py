"""The save's head start in a helper process (:mod:`smmsheet.workbook.xlsx.prepared_process`).

The same promise as tests/test_workbook_prepared.py, for the helper: whatever is written
before and after ``prepare``, the saved file is the file a save without it writes, byte
for byte; when the helper cannot vouch for its work, or is gone, the save patches the
sheet itself. Here every sheet is large enough for the helper (``HELPER_FROM`` = 0), and
the tests check the helper really did the work where it could.
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from pathlib import Path

import pytest

from smmsheet.workbook.xlsx import XlsxWorkbook, prepared, prepared_process
from smmsheet.workbook.xlsx.opc import Package
from smmsheet.workbook.xlsx.styles import DateStyles

from . import workbooks as wb
from .test_workbook_prepared import Step, _parts, _same_both_ways, apply, random_runs

pytestmark = pytest.mark.skipif(
    not prepared_process.helper_wanted(prepared_process.HELPER_FROM),
    reason="no helper process on this platform",
)

WHEN = dt.datetime(2026, 11, 26, 1, 2, 3)


@pytest.fixture(autouse=True)
def every_sheet_to_the_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared_process, "HELPER_FROM", 0)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[prepared_process.PreparedElsewhere]:
    """Each helper started, as it starts."""
    helpers: list[prepared_process.PreparedElsewhere] = []
    real = prepared_process.PreparedElsewhere.__init__

    def spy(self: prepared_process.PreparedElsewhere, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        helpers.append(self)

    monkeypatch.setattr(prepared_process.PreparedElsewhere, "__init__", spy)
    return helpers


def _in_order(first_row: int, last_row: int, size: int = 25) -> list[Step]:
    """A refresh's shape: each chunk's rows written (a text and a time that needs a date
    format), then prepare up to the first row still waiting."""
    steps: list[Step] = []
    for first in range(first_row, last_row + 1, size):
        rows = range(first, min(first + size, last_row + 1))
        steps.append(("write", {(r, c): v for r in rows for c, v in ((7, "Done"), (8, WHEN))}))
        steps.append(("prepare", first + size))
    return steps


def _elsewhere(book: XlsxWorkbook) -> prepared_process.PreparedElsewhere:
    held = book._prepared
    assert isinstance(held, prepared_process.PreparedElsewhere)
    return held


def _written_and_prepared(tmp_path: Path) -> tuple[Path, XlsxWorkbook]:
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=40)
    book = XlsxWorkbook(path)
    apply(book, _in_order(2, 30))
    return path, book


def test_rows_written_in_order_are_saved_from_the_helper_byte_for_byte(
    tmp_path: Path, fresh_patches: list[str], started: list[prepared_process.PreparedElsewhere]
) -> None:
    source = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(source, rows=300)
    assert _same_both_ways(tmp_path, source, _in_order(2, 301), fresh_patches)
    assert len(started) == 1  # the helper's part was the one saved
    process = started[0]._link.process
    assert process.wait(timeout=10) == 0  # and it is gone


def test_a_save_prepared_in_steps_by_the_helper_writes_the_same_file(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    """Random runs (rows written again, cells far past the sheet's end) on books written
    by xlsxwriter, openpyxl and LibreOffice and on every edge row: the same file."""
    used, fallen_back = random_runs(tmp_path, fresh_patches, seeds=4)
    assert used >= 3 and fallen_back >= 3, (used, fallen_back)


def test_a_row_written_again_after_the_helper_patched_it_is_saved_afresh(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    source = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(source, rows=40)
    steps = [*_in_order(2, 30), ("write", {(5, 7): "written again"})]
    assert not _same_both_ways(tmp_path, source, steps, fresh_patches)


def test_a_helper_killed_mid_run_leaves_the_save_to_this_process(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    path, book = _written_and_prepared(tmp_path)
    plain = tmp_path / "plain.xlsx"
    wb.build_rich_workbook(plain, rows=40)
    plain_book = XlsxWorkbook(plain)
    apply(plain_book, _in_order(2, 30), prepare=False)
    plain_book.save()
    process = _elsewhere(book)._link.process
    process.kill()
    process.wait(timeout=10)
    assert book.prepare("Orders", 40) is False  # nothing more is handed to it
    book.save()
    assert any("'Orders'" in where for where in fresh_patches)  # patched here, at the save
    assert _parts(path) == _parts(plain)


def test_no_interpreter_to_start_keeps_the_head_start_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_patches: list[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    path, book = _written_and_prepared(tmp_path)
    assert isinstance(book._prepared, prepared.PreparedSheet)
    book.save()
    assert not fresh_patches
    assert XlsxWorkbook(path).read_values("Orders")[29][6] == "Done"


def test_a_helper_that_answers_nothing_leaves_the_save_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_patches: list[str]
) -> None:
    """A helper that never replies (stuck, or gone without a word) costs the save its head
    start after FINISH_WAIT, never the save."""
    monkeypatch.setattr(prepared_process, "FINISH_WAIT", 0.2)
    monkeypatch.setattr(prepared_process, "FINISH_WAIT_PER_MB", 10.0)
    monkeypatch.setattr(prepared_process, "_START", "import time; time.sleep(30)")
    path, book = _written_and_prepared(tmp_path)
    size = zipfile.ZipFile(path).getinfo(wb.ORDERS_PART).file_size
    assert _elsewhere(book)._wait == pytest.approx(0.2 + 10.0 * size / 1e6)  # grows with it
    process = _elsewhere(book)._link.process
    book.save()
    assert any("'Orders'" in where for where in fresh_patches)
    assert XlsxWorkbook(path).read_values("Orders")[29][6] == "Done"
    assert process.poll() is not None  # killed with the preparation


def test_close_and_the_garbage_collector_end_the_helper(tmp_path: Path) -> None:
    import gc

    path, book = _written_and_prepared(tmp_path)
    before = path.read_bytes()
    process = _elsewhere(book)._link.process
    book.close()
    assert process.poll() is not None
    assert path.read_bytes() == before

    (tmp_path / "dropped").mkdir()
    _, dropped = _written_and_prepared(tmp_path / "dropped")
    process = _elsewhere(dropped)._link.process
    del dropped
    gc.collect()
    assert process.wait(timeout=10) is not None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="no /proc to read")
def test_the_helper_is_given_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-helper-must-not-see-this-0123456789"
    monkeypatch.setenv("SMMSHEET_API_KEY", secret)
    monkeypatch.setenv("SMMSHEET_PANEL_URL", f"https://panel.example/api/v2?key={secret}")
    (tmp_path / "b").mkdir()
    _, book = _written_and_prepared(tmp_path / "b")
    process = _elsewhere(book)._link.process
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    assert b"PATH=" in environ  # read while it runs
    assert secret.encode() not in environ and b"SMMSHEET_" not in environ
    book.close()


def test_date_styles_added_in_the_helper_come_back_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(path, rows=5)
    with zipfile.ZipFile(path) as archive:
        styles = DateStyles(Package(archive, "rich.xlsx"))
        added = styles.style_for(0, with_time=True)
        number = styles.number_style("0.000")
        state = styles.export()
        again = DateStyles.adopt(Package(archive, "rich.xlsx"), state)
        assert again.changed and again.result() == styles.result()
        assert again.style_for(0, with_time=True) == added  # known: not added twice
        assert again.number_style("0.000") == number
        assert again.result() == styles.result()
        untouched = DateStyles(Package(archive, "rich.xlsx"))
        assert not DateStyles.adopt(Package(archive, "rich.xlsx"), untouched.export()).changed


def test_a_file_that_reads_otherwise_than_the_helper_read_it_is_saved_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_patches: list[str]
) -> None:
    """Changed between the helper's last look and this process's read: the part is of
    other bytes than those the save would copy the rest from, so it is not used."""
    real = prepared_process.read_identified

    def changed_since(path: Path) -> tuple[object, bytes]:
        identity, content = real(path)
        return identity, content + b"\0"

    monkeypatch.setattr(prepared_process, "read_identified", changed_since)
    path, book = _written_and_prepared(tmp_path)
    book.save()
    assert any("'Orders'" in where for where in fresh_patches)
    assert XlsxWorkbook(path).read_values("Orders")[29][6] == "Done"


def test_a_refresh_hands_its_rows_to_the_helper_and_saves_its_part(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_patches: list[str],
    started: list[prepared_process.PreparedElsewhere],
    sim,
    client,
) -> None:
    """The engine's side: a status run hands each chunk's rows over as the panel answers;
    the sheet saved is the panel's answers, from the helper's part, and the helper ends."""
    from smmsheet import batch

    from .conftest import assert_sheet_matches_panel, make_orders_book, run_engine
    from .test_batch import REFRESH_HEADER, _open_orders

    monkeypatch.setattr(batch, "_HAND_OVER_ROWS", 100)
    monkeypatch.setattr(batch._Idle, "fits", lambda self: True)  # not only while it waits
    # Every output column there: a first run adding columns hands nothing over.
    book = make_orders_book(tmp_path / "o.xlsx", _open_orders(sim, 1500), REFRESH_HEADER)
    report = run_engine(book, client, "status")
    assert not report.failed
    assert len(started) == 1 and not fresh_patches
    assert started[0]._link.process.wait(timeout=10) == 0
    assert_sheet_matches_panel(book, sim)


def test_which_sheets_go_to_a_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    from smmsheet.workbook.xlsx import sheet_patch

    monkeypatch.setattr(prepared_process, "HELPER_FROM", 1000)
    assert not prepared_process.helper_wanted(999)  # small: not worth an interpreter
    assert prepared_process.helper_wanted(1000)
    assert not prepared_process.helper_wanted(prepared.PREPARE_LIMIT + 1)  # not prepared at all
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # a bundled smmsheet.exe
    assert not prepared_process.helper_wanted(1000)
    monkeypatch.delattr(sys, "frozen")
    monkeypatch.setattr(sys, "executable", "")
    assert not prepared_process.helper_wanted(1000)
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")  # Python embedded in a host
    assert not prepared_process.helper_wanted(1000)
    for python in ("/usr/bin/python3.11", "/opt/venv/bin/python", "/usr/bin/pypy3"):
        monkeypatch.setattr(sys, "executable", python)
        assert prepared_process.helper_wanted(1000)
    monkeypatch.undo()
    monkeypatch.setattr(prepared_process, "HELPER_FROM", 1000)
    monkeypatch.setattr(sheet_patch, "STREAM_PATCHING", False)
    assert not prepared_process.helper_wanted(1000)


def _served(messages: list[tuple[object, ...]]) -> object:
    """The helper's loop run here, on ``messages``: its one reply (None: none)."""
    import io
    import pickle

    stdin = io.BytesIO(b"".join(pickle.dumps(m) for m in messages))
    stdout = io.BytesIO()
    prepared_process.serve(stdin, stdout)
    return pickle.loads(stdout.getvalue()) if stdout.getvalue() else None


def test_the_helpers_loop_patches_what_it_is_sent_and_says_none_when_it_cannot(
    tmp_path: Path,
) -> None:
    from smmsheet.workbook.xlsx.sheet_patch import Patched

    path = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(path, rows=40)
    rows = {r: ((7, 8), ("Done", WHEN)) for r in range(2, 31)}
    opened = ("open", str(path), "Orders", "rich.xlsx")
    reply = _served([opened, ("note", rows), ("advance", 20), ("finish",)])
    assert isinstance(reply, tuple) and reply[0] == "done" and isinstance(reply[1], Patched)
    assert reply[2] == prepared.read_identified(path)[0]
    assert not _served([opened, ("note", rows)])  # the run ended without a save: no reply
    again = {**rows, 5: {7: "written again"}}  # a row written after it was patched
    broken = [opened, ("note", rows), ("advance", 31), ("note", again), ("finish",)]
    assert _served(broken) == ("none",)
    gone = ("open", str(tmp_path / "gone.xlsx"), "Orders", "gone.xlsx")
    assert _served([gone, ("note", rows), ("advance", 20), ("finish",)]) == ("none",)
    refused = {2: ((7,), (object(),))}  # no cell can hold it: the helper drops its work
    assert _served([opened, ("note", refused), ("advance", 20), ("finish",)]) == ("none",)


# -- a hostile review's cases ------------------------------------------------------------


def test_the_helper_imports_nothing_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -c`` puts the working folder first on sys.path: a heapq.py or pickle.py
    lying in the folder the run was started from (Downloads, next to the workbook) would
    run in the helper, though the run itself (a console script, or -P/-I) never imports it."""
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=40)
    folder = tmp_path / "folder"
    folder.mkdir()
    ran = tmp_path / "ran"
    for module in ("heapq", "pickle", "hashlib", "queue", "zipfile", "lxml"):
        (folder / f"{module}.py").write_text(f"open({str(ran)!r}, 'a').write('{module}\\n')\n")
    monkeypatch.chdir(folder)
    book = XlsxWorkbook(path)
    apply(book, _in_order(2, 30))
    process = _elsewhere(book)._link.process
    book.save()
    process.wait(timeout=10)
    assert not ran.exists(), ran.read_text()
    assert XlsxWorkbook(path).read_values("Orders")[29][6] == "Done"


def test_the_helper_is_started_as_isolated_as_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started with -I (or -E, -s) ignores PYTHONPATH and the user's site-packages:
    its helper must not import from them either."""
    import types

    flags = {name: getattr(sys.flags, name) for name in dir(sys.flags) if not name[0] == "_"}
    (tmp_path / "b").mkdir()
    monkeypatch.setattr(sys, "flags", types.SimpleNamespace(**{**flags, "isolated": 1}))
    _, book = _written_and_prepared(tmp_path / "b")
    args = _elsewhere(book)._link.process.args
    book.close()
    assert "-I" in args[: args.index("-c")]
    monkeypatch.setattr(
        sys,
        "flags",
        types.SimpleNamespace(**{**flags, "ignore_environment": 1, "no_user_site": 1}),
    )
    (tmp_path / "c").mkdir()
    _, book = _written_and_prepared(tmp_path / "c")
    args = _elsewhere(book)._link.process.args
    book.close()
    assert {"-E", "-s", "-P"} <= set(args[: args.index("-c")])


def test_a_value_the_helper_cannot_be_sent_is_written_all_the_same(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    """A float subclass of the caller's own (numpy's float64 is one) is a cell value; if
    pickle cannot carry it, write_cells must neither raise after buffering nor lose it."""

    class Rate(float):
        pass

    path, book = _written_and_prepared(tmp_path)
    book.write_cells("Orders", {(31, 7): Rate(2.5)})
    book.save()
    assert any("'Orders'" in where for where in fresh_patches)  # the helper could not vouch
    assert XlsxWorkbook(path).read_values("Orders")[30][6] == 2.5


def test_a_date_in_a_sheet_saved_before_the_prepared_one_is_styled_as_without_prepare(
    tmp_path: Path,
) -> None:
    """The save patches the sheets in the order they were first written. A date format
    added by the head start (Orders, written second) must not take the place in
    styles.xml that the plain save gives the first sheet's date (Prices)."""
    import shutil

    source = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(source, rows=40)
    saved = {}
    for prepare in (False, True):
        path = tmp_path / f"{prepare}.xlsx"
        shutil.copyfile(source, path)
        book = XlsxWorkbook(path)
        book.write_cells("Prices", {(2, 5): dt.date(2026, 1, 1)})
        apply(book, _in_order(2, 30), prepare=prepare)
        book.save()
        saved[prepare] = _parts(path)
    assert saved[True] == saved[False]


def test_the_helper_imports_what_the_run_imports_not_what_lies_beside_smmsheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, smmsheet's folder is site-packages: put first on the helper's sys.path,
    whatever lies there (PyPI's old pathlib, a typing or enum backport) took the place of
    the standard library's module in the helper, never in the run. Here a folder holding
    smmsheet and a heapq.py stands for it."""
    root = tmp_path / "site-packages"
    root.mkdir()
    (root / "smmsheet").symlink_to(Path(prepared_process.__file__).resolve().parents[2])
    ran = tmp_path / "ran"
    (root / "heapq.py").write_text(f"open({str(ran)!r}, 'a').write('heapq')\n")
    monkeypatch.setattr(prepared_process, "_ROOT", root)
    (tmp_path / "b").mkdir()
    path, book = _written_and_prepared(tmp_path / "b")
    process = _elsewhere(book)._link.process
    book.save()
    process.wait(timeout=10)
    assert not ran.exists()
    assert XlsxWorkbook(path).read_values("Orders")[29][6] == "Done"


def test_a_head_start_the_helper_has_lost_stops_the_hand_over(tmp_path: Path) -> None:
    """prepare() False tells the run to stop handing rows over (batch._hand_over): in
    process it says so once the sheet cannot be prepared or a patched row is written
    again. The helper kept taking (and the run kept pickling) every row for a part it
    would refuse at the save."""
    from .test_workbook_prepared import _book, _sheet

    odd = _sheet('<row><c r="A1"><v>1</v></c></row><row r="3"><c r="A3"><v>3</v></c></row>')
    book = XlsxWorkbook(_book(tmp_path, "odd.xlsx", odd))
    book.write_cells("Orders", {(3, 5): "x", (4, 5): "y"})
    book.prepare("Orders", 10)  # the helper's answer is not awaited
    _elsewhere(book)._link.process.wait(timeout=10)  # it gave up, and ended
    assert book.prepare("Orders", 20) is False
    book.close()

    path = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(path, rows=40)
    book = XlsxWorkbook(path)
    apply(book, _in_order(2, 20))
    book.write_cells("Orders", {(5, 7): "written again"})
    book.prepare("Orders", 30)
    process = _elsewhere(book)._link.process
    process.wait(timeout=10)
    assert book.prepare("Orders", 40) is False
    assert book._prepared is False  # dropped now, not held (a copy of the file) to the save
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[4][6] == "written again"
