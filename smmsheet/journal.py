"""Write-ahead journal of every paid request (SQLite), so no accepted order is ever lost.

Each paid request is recorded *before* it is sent (state ``sent``) and its outcome right
after (``accepted`` with the panel's id, ``rejected`` with its message, or ``ambiguous``).
Only once the outcome is in the workbook on disk is the entry marked ``synced``. A run that
dies anywhere in between leaves unsynced entries that the next run writes back first.

The journal lives beside the workbook (``orders.xlsx`` -> ``orders.xlsx.smmsheet-journal.sqlite``)
or, for workbooks without a local path, in the user data directory. A lock file next to it
keeps two runs off one workbook.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import JournalError, WorkbookBusyError

__all__ = ["Entry", "Journal", "journal_path"]

JOURNAL_SUFFIX = ".smmsheet-journal.sqlite"

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
"""


def journal_path(workbook: str | Path) -> Path:
    """The journal file that belongs to a workbook path."""
    path = Path(workbook)
    return path.with_name(path.name + JOURNAL_SUFFIX)


@dataclass(frozen=True)
class Entry:
    """One journaled paid request."""

    id: int
    sheet: str
    row: int
    fingerprint: str
    action: str
    target: str | None
    request: dict[str, str]
    state: str
    result: str | None
    created: float
    synced: int

    @property
    def result_id(self) -> str | None:
        """The id the panel returned (order or refill), as text, when accepted."""
        if self.state == "accepted" and self.result:
            return self.result
        return None


class Journal:
    """The journal of one workbook; holds the workbook's run lock while open."""

    def __init__(self, path: str | Path, *, lock: bool = True) -> None:
        self.path = Path(path)
        self._lock = None
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
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._release()
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        self._mutex = threading.Lock()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the run lock."""
        try:
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

    def intent(
        self,
        *,
        sheet: str,
        row: int,
        fingerprint: str,
        action: str,
        request: dict[str, str],
        target: str | None = None,
    ) -> int:
        """Record a paid request about to be sent; returns the entry id. Call BEFORE sending."""
        now = time.time()
        return self._write(
            "INSERT INTO entries (sheet,row,fingerprint,action,target,request,state,created,"
            "updated) VALUES (?,?,?,?,?,?, 'sent', ?, ?)",
            (sheet, row, fingerprint, action, target, json.dumps(request), now, now),
        )

    def outcome(self, entry_id: int, state: str, result: str | int | None) -> None:
        """Record what the panel answered (accepted id, rejected message, or ambiguous)."""
        if state not in {"accepted", "rejected", "ambiguous"}:
            raise ValueError(state)
        self._write(
            "UPDATE entries SET state=?, result=?, updated=? WHERE id=?",
            (state, None if result is None else str(result), time.time(), entry_id),
        )

    def mark_synced(self, entry_ids: list[int], value: int = 1) -> None:
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
        with self._mutex:
            rows = self._db.execute(
                "SELECT id,sheet,row,fingerprint,action,target,request,state,result,created,"
                f"synced FROM entries WHERE {where} ORDER BY id",
                args,
            ).fetchall()
        for r in rows:
            target = None if r[5] is None else str(r[5])  # INTEGER affinity: "123" reads as 123
            yield Entry(r[0], r[1], r[2], r[3], r[4], target, json.loads(r[6]), *r[7:])

    def unsynced(self, sheet: str | None = None) -> list[Entry]:
        """Entries whose outcome has not reached the workbook yet (a previous run died)."""
        if sheet is None:
            return list(self._select("synced = 0"))
        return list(self._select("synced = 0 AND sheet = ?", (sheet,)))

    def accepted_adds(self, sheet: str) -> dict[tuple[int, str], Entry]:
        """Accepted adds of a sheet by (row, fingerprint): guards against placing a row twice."""
        return {
            (e.row, e.fingerprint): e
            for e in self._select("action = 'add' AND state = 'accepted' AND sheet = ?", (sheet,))
        }

    def entries(self) -> list[Entry]:
        """Every entry, oldest first (for `smmsheet journal` and tests)."""
        return list(self._select("1 = 1"))
