"""Many workbooks at once: each with its own journal and lock, one client per panel.

``smmsheet run clients/*.xlsx`` and ``smmsheet watch`` go through :func:`run_books`. Each
workbook runs in its own :class:`~smmsheet.session.Session` (its Settings sheet, its journal
and run lock), a bounded number at a time; workbooks that resolve to the same panel share
one :class:`~smmsheet.panel.PanelClient` (:class:`PanelPool`), so one connection pool and
one rate limit, whatever the number of workbooks. A workbook open in Excel or LibreOffice,
or held by another smmsheet run, is skipped at once and said so: never waited for.

Example::

    from smmsheet.fleet import PanelPool, book_paths, run_books

    with PanelPool() as pool:
        for done in run_books(book_paths(["clients"]), "status", pool=pool):
            print(done.path, done.state, done.report and done.report.counts())
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path

from .batch import Command, Report, RunOptions
from .config import PanelSettings
from .errors import (
    ConfigError,
    JournalMismatchError,
    SmmsheetError,
    WorkbookBusyError,
    WorkbookError,
)
from .panel import PanelClient
from .session import Session
from .workbook.xlsx.adapter import SUPPORTED_SUFFIXES, excel_lock_file

__all__ = [
    "DEFAULT_JOBS",
    "BookRun",
    "BookState",
    "PanelPool",
    "book_paths",
    "capless",
    "open_elsewhere",
    "run_books",
    "watch",
]

#: Workbooks run at once. Their panel requests share each panel's client anyway (its
#: ``max_workers`` bound and rate limit); more workbooks at once mostly overlap the reading
#: and saving of files with other workbooks' requests.
DEFAULT_JOBS = 4


class BookState(StrEnum):
    """How one workbook's run ended."""

    #: Ran; every row went through.
    OK = "ok"
    #: Ran; some rows failed or need a look (or the panel failed).
    FAILED = "failed"
    #: Not run: open in Excel or LibreOffice, or another smmsheet run holds it.
    SKIPPED = "skipped"
    #: Not run (or stopped): its file, settings or journal are wrong.
    ERROR = "error"


@dataclasses.dataclass
class BookRun:
    """One workbook's run: its report, or why it was skipped or stopped."""

    path: Path
    state: BookState
    report: Report | None = None
    #: Why it was skipped or stopped, in one line.
    reason: str = ""
    #: The engine's messages (journal notes, a panel that failed for a step).
    messages: list[str] = dataclasses.field(default_factory=list)
    #: The error that stopped it (None when it ran or was skipped).
    error: SmmsheetError | None = None


class PanelPool:
    """One :class:`PanelClient` per panel (URL, key and client options): shared by every
    workbook that resolves to it, so they share its connections and its rate limit."""

    def __init__(self, make: Callable[[PanelSettings], PanelClient] | None = None) -> None:
        self._make = make or PanelSettings.client
        self._clients: dict[PanelSettings, PanelClient] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PanelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def clients(self) -> list[PanelClient]:
        """The clients made so far (one per panel)."""
        return list(self._clients.values())

    def client_for(self, settings: PanelSettings) -> PanelClient:
        """The shared client of ``settings``' panel, made the first time it is asked for."""
        with self._lock:
            client = self._clients.get(settings)
            if client is None:
                client = self._clients[settings] = self._make(settings)
            return client

    def close(self) -> None:
        """Close every client made."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def book_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The workbooks named: files as given, a folder's .xlsx/.xlsm files (not its
    subfolders), each file once whatever name reached it. Lock and temporary files (Excel's
    ``~$`` owner files, ``.~lock.`` and ``.~smmsheet-`` ones), which a ``*.xlsx`` glob also
    matches, are left out: the workbook they belong to is what is run (or skipped). So are
    macOS's ``._`` metadata files, which a folder copied from a Mac holds beside each file.

    Raises :class:`ConfigError` for a path that does not exist or a folder with none.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not _lock_file(p)
            )
            if not inside:
                raise ConfigError(f"{path} holds no .xlsx or .xlsm workbook")
        elif path.exists():
            inside = [] if _lock_file(path) else [path]
        else:
            raise ConfigError(f"no such workbook or folder: {path}")
        for book in inside:
            key = os.path.normcase(os.path.realpath(book))
            if key not in seen:
                seen.add(key)
                found.append(book)
    return found


def _lock_file(path: Path) -> bool:
    return path.name.startswith(("~$", ".~", "._"))


def open_elsewhere(path: Path) -> str | None:
    """Why ``path`` is not to be run now: Excel's or LibreOffice's lock file beside it."""
    lock = excel_lock_file(path)
    if lock is None:
        return None
    program = "Excel" if lock.name.startswith("~$") else "LibreOffice"
    return f"open in {program} ({lock.name}): close it, it runs next time"


def run_books(
    paths: Sequence[Path],
    command: Command | str,
    *,
    pool: PanelPool,
    options: Callable[[Path], RunOptions] = lambda _: RunOptions(),
    jobs: int = DEFAULT_JOBS,
    panel_url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    secrets: set[str] | None = None,
) -> Iterator[BookRun]:
    """Run ``command`` over each workbook, ``jobs`` at a time; yields them in the order given.

    ``options(path)`` gives each workbook's :class:`RunOptions` (its callbacks say how to
    confirm); the panel flags apply to every workbook, over its own Settings sheet. The
    keys used are added to ``secrets`` (for the shells to hide). An error that stops a
    workbook stops only that one; ``KeyboardInterrupt`` stops them all.
    """

    def one(path: Path) -> BookRun:
        why = open_elsewhere(path)
        if why is not None:
            return BookRun(path, BookState.SKIPPED, reason=why)
        session: Session | None = None
        try:
            session = Session(
                path,
                panel_url=panel_url,
                api_key=api_key,
                profile=profile,
                client_for=pool.client_for,
            )
            if secrets is not None:
                secrets.update(session.secrets)
            with session:
                report = session.run(command, options(path))
        except WorkbookBusyError as exc:
            return BookRun(path, BookState.SKIPPED, reason=str(exc), messages=_said(session))
        except SmmsheetError as exc:
            state = BookState.ERROR if _stops_book(exc) else BookState.FAILED
            return BookRun(path, state, reason=str(exc), messages=_said(session), error=exc)
        state = BookState.FAILED if report.failed else BookState.OK
        return BookRun(path, state, report=report, messages=list(report.messages))

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="smmsheet-book") as ex:
        futures = [ex.submit(one, path) for path in paths]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def capless(paths: Sequence[Path]) -> list[Path]:
    """The workbooks whose Settings sheet sets neither ``Max spend`` nor ``Max spend per
    day`` (``watch`` refuses them).

    A workbook whose settings cannot be read counts as capless: nothing proves a cap.
    """
    from .config import settings_of
    from .workbook import open_workbook

    found = []
    for path in paths:
        try:
            book = open_workbook(str(path))
            try:
                settings = settings_of(book)
                cap = settings.max_spend
                if cap is None:
                    cap = settings.max_spend_per_day
            finally:
                book.close()
        except SmmsheetError:
            cap = None
        if cap is None:
            found.append(path)
    return found


def watch(
    run_once: Callable[[int], object],
    *,
    every: float,
    stop: threading.Event,
    times: int | None = None,
) -> int:
    """Call ``run_once(n)`` for runs 1, 2, ... every ``every`` seconds until ``stop`` is set
    (Ctrl-C) or ``times`` runs are done; a run under way always finishes. Returns the
    number of runs done.
    """
    done = 0
    while not stop.is_set():
        done += 1
        run_once(done)
        if times is not None and done >= times:
            break
        if stop.wait(every):
            break
    return done


def _said(session: Session | None) -> list[str]:
    return [] if session is None else list(session.report.messages)


def _stops_book(exc: SmmsheetError) -> bool:
    """Errors of the workbook itself (its file, settings, journal): exit code 2."""
    return isinstance(exc, ConfigError | WorkbookError | JournalMismatchError)
