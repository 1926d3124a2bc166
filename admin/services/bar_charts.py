"""Bar charts drawn server-side as inline SVG geometry (no script, no chart library)."""

from __future__ import annotations

from dataclasses import dataclass

#: Geometry of a horizontal bar chart, in SVG user units (it scales to the page's width).
WIDTH = 480
LABEL_WIDTH = 130
BAR_HEIGHT = 22
GAP = 8


@dataclass
class Bar:
    """One bar: its label, value, and where to draw it."""

    label: str
    value: int
    y: int
    width: int


def bar_chart(rows: list[tuple[str, int]]) -> dict:
    """Lay out labelled values as horizontal bars scaled to the largest; answer bars and height."""
    largest = max((value for _label, value in rows), default=0)
    room = WIDTH - LABEL_WIDTH - 50  # keep space for the value printed after the bar
    bars = [
        Bar(
            label=str(label),
            value=value,
            y=index * (BAR_HEIGHT + GAP),
            width=round(room * value / largest) if largest else 0,
        )
        for index, (label, value) in enumerate(rows)
    ]
    return {
        "bars": bars,
        "height": max(len(bars) * (BAR_HEIGHT + GAP), BAR_HEIGHT),
        "width": WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }
