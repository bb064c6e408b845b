"""Server-side charts, shared by the monthly report and the dashboard: the geometry of inline SVG bar charts,
drawn by the macros in ``templates/_macros/charts.html``.

No script and no style attribute (the CSP allows neither): colours and fonts come from classes in
caseflow.css. Every bar carries its number, and a series that matters (overdue, past the deadline) is also
hatched, so a chart printed in black and white says what it says on screen.

Two shapes: ``Chart``, horizontal bars (labels on the left, numbers after the bars), built by
``grouped_bar_chart``, ``stacked_bar_chart`` and ``rate_bar_chart``; and ``ColumnChart``, vertical groups of
columns along a time axis (numbers above the columns), built by ``column_chart``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# Horizontal charts: overall width, the label column, room for the numbers after the bars, bar height.
WIDTH, LEFT, RIGHT_ROOM, BAR = 720, 220, 150, 16
AREA = WIDTH - LEFT - RIGHT_ROOM


@dataclass
class Segment:
    x: float
    width: float
    css: str
    hatched: bool = False


@dataclass
class ChartRow:
    label: str
    y: float  # top of the bar
    segments: list[Segment]
    value: str  # printed after the bar
    value_x: float
    strong: bool = False
    label_y: float | None = None  # the label's baseline; None: no label (a further bar of a group)


@dataclass
class LegendEntry:
    x: float
    css: str
    text: str
    hatched: bool = False


@dataclass
class Chart:
    """A horizontal bar chart: labels on the left, bars from ``left`` to the right, numbers after them."""

    key: str
    title: str
    description: str
    width: int
    height: int
    left: int
    bar: int
    rows: list[ChartRow]
    legend: list[LegendEntry] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, text) gridlines
    top: int = 0
    kind: str = "bars"

    @property
    def hatched(self) -> bool:
        """Whether the chart needs the hatch pattern (some bar or legend entry uses it)."""
        return any(s.hatched for r in self.rows for s in r.segments) or any(e.hatched for e in self.legend)


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal chart: its value (drawn to the chart's scale), class, and printed text."""

    value: float | None
    css: str
    text: str
    hatched: bool = False


def scale(values: Sequence[int | float | None], area: float = AREA) -> float:
    """Pixels per unit so that the largest value fills ``area`` (0 when there is nothing to draw)."""
    biggest = max((v for v in values if v), default=0)
    return area / biggest if biggest else 0.0


def fit_label(text: str, room: int = 30) -> str:
    """Labels live in a fixed column: a long one is cut (the table next to the chart has it in full)."""
    width, kept = 0, ""
    for char in text:
        width += 2 if ord(char) > 0x2E80 else 1  # CJK characters are about twice as wide
        if width > room - 1:
            return kept + "…"
        kept += char
    return text


def grouped_bar_chart(key: str, title: str, description: str, groups: Sequence[tuple[str, Sequence[Bar]]],
                      legend: Sequence[LegendEntry] = (), *, width: int = WIDTH) -> Chart:
    """Groups of bars, one group per label (a group of one bar is a plain bar chart); the label stands by
    the middle of its group."""
    area = width - LEFT - RIGHT_ROOM
    factor = scale([bar.value for _label, bars in groups for bar in bars], area)
    top = y = 28 if legend else 12
    rows = []
    for label, bars in groups:
        label_y = y + (len(bars) * (BAR + 2) - 2) / 2 + 4
        for index, bar in enumerate(bars):
            length = (bar.value or 0) * factor
            segments = [Segment(LEFT, length, bar.css, bar.hatched)] if length else []
            rows.append(ChartRow(fit_label(label), y, segments, bar.text, LEFT + length + 6,
                                 label_y=label_y if index == 0 else None))
            y += BAR + 2
        y += 12
    return Chart(key, title, description, width, int(y) + 4, LEFT, BAR, rows, legend=list(legend), top=top)


def stacked_bar_chart(key: str, title: str, description: str,
                      rows: Sequence[tuple[str, Sequence[Bar], str]], legend: Sequence[LegendEntry] = (),
                      *, width: int = WIDTH, right_room: int = RIGHT_ROOM) -> Chart:
    """One bar per label, split into parts (each ``Bar`` a part; its text unused) and followed by the
    row's text."""
    area = width - LEFT - right_room
    factor = scale([sum(part.value or 0 for part in parts) for _label, parts, _text in rows], area)
    top = y = 28
    drawn = []
    for label, parts, text in rows:
        x, segments = float(LEFT), []
        for part in parts:
            if part.value:
                segments.append(Segment(x, part.value * factor, part.css, part.hatched))
                x += part.value * factor
        drawn.append(ChartRow(fit_label(label), y, segments, text, x + 6, label_y=y + BAR - 4))
        y += BAR + 12
    return Chart(key, title, description, width, int(y) + 4, LEFT, BAR, drawn, legend=list(legend), top=top)


def rate_bar_chart(key: str, title: str, description: str,
                   rows: Sequence[tuple[str, float | None, str, bool]], *, css: str = "bar-rate",
                   strong_css: str = "bar-total") -> Chart:
    """Shares from 0 to 100 %: (label, share or None, printed text, strong) per row, gridlines at 0, 50
    and 100 %. A row without a share has no bar, only its text ("<5", "—")."""
    top = y = 24
    drawn = []
    for label, share, text, strong in rows:
        length = AREA * share if share is not None else 0
        segments = [Segment(LEFT, length, strong_css if strong else css)] if length else []
        drawn.append(ChartRow(fit_label(label), y, segments, text, LEFT + length + 6, strong=strong,
                              label_y=y + BAR - 4))
        y += BAR + 8
    ticks = [(LEFT + AREA * share, f"{int(share * 100)}%") for share in (0, 0.5, 1)]
    return Chart(key, title, description, WIDTH, int(y) + 6, LEFT, BAR, drawn, ticks=ticks, top=top)


# ---------------------------------------------------------------------------------------- column charts

@dataclass
class Column:
    x: float
    y: float  # top of the column
    width: float
    height: float
    css: str
    text: str  # printed above the column
    text_x: float
    text_y: float
    hatched: bool = False


@dataclass
class ColumnGroup:
    label: str
    label_x: float
    columns: list[Column]


@dataclass
class ColumnChart:
    """Vertical columns in groups along an axis (one group per month, one column per series), a value
    axis on the left with gridlines, and each column's number printed above it (turned upright when the
    columns are too narrow for the number to sit across)."""

    key: str
    title: str
    description: str
    width: int
    height: int
    left: int
    top: int
    baseline: int
    groups: list[ColumnGroup]
    legend: list[LegendEntry] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, text) gridlines
    upright_values: bool = False
    kind: str = "columns"

    @property
    def hatched(self) -> bool:
        return any(c.hatched for g in self.groups for c in g.columns) or any(e.hatched for e in self.legend)


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str
    hatched: bool = False


COLUMN_LEFT, COLUMN_TOP, PLOT_HEIGHT = 48, 44, 200


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 4, 6, 8, 10, 20, 40 … that is at least ``value``: the top of a value axis whose
    middle gridline is a whole number too."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def column_chart(key: str, title: str, description: str, series: Sequence[Series],
                 groups: Sequence[tuple[str, dict[str, int]]]) -> ColumnChart:
    """One group of columns per (label, {series key: value}), one column per series, in series order."""
    count = len(series)
    wide = len(groups) <= 12
    column = 18 if wide else 11
    group_width = count * column + (count - 1) * 2 + (16 if wide else 10)
    width = COLUMN_LEFT + max(len(groups), 1) * group_width + 12
    baseline = COLUMN_TOP + PLOT_HEIGHT
    biggest = max((values.get(s.key) or 0 for _label, values in groups for s in series), default=0)
    top_value = nice_ceiling(biggest)
    factor = PLOT_HEIGHT / top_value
    drawn = []
    for index, (label, values) in enumerate(groups):
        x = COLUMN_LEFT + index * group_width + (8 if wide else 5)
        columns = []
        for s in series:
            value = values.get(s.key) or 0
            height = value * factor
            centre = x + column / 2
            columns.append(Column(x, baseline - height, column, height, s.css, str(value), centre,
                                  baseline - height - (4 if wide else 3), s.hatched))
            x += column + 2
        drawn.append(ColumnGroup(label, COLUMN_LEFT + index * group_width + group_width / 2, columns))
    shares = (0, 0.5, 1) if top_value > 1 else (0, 1)
    ticks = [(baseline - PLOT_HEIGHT * share, f"{top_value * share:g}") for share in shares]
    legend, x = [], float(COLUMN_LEFT)
    for s in series:
        legend.append(LegendEntry(x, s.css, s.label, s.hatched))
        x += 28 + 13 * len(s.label) if any(ord(ch) > 0x2E80 for ch in s.label) else 28 + 7 * len(s.label)
    return ColumnChart(key, title, description, width, baseline + 24, COLUMN_LEFT, COLUMN_TOP, baseline, drawn,
                       legend=legend, ticks=ticks, upright_values=not wide)
