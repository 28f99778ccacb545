"""DrawingML parts: a chart (column, bar or pie) over ranges of cells, and the drawing
that places charts on a sheet.

Each chart carries its values as a cache beside the cell references, as Excel writes
them, so a reader that does not recalculate (a viewer, a previewer) draws the same chart.
Pure text building; imports :mod:`.cells` and :mod:`.names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..charts import ChartKind
from .cells import xml_escape
from .names import CHART_NS, DRAWING_MAIN_NS, SPREADSHEET_DRAWING_NS, TRANSITIONAL_REL_NS

__all__ = ["Anchor", "chart_part", "drawing_part", "Series"]

_HEAD = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
_CATEGORY_AXIS, _VALUE_AXIS = 500000001, 500000002


@dataclass(frozen=True)
class Series:
    """One series: its name's cell, its values' cells, and what they hold now (the cache)."""

    name_ref: str
    name: str
    values_ref: str
    values: tuple[Decimal | int | float | None, ...]


@dataclass(frozen=True)
class Anchor:
    """Where a chart sits: its top-left cell (0-based) and its size in cells."""

    col: int
    row: int
    cols: int
    rows: int
    rel_id: str
    name: str


def _attr(text: str) -> str:
    return xml_escape(text).replace('"', "&quot;")


def _text_cache(values: Sequence[str]) -> str:
    points = "".join(
        f'<c:pt idx="{i}"><c:v>{xml_escape(v)}</c:v></c:pt>' for i, v in enumerate(values)
    )
    return f'<c:strCache><c:ptCount val="{len(values)}"/>{points}</c:strCache>'


def _number_cache(values: Sequence[Decimal | int | float | None]) -> str:
    points = "".join(
        f'<c:pt idx="{i}"><c:v>{float(v)!r}</c:v></c:pt>'
        for i, v in enumerate(values)
        if v is not None
    )
    return (
        "<c:numCache><c:formatCode>General</c:formatCode>"
        f'<c:ptCount val="{len(values)}"/>{points}</c:numCache>'
    )


def _series(
    index: int, kind: ChartKind, series: Series, categories_ref: str, categories: Sequence[str]
) -> str:
    name = (
        f"<c:tx><c:strRef><c:f>{xml_escape(series.name_ref)}</c:f>"
        f"{_text_cache([series.name])}</c:strRef></c:tx>"
    )
    before_cat = '<c:invertIfNegative val="0"/>' if kind != ChartKind.PIE else ""
    if kind == ChartKind.PIE:
        before_cat = (
            '<c:dLbls><c:showLegendKey val="0"/><c:showVal val="0"/>'
            '<c:showCatName val="0"/><c:showSerName val="0"/><c:showPercent val="1"/>'
            '<c:showBubbleSize val="0"/><c:showLeaderLines val="1"/></c:dLbls>'
        )
    return (
        f'<c:ser><c:idx val="{index}"/><c:order val="{index}"/>{name}{before_cat}'
        f"<c:cat><c:strRef><c:f>{xml_escape(categories_ref)}</c:f>"
        f"{_text_cache(categories)}</c:strRef></c:cat>"
        f"<c:val><c:numRef><c:f>{xml_escape(series.values_ref)}</c:f>"
        f"{_number_cache(series.values)}</c:numRef></c:val></c:ser>"
    )


def _axes(horizontal: bool) -> str:
    category_side, value_side = ("l", "b") if horizontal else ("b", "l")
    return (
        f'<c:catAx><c:axId val="{_CATEGORY_AXIS}"/><c:scaling>'
        f'<c:orientation val="{"maxMin" if horizontal else "minMax"}"/></c:scaling>'
        f'<c:delete val="0"/><c:axPos val="{category_side}"/>'
        '<c:numFmt formatCode="General" sourceLinked="0"/><c:tickLblPos val="nextTo"/>'
        f'<c:crossAx val="{_VALUE_AXIS}"/><c:crosses val="autoZero"/><c:auto val="1"/>'
        '<c:lblAlgn val="ctr"/><c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
        f'<c:valAx><c:axId val="{_VALUE_AXIS}"/><c:scaling><c:orientation val="minMax"/>'
        f'</c:scaling><c:delete val="0"/><c:axPos val="{value_side}"/><c:majorGridlines/>'
        '<c:numFmt formatCode="General" sourceLinked="1"/><c:tickLblPos val="nextTo"/>'
        # Categories run top to bottom in a bar chart, so its values' axis crosses at the last.
        f'<c:crossAx val="{_CATEGORY_AXIS}"/>'
        f'<c:crosses val="{"max" if horizontal else "autoZero"}"/>'
        '<c:crossBetween val="between"/></c:valAx>'
    )


def chart_part(
    kind: ChartKind,
    title: str,
    categories_ref: str,
    categories: Sequence[str],
    series: Sequence[Series],
) -> bytes:
    """A chart part (``xl/charts/chartN.xml``) drawing ``series`` over ``categories``.

    References are formulas such as ``'Dashboard'!$A$5:$A$9``; a pie draws the first
    series only (a pie of two series would hide the second).
    """
    if kind == ChartKind.PIE:
        drawn = "".join(_series(0, kind, series[0], categories_ref, categories))
        plot = f'<c:pieChart><c:varyColors val="1"/>{drawn}<c:firstSliceAng val="0"/></c:pieChart>'
    else:
        direction = "bar" if kind == ChartKind.BAR else "col"
        drawn = "".join(
            _series(i, kind, s, categories_ref, categories) for i, s in enumerate(series)
        )
        plot = (
            f'<c:barChart><c:barDir val="{direction}"/><c:grouping val="clustered"/>'
            f'<c:varyColors val="0"/>{drawn}<c:gapWidth val="80"/>'
            f'<c:axId val="{_CATEGORY_AXIS}"/><c:axId val="{_VALUE_AXIS}"/></c:barChart>'
            + _axes(horizontal=kind == ChartKind.BAR)
        )
    legend = "b" if kind != ChartKind.PIE else "r"
    body = (
        f'<c:chartSpace xmlns:c="{CHART_NS}" xmlns:a="{DRAWING_MAIN_NS}" '
        f'xmlns:r="{TRANSITIONAL_REL_NS}"><c:roundedCorners val="0"/><c:chart>'
        '<c:title><c:tx><c:rich><a:bodyPr/><a:p><a:pPr><a:defRPr sz="1200" b="1"/></a:pPr>'
        f'<a:r><a:rPr lang="en-US" sz="1200" b="1"/><a:t>{xml_escape(title)}</a:t></a:r>'
        '</a:p></c:rich></c:tx><c:overlay val="0"/></c:title><c:autoTitleDeleted val="0"/>'
        f"<c:plotArea><c:layout/>{plot}</c:plotArea>"
        f'<c:legend><c:legendPos val="{legend}"/><c:overlay val="0"/></c:legend>'
        '<c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/></c:chart></c:chartSpace>'
    )
    return _HEAD + body.encode("utf-8")


def drawing_part(anchors: Sequence[Anchor]) -> bytes:
    """A drawing part (``xl/drawings/drawingN.xml``) placing one chart per anchor."""
    frames = []
    for number, anchor in enumerate(anchors, start=2):
        frames.append(
            '<xdr:twoCellAnchor editAs="oneCell">'
            f"<xdr:from><xdr:col>{anchor.col}</xdr:col><xdr:colOff>0</xdr:colOff>"
            f"<xdr:row>{anchor.row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>"
            f"<xdr:to><xdr:col>{anchor.col + anchor.cols}</xdr:col><xdr:colOff>0</xdr:colOff>"
            f"<xdr:row>{anchor.row + anchor.rows}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
            '<xdr:graphicFrame macro=""><xdr:nvGraphicFramePr>'
            f'<xdr:cNvPr id="{number}" name="{_attr(anchor.name)}"/><xdr:cNvGraphicFramePr/>'
            '</xdr:nvGraphicFramePr><xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/>'
            f'</xdr:xfrm><a:graphic><a:graphicData uri="{CHART_NS}">'
            f'<c:chart xmlns:c="{CHART_NS}" r:id="{_attr(anchor.rel_id)}"/>'
            "</a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/>"
            "</xdr:twoCellAnchor>"
        )
    body = (
        f'<xdr:wsDr xmlns:xdr="{SPREADSHEET_DRAWING_NS}" xmlns:a="{DRAWING_MAIN_NS}" '
        f'xmlns:r="{TRANSITIONAL_REL_NS}">{"".join(frames)}</xdr:wsDr>'
    )
    return _HEAD + body.encode("utf-8")
