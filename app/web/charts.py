"""Small charts as inline SVG, drawn on the server: no script, no other host, readable when
printed, and announced to screen readers by their ``<title>`` and a table-like description."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 400, 120
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 30, 6, 10, 20


def _frame(label: str, top_label: str, inner: list[str], first: str, last: str, width: int) -> Markup:
    bottom = HEIGHT - PAD_BOTTOM
    WIDTH = width
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{bottom}" x2="{WIDTH - PAD_RIGHT}" y2="{bottom}"/>',
        f'<line class="grid" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{WIDTH - PAD_RIGHT}" y2="{PAD_TOP}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end">{escape(top_label)}</text>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
        *inner,
        f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 6}">{escape(first)}</text>',
        f'<text class="tick" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{escape(last)}</text>',
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def _day(d: date) -> str:
    return f"{d.month}/{d.day}"


def bars(points: Sequence[tuple[date, int]], label: str, width: int = WIDTH) -> Markup:
    """A bar per day; each bar's ``<title>`` gives its day and count on hover. ``width``: of the
    drawing in pixels at its natural size (text keeps its size when the panel is about as wide)."""
    WIDTH = width
    if not points:
        return Markup("")
    top = max(1, max(v for _, v in points))
    span = WIDTH - PAD_LEFT - PAD_RIGHT
    step = span / len(points)
    height = HEIGHT - PAD_TOP - PAD_BOTTOM
    inner = []
    for i, (day, value) in enumerate(points):
        h = height * value / top
        x = PAD_LEFT + i * step + step * 0.15
        inner.append(
            f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{escape(_day(day))}: {value}</title></rect>'
        )
    return _frame(label, str(top), inner, _day(points[0][0]), _day(points[-1][0]), WIDTH)


def line(points: Sequence[tuple[date, float | None]], label: str, width: int = WIDTH) -> Markup:
    """A rate from 0 to 1 per day as a line; a day without a value (nothing was due) is a gap."""
    WIDTH = width
    if not points:
        return Markup("")
    span = WIDTH - PAD_LEFT - PAD_RIGHT
    step = span / max(1, len(points) - 1)
    height = HEIGHT - PAD_TOP - PAD_BOTTOM
    inner: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > 1:
            inner.append(f'<polyline class="line" points="{" ".join(run)}"/>')
        run.clear()

    for i, (day, value) in enumerate(points):
        if value is None:
            flush()
            continue
        x, y = PAD_LEFT + i * step, HEIGHT - PAD_BOTTOM - height * value
        run.append(f"{x:.1f},{y:.1f}")
        inner.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
            f"<title>{escape(_day(day))}: {round(value * 100)}%</title></circle>"
        )
    flush()
    return _frame(label, "100%", inner, _day(points[0][0]), _day(points[-1][0]), WIDTH)
