"""Real Excel on Windows, driven through xlwings: the add-in, the ribbon macros, 500 formulas.

Everything here is skipped unless the machine has Windows, Excel and pywin32 (xlwings'
Windows dependency). A maintainer runs it with ``pytest -m excel tests/excel_windows``
(docs/excel.md, "Tests with real Excel"). Excel is started by the test with an environment
that points smmsheet at a simulator in this process, so nothing real is spent and nothing
of the maintainer's Excel settings changes; the add-in is built for this Python into a
temporary folder and opened from there (files Excel opens through automation run macros).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.excel

#: Longest a macro or a calculation may take before the test gives up.
EXCEL_TIMEOUT = 120.0


def excel_path() -> str | None:
    """EXCEL.EXE from the registry's App Paths, or None."""
    if sys.platform != "win32":
        return None
    import winreg

    key = r"SOFTWARE\Microsoft\Windows\CurrentVersion\App Paths\excel.exe"
    for hive in (winreg.HKEY_LOCAL_MACHINE, winreg.HKEY_CURRENT_USER):
        try:
            with winreg.OpenKey(hive, key) as handle:
                return str(winreg.QueryValue(handle, None))
        except OSError:
            continue
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if sys.platform != "win32":
        reason = "real Excel tests need Windows"
    elif excel_path() is None:
        reason = "Excel is not installed"
    else:
        try:
            import win32gui  # noqa: F401 - pywin32, which xlwings needs on Windows
        except ImportError:
            reason = "pywin32 is missing"
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "excel_windows" in str(item.fspath):
            item.add_marker(skip)


class Dialogs(threading.Thread):
    """Answers smmsheet's message boxes (title "smmsheet") as a user would, and notes them.

    The ribbon's macros run in a Python that Excel starts (xlwings' RunPython); their
    dialogs are Windows message boxes. This thread finds them by title, reads their text,
    and presses Yes (or OK).
    """

    def __init__(self, answer: str = "yes") -> None:
        super().__init__(daemon=True)
        self.answer = answer
        self.seen: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        import win32con
        import win32gui

        while not self._done.is_set():
            hwnd = win32gui.FindWindow("#32770", "smmsheet")
            if hwnd:
                text = win32gui.GetDlgItemText(hwnd, 0xFFFF)  # the message's static control
                self.seen.append(text)
                button = win32con.IDYES if self.answer == "yes" else win32con.IDNO
                if not win32gui.GetDlgItem(hwnd, button):
                    button = win32con.IDOK
                win32gui.PostMessage(hwnd, win32con.WM_COMMAND, button, 0)
                time.sleep(0.5)
            time.sleep(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


@pytest.fixture(scope="session")
def sim() -> Iterator[Any]:
    from smmsheet.simulator import PanelSimulator

    with PanelSimulator(balance="100000") as simulator:
        yield simulator


@pytest.fixture(scope="session")
def excel_env(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment Excel (and the Python it starts) runs with: the simulator as panel."""
    folder = tmp_path_factory.mktemp("excel-env")
    env = dict(os.environ)
    env.update(
        SMMSHEET_PANEL_URL=sim.url,
        SMMSHEET_API_KEY=sim.api_key,
        SMMSHEET_CONFIG=str(folder / "no-config.toml"),
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path]),
    )
    env.pop("SMMSHEET_PROFILE", None)
    return env


@pytest.fixture(scope="session")
def app(excel_env: dict[str, str]) -> Iterator[Any]:
    """A new Excel started with ``excel_env``, reached through xlwings; quit at the end."""
    import xlwings as xw

    path = excel_path()
    assert path is not None
    process = subprocess.Popen([path, "/x", "/e"], env=excel_env)  # /e: no start screen
    deadline = time.monotonic() + EXCEL_TIMEOUT
    found = None
    while found is None and time.monotonic() < deadline:
        time.sleep(1)
        found = next((a for a in xw.apps if a.pid == process.pid), None)
    assert found is not None, "Excel did not register with COM"
    found.display_alerts = False
    try:
        yield found
    finally:
        for book in list(found.books):
            book.close()
        found.quit()
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def addin(app: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """smmsheet.xlam installed for this Python into a folder, opened in Excel."""
    from smmsheet.addin import doctor, install_addin

    installed = install_addin(tmp_path_factory.mktemp("XLSTART"))
    failed = [c.line() for c in doctor(installed.addin) if not c.ok]
    assert not failed, failed
    return app.books.open(str(installed.addin))


def run_ribbon(app: Any, callback: str) -> None:
    """Click a ribbon button: run what its VBA callback runs, ``RunPython "..."``, in Excel.

    The callback itself takes the ribbon's ``IRibbonControl``, which automation cannot
    hand over; tests/test_addin.py checks that each callback runs exactly this command.
    """
    from smmsheet.addin import BUTTONS

    (button,) = [b for b in BUTTONS if b.callback == callback]
    command = f"import smmsheet.excel; smmsheet.excel.{button.macro}()"
    app.api.Run("'smmsheet.xlam'!RunPython", command)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + EXCEL_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)
