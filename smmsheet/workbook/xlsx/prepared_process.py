"""A sheet's save begun early in a helper process: :mod:`.prepared`, off this interpreter.

:class:`~.prepared.PreparedSheet` patches and deflates the rows a refresh has written
while the panel is still answering, in the run's own process. There its Python holds the
interpreter the request threads need, and its deflate takes the core the replies need: a
100,000-row refresh at 50 ms got its last answer 1.2-1.7 s later than with no head start
at all (docs/benchmarks.md). :class:`PreparedElsewhere` runs the same PreparedSheet in a
second Python process at a lower priority, which takes the CPU only when the run and the
panel leave it idle: the last answer came 0.1-0.3 s later.

It is only ever a head start, as in process. This process sends the helper each row's
cells as they are buffered and each hint of the rows to patch; at the save the helper
finishes the part and hands back the patched part, the identity and a digest of the file
it patched, and the date styles it added. The save takes the part only if the file on
disk still holds exactly those bytes. Anything else (the helper cannot start, dies, finds
a row it cannot take, or has not answered in time) and the save patches the sheet itself,
as always. In time is :data:`FINISH_WAIT` plus :data:`FINISH_WAIT_PER_MB` a megabyte of the
sheet's XML: about twice what patching the whole sheet here takes. At its lower priority,
on a machine whose every core other programs keep busy, the helper gets a tenth of a core;
a save then loses at most that wait to it.

The helper runs this very copy of smmsheet (on this run's ``sys.path``), is given no
secret (no ``SMMSHEET_`` variable in its environment, and the run's key is never sent),
ends when this process closes its input, and is killed if the run stops first. POSIX
only: on Windows the head start stays in process. Imports :mod:`.prepared`,
:mod:`.sheet_patch`, :mod:`.sheet_stream`, :mod:`.styles` and :mod:`.opc`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import queue
import re
import signal
import subprocess
import sys
import threading
import weakref
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from . import sheet_patch
from .opc import Package
from .prepared import PREPARE_LIMIT, PreparedSheet, prepare_sheet, read_identified
from .sheet_patch import Patched, SheetEdit
from .sheet_stream import RowCells
from .styles import DateStyles

__all__ = [
    "FINISH_WAIT",
    "FINISH_WAIT_PER_MB",
    "HELPER_FROM",
    "PreparedElsewhere",
    "helper_wanted",
    "main",
]

#: The smallest sheet (its XML, inflated) prepared in a helper process: about 32,000 order
#: rows. Below it starting a second interpreter costs more than the head start saves.
HELPER_FROM = 8 << 20
#: Seconds the save waits for the helper to finish, at least, before it patches the sheet
#: itself; and more for each megabyte of the sheet's XML (patching it here whole takes about
#: 0.06 s a megabyte: 1.5 s at 100,000 rows).
FINISH_WAIT = 5.0
FINISH_WAIT_PER_MB = 0.12
#: How much lower the helper's priority is (os.nice): it works in the time nothing else wants.
NICENESS = 10
#: What the helper runs: this run's own ``sys.path`` (argv[2:]: what the run imports, the
#: helper imports; not this copy's folder first, which installed is site-packages and would
#: stand before the standard library), and this copy's ``main`` (argv[1] its package's
#: folder: another copy found first and the helper ends at once, the save patches here).
_START = (
    "import sys, os.path; sys.path[:] = sys.argv[2:]; import smmsheet; "
    "os.path.realpath(os.path.dirname(smmsheet.__file__)) == sys.argv[1] or sys.exit(3); "
    "from smmsheet.workbook.xlsx.prepared_process import main; main()"
)
#: What a Python interpreter is called (python3.11, pypy3): an embedding host's own program
#: (uwsgi, a GUI app) is sys.executable there, and what it does with -c is its own affair.
_PYTHON = re.compile(r"(?:python|pypy)[0-9.]*(?:-dbg)?$", re.IGNORECASE)
_ROOT = Path(__file__).resolve().parents[3]  # the folder that holds the smmsheet package
_PACKAGE = os.path.realpath(Path(__file__).resolve().parents[2])  # the helper must find it


def helper_wanted(xml_size: int) -> bool:
    """Whether a sheet of ``xml_size`` bytes of XML is prepared in a helper process."""
    return (
        os.name == "posix"
        and _PYTHON.match(os.path.basename(sys.executable or "")) is not None
        and not getattr(sys, "frozen", False)  # a bundled program: -c is not Python's
        and sheet_patch.STREAM_PATCHING
        and HELPER_FROM <= xml_size <= PREPARE_LIMIT
    )


def interpreter_flags() -> list[str]:
    """How the helper's Python is started: never with the working folder on ``sys.path``
    (``-c`` puts it first: a heapq.py lying there would run), and no less isolated than
    this one (a run started with -I, -E or -s imports nothing from PYTHONPATH or the
    user's site-packages; neither does its helper)."""
    if sys.flags.isolated:
        return ["-I"]  # -E, -s and -P together
    flags = ["-P"]
    if sys.flags.ignore_environment:
        flags.append("-E")
    if sys.flags.no_user_site:
        flags.append("-s")
    return flags


def _search_path() -> list[str]:
    return [entry for entry in sys.path if isinstance(entry, str) and "\0" not in entry]


def helper_environment() -> dict[str, str]:
    """This process's environment without smmsheet's own settings (the API key among them)."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SMMSHEET_")}


def _digest(content: bytes) -> bytes:
    return hashlib.blake2b(content, digest_size=32).digest()


class _Link:
    """The helper process and the two threads that talk to it. Holds no reference to the
    :class:`PreparedElsewhere` it serves, so that one can be collected (and end it)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *interpreter_flags(), "-c", _START, _PACKAGE]
            + [*_search_path(), str(_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=helper_environment(),
            close_fds=True,
        )
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.replies: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.failed = False
        self.answered = False  # it replied to finish: it ends by itself
        for target, name in ((self._send_all, "send"), (self._read_reply, "read")):
            threading.Thread(target=target, name=f"smmsheet-prepare-{name}", daemon=True).start()

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue ``message`` (pickled here, written by the sender thread: never blocks)."""
        if self.failed:
            return
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 -- a value of the caller's own class: the helper
            self.failed = True  # misses a row, so the save patches the sheet itself
            return
        self.outbox.put(data)

    def _send_all(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (data := self.outbox.get()) is not None:
                stdin.write(data)
                stdin.flush()
        except OSError:  # the helper ended (killed, or refused to start)
            self.failed = True
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read_reply(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            reply: object = pickle.load(stdout)
        except Exception:  # noqa: BLE001 -- ended without a word: the save patches itself
            reply = None
        self.replies.put(reply)
        with contextlib.suppress(OSError):
            stdout.close()

    def end(self) -> None:
        """Stop the helper and its threads: its input closed, and killed unless it ends
        at once (it ends by itself once it has replied; before, it may be mid-patch)."""
        self.failed = True
        self.outbox.put(None)
        process = self.process
        try:
            process.wait(timeout=1.0 if self.answered else 0.05)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PreparedElsewhere:
    """:class:`~.prepared.PreparedSheet`'s head start, run by a helper process.

    The same calls (:meth:`note`, :meth:`advance`, :meth:`finish`, :meth:`close`); after a
    :meth:`finish` that gives a part, ``file``, ``package`` and ``styles`` are this
    process's own copy of the bytes the helper patched, as the save needs them.
    """

    def __init__(
        self, path: Path, name: str, edit: SheetEdit, label: str, xml_size: int = 0
    ) -> None:
        self.path, self.name, self.edit, self.label = path, name, edit, label
        self._wait = FINISH_WAIT + FINISH_WAIT_PER_MB * xml_size / 1e6
        self.file: IO[bytes] | None = None
        self.package: Package | None = None
        self.styles: DateStyles | None = None
        self._link = _Link()  # OSError when no interpreter can be started
        self._end = weakref.finalize(self, self._link.end)
        self._link.send(("open", os.path.abspath(path), name, label))  # as this process sees it

    @property
    def broken(self) -> bool:
        """The helper is gone, or gave up (it answers before finish only to say so): rows
        handed over now would go nowhere."""
        link = self._link
        return link.failed or not link.replies.empty() or link.process.poll() is not None

    def note(self, rows: Iterable[int]) -> None:
        """Rows just buffered: their cells, as the edit now has them, go to the helper
        (a RowCells as its two tuples: pickled in a fifth of the time)."""
        buffered = self.edit.rows
        sent: dict[int, tuple[tuple[int, ...], tuple[Any, ...]] | dict[int, Any]] = {}
        for row in rows:
            cells = buffered.get(row)
            if type(cells) is RowCells:
                sent[row] = (cells.cols, cells.data)
            elif cells is not None:
                sent[row] = dict(cells)
        self._link.send(("note", sent))

    def advance(self, before_row: int) -> None:
        """The helper is to patch the buffered rows above ``before_row``."""
        self._link.send(("advance", before_row))

    def finish(self, edit: SheetEdit | None) -> Patched | None:
        """The sheet's part as a save of ``edit`` would write it; None if it cannot say."""
        if edit is not self.edit or self.broken:
            return None
        if not edit.only_cells:
            return None
        self._link.send(("finish",))
        try:
            reply = self._link.replies.get(timeout=self._wait)
        except queue.Empty:
            return None
        self._link.answered = reply is not None
        if not (isinstance(reply, tuple) and len(reply) == 5 and reply[0] == "done"):
            return None
        _, patched, identity, digest, styles = reply
        found, content = read_identified(self.path)
        if found != identity or _digest(content) != digest:
            return None  # not the bytes the helper patched: changed since, or read apart
        file = io.BytesIO(content)
        package = Package(zipfile.ZipFile(file), self.label)
        self.styles = DateStyles.adopt(package, styles)
        self.file, self.package = file, package
        return patched if isinstance(patched, Patched) else None

    def close(self) -> None:
        """End the helper (killed if still at work); nothing of it stays."""
        self._end()
        if self.package is not None:
            self.package.archive.close()


def _finished(prepared: PreparedSheet | None, edit: SheetEdit) -> tuple[object, ...]:
    if prepared is None:
        return ("none",)
    patched = prepared.finish(edit)
    if patched is None:
        return ("none",)
    styles = prepared.styles.export()
    return ("done", patched, prepared.identity, _digest(prepared.content), styles)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The helper's loop: messages in from ``stdin`` until ``finish``, its reply out."""
    edit = SheetEdit()
    prepared: PreparedSheet | None = None
    while True:
        try:
            message = pickle.load(stdin)
        except EOFError:  # the run is over without a save
            break
        kind = message[0]
        if kind == "finish":
            try:
                reply = _finished(prepared, edit)
            except Exception:  # noqa: BLE001 -- the save patches the sheet itself
                reply = ("none",)
            _reply(stdout, reply)
            break
        if kind == "open":
            prepared = prepare_sheet(Path(message[1]), message[2], edit, message[3])
        elif prepared is not None:
            try:
                if kind == "note":
                    rows = {
                        row: RowCells(*cells) if type(cells) is tuple else cells
                        for row, cells in message[1].items()
                    }
                    edit.rows.update(rows)
                    prepared.note(rows)
                elif kind == "advance":
                    prepared.advance(message[1])
            except Exception:  # noqa: BLE001 -- as in process: the save finds it and says so
                prepared.close()
                prepared = None
        if prepared is None or prepared.broken:
            # The head start is lost (a sheet it cannot take, a row written again after it
            # was patched): said now and ended, so the run stops handing rows over
            # (prepare() False, as in process) instead of pickling each for nothing.
            _reply(stdout, ("none",))
            break
    if prepared is not None:
        prepared.close()


def _reply(stdout: IO[bytes], reply: tuple[object, ...]) -> None:
    pickle.dump(reply, stdout, protocol=pickle.HIGHEST_PROTOCOL)
    stdout.flush()


def main() -> None:
    """The helper process: lower priority, Ctrl-C left to the run, the protocol on stdio."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run stops it (Ctrl-C in a terminal)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not land in the replies
    serve(stdin, stdout)
