"""Small static SVG charts for the HTML report: labelled bars, a histogram, a meter.

Every chart is a string of inline SVG with a ``<title>`` (read by screen readers), sized in
CSS pixels, styled by the page's CSS classes; text is escaped. No script, no external resource.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

ROW = 22  # height of one bar row
LABEL_W = 150  # room for the labels left of the bars
VALUE_W = 56  # room for the value right of the bars


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (f'<svg class="chart" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(title)}</title>{body}</svg>")


def bars(items: Sequence[tuple[str, float]], *, title: str, low: float = 0.0, high: float = 1.0,
         width: int = 460, tone: str = "bar", digits: int = 2, highlight: str | None = None,
         label_width: int = LABEL_W) -> str:
    """One horizontal bar per ``(label, value)`` on a ``low..high`` scale; a bar grows from 0
    (so negative values grow left of a zero line when ``low < 0``)."""
    plot_w = width - label_width - VALUE_W
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return label_width + plot_w * (min(max(value, low), high) - low) / span

    zero = x(0.0 if low < 0 < high else low)
    parts = []
    for row, (label, value) in enumerate(items):
        y = row * ROW
        left, right = sorted((zero, x(value)))
        cls = f"{tone} hi" if label == highlight else tone
        parts.append(
            f'<text class="label" x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="track" x="{label_width}" y="{y + 4}" width="{plot_w}" height="{ROW - 8}" rx="3"/>'
            f'<rect class="{cls}" x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" '
            f'height="{ROW - 8}" rx="3"><title>{escape(label)}: {value:.{digits}f}</title></rect>'
            f'<text class="value" x="{label_width + plot_w + 6}" y="{y + 15}">{value:.{digits}f}</text>')
    if low < 0 < high:
        parts.append(f'<line class="axis" x1="{zero:.1f}" y1="0" x2="{zero:.1f}" '
                     f'y2="{len(items) * ROW}"/>')
    return _svg(width, max(len(items), 1) * ROW, title, "".join(parts))


def histogram(counts: Sequence[int], low: float, high: float, *, title: str, width: int = 300,
              height: int = 120, marks: Sequence[tuple[float, str]] = ()) -> str:
    """Vertical bars of ``counts`` over ``low..high``, with the range under the axis and
    optional ``(value, label)`` marks (a median, say) as vertical lines."""
    plot_h = height - 22
    top = max(counts) or 1
    bar_w = width / max(len(counts), 1)
    parts = []
    for i, count in enumerate(counts):
        h = plot_h * count / top
        parts.append(f'<rect class="bar" x="{i * bar_w + 1:.1f}" y="{plot_h - h:.1f}" '
                     f'width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}"><title>{count} '
                     f'in bin {i + 1}</title></rect>')
    span = (high - low) or 1.0
    for value, label in marks:
        mx = width * (value - low) / span
        parts.append(f'<line class="mark" x1="{mx:.1f}" y1="0" x2="{mx:.1f}" y2="{plot_h}"/>'
                     f'<text class="label" x="{min(max(mx, 20), width - 20):.1f}" y="10" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<line class="axis" x1="0" y1="{plot_h}" x2="{width}" y2="{plot_h}"/>'
                 f'<text class="label" x="0" y="{height - 6}">{low:.2f}</text>'
                 f'<text class="label" x="{width}" y="{height - 6}" text-anchor="end">{high:.2f}</text>')
    return _svg(width, height, title, "".join(parts))


def meter(value: float, *, title: str, low: float = 0.0, high: float = 1.0, width: int = 460) -> str:
    """One value on a ``low..high`` scale with a marker: the final ethical score, say."""
    plot_w = width - 20
    span = (high - low) or 1.0
    mx = 10 + plot_w * (min(max(value, low), high) - low) / span
    body = (f'<rect class="scale" x="10" y="14" width="{plot_w}" height="12" rx="6"/>'
            f'<line class="marker" x1="{mx:.1f}" y1="6" x2="{mx:.1f}" y2="34"/>'
            f'<text class="label" x="10" y="48">{low:g}</text>'
            f'<text class="label" x="{width - 10}" y="48" text-anchor="end">{high:g}</text>'
            f'<text class="value big" x="{mx:.1f}" y="48" text-anchor="middle">{value:.3f}</text>')
    return _svg(width, 54, title, body)
