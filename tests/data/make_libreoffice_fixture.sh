#!/usr/bin/env bash
# Regenerate tests/data/libreoffice_orders.xlsx: a small order workbook as LibreOffice saves it.
# Needs LibreOffice (apt-get install libreoffice-calc-nogui) and a Python with xlsxwriter.
# CI does not run this; the test suite uses the committed file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" - "$work/libreoffice_orders.xlsx" <<'PY'
import sys

import xlsxwriter

book = xlsxwriter.Workbook(sys.argv[1])
bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
money = book.add_format({"num_format": "0.00"})
when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
orders = book.add_worksheet("Orders")
orders.write_row(0, 0, ["Service", "Link", "Quantity", "Rate", "Total", "Order ID", "Status", "Updated"], bold)
for r in range(1, 6):
    orders.write_number(r, 0, 100 + r)
    orders.write_string(r, 1, f"https://example.com/post/{r}")
    orders.write_number(r, 2, 1000 * r)
    orders.write_number(r, 3, 0.5, money)
    orders.write_formula(r, 4, f"=C{r + 1}*D{r + 1}/1000", money, 0.5 * r)
    orders.write_blank(r, 6, None, bold)
    orders.write_blank(r, 7, None, when)
orders.write_string(6, 1, "note: row 7 has no service")
notes = book.add_worksheet("Notes")
notes.write("B3", "kept as is")
book.close()
PY

cd "$work"
soffice --headless --calc --convert-to xlsx --outdir "$work/out" "$work/libreoffice_orders.xlsx" >/dev/null
cp "$work/out/libreoffice_orders.xlsx" "$here/libreoffice_orders.xlsx"
echo "wrote $here/libreoffice_orders.xlsx"
