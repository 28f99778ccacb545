"""Every WorkbookAdapter passes the same contract: the .xlsx file adapter and live Excel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .contract_workbook import CONTRACT, Harness, LiveHarness, XlsxHarness

#: The live adapter over xlwings' remote engine runs the same contract, opt-in, in
#: test_workbook_live.py.
HARNESSES: dict[str, Callable[[Path], Harness]] = {
    "xlsx": XlsxHarness,
    "live": lambda tmp: LiveHarness(),
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return HARNESSES[request.param](tmp_path)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__[len("check_") :])
def test_adapter_honours_the_workbook_contract(
    check: Callable[[Harness], None], harness: Harness
) -> None:
    check(harness)
