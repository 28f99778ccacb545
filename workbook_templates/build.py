"""Rebuild the files in workbook_templates/: ``python workbook_templates/build.py``."""

from __future__ import annotations

from pathlib import Path

from smmsheet.templates import build_orders_template

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write orders.xlsx (the add-in is built by ``smmsheet addin build``)."""
    print(build_orders_template(HERE / "orders.xlsx"))


if __name__ == "__main__":
    main()
