"""A small per-user index of recent orders: what a formula's status request can carry along.

Excel calculates ``=SMM_STATUS(A2)`` filled down a column one cell after another on its own
thread, so a formula cannot wait for the other cells to ask. Instead, when a cell's id is
not in the formulas' cache, the request for it is filled up to 100 ids with the other open
orders (not known to be final) smmsheet knows of on the same panel, nearest ids first: the
rest of the column is then answered from the cache.

The index is fed by the ribbon (every order a run placed or refreshed, from the workbook's
journal) and by the formulas' own answers (which orders are final). It is one SQLite file
in the user data folder, shared by Excel's UDF process and the ribbon's processes; it holds
panel URLs (never a key) and order ids. Any problem with it (a locked or damaged file, a
full disk) only costs requests: a formula never fails because of the index.

Example::

    index = RecentOrders(default_path())
    index.remember("https://panel.example/api/v2", ["1001", "1002"])
    index.open_ids("https://panel.example/api/v2", near="1001", limit=99)   # ['1002']
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

__all__ = [
    "KEEP_CLOSED",
    "KEEP_OPEN",
    "MAX_ORDERS",
    "RecentOrders",
    "default_path",
    "panel_key",
]

log = logging.getLogger(__name__)

#: Orders kept in the index; the oldest go first.
MAX_ORDERS = 20_000
#: Seconds an open order stays in the index without being seen again (90 days).
KEEP_OPEN = 90 * 86400.0
#: Seconds a final order stays (a week): it is not fetched along, only remembered as final.
KEEP_CLOSED = 7 * 86400.0
FILE_NAME = "recent-orders.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recent (
    panel TEXT NOT NULL,
    id TEXT NOT NULL,
    open INTEGER NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (panel, id)
);
CREATE INDEX IF NOT EXISTS recent_open ON recent (panel, open, seen);
CREATE TABLE IF NOT EXISTS sources (source TEXT PRIMARY KEY, stamp TEXT NOT NULL);
"""


def default_path() -> Path:
    """The index file in the user data folder (where unsaved books' journals live too)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("smmsheet", appauthor=False)) / FILE_NAME


def panel_key(url: str) -> str:
    """How the index names a panel: its URL (never a key: URLs carrying one are refused)."""
    return url.rstrip("/")


def _number(oid: str) -> int | None:
    """The id as a number when it is one exactly (``"1001"``; not ``"0012"`` or ``"١٢"``)."""
    if oid.isascii() and oid.isdigit() and len(oid) < 19 and (oid == "0" or oid[0] != "0"):
        return int(oid)
    return None


class _Snapshot:
    """The open ids of one panel as last read: numeric ones sorted, others by recency."""

    def __init__(self, stamp: object, ids: Iterable[str]) -> None:
        self.stamp = stamp
        self.numbers: list[int] = []
        self.others: list[str] = []
        for oid in ids:
            number = _number(oid)
            if number is not None:
                self.numbers.append(number)
            else:
                self.others.append(oid)
        self.numbers.sort()

    def update(self, changes: Mapping[str, bool]) -> None:
        """Apply ``{id: open}`` as written to the file by this process."""
        closed = {oid for oid, is_open in changes.items() if not is_open}
        if closed:
            self.numbers = [n for n in self.numbers if str(n) not in closed]
            self.others = [o for o in self.others if o not in closed]
        known = set(self.numbers)
        for oid, is_open in changes.items():
            if not is_open:
                continue
            number = _number(oid)
            if number is not None:
                if number not in known:
                    bisect.insort(self.numbers, number)
            elif oid not in self.others:
                self.others.insert(0, oid)

    def nearest(self, near: str, limit: int, skip: Callable[[str], bool]) -> list[str]:
        """Up to ``limit`` ids, walking outwards from ``near`` (others after the numbers)."""
        found: list[str] = []
        numbers = self.numbers
        centre = _number(near)
        if centre is not None:
            below = bisect.bisect_left(numbers, centre) - 1
            above = below + 1
        else:
            below, above = len(numbers) - 1, len(numbers)  # no centre: the highest ids
        while len(found) < limit and (below >= 0 or above < len(numbers)):
            take_above = below < 0 or (
                above < len(numbers)
                and centre is not None
                and numbers[above] - centre <= centre - numbers[below]
            )
            if take_above:
                oid, above = str(numbers[above]), above + 1
            else:
                oid, below = str(numbers[below]), below - 1
            if oid != near and not skip(oid):
                found.append(oid)
        for oid in self.others:
            if len(found) >= limit:
                break
            if oid != near and not skip(oid):
                found.append(oid)
        return found


class RecentOrders:
    """The index file; every method is best effort and thread safe.

    Lookups read the file once and keep its open ids in memory (sorted, so the nearest
    are found by bisection) until another process changes the file.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: dict[str, _Snapshot] = {}
        self._cleaned = False

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0)
        db.execute("PRAGMA synchronous = OFF")  # an index may lose its last write, never a run
        db.executescript(_SCHEMA)
        return db

    def _stamp(self) -> object:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _write(self, panel: str, rows: Iterable[tuple[str, bool]], *, clean: bool) -> None:
        now = self._clock()
        values = [(panel, oid, int(is_open), now) for oid, is_open in rows]
        if not values:
            return
        try:
            with self._lock:
                db = self._connect()
                try:
                    with db:
                        # An order remembered again keeps what the panel said of it: a
                        # final one stays final (the journal does not know statuses).
                        keep = "" if clean else "open = excluded.open, "
                        db.executemany(
                            "INSERT INTO recent (panel, id, open, seen) VALUES (?, ?, ?, ?) "
                            f"ON CONFLICT (panel, id) DO UPDATE SET {keep}seen = excluded.seen",
                            values,
                        )
                        if clean or not self._cleaned:
                            self._clean(db, now)
                finally:
                    db.close()
                snapshot = self._snapshots.get(panel)
                if snapshot is not None and not clean:  # what this process just learnt
                    snapshot.update({oid: bool(is_open) for _, oid, is_open, _ in values})
                    snapshot.stamp = self._stamp()
                else:
                    self._snapshots.pop(panel, None)
        except (sqlite3.Error, OSError) as exc:
            log.warning("recent orders index %s not updated: %s", self.path, exc)

    def _clean(self, db: sqlite3.Connection, now: float) -> None:
        """Forget what is too old, and the oldest beyond :data:`MAX_ORDERS`."""
        db.execute(
            "DELETE FROM recent WHERE (open = 1 AND seen < ?) OR (open = 0 AND seen < ?)",
            (now - KEEP_OPEN, now - KEEP_CLOSED),
        )
        db.execute(
            "DELETE FROM recent WHERE rowid IN (SELECT rowid FROM recent "
            "ORDER BY seen DESC LIMIT -1 OFFSET ?)",
            (MAX_ORDERS,),
        )
        self._cleaned = True

    def remember(self, panel: str, ids: Iterable[str]) -> None:
        """Note ``ids`` as orders of ``panel``: new ones open, known ones as they were.

        Only ids as a panel gives them (:func:`~smmsheet.values.parse_id` keeps them as
        they are): a journal that came with someone's workbook may hold any text.
        """
        from .values import parse_id

        usable = (
            oid for oid in dict.fromkeys(ids) if isinstance(oid, str) and parse_id(oid) == oid
        )
        self._write(panel, ((oid, True) for oid in usable), clean=True)

    def remember_source(self, panel: str, source: Path, ids: Callable[[], Iterable[str]]) -> bool:
        """Remember the ids a file holds (a workbook's journal) unless it is unchanged since.

        Reading a journal of 100,000 orders takes about a second: a ribbon run that did
        not change it (a status refresh) does not pay that again. Returns whether it read.
        """
        try:
            stat = source.stat()
        except OSError:
            return False
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        name = f"{panel} {source.resolve()}"
        try:
            with self._lock:
                db = self._connect()
                try:
                    row = db.execute("SELECT stamp FROM sources WHERE source = ?", (name,))
                    if (row.fetchone() or [None])[0] == stamp:
                        return False
                finally:
                    db.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("recent orders index %s not read: %s", self.path, exc)
            return False
        self.remember(panel, ids())
        try:
            with self._lock:
                db = self._connect()
                try:
                    with db:
                        db.execute(
                            "INSERT INTO sources (source, stamp) VALUES (?, ?) "
                            "ON CONFLICT (source) DO UPDATE SET stamp = excluded.stamp",
                            (name, stamp),
                        )
                finally:
                    db.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("recent orders index %s not updated: %s", self.path, exc)
        return True

    def record(self, panel: str, finals: Mapping[str, bool]) -> None:
        """Note what the panel said: ``{id: final}``; a final order is not fetched along."""
        self._write(panel, ((oid, not final) for oid, final in finals.items()), clean=False)

    def _read(self, panel: str) -> _Snapshot | None:
        """The open ids of ``panel``, read again only when the file changed (lock held)."""
        stamp = self._stamp()
        if stamp is None:
            return None
        known = self._snapshots.get(panel)
        if known is not None and known.stamp == stamp:
            return known
        try:
            uri = self.path.resolve().as_uri() + "?mode=ro"  # quoted: "#" or "%" in a user name
            db = sqlite3.connect(uri, uri=True, timeout=2.0)
            try:
                rows = db.execute(
                    "SELECT id FROM recent WHERE panel = ? AND open = 1 AND seen >= ? "
                    "ORDER BY seen DESC LIMIT ?",
                    (panel, self._clock() - KEEP_OPEN, MAX_ORDERS),
                ).fetchall()
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("recent orders index %s not read: %s", self.path, exc)
            return None
        snapshot = self._snapshots[panel] = _Snapshot(stamp, (oid for (oid,) in rows))
        return snapshot

    def open_ids(
        self, panel: str, near: str, limit: int, skip: Callable[[str], bool] = lambda oid: False
    ) -> list[str]:
        """Up to ``limit`` open ids of ``panel`` other than ``near``, the nearest first."""
        if limit <= 0:
            return []
        with self._lock:
            snapshot = self._read(panel)
        return [] if snapshot is None else snapshot.nearest(near, limit, skip)
