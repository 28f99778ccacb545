"""The formulas as Excel sees them: async xlwings functions with convertible types, and the
thread pool that lets a filled-down column share requests (the bodies: test_formulas.py)."""

from __future__ import annotations

import sys
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from smmsheet import udf

FORMULAS = ["SMM_STATUS", "SMM_REFILL_STATUS", "SMM_BALANCE", "SMM_SERVICES", "SMM_COST"]


# --------------------------------------------------------------------------- Excel glue


def test_each_formula_is_an_async_xlwings_function_with_convertible_types() -> None:
    from xlwings.conversion import accessors

    from .windows_xlwings import udf_module_with_real_decorators

    assert udf.udf_names() == FORMULAS
    windows_udf = udf_module_with_real_decorators()
    for name in FORMULAS:
        info = getattr(windows_udf, name).__xlfunc__
        assert info["async_mode"] == "threading"
        assert info["category"] == "smmsheet"
        options = [arg["options"] for arg in info["args"]] + [info["ret"]["options"]]
        for option in options:
            convert = option.get("convert")
            assert convert in accessors, f"{name}: xlwings has no converter for {convert!r}"
    status_args = {a["name"]: a for a in windows_udf.SMM_STATUS.__xlfunc__["args"]}
    assert status_args["order_ids"]["options"]["ndim"] == 2
    assert status_args["field"]["optional"] == "status"


def test_xlwings_udf_pool_is_widened_inside_excel_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert udf.widen_xlwings_pool() is False  # no xlwings.udfs outside Excel
    fake_udfs = types.ModuleType("xlwings.udfs")
    small = ThreadPoolExecutor(max_workers=12)
    fake_udfs.com_executor = small  # type: ignore[attr-defined]
    fake_com = types.ModuleType("pythoncom")
    fake_com.CoInitialize = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "xlwings.udfs", fake_udfs)
    monkeypatch.setitem(sys.modules, "pythoncom", fake_com)
    assert udf.widen_xlwings_pool() is True
    wide = fake_udfs.com_executor  # type: ignore[attr-defined]
    assert wide is not small and wide._max_workers == udf.UDF_THREADS
    assert udf.widen_xlwings_pool() is False
    wide.shutdown()
    small.shutdown()
