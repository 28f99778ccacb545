"""Headless .xlsx/.xlsm adapter: read with calamine, write by patching sheet XML in the zip.

The user's workbook is never round-tripped through a spreadsheet library. Reading uses
python-calamine; hyperlinked cells are found by :mod:`.links` on a second thread, and
a zip bomb is refused from its declared sizes before anything inflates (:mod:`.zipsafe`).
Writing copies every zip member byte-for-byte (raw compressed bytes,
same order, same compression) except the parts that must change:

- the worksheet XML of each sheet written to: only the written cells change, the styles
  of overwritten cells are kept, and text is always an inline string, never a formula
  and never a shared string, so ``sharedStrings.xml`` stays identical. Everyday writes
  are spliced into the XML text row by row (:mod:`.sheet_stream`, a few seconds for
  800,000 cells); new sheets, replaced sheets and unusual XML go through an lxml tree
  (:mod:`.sheet_tree`);
- ``calcChain.xml`` when a formula cell was overwritten (its entries are removed; the
  part, its relationship and content type go when it becomes empty);
- ``workbook.xml`` only to register a new sheet, to set ``fullCalcOnLoad`` when the
  workbook has formulas whose cached results may now be stale, or to store the journal
  marker (a hidden defined name, :meth:`XlsxWorkbook.write_marker`);
- ``workbook.xml.rels`` and ``[Content_Types].xml`` only to register a new sheet (and
  the drawing and chart parts of a sheet of charts, :mod:`.chart_sheet`);
- ``styles.xml`` only when a date goes into a cell without a date format (one cell
  format is appended: the cell's own format with a date number format), or when new
  columns need their number format;
- a table part (``xl/tables/tableN.xml``) only when new output columns join that Table.

``save`` writes a temporary file beside the workbook and renames it over the original,
so the file on disk is either the old workbook or the new one, never half of each.
``check_writable(sheet, cells)`` runs the same patch code without writing, so whatever
would make that save fail is known before an order is bought.

The layers, each importing only those above it in this list (and ``names`` everywhere)::

    names         the OOXML names: namespaces, part names, element orders
    cells         values as cell XML text, date serials, A1 references, value checks
    zipio         raw zip member copy, replaced parts, the deflate thread
    zipsafe       zip-bomb limits, checked before anything inflates
    hidden        the rows a sheet hides, from sheet XML
    links         where hyperlinked cells point, from sheet XML
    unknown       error cells and uncalculated formulas, from sheet XML
    opc           the package: parts, relationships, content types, workbook.xml edits
    preview       the first rows of a sheet, read while calamine parses it
    styles        date cell formats in styles.xml
    columns       new columns: widths, number formats, the Table they join
    sheet_tree    the lxml tree patcher (and shared formulas)
    sheet_stream  the text stream patcher
    sheet_patch   one sheet's edit by the right patcher; calc-chain pruning
    prepared      a save begun while a run waits on the panel
    prepared_process  the same head start, run by a helper process
    charts        DrawingML chart and drawing parts, as text
    chart_sheet   a sheet of tables and native charts: its parts, added or refreshed
    save          plan the changed parts, write or measure the zip
    adapter       XlsxWorkbook: reading, buffering, saving, file checks

Example::

    book = XlsxWorkbook("orders.xlsx")
    rows = book.read_values("Orders")
    book.write_cells("Orders", {(2, 8): 1001, (2, 9): "Pending"})
    book.save()
"""

from __future__ import annotations

from .adapter import SUPPORTED_SUFFIXES, XlsxWorkbook, check_not_open, excel_lock_file

# A copy for reading: the switch itself is ``sheet_patch.STREAM_PATCHING``; set it there.
from .sheet_patch import STREAM_PATCHING

__all__ = [
    "STREAM_PATCHING",
    "SUPPORTED_SUFFIXES",
    "XlsxWorkbook",
    "check_not_open",
    "excel_lock_file",
]
