"""Write-ahead journal of every paid request (SQLite), so no accepted order is ever lost.

Each paid request is recorded *before* it is sent (state ``sent``) and its outcome right
after (``accepted`` with the panel's id, ``rejected`` with its message, or ``ambiguous``).
Only once the outcome is in the workbook on disk is the entry marked ``synced``. A run that
dies anywhere in between leaves unsynced entries that the next run writes back first.

The journal belongs to the workbook *file*, not to the name it was opened by: it lives beside
the file that symbolic links, ``..`` and the like resolve to (``orders.xlsx`` ->
``orders.xlsx.smmsheet-journal.sqlite``), or, for workbooks without a local path, in the user
data directory (:func:`journal_location`). A lock file next to it keeps two runs off one
workbook. A file with a second name (a hard link) is refused: saving replaces the file, which
would split the names into two workbooks with two journals (:func:`journal_for_run`).

Every journal has an identity (a random id made when it is created), and every run that may
send a paid request is numbered in it *before* the first request. The workbook carries the
last such ``(identity, run)`` as its marker (:func:`marker_text`), saved before the request is
sent; a marker the journal does not know means the journal was deleted, replaced or rolled
back to an older copy, and the engine stops before placing anything. A damaged journal (cut
short, overwritten) fails SQLite's quick check on open and stops every run.

An ``add`` also keeps its estimated cost and the panel's currency (``cost``, ``currency``):
what :meth:`Journal.spent_since` adds up for ``Max spend per day``. Journals made before
costs were kept get the columns on open; their adds have no cost.

Every entry names the panel it was sent to (``panel``: the profile name a row's ``Panel``
column chose; empty for the workbook's default panel). Journals made before panels were
recorded get the column on open, and their entries belong to the default panel.

An ``add`` whose answer was lost (``sent`` or ``ambiguous``) stays *unresolved* until the user
says what happened: the order id typed into the row, or "place again"
(:meth:`Journal.resolve`). Until then the engine never places that row again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, NotRequired, TypedDict, TypeVar, Unpack

from .errors import JournalError, WorkbookBusyError, WorkbookError

__all__ = [
    "OUTCOMES",
    "UNKNOWN_OUTCOME",
    "Action",
    "Entry",
    "Intent",
    "Journal",
    "Resolution",
    "State",
    "Synced",
    "journal_for_run",
    "journal_location",
    "journal_path",
    "journal_with_identity",
    "placed_elsewhere",
    "marker_text",
    "parse_marker",
]

JOURNAL_SUFFIX = ".smmsheet-journal.sqlite"
#: What the workbook's marker starts with; the version lets a later format be told apart.
MARKER_PREFIX = "smmsheet-journal v1"


class Action(StrEnum):
    """The paid requests the journal records (the panel's action names)."""

    ADD = "add"
    REFILL = "refill"
    CANCEL = "cancel"


class State(StrEnum):
    """Where a journaled request stands; stored as this text in the ``state`` column."""

    #: Recorded before sending; no answer recorded (yet, or ever: the run died).
    SENT = "sent"
    #: The panel took it; ``result`` is the id it gave.
    ACCEPTED = "accepted"
    #: The panel refused it (or it was never sent); ``result`` is the message.
    REJECTED = "rejected"
    #: The answer was lost: it may have been done.
    AMBIGUOUS = "ambiguous"


#: The states an outcome records, after the request.
OUTCOMES = frozenset({State.ACCEPTED, State.REJECTED, State.AMBIGUOUS})
#: Requests that may have been done without smmsheet knowing: an add in one of these stays
#: unresolved until the user settles it.
UNKNOWN_OUTCOME = frozenset({State.SENT, State.AMBIGUOUS})


class Synced(IntEnum):
    """Whether an entry's outcome reached the workbook; stored as this number in ``synced``."""

    #: Not in the workbook on disk yet: the next run writes it back first.
    PENDING = 0
    #: In the workbook on disk.
    IN_SHEET = 1
    #: Its row is no longer in the sheet: reported to the user instead.
    ROW_GONE = 2


class Resolution(StrEnum):
    """How the user settled an add whose outcome was unknown; stored in ``resolution``."""

    #: The order id the user typed into the row (or its Error cell).
    TYPED = "id typed by the user"
    #: The user asked to place it again (an unresolved, or restored accepted, add).
    PLACE_AGAIN = "place again"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sheet       TEXT NOT NULL,
    row         INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    action      TEXT NOT NULL,           -- add | refill | cancel
    target      INTEGER,                 -- order id a refill/cancel is about (text ids kept)
    request     TEXT NOT NULL,           -- JSON of the parameters (never the key)
    state       TEXT NOT NULL,           -- sent | accepted | rejected | ambiguous
    result      TEXT,                    -- the new id, or the panel's message
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    synced      INTEGER NOT NULL DEFAULT 0   -- 1: in the workbook; 2: row not found, reported
);
CREATE INDEX IF NOT EXISTS entries_unsynced ON entries (synced) WHERE synced = 0;
CREATE INDEX IF NOT EXISTS entries_row ON entries (sheet, row, fingerprint);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL);
"""
#: :data:`UNKNOWN_OUTCOME` in a fixed order, for SQL parameters.
_UNKNOWN = (State.SENT, State.AMBIGUOUS)
#: Added after the first release: journals made before get the column on open.
_RESOLUTION_COLUMN = "ALTER TABLE entries ADD COLUMN resolution TEXT"
#: Added with many panels per workbook: older entries read as the default panel ('').
_PANEL_COLUMN = "ALTER TABLE entries ADD COLUMN panel TEXT NOT NULL DEFAULT ''"
#: Added with Max spend per day: an add's estimated cost (a decimal as text) and currency.
_COST_COLUMNS = (
    "ALTER TABLE entries ADD COLUMN cost TEXT",
    "ALTER TABLE entries ADD COLUMN currency TEXT",
)


def journal_path(workbook: str | Path) -> Path:
    """The journal file that belongs to a workbook file, whatever name it was reached by.

    Symbolic links and ``..`` are resolved, so ``book.xlsx`` and a link to it share one
    journal and one lock. (On a case-insensitive disk ``Book.xlsx`` and ``book.xlsx`` give
    journal names that differ only in case, so they are the same file there too; a mapped
    drive and its UNC path reach the same folder, so the same journal.)
    """
    path = Path(os.path.realpath(workbook))
    return path.with_name(path.name + JOURNAL_SUFFIX)


def journal_for_run(workbook: str | Path) -> Path:
    """:func:`journal_path`, after refusing a workbook file that has a second name.

    A hard link is a second name for the same file, and it would get a journal of its own.
    Saving replaces the file, so the first save splits the names into two workbooks; the
    other name would then look like a workbook that was never run. Refused before anything
    is sent, with the way out.
    """
    try:
        links = os.stat(workbook).st_nlink
    except OSError:
        links = 1  # a missing file is reported by the workbook adapter
    if links > 1:
        raise WorkbookError(
            f"{Path(workbook).name} has {links} names (hard links): smmsheet would keep a "
            "journal per name and could place its orders twice. Make a copy and use that "
            "(or delete the other names) first"
        )
    return journal_path(workbook)


def journal_location(fullname: str, data_dir: str | Path | None = None) -> Path:
    """Where the journal of an open workbook lives: beside its file, or in the user data folder.

    Unsaved books (``Book1``) and cloud documents (``https://...``) have no folder of their
    own; their journal goes to ``user_data_dir/journals``, named by a hash of the full name.

    >>> journal_location("/data/orders.xlsx")  # doctest: +SKIP
    PosixPath('/data/orders.xlsx.smmsheet-journal.sqlite')
    """
    if "://" not in fullname and os.path.isabs(fullname) and Path(fullname).is_file():
        return journal_for_run(fullname)
    if data_dir is None:
        from platformdirs import user_data_dir

        data_dir = user_data_dir("smmsheet", appauthor=False)
    folder = Path(data_dir) / "journals"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(fullname.encode("utf-8")).hexdigest()[:16]
    base = re.sub(r"[^\w.-]+", "_", fullname.replace("\\", "/").rsplit("/", 1)[-1])[:60]
    return folder / f"{digest}-{base}{JOURNAL_SUFFIX}"


_T = TypeVar("_T")

#: How many journals beside a workbook :func:`journal_with_identity` and
#: :func:`placed_elsewhere` read at most.
MAX_JOURNALS_SEARCHED = 200


def journal_with_identity(identity: str, beside: Path) -> Path | None:
    """Another journal in ``beside``'s folder with ``identity``: a workbook renamed or copied
    away from its journal finds it by the identity its marker names. None when there is none.

    Read-only: a journal a run holds, or a file that is no journal, is passed over.
    """

    def identity_of(db: sqlite3.Connection) -> object:
        row = db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        return None if row is None else row[0]

    for candidate, found in _other_journals(beside, identity_of):
        if found == identity:
            return candidate
    return None


def placed_elsewhere(
    beside: Path,
    sheet: str,
    rows: Callable[[], Mapping[int, str]],
    patience: Callable[[Path], float] | None = None,
) -> tuple[Path, list[int] | None] | None:
    """The other journal in ``beside``'s folder that placed most of the rows ``rows()``
    names (sheet row -> its fingerprint), each from ``sheet`` at that same row with that
    same content, and those rows; None when no other journal placed any of them.
    ``rows`` is called once, and only when there is another journal to read.

    A workbook copied before its first run has no marker and a journal of its own that knows
    nothing: only the journal of the workbook it was copied from can tell its rows were bought.
    A journal another run holds is waited for ``patience(journal)`` seconds (none by
    default); one still held then, when no journal placed the rows, is returned with None
    for its rows: whether it placed them cannot be told.
    """
    known: list[Mapping[int, str]] = []

    def placed(db: sqlite3.Connection) -> list[int]:
        if not known:
            known.append(rows())
        prints = known[0]
        entries = db.execute(
            "SELECT row, fingerprint FROM entries WHERE action = ? AND sheet = ? "
            "AND ((state = ? AND resolution IS NULL) OR resolution = ?)",
            (Action.ADD, sheet, State.ACCEPTED, Resolution.TYPED),
        )
        return sorted({row for row, fingerprint in entries if prints.get(row) == fingerprint})

    best: tuple[Path, list[int]] | None = None
    held: Path | None = None
    for candidate, matched in _other_journals(beside, placed, patience):
        if matched is _HELD:
            held = held or candidate
        elif matched and (best is None or len(matched) > len(best[1])):
            best = (candidate, matched)
    if best is None and held is not None:
        return held, None
    return best


#: What :func:`_other_journals` finds in a journal another run still holds.
_HELD: Any = object()


def _other_journals(
    beside: Path,
    read: Callable[[sqlite3.Connection], _T],
    patience: Callable[[Path], float] | None = None,
) -> Iterator[tuple[Path, _T]]:
    """What ``read`` finds in each other journal of ``beside``'s folder (at most
    MAX_JOURNALS_SEARCHED), each opened read-only; a file that is no journal (or lacks what
    ``read`` asks of it) is passed over. One a run holds is waited for ``patience(it)``
    seconds, then passed over, or given as ``_HELD`` when there was patience for it."""
    found = sorted(beside.parent.glob(f"*{JOURNAL_SUFFIX}"))[:MAX_JOURNALS_SEARCHED]
    for candidate in found:
        if candidate == beside:
            continue
        wait = 0.0 if patience is None else patience(candidate)
        deadline = time.monotonic() + wait
        while True:
            try:
                db = sqlite3.connect(f"{candidate.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
                try:
                    result = read(db)
                finally:
                    db.close()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    break
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if wait > 0:
                    yield candidate, _HELD
                break
            except sqlite3.Error:
                break
            yield candidate, result
            break


def _copy_in_memory(path: Path) -> sqlite3.Connection:
    """An in-memory database holding what the journal at ``path`` holds (empty if none).

    The file is opened read-only (no lock file, no rollback journal created); a journal a
    run holds in exclusive mode cannot be read and is reported busy like any locked one.
    """
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    if path.exists():
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
        try:
            # Take the read lock first: it fails at once on a journal a run holds, where
            # backup() would wait for it without end.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(copy)
        finally:
            source.close()
    return copy


def marker_text(identity: str, run: int) -> str:
    """The marker a workbook carries: which journal, and its last run that may have paid.

    >>> marker_text("5f0c", 12)
    'smmsheet-journal v1 5f0c run 12'
    """
    return f"{MARKER_PREFIX} {identity} run {run}"


def parse_marker(text: str | None) -> tuple[str, int] | None:
    """``(identity, run)`` from a workbook's marker; None when there is none (or not ours)."""
    match = re.fullmatch(
        rf"{MARKER_PREFIX} ([0-9a-f]{{8,64}}) run (\d{{1,18}})", (text or "").strip()
    )
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Entry:
    """One journaled paid request."""

    id: int
    sheet: str
    row: int
    fingerprint: str
    action: Action
    target: str | None
    request: dict[str, str]
    state: State
    result: str | None
    created: float
    synced: Synced
    #: How the user settled an add whose outcome was unknown (None: not settled).
    resolution: Resolution | None = None
    #: The profile the request went to ('' : the workbook's default panel).
    panel: str = ""
    #: An add's estimated cost, in ``currency`` (the panel's); None: not estimated (no
    #: listed price, or journaled before costs were kept).
    cost: Decimal | None = None
    currency: str | None = None

    @property
    def result_id(self) -> str | None:
        """The id the panel returned (order or refill), as text, when accepted."""
        if self.result and (self.state == State.ACCEPTED or self.resolution == Resolution.TYPED):
            return self.result
        return None


class Intent(TypedDict):
    """A paid request about to be sent, as :meth:`Journal.intent` records it. ``panel`` is
    the profile it goes to ('' for the workbook's default panel)."""

    sheet: str
    row: int
    fingerprint: str
    action: Action
    request: dict[str, str]
    target: NotRequired[str | None]
    panel: NotRequired[str]
    cost: NotRequired[Decimal | None]
    currency: NotRequired[str | None]


class Journal:
    """The journal of one workbook; holds the workbook's run lock while open.

    ``read_only`` (a dry run) works on a copy in memory of the journal on disk, or on an
    empty one when there is none: no file is created beside the workbook, no lock taken,
    and nothing it records reaches the disk.
    """

    def __init__(self, path: str | Path, *, lock: bool = True, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = None
        lock = lock and not read_only
        if lock:
            from filelock import FileLock, Timeout

            self._lock = FileLock(str(self.path) + ".lock", timeout=0)
            try:
                self._lock.acquire()
            except Timeout:
                raise WorkbookBusyError(
                    f"another smmsheet run is working on this workbook ({self.path.name}.lock); "
                    "wait for it to finish"
                ) from None
            except OSError as exc:
                raise JournalError(f"cannot create the journal lock {self.path}: {exc}") from None
        try:
            # No waiting for the lock: a busy workbook is refused at once, as the lock file is.
            if read_only:
                self._db = _copy_in_memory(self.path)
            else:
                self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=0)
            if lock:
                # The lock file above gives the friendly message; this is the lock that
                # holds. A user may delete a stray ".lock" file while a run works (it looks
                # like junk), but nobody else can open a database another connection holds
                # in exclusive mode: a second run is refused instead of buying again.
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
                self._db.execute("BEGIN EXCLUSIVE")
                self._db.execute("COMMIT")
            self._db.execute("PRAGMA busy_timeout=30000")
            # A rollback journal, not WAL: every committed entry is in the main file, so
            # deleting stray "-wal"/"-shm"/"-journal" files after a crash loses nothing
            # committed (with WAL, a checkpoint mid-run leaves the run's tail in the -wal).
            # ~1 ms per add here, far below a panel's answer time.
            self._db.execute("PRAGMA journal_mode=TRUNCATE")
            self._db.execute("PRAGMA synchronous=FULL")
            damage = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if damage != "ok":
                raise sqlite3.DatabaseError(f"damaged ({damage})")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(entries)")}
            if "resolution" not in columns:
                self._db.execute(_RESOLUTION_COLUMN)
            if "panel" not in columns:
                self._db.execute(_PANEL_COLUMN)
            if "cost" not in columns:
                for column in _COST_COLUMNS:
                    self._db.execute(column)
            self.identity = self._identity()
        except sqlite3.Error as exc:
            self._release()
            if "locked" in str(exc):
                raise WorkbookBusyError(
                    f"another smmsheet run is working on this workbook (its journal "
                    f"{self.path.name} is locked); wait for it to finish"
                ) from None
            raise JournalError(
                f"cannot open the journal {self.path}: {exc}. Restore it from a backup; if "
                "there is none, move it aside, check the panel's orders, and run with "
                "--new-journal"
            ) from None
        self._mutex = threading.Lock()

    def _identity(self) -> str:
        """This journal's id, made once when the journal is created."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('identity', ?)",
                (uuid.uuid4().hex,),
            )
        row = self._db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        return str(row[0])

    def begin_run(self) -> int:
        """Number a run that is about to send paid requests (durable before it returns)."""
        return self._write("INSERT INTO runs (started) VALUES (?)", (time.time(),))

    def mark_replacing(self) -> None:
        """Record that this journal was started in place of a lost one, and when: what the
        lost one's adds of that day cost is not known (:meth:`replaced_since`)."""
        self._set_moment("replaced", time.time())

    def replaced_since(self, moment: float) -> bool:
        """Whether this journal replaced a lost one at or after ``moment`` (seconds)."""
        replaced = self._moment("replaced")
        return replaced is not None and replaced >= moment

    def day_start(self, midnight: float, now: float) -> float:
        """When the day ``Max spend per day`` counts began, kept for the next run:
        ``midnight`` (this run's local one), or an earlier one a run counted from whose 24
        hours are not over at ``now``. A run under another time zone (TZ, a laptop that
        travelled) then goes on with the day under way instead of starting one afresh; a
        start that is a midnight here too was this zone's day before (23 hours long when the
        clocks went forward)."""
        start = self._moment("day")
        if (
            start is None
            or not start < midnight <= now < start + 86400
            or time.localtime(start)[3:6] == (0, 0, 0)
        ):
            start = midnight
        self._set_moment("day", start)
        return start

    def _set_moment(self, key: str, moment: float) -> None:
        """Keep a time (seconds since the epoch) in the meta table (:meth:`_moment`)."""
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(moment)))

    def _moment(self, key: str) -> float | None:
        """A time (seconds since the epoch) kept in the meta table; None when there is none."""
        try:
            with self._mutex:
                row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from None
        return None if row is None else float(row[0])

    def has_run(self, run: int) -> bool:
        """Whether this journal numbered ``run``: a workbook marker it does not know is a loss."""
        try:
            with self._mutex:
                found = self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run,)).fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from None
        return found is not None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the run lock.

        Under the write mutex: a worker thread still writing (one a Ctrl-C left running)
        finishes its write first, and a write after this fails as a JournalError, never
        on a connection closed under it (which crashed the process).
        """
        try:
            with self._mutex:
                self._db.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        try:
            with self._mutex, self._db:
                cursor = self._db.execute(sql, args)
                return int(cursor.lastrowid or 0)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from None

    def intent(self, **fields: Unpack[Intent]) -> int:
        """Record a paid request about to be sent (:class:`Intent`); returns the entry id.
        Call BEFORE sending."""
        return self._write(*_intent_sql(fields))

    def outcome(self, entry_id: int, state: State, result: str | int | None) -> None:
        """Record what the panel answered (accepted id, rejected message, or ambiguous)."""
        self._write(*_outcome_sql(entry_id, state, result))

    def outcome_then_intent(
        self,
        entry_id: int,
        state: State,
        result: str | int | None,
        **intent: Unpack[Intent],
    ) -> int:
        """:meth:`outcome` of one request and :meth:`intent` of the next, in one transaction.

        Both are durable at once, when the answer has come and before the next request is
        sent: what the two calls promise, for one wait on the disk instead of two (placing
        10,000 orders waited 20,000 times). If it fails, neither is recorded.
        """
        update, insert = _outcome_sql(entry_id, state, result), _intent_sql(intent)
        try:
            with self._mutex, self._db:
                self._db.execute(*update)
                return int(self._db.execute(*insert).lastrowid or 0)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from None

    def resolve(self, entry_id: int, resolution: Resolution, result: str | None = None) -> None:
        """Record how the user settled an add: the id they typed, or "place again"."""
        if result is None:
            self._write("UPDATE entries SET resolution=? WHERE id=?", (resolution, entry_id))
        else:
            self._write(
                "UPDATE entries SET resolution=?, result=? WHERE id=?",
                (resolution, result, entry_id),
            )

    def mark_synced(self, entry_ids: list[int], value: Synced = Synced.IN_SHEET) -> None:
        """The outcomes of these entries are now in the workbook on disk (or reported)."""
        if not entry_ids:
            return
        try:
            with self._mutex, self._db:
                self._db.executemany(
                    "UPDATE entries SET synced=? WHERE id=?", [(value, i) for i in entry_ids]
                )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from None

    def _select(self, where: str, args: tuple[object, ...] = ()) -> Iterator[Entry]:
        try:
            with self._mutex:
                rows = self._db.execute(
                    "SELECT id,sheet,row,fingerprint,action,target,request,state,result,created,"
                    f"synced,resolution,panel,cost,currency FROM entries WHERE {where} ORDER BY id",
                    args,
                ).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from None
        for r in rows:
            yield self._entry(r)

    def _entry(self, r: tuple[Any, ...]) -> Entry:
        """An entry from its row; the stored words are read back as the enums they came from."""
        target = None if r[5] is None else str(r[5])  # INTEGER affinity: "123" reads as 123
        try:
            action, state, synced = Action(r[4]), State(r[7]), Synced(r[10])
            resolution = None if r[11] is None else Resolution(r[11])
        except ValueError as exc:
            raise JournalError(
                f"the journal {self.path} holds an entry (#{r[0]}) this smmsheet cannot read "
                f"({exc}); was it written by a newer version?"
            ) from None
        request = json.loads(r[6])
        return Entry(
            r[0],
            r[1],
            r[2],
            r[3],
            action,
            target,
            request,
            state,
            r[8],
            r[9],
            synced,
            resolution,
            r[12] or "",
            None if r[13] is None else Decimal(r[13]),
            r[14],
        )

    def sheets(self) -> list[str]:
        """The names of the sheets the journal has entries for, as the workbook spelt them."""
        try:
            with self._mutex:
                found = self._db.execute("SELECT DISTINCT sheet FROM entries").fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from None
        return [name for (name,) in found]

    def unsynced(self, sheet: str | Sequence[str] | None = None) -> list[Entry]:
        """Entries whose outcome has not reached the workbook yet (a previous run died)."""
        pending = f"synced = {int(Synced.PENDING)}"  # a literal: the partial index needs one
        if sheet is None:
            return list(self._select(pending))
        names = _names(sheet)
        return list(self._select(f"{pending} AND sheet IN ({_marks(names)})", names))

    def accepted_adds(self, sheet: str | Sequence[str]) -> list[Entry]:
        """Adds of a sheet (or of any of several) that have an order id (accepted, or typed in
        by the user) and were not released by "place again": ids a row may get back."""
        names = _names(sheet)
        return list(
            self._select(
                f"action = ? AND sheet IN ({_marks(names)}) AND ((state = ? AND resolution IS "
                "NULL) OR (state IN (?, ?) AND resolution = ?))",
                (Action.ADD, *names, State.ACCEPTED, *_UNKNOWN, Resolution.TYPED),
            )
        )

    def unresolved_adds(self, sheet: str | Sequence[str]) -> list[Entry]:
        """Adds of a sheet (or of any of several) that may have been placed and that the user
        has not settled yet."""
        names = _names(sheet)
        return list(
            self._select(
                f"action = ? AND state IN (?, ?) AND sheet IN ({_marks(names)}) "
                "AND resolution IS NULL",
                (Action.ADD, *_UNKNOWN, *names),
            )
        )

    def spent_since(self, moment: float) -> list[Entry]:
        """Adds sent at or after ``moment`` (seconds since the epoch) that may have cost
        money: accepted, or with an unknown outcome the user did not settle as "place
        again" (the panel does not show it). Refused and never-sent adds cost nothing."""
        return list(
            self._select(
                "action = ? AND created >= ? AND (state = ? OR (state IN (?, ?) "
                "AND (resolution IS NULL OR resolution != ?)))",
                (Action.ADD, moment, State.ACCEPTED, *_UNKNOWN, Resolution.PLACE_AGAIN),
            )
        )

    def entries(self) -> list[Entry]:
        """Every entry, oldest first (for `smmsheet journal` and tests)."""
        return list(self._select("1 = 1"))


def _names(sheet: str | Sequence[str]) -> tuple[str, ...]:
    """One sheet name, or several, as query arguments."""
    return (sheet,) if isinstance(sheet, str) else tuple(sheet)


def _marks(names: Sequence[str]) -> str:
    """The placeholders of an ``IN (...)`` for ``names``."""
    return ",".join("?" * len(names))


def _intent_sql(fields: Intent) -> tuple[str, tuple[object, ...]]:
    now = time.time()
    return (
        "INSERT INTO entries (sheet,row,fingerprint,action,target,request,state,created,"
        "updated,panel,cost,currency) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            fields["sheet"],
            fields["row"],
            fields["fingerprint"],
            Action(fields["action"]),
            fields.get("target"),
            json.dumps(fields["request"]),
            State.SENT,
            now,
            now,
            fields.get("panel", ""),
            None if (cost := fields.get("cost")) is None else str(cost),
            fields.get("currency"),
        ),
    )


def _outcome_sql(
    entry_id: int, state: State, result: str | int | None
) -> tuple[str, tuple[object, ...]]:
    if state not in OUTCOMES:
        raise ValueError(state)
    return (
        "UPDATE entries SET state=?, result=?, updated=? WHERE id=?",
        (state, None if result is None else str(result), time.time(), entry_id),
    )
