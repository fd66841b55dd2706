"""The report's charts: matplotlib figures rendered to PNG bytes (no display, no network).

Each function takes plain data (what ``facts`` gathered) and returns PNG bytes, or None when
there is nothing to draw.
"""
from __future__ import annotations

import io
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # no display: files only
# Labels are data (site names, reasons): a "$" must never start TeX maths (which fails).
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLOR = "#3b6ea8"
ACCENT = "#c8553d"
MAX_BARS = 15


def _png(fig) -> bytes:
    # Margins are set by each chart: matplotlib's automatic layouts draw the figure twice
    # (half the cost of a report).
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    plt.close(fig)
    return buf.getvalue()


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def bars(items: Sequence[Tuple[str, float]], *, xlabel: str = "", color: str = COLOR,
         fmt: str = "{:,.0f}") -> Optional[bytes]:
    """Horizontal bars, largest on top; beyond ``MAX_BARS`` the rest is one "(other)" bar."""
    items = [(str(k), float(v)) for k, v in items if v]
    if not items:
        return None
    if len(items) > MAX_BARS:
        rest = sum(v for _, v in items[MAX_BARS - 1:])
        items = items[:MAX_BARS - 1] + [(f"({len(items) - MAX_BARS + 1} others)", rest)]
    labels = [k if len(k) <= 40 else k[:39] + "…" for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    height = 0.32 * len(items) + 0.7
    fig, ax = plt.subplots(figsize=(6.4, height))
    # room for the longest label (~0.075 in per character at this size) and the axis label
    fig.subplots_adjust(left=min(0.5, 0.03 + 0.0117 * max(len(l) for l in labels)), right=0.97,
                        top=1 - 0.1 / height, bottom=0.55 / height)
    drawn = ax.barh(labels, values, color=color)
    ax.bar_label(drawn, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.margins(x=0.15)
    if all(v == int(v) for v in values):  # counts: no ticks between whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax)
    return _png(fig)


def per_day(days: Sequence[Tuple[object, int]]) -> Optional[bytes]:
    """Articles per publication day; over a long span, per week or per month, so that a few
    old articles do not shrink the recent days to hairlines."""
    import datetime as dt
    if not days:
        return None
    span = (days[-1][0] - days[0][0]).days
    if span > 180:
        unit, width, key = "month", 25, lambda d: d.replace(day=1)
    elif span > 45:
        unit, width, key = "week", 6, lambda d: d - dt.timedelta(days=d.weekday())
    else:
        unit, width, key = "day", 0.8, lambda d: d
    counts: dict = {}
    for d, n in days:
        counts[key(d)] = counts.get(key(d), 0) + n
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.95, bottom=0.3)
    ax.bar(list(counts), list(counts.values()), color=COLOR, width=width, align="edge")
    ax.set_ylabel(f"articles per {unit}", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.autofmt_xdate()
    _style(ax)
    return _png(fig)


def histogram(lengths: Optional[dict], *, xlabel: str) -> Optional[bytes]:
    """A histogram already counted (``facts._lengths``: bins of (left, right, count)), with
    its median; on a log scale when its bins are log-spaced."""
    if not lengths:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.95, bottom=0.2)
    bins = lengths["bins"]
    ax.bar([max(0.5, l) for l, _, _ in bins], [n for _, _, n in bins],
           width=[r - max(0.5, l) for l, r, _ in bins], align="edge", color=COLOR,
           edgecolor="white", linewidth=0.5)
    if lengths["log"]:
        ax.set_xscale("log")
    median = lengths["median"]
    ax.axvline(median, color=ACCENT, linewidth=1.2)
    ax.annotate(f"median {median:,.0f}", (median, ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                textcoords="offset points", fontsize=8, color=ACCENT)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("articles", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax)
    return _png(fig)


def history(runs: List[dict]) -> Optional[bytes]:
    """Runs over time: articles added, duration and reject rate, one panel each."""
    if not runs:
        return None
    xs = list(range(1, len(runs) + 1))
    fig, axes = plt.subplots(3, 1, figsize=(6.4, 5.0), sharex=True)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.97, bottom=0.1, hspace=0.15)
    panels = (("articles added", [r["articles"] for r in runs], "{:,.0f}"),
              ("seconds", [r["seconds"] for r in runs], "{:,.1f}"),
              ("reject rate", [100 * r["reject_rate"] for r in runs], "{:.1f}%"))
    for ax, (label, values, _fmt) in zip(axes, panels):
        if len(runs) == 1:
            ax.bar(xs, values, color=COLOR, width=0.4)
        else:
            ax.plot(xs, values, marker="o", markersize=3, color=COLOR, linewidth=1.2)
        ax.set_ylabel(label, fontsize=9)
        _style(ax)
    axes[-1].set_xlabel("run (oldest first)", fontsize=9)
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)
