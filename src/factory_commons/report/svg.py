"""Small dependency-free SVG charts (line, waterfall, Pareto) for self-contained HTML reports.

Charts are drawn server-side so that a report opens on a shop PC with no internet and no
JavaScript libraries. Labels are never cut: a long name (a reason, a machine's display name) is
wrapped onto as many lines as it needs under its bar, and the chart grows to hold them; each
bar also carries its full label and value as a tooltip (`<title>`).
"""

from __future__ import annotations

import unicodedata
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777")


#: the width of one character of the 12 px chart font, roughly: East Asian wide ones, others
WIDE_PX, NARROW_PX = 12.5, 7.2
LINE_PX = 14


def text_width(text: str) -> float:
    """The width of `text` in the 12 px chart font, estimated (no font metrics on a server)."""
    return sum(WIDE_PX if unicodedata.east_asian_width(ch) in "WF" else NARROW_PX for ch in text)


def wrap(text: str, max_px: float) -> list[str]:
    """`text` in lines no wider than `max_px`: broken between words where it can, inside a word
    (a long Korean or English one) where it must; nothing is left out."""
    max_px = max(max_px, WIDE_PX)
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate) <= max_px:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for ch in word:
            if current and text_width(current + ch) > max_px:
                lines.append(current)
                current = ""
            current += ch
    if current or not lines:
        lines.append(current)
    return lines


#: the smallest font a label is shrunk to (of 12 px) before a word that still does not fit is broken
MIN_SCALE = 0.75


def fit(text: str, max_px: float) -> tuple[list[str], float]:
    """`text` wrapped into `max_px`, and the font scale (MIN_SCALE to 1) that lets its longest
    word fit on one line where shrinking a little is enough ("Changeover" under a narrow bar)."""
    widest = max((text_width(w) for w in text.split(" ")), default=0.0)
    scale = 1.0 if widest <= max_px else max(MIN_SCALE, max_px / widest)
    return wrap(text, max_px / scale), scale


def _label(x: float, y: float, lines: list[str], anchor: str = "middle", scale: float = 1.0) -> str:
    """A text of several lines (tspans), its first line's baseline at `y`; `scale`: of 12 px."""
    step = LINE_PX * scale
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else step:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    size = "" if scale == 1.0 else f' style="font-size:{12 * scale:.1f}px"'
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{size}>{spans}</text>'


def _frame(width: int, height: int, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}">'
        f"<style>text{{font:12px 'Malgun Gothic','Noto Sans KR','Noto Sans CJK KR',sans-serif;fill:#334155}}</style>{body}</svg>"
    )


def line_chart(
    x_labels: list[str],
    series: dict[str, list[float | None]],
    title: str,
    y_max: float = 1.0,
    percent: bool = True,
    width: int = 760,
    height: int = 280,
) -> str:
    """One line per series over shared x labels; None leaves a gap."""
    legend_px = min(max((text_width(n) for n in series), default=0.0), 220.0)
    left, right, top, bottom = 48, int(max(140, legend_px + 40)), 16, 36
    width = max(width, left + right + 300)
    pw, ph = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph * (1 - min(max(v / y_max, 0), 1))

    parts = []
    for k in range(0, 5):
        v = y_max * k / 4
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e2e8f0"/>')
        lab = f"{v:.0%}" if percent else f"{v:.3g}"
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{lab}</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 12}" text-anchor="middle">{escape(x_labels[i])}</text>'
        )
    legend_y = top + 14
    for j, (name, values) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        path, pen = [], "M"
        for i, v in enumerate(values):
            if v is None or v != v:
                pen = "M"
                continue
            path.append(f"{pen}{x(i):.1f},{y(v):.1f}")
            pen = "L"
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2"/>')
        lines = wrap(name, 220)
        ly = legend_y
        legend_y += 18 + LINE_PX * (len(lines) - 1)
        parts.append(f'<rect x="{left + pw + 12}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(_label(left + pw + 28, ly, lines, "start"))
    return _frame(width, height, "".join(parts), title)


def waterfall(
    start_label: str,
    start: float,
    steps: list[tuple[str, float]],
    end_label: str,
    title: str,
    unit: str = "h",
    width: int = 760,
    height: int = 380,
) -> str:
    """Start bar, one falling bar per loss, end bar: start - sum(losses) = end."""
    left, top = 56, 20
    bars = [(start_label, 0.0, start, "#2563eb")]
    level = start
    for name, loss in steps:
        bars.append((name, level - loss, level, "#dc2626"))
        level -= loss
    bars.append((end_label, 0.0, level, "#16a34a"))
    pw = width - left - 20
    bw = pw / len(bars)
    labels = [fit(name, bw * 0.95) for name, *_ in bars]
    bottom = 24 + LINE_PX * max(len(x) * scale for x, scale in labels)
    ph = max(height - 120 - top, 120)
    height = top + ph + bottom
    top_v = max(start, 1e-9)

    def y(v: float) -> float:
        return top + ph * (1 - v / top_v)

    parts = [f'<line x1="{left}" x2="{left + pw}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#94a3b8"/>']
    for i, (name, lo, hi, color) in enumerate(bars):
        x0 = left + i * bw + bw * 0.15
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(hi):.1f}" width="{bw * 0.7:.1f}" '
            f'height="{max(y(lo) - y(hi), 0.5):.1f}" fill="{color}"><title>{escape(name)}: {hi - lo:.1f}{unit}</title></rect>'
        )
        parts.append(
            f'<text x="{x0 + bw * 0.35:.1f}" y="{y(hi) - 4:.1f}" text-anchor="middle">{hi - lo:.1f}{unit}</text>'
        )
        parts.append(_label(x0 + bw * 0.35, top + ph + 18, labels[i][0], "middle", labels[i][1]))
    return _frame(width, height, "".join(parts), title)


def pareto(
    labels: list[str], values: list[float], title: str, unit: str = "h", width: int = 760, height: int = 380
) -> str:
    """Bars largest first with the cumulative share as a line."""
    left, right, top = 56, 50, 20
    pw = width - left - right
    n = max(len(values), 1)
    bw = pw / n
    wrapped = [fit(name, bw * 0.95) for name in labels]
    bottom = 24 + LINE_PX * max((len(x) * scale for x, scale in wrapped), default=1)
    ph = max(height - 120 - top, 120)
    height = top + ph + bottom
    vmax = max(values) if values else 1.0
    total = sum(values) or 1.0
    parts = []
    cum, pts = 0.0, []
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        x0 = left + i * bw + bw * 0.15
        h = ph * v / vmax
        parts.append(
            f'<rect x="{x0:.1f}" y="{top + ph - h:.1f}" width="{bw * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#d97706"><title>{escape(name)}: {v:.1f}{unit}</title></rect>'
        )
        parts.append(
            f'<text x="{x0 + bw * 0.35:.1f}" y="{top + ph - h - 4:.1f}" text-anchor="middle">{v:.1f}{unit}</text>'
        )
        parts.append(_label(x0 + bw * 0.35, top + ph + 18, wrapped[i][0], "middle", wrapped[i][1]))
        cum += v
        pts.append(f"{x0 + bw * 0.35:.1f},{top + ph * (1 - cum / total):.1f}")
    if pts:
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#1e293b" stroke-width="2"/>')
        parts.append(f'<text x="{left + pw + 6}" y="{top + 8}">100%</text>')
        parts.append(f'<text x="{left + pw + 6}" y="{top + ph}">0%</text>')
    return _frame(width, height, "".join(parts), title)
