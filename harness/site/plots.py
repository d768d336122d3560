"""Plots as static SVG, drawn at build time: no JavaScript, no chart library, nothing fetched.

Each plot carries its data three ways: drawn, as a CSV file written beside its SVG, and as text (the SVG's <title>
and <desc>, and the table the page shows under it), so a screen reader or a script gets what the eye gets.
Every label is escaped: model and scenario names come from outside.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup, escape

from harness.names import visible
from harness.site.format import fmt_num

WIDTH = 640
ROW = 22  # height of one bar or strip row
PAD_L, PAD_R, PAD_T, PAD_B = 150, 24, 30, 44
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


@dataclass(frozen=True)
class Plot:
    name: str  # file stem, already a slug
    title: str
    desc: str
    svg: Markup
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # as text, in the units shown

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        # A name that starts like a formula (=, +, -, @) would run as one in a spreadsheet: it is quoted as text.
        writer.writerows((("'" + row[0] if row[0][:1] in ("=", "+", "-", "@") else row[0]), *row[1:])
                         for row in self.rows)
        return out.getvalue()

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.name}.svg").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n' + str(self.svg), encoding="utf-8", newline="\n")
        (folder / f"{self.name}.csv").write_text(self.csv(), encoding="utf-8", newline="\n")


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _span(values: Sequence[float]) -> tuple[float, float]:
    """A range holding every value, never empty (one value, or all equal, gets room either side)."""
    lo, hi = min(values), max(values)
    pad = (abs(lo) * 0.1 or 1.0) if hi - lo < 1e-12 else (hi - lo) * 0.05
    # values that cannot be negative (costs, latencies, most scores) keep an axis that starts at 0 at the lowest
    return (max(lo - pad, 0.0) if lo >= 0 else lo - pad), hi + pad


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(step)) if step > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(text: str, limit: int = 22) -> str:
    text = visible(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open(title: str, desc: str, height: int, ident: str) -> list[str]:
    title, desc = visible(title), visible(desc)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]


def _x_axis(lo: float, hi: float, x: object, y0: float, label: str, metric: str) -> list[str]:
    parts = [f'<line x1="{PAD_L}" y1="{y0}" x2="{WIDTH - PAD_R}" y2="{y0}" stroke="#888"/>']
    for t in _ticks(lo, hi):
        px = x(t)  # type: ignore[operator]
        parts.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + 4}" stroke="#888"/>'
                     f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" fill="#444">{escape(fmt_num(t, metric))}</text>')
    parts.append(f'<text x="{(PAD_L + WIDTH - PAD_R) / 2}" y="{y0 + 34}" text-anchor="middle" fill="#222">{escape(label)}</text>')
    return parts


def bars(name: str, title: str, metric: str, items: Sequence[tuple[str, float, float, float]]) -> Plot | None:
    """One bar per (label, mean, ci_low, ci_high), with its interval as a whisker. None without a finite mean."""
    items = [i for i in items if _finite(i[1])]
    if not items:
        return None
    values = [v for _, mean, lo, hi in items for v in (mean, lo, hi) if _finite(v)]
    lo, hi = _span([*values, 0.0] if min(values) >= 0 else values)
    height = PAD_T + ROW * len(items) + PAD_B

    def x(v: float) -> float:
        return PAD_L + (v - lo) / (hi - lo) * (WIDTH - PAD_L - PAD_R)

    desc = "; ".join(f"{visible(label)}: {fmt_num(mean, metric)} (95% CI {fmt_num(a, metric)} to {fmt_num(b, metric)})"
                     for label, mean, a, b in items)
    parts = _open(title, desc, height, name)
    base = x(max(lo, 0.0))
    for i, (label, mean, a, b) in enumerate(items):
        y = PAD_T + i * ROW
        parts.append(f'<text x="{PAD_L - 6}" y="{y + ROW / 2 + 4}" text-anchor="end" fill="#222">{escape(_label(label))}</text>')
        left, right = sorted((base, x(mean)))
        parts.append(f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" height="{ROW - 8}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.55"/>')
        if _finite(a, b):
            cy = y + ROW / 2
            parts.append(f'<line x1="{x(a):.1f}" y1="{cy}" x2="{x(b):.1f}" y2="{cy}" stroke="#111"/>'
                         f'<line x1="{x(a):.1f}" y1="{cy - 5}" x2="{x(a):.1f}" y2="{cy + 5}" stroke="#111"/>'
                         f'<line x1="{x(b):.1f}" y1="{cy - 5}" x2="{x(b):.1f}" y2="{cy + 5}" stroke="#111"/>')
    parts += _x_axis(lo, hi, x, PAD_T + ROW * len(items) + 2, f"{metric} (mean, 95% CI)", metric)
    parts.append("</svg>")
    rows = tuple((visible(label), fmt_num(mean, metric), fmt_num(a, metric), fmt_num(b, metric)) for label, mean, a, b in items)
    return Plot(name, visible(title), visible(desc), Markup("".join(parts)), ("model", metric, "ci_low", "ci_high"), rows)


def scatter(name: str, title: str, x_metric: str, y_metric: str,
            points: Sequence[tuple[str, float | None, float | None]]) -> Plot | None:
    """One labelled point per (label, x, y). None unless at least one point has both values."""
    shown = [(label, float(x_), float(y_)) for label, x_, y_ in points  # type: ignore[arg-type]
             if _finite(x_, y_)]
    if not shown:
        return None
    height = 360
    x_lo, x_hi = _span([p[1] for p in shown])
    y_lo, y_hi = _span([p[2] for p in shown])
    top, bottom = PAD_T, height - PAD_B

    def x(v: float) -> float:
        return PAD_L + (v - x_lo) / (x_hi - x_lo) * (WIDTH - PAD_L - PAD_R)

    def y(v: float) -> float:
        return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top)

    desc = "; ".join(f"{visible(label)}: {y_metric} {fmt_num(b, y_metric)} at {x_metric} {fmt_num(a, x_metric)}"
                     for label, a, b in shown)
    parts = _open(title, desc, height, name)
    parts.append(f'<line x1="{PAD_L}" y1="{top}" x2="{PAD_L}" y2="{bottom}" stroke="#888"/>')
    for t in _ticks(y_lo, y_hi):
        parts.append(f'<line x1="{PAD_L - 4}" y1="{y(t):.1f}" x2="{WIDTH - PAD_R}" y2="{y(t):.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 8}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#444">{escape(fmt_num(t, y_metric))}</text>')
    parts.append(f'<text x="14" y="{(top + bottom) / 2}" transform="rotate(-90 14 {(top + bottom) / 2})" '
                 f'text-anchor="middle" fill="#222">{escape(y_metric)}</text>')
    parts += _x_axis(x_lo, x_hi, x, bottom, x_metric, x_metric)
    for i, (label, a, b) in enumerate(shown):
        colour = PALETTE[i % len(PALETTE)]
        px, py = x(a), y(b)
        left = px > WIDTH * 0.7  # a label near the right edge goes to the point's left
        anchor = ' text-anchor="end"' if left else ""
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{colour}"><title>{escape(visible(label))}</title>'
                     f'</circle><text x="{px - 7 if left else px + 7:.1f}" y="{py - 6:.1f}" fill="{colour}"{anchor}>'
                     f'{escape(_label(label, 18))}</text>')
    parts.append("</svg>")
    rows = tuple((visible(label), fmt_num(a, x_metric), fmt_num(b, y_metric)) for label, a, b in shown)
    return Plot(name, visible(title), visible(desc), Markup("".join(parts)), ("model", x_metric, y_metric), rows)


def strips(name: str, title: str, rows_in: Sequence[tuple[str, Sequence[float], float | None]]) -> Plot | None:
    """Per (label, values in [0, 1], mean): a row of dots, one per value, and a tick at the mean. Drawn for the
    win rates: how a model's per-scenario win rates spread around its mean."""
    rows_in = [r for r in rows_in if r[1]]
    if not rows_in:
        return None
    height = PAD_T + ROW * len(rows_in) + PAD_B

    def x(v: float) -> float:
        return PAD_L + v * (WIDTH - PAD_L - PAD_R)

    desc = "; ".join(f"{visible(label)}: mean {fmt_num(mean)} over {len(values)} scenarios, from {fmt_num(min(values))} "
                     f"to {fmt_num(max(values))}" for label, values, mean in rows_in)
    parts = _open(title, desc, height, name)
    for i, (label, values, mean) in enumerate(rows_in):
        cy = PAD_T + i * ROW + ROW / 2
        parts.append(f'<text x="{PAD_L - 6}" y="{cy + 4}" text-anchor="end" fill="#222">{escape(_label(label))}</text>'
                     f'<line x1="{PAD_L}" y1="{cy}" x2="{WIDTH - PAD_R}" y2="{cy}" stroke="#eee"/>')
        for v in values:
            parts.append(f'<circle cx="{x(v):.1f}" cy="{cy}" r="4" fill="#1f77b4" fill-opacity="0.5"/>')
        if mean is not None and math.isfinite(mean):
            parts.append(f'<line x1="{x(mean):.1f}" y1="{cy - 8}" x2="{x(mean):.1f}" y2="{cy + 8}" stroke="#d62728" stroke-width="2"/>')
    parts += _x_axis(0.0, 1.0, x, PAD_T + ROW * len(rows_in) + 2, "win rate per scenario (dots), mean (red tick)", "")
    parts.append("</svg>")
    rows = tuple((visible(label), fmt_num(mean), " ".join(fmt_num(v) for v in values)) for label, values, mean in rows_in)
    return Plot(name, visible(title), visible(desc), Markup("".join(parts)), ("model", "mean_win_rate", "per_scenario_win_rates"), rows)
