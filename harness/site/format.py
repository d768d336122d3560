"""Formatting for the site: the Jinja filters (numbers in their unit, CIs, clipped escaped text); names are made safe
by harness.names."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from markupsafe import Markup, escape

from harness.report import Score

FIELD_CHARS = 50_000  # longer texts are clipped: escaping can grow text ~5x and one instance must fit a page
SPEC_CHARS = 20_000  # adapter spec values (instructions) are clipped shorter: they sit atop page 1


@functools.lru_cache(maxsize=4096)
def metric_kind(metric: str) -> str:
    """Guess a metric's unit from its name, so each is shown the way people read it."""
    m = metric.lower()
    if any(k in m for k in ("cost", "price", "usd", "dollar")):
        return "dollars"
    if any(k in m for k in ("latency", "runtime", "seconds", "time")) or m.endswith("_s"):
        return "seconds"
    if m.startswith("num_") or any(k in m for k in ("tokens", "count", "length")):
        return "count"
    return "plain"


def _decimals(v: float, minimum: int) -> str:
    """Enough decimals to keep two significant digits of small values ($0.00042, 0.003 s)."""
    if v == 0 or abs(v) >= 1:
        return f"{v:,.{minimum}f}"
    digits = min(8, max(minimum, 1 - math.floor(math.log10(abs(v)))))
    return f"{v:.{digits}f}"


def fmt_num(value: Any, metric: str = "") -> str:
    """Scores in [-1, 1] to 3 decimals, latencies in seconds, costs in dollars, counts as integers."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    kind = metric_kind(metric)
    if kind == "dollars":
        return ("−$" if v < 0 else "$") + _decimals(abs(v), 2)
    if kind == "seconds":
        return _decimals(v, 2) + " s"
    if kind == "count":
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    if -1 <= v <= 1:
        return f"{v:.3f}"
    return f"{v:,.2f}" if abs(v) < 1e7 else f"{v:.3g}"


def fmt_pm(score: Score) -> str:
    """The CI as ± its half-width, in the metric's unit."""
    half = (score.ci_high - score.ci_low) / 2
    return "±" + fmt_num(half, score.metric) if math.isfinite(half) else ""


def ci_title(score: Score) -> str:
    """Tooltip text: the full interval, which need not be symmetric around the mean."""
    lo, hi = fmt_num(score.ci_low, score.metric), fmt_num(score.ci_high, score.metric)
    return f"{score.metric}: mean {fmt_num(score.mean, score.metric)}, 95% CI [{lo}, {hi}], n = {score.count:,}"


def clip(text: Any, limit: int = FIELD_CHARS) -> str:
    """Cut text at limit characters with a visible note (a 5 MB prompt must not break a page).

    Short text comes back as is, a plain str that autoescape will escape; clipped text comes back escaped,
    as Markup, because of the note's HTML. Either way it is safe only where autoescape prints it."""
    s = "" if text is None else str(text)
    if len(s) <= limit:
        return s
    note = escape(f"… {len(s) - limit:,} more characters not shown")
    return escape(s[:limit]) + Markup('<span class="clipped">') + note + Markup("</span>")


def pretty(value: Any) -> str:
    """An adapter spec value. JSON keeps whitespace-only strings ("\\n\\n") visible; long texts stay readable."""
    if isinstance(value, str) and "\n" in value and len(value) > 80:
        return clip(value, SPEC_CHARS)
    return clip(json.dumps(value, ensure_ascii=False, indent=1, default=str), SPEC_CHARS)


@functools.lru_cache(maxsize=65536)
def fmt_stat(metric: str, value: float) -> str:
    """fmt_num for per-instance stats: the same few values recur across thousands of instances."""
    return fmt_num(value, metric)
