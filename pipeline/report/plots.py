"""The report's charts: matplotlib figures rendered to PNG bytes (no display, no network).

Each function takes plain data (what ``facts`` gathered) and returns PNG bytes, or None when
there is nothing to draw.
"""
from __future__ import annotations

import io
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLOR = "#3b6ea8"
ACCENT = "#c8553d"
MAX_BARS = 15


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
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
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(items) + 0.7))
    drawn = ax.barh(labels, values, color=color)
    ax.bar_label(drawn, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.margins(x=0.15)
    if all(v == int(v) for v in values):  # counts: no ticks between whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax)
    return _png(fig)


def per_day(days: Sequence[Tuple[object, int]]) -> Optional[bytes]:
    """Articles per publication day."""
    if not days:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    xs = [d for d, _ in days]
    ax.bar(xs, [n for _, n in days], color=COLOR, width=1.0 if len(days) > 60 else 0.8)
    ax.set_ylabel("articles", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.autofmt_xdate()
    _style(ax)
    return _png(fig)


def histogram(values: Sequence[int], *, xlabel: str) -> Optional[bytes]:
    """Distribution of article lengths (words), on a log scale when they span decades."""
    if not values:
        return None
    import numpy as np
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    lo, hi = max(1, min(values)), max(values)
    if hi / lo > 50:
        edges = np.geomspace(lo, hi * 1.001, 30)
        ax.set_xscale("log")
    else:
        edges = min(30, max(5, len(set(values))))
    ax.hist(values, bins=edges, color=COLOR, edgecolor="white", linewidth=0.5)
    median = float(np.median(values))
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
