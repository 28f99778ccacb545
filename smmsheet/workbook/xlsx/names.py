"""The OOXML names the other layers share: namespaces, part names, relationship types,
content types and the element orders the schemas require.

Plain constants, no imports: every layer of the package may use them.
"""

from __future__ import annotations

__all__ = [
    "CALC_CHAIN_REL",
    "CHART_CT",
    "CHART_NS",
    "CHART_REL",
    "CONTENT_TYPES_PART",
    "CT_NS",
    "DRAWING_CT",
    "DRAWING_MAIN_NS",
    "DRAWING_REL",
    "NEW_SHEET_XML",
    "OFFICE_DOCUMENT_REL",
    "PKG_REL_NS",
    "ROOT_RELS_PART",
    "SPREADSHEET_DRAWING_NS",
    "STYLES_REL",
    "TRANSITIONAL_REL_NS",
    "WORKBOOK_ORDER",
    "WORKSHEET_CT",
    "WORKSHEET_ORDER",
    "WORKSHEET_REL",
    "XML_NS",
    "XML_SPACE",
]

# -- namespaces ----------------------------------------------------------------------------

XML_NS = "http://www.w3.org/XML/1998/namespace"
XML_SPACE = f"{{{XML_NS}}}space"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
TRANSITIONAL_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DRAWING_MAIN_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
CHART_NS = "http://schemas.openxmlformats.org/drawingml/2006/chart"
SPREADSHEET_DRAWING_NS = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"

# -- parts, relationship types (matched by their last segment), content types --------------

CONTENT_TYPES_PART = "[Content_Types].xml"
ROOT_RELS_PART = "_rels/.rels"
OFFICE_DOCUMENT_REL = "/officeDocument"
WORKSHEET_REL = "/worksheet"
STYLES_REL = "/styles"
CALC_CHAIN_REL = "/calcChain"
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
DRAWING_REL = "/drawing"
CHART_REL = "/chart"
DRAWING_CT = "application/vnd.openxmlformats-officedocument.drawing+xml"
CHART_CT = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"

#: The part written for a sheet the workbook does not have yet (as Excel writes an empty one).
NEW_SHEET_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<dimension ref="A1"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
    b'<sheetFormatPr defaultRowHeight="15"/><sheetData/>'
    b'<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    b"</worksheet>"
)

# -- element orders (ECMA-376 part 1, CT_Workbook and CT_Worksheet) -------------------------

WORKBOOK_ORDER = (
    "fileVersion fileSharing workbookPr workbookProtection bookViews sheets functionGroups "
    "externalReferences definedNames calcPr oleSize customWorkbookViews pivotCaches "
    "smartTagPr smartTagTypes webPublishing fileRecoveryPr webPublishObjects extLst"
).split()
WORKSHEET_ORDER = (
    "sheetPr dimension sheetViews sheetFormatPr cols sheetData sheetCalcPr sheetProtection "
    "protectedRanges scenarios autoFilter sortState dataConsolidate customSheetViews "
    "mergeCells phoneticPr conditionalFormatting dataValidations hyperlinks printOptions "
    "pageMargins pageSetup headerFooter rowBreaks colBreaks customProperties cellWatches "
    "ignoredErrors smartTags drawing legacyDrawing legacyDrawingHF drawingHF picture "
    "oleObjects controls webPublishItems tableParts extLst"
).split()
