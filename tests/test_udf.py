"""The formulas as Excel sees them: synchronous xlwings functions with convertible types, in
the Function Wizard's "smmsheet" category (the bodies: test_formulas.py)."""

from __future__ import annotations

from smmsheet import udf

FORMULAS = ["SMM_STATUS", "SMM_REFILL_STATUS", "SMM_BALANCE", "SMM_SERVICES", "SMM_COST"]


def test_each_formula_is_a_synchronous_xlwings_function_with_convertible_types() -> None:
    from xlwings.conversion import accessors

    from .windows_xlwings import udf_module_with_real_decorators

    assert udf.udf_names() == FORMULAS
    windows_udf = udf_module_with_real_decorators()
    for name in FORMULAS:
        info = getattr(windows_udf, name).__xlfunc__
        assert info["async_mode"] is None, "async mode rewrites formulas behind Excel's back"
        assert info["category"] == "smmsheet"
        assert info["ret"]["doc"] and not info["ret"]["doc"].startswith("Python function")
        options = [arg["options"] for arg in info["args"]] + [info["ret"]["options"]]
        for option in options:
            convert = option.get("convert")
            assert convert in accessors, f"{name}: xlwings has no converter for {convert!r}"
        for arg in info["args"]:
            assert not arg["doc"].startswith("Positional argument"), f"{name}({arg['name']})"
    status_args = {a["name"]: a for a in windows_udf.SMM_STATUS.__xlfunc__["args"]}
    assert status_args["order_ids"]["options"]["ndim"] == 2
    assert status_args["field"]["optional"] == "status"
