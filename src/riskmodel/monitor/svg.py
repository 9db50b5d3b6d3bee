"""The report's three plots as small hand-written SVG (horizontal bars with marks, points with
error bars, grouped bars): the same figures matplotlib drew, without its second of imports.
Each function returns a standalone `<svg>` element, for a file beside the Markdown or inline in
the HTML page."""

from __future__ import annotations

import math
from html import escape

BLUE, ORANGE, RED, INK, GRID = "#1f77b4", "#ff7f0e", "#d62728", "#222", "#ddd"
FONT = 'font-family="sans-serif" font-size="11"'


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [low, high]."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 2)]


def _num(value: float) -> str:
    return f"{value:.3g}"


def _text(x: float, y: float, body: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} {extra}>{escape(body)}</text>'
    )


def _frame(width: int, height: int, title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>'
        + _text(width / 2, 16, title, "middle", 'font-weight="bold"')
        + "".join(parts)
        + "</svg>"
    )


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    """(colour, label) pairs, one a line; a colour starting with '|' draws a tick mark."""
    out = []
    for i, (colour, label) in enumerate(items):
        yy = y + 14 * i
        if colour.startswith("|"):
            out.append(
                f'<line x1="{x + 5}" y1="{yy - 9}" x2="{x + 5}" y2="{yy + 1}" '
                f'stroke="{colour[1:]}" stroke-width="2"/>'
            )
        else:
            out.append(f'<rect x="{x}" y="{yy - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(_text(x + 14, yy, label))
    return out


def _grid(ticks: list[float], y_of, left: float, x_end: float) -> list[str]:
    """Horizontal grid lines at the ticks, each labelled on the left."""
    parts = []
    for t in ticks:
        y = y_of(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{x_end}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, _num(t), "end"))
    return parts


def _ylabel(text: str, middle: float) -> str:
    """The y axis's title, turned to read upwards, centred at `middle`."""
    return _text(14, middle, text, "middle", f'transform="rotate(-90 14 {middle:.1f})"')


def bars(
    labels: list[str],
    values: list[float],
    marks: list[float],
    title: str,
    xlabel: str,
    mark_label: str,
) -> str:
    """Horizontal bars (first label on top), each with a tick mark at `marks`."""
    left, right, top, row = 190, 20, 28, 20
    width = 640
    height = top + row * len(labels) + 62
    plot_w = width - left - right
    ticks = _ticks(0.0, max([*values, *marks, 1e-9]))
    scale = plot_w / ticks[-1]
    parts = []
    bottom = top + row * len(labels)
    for t in ticks:
        x = left + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>')
        parts.append(_text(x, bottom + 14, _num(t), "middle"))
    for i, (label, value, mark) in enumerate(zip(labels, values, marks, strict=True)):
        y = top + row * i
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{max(value, 0) * scale:.1f}" '
            f'height="{row - 6}" fill="{BLUE}"><title>{escape(label)}: '
            f"{value:.3f}</title></rect>"
        )
        mx = left + mark * scale
        parts.append(
            f'<line x1="{mx:.1f}" y1="{y + 1}" x2="{mx:.1f}" y2="{y + row - 1}" '
            f'stroke="{INK}" stroke-width="2"/>'
        )
        parts.append(_text(left - 6, y + row / 2 + 4, label, "end"))
    parts.append(
        f'<line x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}" stroke="{INK}"/>'
    )
    parts.append(_text(left + plot_w / 2, bottom + 30, xlabel, "middle"))
    parts += _legend(left, bottom + 48, [(BLUE, "PSI"), ("|" + INK, mark_label)])
    return _frame(width, height + 14, title, parts)


def points(
    years: list[int],
    estimate: list[float],
    low: list[float],
    high: list[float],
    realised: list[tuple[int, float]],
    title: str,
    ylabel: str,
) -> str:
    """Estimates with their intervals per year, realised values beside them."""
    width, height, left, right, top, bottom = 640, 320, 60, 20, 28, 80
    values = [*low, *high, *(v for _, v in realised)]
    ticks = _ticks(min(values), max(values))
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(years), 1)

    def x_of(year: int) -> float:
        return left + slot * (years.index(year) + 0.5)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - y0) / (y1 - y0))

    parts = _grid(ticks, y_of, left, width - right)
    for year, e, lo, hi in zip(years, estimate, low, high, strict=True):
        x = x_of(year)
        parts.append(
            f'<line x1="{x:.1f}" y1="{y_of(lo):.1f}" x2="{x:.1f}" y2="{y_of(hi):.1f}" '
            f'stroke="{BLUE}" stroke-width="1.5"/>'
        )
        for v in (lo, hi):
            parts.append(
                f'<line x1="{x - 5:.1f}" y1="{y_of(v):.1f}" x2="{x + 5:.1f}" '
                f'y2="{y_of(v):.1f}" stroke="{BLUE}" stroke-width="1.5"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y_of(e):.1f}" r="4" fill="{BLUE}"><title>'
            f"{year}: estimated {e:.3f} [{lo:.3f}, {hi:.3f}]</title></circle>"
        )
        parts.append(_text(x, top + plot_h + 16, str(year), "middle"))
    for year, v in realised:
        x = x_of(year) + 12
        parts.append(
            f'<rect x="{x - 4:.1f}" y="{y_of(v) - 4:.1f}" width="8" height="8" '
            f'fill="{RED}"><title>{year}: realised {v:.3f}</title></rect>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
        f'y2="{top + plot_h}" stroke="{INK}"/>'
    )
    parts.append(_text(left + plot_w / 2, top + plot_h + 32, "batch year", "middle"))
    parts.append(_ylabel(ylabel, top + plot_h / 2))
    parts += _legend(left, top + plot_h + 50, [(BLUE, "estimated (95%)"), (RED, "realised")])
    return _frame(width, height, title, parts)


def grouped(groups: list[str], series: dict[str, list[float]], title: str, ylabel: str) -> str:
    """Bars side by side per group, one colour per series (in order: blue, orange)."""
    width, height, left, right, top, bottom = 420, 300, 60, 20, 28, 66
    values = [v for vs in series.values() for v in vs]
    ticks = _ticks(0.0, max([*values, 1e-9]))
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / ticks[-1])

    parts = _grid(ticks, y_of, left, width - right)
    colours = [BLUE, ORANGE]
    for s, (name, vs) in enumerate(series.items()):
        for g, v in enumerate(vs):
            x = left + slot * g + slot * 0.1 + bar * s
            parts.append(
                f'<rect x="{x:.1f}" y="{y_of(v):.1f}" width="{bar:.1f}" '
                f'height="{top + plot_h - y_of(v):.1f}" fill="{colours[s % 2]}">'
                f"<title>{escape(groups[g])} {name}: {v:.1f}</title></rect>"
            )
    for g, label in enumerate(groups):
        parts.append(_text(left + slot * (g + 0.5), top + plot_h + 16, label, "middle"))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
        f'y2="{top + plot_h}" stroke="{INK}"/>'
    )
    parts.append(_ylabel(ylabel, top + plot_h / 2))
    legend = [(colours[i % 2], name) for i, name in enumerate(series)]
    parts += _legend(left, top + plot_h + 36, legend)
    return _frame(width, height, title, parts)
