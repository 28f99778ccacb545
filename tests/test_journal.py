"""The write-ahead journal: intent before sending, outcome after, synced once in the sheet."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from smmsheet.errors import JournalError, WorkbookBusyError
from smmsheet.journal import (
    Action,
    Journal,
    Resolution,
    State,
    Synced,
    journal_location,
    journal_path,
)

DATA = Path(__file__).parent / "data"


def test_journal_lives_beside_the_workbook(tmp_path):
    assert journal_path(tmp_path / "orders.xlsx") == tmp_path / (
        "orders.xlsx.smmsheet-journal.sqlite"
    )


def test_journal_beside_a_local_workbook_else_in_the_user_data_folder(tmp_path: Path) -> None:
    local = tmp_path / "orders.xlsx"
    local.write_bytes(b"")
    assert journal_location(str(local)) == tmp_path / "orders.xlsx.smmsheet-journal.sqlite"
    cloud = journal_location("https://d.docs.live.net/1a2b/Orders 2026.xlsx", tmp_path / "data")
    unsaved = journal_location("Book1", tmp_path / "data")
    assert cloud.parent == unsaved.parent == tmp_path / "data" / "journals"
    assert cloud.name.endswith("-Orders_2026.xlsx.smmsheet-journal.sqlite")
    assert cloud != journal_location("https://d.docs.live.net/9z/Orders 2026.xlsx", tmp_path)


def test_intent_then_outcome_then_synced(tmp_path):
    path = journal_path(tmp_path / "b.xlsx")
    with Journal(path) as j:
        eid = j.intent(
            sheet="Orders",
            row=2,
            fingerprint="f",
            action="add",
            request={"service": "1", "link": "l"},
        )
        [entry] = j.unsynced("Orders")
        assert entry.state == "sent" and entry.request == {"service": "1", "link": "l"}
        j.outcome(eid, "accepted", 1001)
        [accepted] = j.accepted_adds("Orders")
        assert (accepted.row, accepted.fingerprint, accepted.result_id) == (2, "f", "1001")
        j.mark_synced([eid])
        assert j.unsynced() == []
    # survives reopening: it is on disk
    with Journal(path) as j:
        assert [e.state for e in j.entries()] == ["accepted"]


def test_entries_of_several_sheets_are_read_together(tmp_path):
    # A renamed order sheet: its earlier entries are under its old name.
    with Journal(journal_path(tmp_path / "b.xlsx")) as j:
        for sheet, state in (("Orders", "accepted"), ("November", "ambiguous"), ("Other", "")):
            eid = j.intent(sheet=sheet, row=2, fingerprint="f", action="add", request={})
            if state:  # "Other": sent, no outcome yet
                j.outcome(eid, state, 1001 if state == "accepted" else None)
        assert sorted(j.sheets()) == ["November", "Orders", "Other"]
        assert [e.sheet for e in j.accepted_adds(("November", "Orders"))] == ["Orders"]
        assert [e.sheet for e in j.unresolved_adds(["November", "Orders"])] == ["November"]
        assert [e.sheet for e in j.unsynced(("Orders", "Other"))] == ["Orders", "Other"]


def test_unknown_outcome_state_is_refused(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        eid = j.intent(sheet="S", row=1, fingerprint="f", action="add", request={})
        with pytest.raises(ValueError):
            j.outcome(eid, "maybe", None)


def _hold_lock(path, ready, release):
    with Journal(path):
        ready.set()
        release.wait(10)


def _start_holder(path):
    """Another process that holds the journal's run lock until ``release`` is set."""
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    assert ready.wait(20)
    return holder, release


def test_second_run_on_the_same_workbook_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    holder, release = _start_holder(path)
    try:
        with pytest.raises(WorkbookBusyError, match="another smmsheet run"):
            Journal(path)
    finally:
        release.set()
        holder.join(20)
    with Journal(path):  # released when the other process ends
        pass


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    path = tmp_path / "j.sqlite"
    holder, _ = _start_holder(path)
    holder.kill()
    holder.join(20)
    with Journal(path):
        pass


def test_a_journal_written_by_smmsheet_0_1_still_opens_and_reads(tmp_path):
    """tests/data/journal_v1.sqlite was written by 0.1 (see make_journal_v1_fixture.py)."""
    path = tmp_path / "orders.xlsx.smmsheet-journal.sqlite"
    shutil.copyfile(DATA / "journal_v1.sqlite", path)
    with Journal(path) as j:
        entries = j.entries()
        assert [(e.action, e.state, e.synced) for e in entries] == [
            ("add", "accepted", 1),
            ("add", "accepted", 0),
            ("add", "ambiguous", 0),
            ("add", "sent", 0),
            ("add", "ambiguous", 0),
            ("add", "sent", 0),
            ("add", "rejected", 2),
            ("refill", "accepted", 1),
            ("cancel", "rejected", 1),
        ]
        assert [e.resolution for e in entries[4:6]] == [Resolution.TYPED, Resolution.PLACE_AGAIN]
        assert all(type(e.state) is State and type(e.synced) is Synced for e in entries)
        assert all(e.cost is None and e.currency is None for e in entries)  # none were kept
        assert {type(e.action) for e in entries} == {Action}
        assert [e.result_id for e in j.accepted_adds("Orders")] == ["1001", "ORD-1002", "1006"]
        assert [e.row for e in j.unresolved_adds("Orders")] == [4, 5]
        assert [e.id for e in j.unsynced("Orders")] == [2, 3, 4, 5, 6]
        assert entries[7].target == "1001" and entries[7].result_id == "501"
        assert j.has_run(1) and not j.has_run(2)
        # and it takes new entries in the same words
        j.outcome(4, "accepted", "1005")
        assert j.entries()[3].state == "accepted"


def test_the_words_are_stored_as_0_1_stored_them(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        eid = j.intent(sheet="Orders", row=2, fingerprint="f", action=Action.ADD, request={})
        j.outcome(eid, State.AMBIGUOUS, "no answer")
        j.resolve(eid, Resolution.TYPED, "1001")
        j.mark_synced([eid], Synced.ROW_GONE)
    db = sqlite3.connect(path)
    try:
        stored = db.execute("SELECT action, state, resolution, synced, typeof(synced) FROM entries")
        assert stored.fetchall() == [("add", "ambiguous", "id typed by the user", 2, "integer")]
    finally:
        db.close()


def test_a_word_this_version_does_not_know_is_a_journal_error_not_a_crash(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.intent(sheet="Orders", row=2, fingerprint="f", action=Action.ADD, request={})
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE entries SET state = 'pending-review'")
    db.close()
    with Journal(path) as j, pytest.raises(JournalError, match="newer version"):
        j.entries()


def test_a_write_racing_close_lands_or_fails_as_a_journal_error(tmp_path: Path) -> None:
    """A worker a Ctrl-C left running may still write while the run closes the journal:
    the write finishes first or fails cleanly (closing the connection under it crashed the
    process with a segmentation fault)."""
    import threading

    for attempt in range(30):
        journal = Journal(tmp_path / f"j{attempt}.sqlite")
        outcomes: list[object] = []
        started = threading.Event()

        def write(
            journal: Journal = journal,
            outcomes: list[object] = outcomes,
            started: threading.Event = started,
        ) -> None:
            started.set()
            try:
                while True:
                    journal.intent(sheet="S", row=1, fingerprint="f", action="add", request={})
            except JournalError as exc:
                outcomes.append(exc)

        worker = threading.Thread(target=write)
        worker.start()
        started.wait()
        journal.close()
        worker.join(timeout=10)
        assert not worker.is_alive()
        [error] = outcomes
        assert "cannot write the journal" in str(error)


def test_the_day_after_a_daylight_saving_change_starts_at_its_own_midnight(tmp_path, monkeypatch):
    # The day the clocks go forward is 23 hours long: the next day's first hour was counted
    # as part of it, and its orders refused as over the day's cap.
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    try:
        short = dt.datetime(2026, 3, 29).timestamp()  # 23 hours to the next midnight
        following = dt.datetime(2026, 3, 30).timestamp()
        assert following - short == 23 * 3600
        with Journal(tmp_path / "j.sqlite") as journal:
            assert journal.day_start(short, short + 12 * 3600) == short
            assert journal.day_start(following, following + 1800) == following
    finally:
        monkeypatch.undo()
        time.tzset()
