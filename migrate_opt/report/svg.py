"""Small inline SVG charts (line, scatter, box-and-dots) for self-contained reports:
no plotting library, no scripts, no external resources."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")

Point = tuple[float, float]


@dataclass(frozen=True)
class Frame:
    """Plot area inside an SVG of ``width`` x ``height`` pixels, and the data ranges."""

    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    left: int = 56
    right: int = 16
    top: int = 28
    bottom: int = 40

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.inner_width

    def y(self, v: float) -> float:
        return self.top + (self.y1 - v) / (self.y1 - self.y0) * self.inner_height

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2g}"
    return f"{v:.4g}"


def _span(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:  # a flat series still needs a visible range
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _open(f: Frame, title: str, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(label or title)}" width="{f.width}" height="{f.height}" '
        f'viewBox="0 0 {f.width} {f.height}" font-family="sans-serif" font-size="11">',
        f'<text x="{f.left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]


def _axes(f: Frame, xlabel: str, ylabel: str, x_ticks: bool = True) -> list[str]:
    out = [f'<rect x="{f.left}" y="{f.top}" width="{f.inner_width:.1f}" '
           f'height="{f.inner_height:.1f}" fill="none" stroke="#999"/>']
    for t in nice_ticks(f.y0, f.y1):
        y = f.y(t)
        out.append(f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{f.left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    if x_ticks:
        for t in nice_ticks(f.x0, f.x1):
            x = f.x(t)
            out.append(f'<text x="{x:.1f}" y="{f.height - f.bottom + 14}" '
                       f'text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<text x="{f.left + f.inner_width / 2:.1f}" y="{f.height - 6}" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(12,{f.top + f.inner_height / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    return out


def _legend(f: Frame, names: Sequence[str]) -> list[str]:
    out, x = [], f.left + 8.0
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.1f}" y="{f.top + 6}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{f.top + 15}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    dots: Sequence[Point] = (),
    step: bool = False,
    width: int = 640,
    height: int = 300,
    legend: bool = True,
    dashed: Collection[str] = (),
) -> str:
    """Lines (``step``: a staircase, for best-so-far curves) over optional grey dots;
    ``legend=False`` when the page keys the colours itself (``PALETTE`` order); the series
    named in ``dashed`` are drawn dashed."""
    pts = [p for s in series.values() for p in s] + list(dots)
    if not pts:
        return empty_chart(title, "no data yet", width=width)
    x0, x1 = _span([p[0] for p in pts])
    y0, y1 = _span([p[1] for p in pts])
    f = Frame(width, height, x0, x1, y0, y1)
    out = _open(f, title, f"{title}: {ylabel} against {xlabel}") + _axes(f, xlabel, ylabel)
    out += [f'<circle cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="2" fill="#bbb"/>'
            for x, y in dots]
    for i, (name, s) in enumerate(series.items()):
        if not s:
            continue
        path = _path(f, s, step)
        dash = ' stroke-dasharray="6 4"' if name in dashed else ""
        out.append(f'<path class="series" d="{path}" fill="none" '
                   f'stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2"{dash}/>')
    if legend and len(series) > 1:
        out += _legend(f, list(series))
    return "\n".join(out + ["</svg>"])


def _path(f: Frame, s: Sequence[Point], step: bool) -> str:
    parts = [f"M{f.x(s[0][0]):.1f},{f.y(s[0][1]):.1f}"]
    for x, y in s[1:]:
        if step:
            parts.append(f"H{f.x(x):.1f}V{f.y(y):.1f}")
        else:
            parts.append(f"L{f.x(x):.1f},{f.y(y):.1f}")
    if len(s) == 1:  # a single point: draw a short tick so it shows
        parts.append("h4")
    return "".join(parts)


def box_chart(
    groups: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    width: int = 640,
    height: int = 300,
) -> str:
    """One box (quartiles, whiskers at min/max) with jittered dots per group."""
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return empty_chart(title, "no valid scores yet", width=width)
    y0, y1 = _span([v for vs in groups.values() for v in vs])
    f = Frame(width, height, 0, len(groups), y0, y1)
    out = _open(f, title, f"{title}: {ylabel} per group") + _axes(f, "", ylabel, x_ticks=False)
    slot = f.inner_width / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        cx = f.x(i + 0.5)
        color = PALETTE[i % len(PALETTE)]
        q0, q1, q2, q3, q4 = quartiles(values)
        half = min(slot * 0.3, 40)
        out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{f.y(q0):.1f}" y2="{f.y(q4):.1f}" '
                   f'stroke="{color}"/>')
        out.append(f'<rect class="box" x="{cx - half:.1f}" y="{f.y(q3):.1f}" '
                   f'width="{2 * half:.1f}" height="{max(f.y(q1) - f.y(q3), 1):.1f}" '
                   f'fill="{color}" fill-opacity="0.25" stroke="{color}"/>')
        out.append(f'<line x1="{cx - half:.1f}" x2="{cx + half:.1f}" y1="{f.y(q2):.1f}" '
                   f'y2="{f.y(q2):.1f}" stroke="{color}" stroke-width="2"/>')
        for j, v in enumerate(_thin(values, 400)):
            jitter = ((j * 0.618034) % 1 - 0.5) * half * 1.6  # deterministic spread
            out.append(f'<circle cx="{cx + jitter:.1f}" cy="{f.y(v):.1f}" r="1.8" '
                       f'fill="{color}" fill-opacity="0.6"/>')
        out.append(f'<text x="{cx:.1f}" y="{f.height - f.bottom + 14}" text-anchor="middle">'
                   f'{escape(name)} (n={len(values)})</text>')
    return "\n".join(out + ["</svg>"])


def quartiles(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    s = sorted(values)

    def q(p: float) -> float:
        k = (len(s) - 1) * p
        lo, hi = math.floor(k), math.ceil(k)
        return s[lo] + (s[hi] - s[lo]) * (k - lo)

    return s[0], q(0.25), q(0.5), q(0.75), s[-1]


def _thin(values: Sequence[float], n: int) -> Sequence[float]:
    """At most ``n`` evenly spaced values (a chart of 100k dots helps nobody)."""
    if len(values) <= n:
        return values
    return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)]


def thin_points(points: Sequence[Point], n: int) -> list[Point]:
    return list(_thin(points, n))  # type: ignore[arg-type]


def empty_chart(title: str, message: str, *, width: int = 640, height: int = 80) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart empty" width="{width}" '
            f'height="{height}" font-family="sans-serif" font-size="12">'
            f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>'
            f'<text x="8" y="44" fill="#777">{escape(message)}</text></svg>')


def share_bar(parts: Mapping[str, float], *, title: str, width: int = 640) -> str:
    """One horizontal bar split into the parts' shares, labelled with their percentages."""
    total = sum(v for v in parts.values() if v > 0)
    if total <= 0:
        return empty_chart(title, "no time recorded", width=width)
    height, left, bar_w = 64, 8, width - 16
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart share" role="img" '
           f'aria-label="{escape(title)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">']
    x = float(left)
    for i, (name, v) in enumerate((k, v) for k, v in parts.items() if v > 0):
        w = bar_w * v / total
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect class="box" x="{x:.1f}" y="8" width="{w:.1f}" height="22" '
                   f'fill="{color}"><title>{escape(name)}</title></rect>')
        label = f"{name} {v / total:.0%}"
        if w > 7 * len(label):
            out.append(f'<text x="{x + 4:.1f}" y="23" fill="#fff">{escape(label)}</text>')
        else:
            at = min(x, width - 7 * len(label))  # the last labels stay inside the picture
            out.append(f'<text x="{at:.1f}" y="{44 + 12 * (i % 2)}" fill="{color}">'
                       f'{escape(label)}</text>')
        x += w
    return "\n".join(out + ["</svg>"])
