"""The report's charts as inline SVG markup: drawn by hand from plain data, no plotting
library (matplotlib took 1.2 s of every run's report: 0.65 s to import, 0.55 s to draw),
nothing fetched, crisp at any zoom.

Each function takes what ``facts`` gathered and returns one ``<svg>`` element as a string,
or None when there is nothing to draw. Every label is data (site names, reasons) and is
escaped.
"""
from __future__ import annotations

import datetime as dt
import html
import math
from typing import Callable, List, Optional, Sequence, Tuple

COLOR = "#3b6ea8"
ACCENT = "#c8553d"
MAX_BARS = 15
WIDTH = 640
FONT = 11
CHAR = 6.2      # px per character at FONT, for a sans-serif average; room for labels
BAR = 22        # px per horizontal bar
LABEL_CHARS = 40


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _svg(width: float, height: float, body: List[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="{FONT}">'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, anchor: str = "start", color: str = "#333", size: int = FONT) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}"'
            + (f' font-size="{size}"' if size != FONT else "") + f">{_e(s)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, color: str = "#999", width: float = 1) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"/>'


def _rect(x: float, y: float, w: float, h: float, color: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{color}"/>'


def ticks(top: float, integer: bool, count: int = 5) -> List[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 times a power of
    ten; whole numbers only when ``integer``)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _number(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:,.2g}" if abs(v) < 1 else f"{v:,.1f}"


class _Frame:
    """A plot area ``left..right`` x ``top..bottom`` (px) with a y scale from 0 to the
    largest tick, and y ticks drawn with their grid lines."""

    def __init__(self, left: float, top: float, right: float, bottom: float, ymax: float, integer: bool):
        self.left, self.top, self.right, self.bottom = left, top, right, bottom
        self.yticks = ticks(ymax, integer)

    def y(self, v: float) -> float:
        return self.bottom - (self.bottom - self.top) * v / self.yticks[-1]

    def axes(self, ylabel: str, fmt: Callable[[float], str] = _number) -> List[str]:
        out = []
        for t in self.yticks:
            out.append(_line(self.left, self.y(t), self.right, self.y(t), "#eee"))
            out.append(_text(self.left - 4, self.y(t) + 4, fmt(t), "end", "#555", 10))
        out.append(_line(self.left, self.bottom, self.right, self.bottom))
        mid = (self.top + self.bottom) / 2
        out.append(f'<text x="12" y="{mid:.1f}" text-anchor="middle" fill="#333" '
                   f'transform="rotate(-90 12 {mid:.1f})">{_e(ylabel)}</text>')
        return out


def bars(items: Sequence[Tuple[str, float]], *, xlabel: str = "", color: str = COLOR,
         fmt: str = "{:,.0f}") -> Optional[str]:
    """Horizontal bars, largest first as given; beyond ``MAX_BARS`` the rest is one
    "(N others)" bar."""
    items = [(str(k), float(v)) for k, v in items if v]
    if not items:
        return None
    if len(items) > MAX_BARS:
        rest = sum(v for _, v in items[MAX_BARS - 1:])
        items = items[:MAX_BARS - 1] + [(f"({len(items) - MAX_BARS + 1} others)", rest)]
    labels = [k if len(k) <= LABEL_CHARS else k[:LABEL_CHARS - 1] + "…" for k, _ in items]
    top_value = max(v for _, v in items)
    values = [fmt.format(v) for _, v in items]
    left = 8 + CHAR * max(len(label) for label in labels)
    right = WIDTH - 8 - CHAR * max(len(v) for v in values)
    height = BAR * len(items) + 44
    axis_y = BAR * len(items) + 6
    scale = (right - left) / top_value if top_value > 0 else 0
    body = []
    for i, ((label, v), shown) in enumerate(zip(zip(labels, (v for _, v in items)), values)):
        y = 4 + i * BAR
        w = max(0.0, v) * scale
        body.append(_rect(left, y + 3, w, BAR - 6, color))
        body.append(_text(left - 6, y + BAR / 2 + 4, label, "end"))
        body.append(_text(left + w + 4, y + BAR / 2 + 4, shown, "start", "#444", 10))
    body.append(_line(left, axis_y, right, axis_y))
    integer = all(v == int(v) for _, v in items)
    for t in ticks(top_value, integer, 4):
        if t <= top_value * 1.0001:
            x = left + t * scale
            body.append(_line(x, axis_y, x, axis_y + 4))
            body.append(_text(x, axis_y + 15, _number(t), "middle", "#555", 10))
    if xlabel:
        body.append(_text((left + right) / 2, height - 4, xlabel, "middle"))
    return _svg(WIDTH, height, body)


def _columns(frame: _Frame, spans: Sequence[Tuple[float, float, float]], xmap: Callable[[float], float],
             color: str = COLOR, gap: float = 1.0) -> List[str]:
    """Vertical bars over [x0, x1) with heights ``count``, x mapped to px by ``xmap``."""
    out = []
    for x0, x1, count in spans:
        a, b = xmap(x0), xmap(x1)
        out.append(_rect(a + gap / 2, frame.y(count), max(1.0, b - a - gap), frame.bottom - frame.y(count), color))
    return out


def per_day(days: Sequence[Tuple[object, int]]) -> Optional[str]:
    """Articles per publication day; over a long span, per week or per month, so that a few
    old articles do not shrink the recent days to hairlines."""
    if not days:
        return None
    span = (days[-1][0] - days[0][0]).days
    if span > 180:
        unit, key = "month", lambda d: d.replace(day=1)
        after = lambda d: (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)  # noqa: E731
    elif span > 45:
        unit, key = "week", lambda d: d - dt.timedelta(days=d.weekday())
        after = lambda d: d + dt.timedelta(days=7)  # noqa: E731
    else:
        unit, key, after = "day", (lambda d: d), (lambda d: d + dt.timedelta(days=1))
    counts: dict = {}
    for d, n in days:
        counts[key(d)] = counts.get(key(d), 0) + n
    first, last = min(counts), after(max(counts))
    frame = _Frame(56, 8, WIDTH - 12, 190, max(counts.values()), True)
    width = max(1, (last - first).days)

    def xmap(d) -> float:
        return frame.left + (frame.right - frame.left) * (d - first).days / width
    body = frame.axes(f"articles per {unit}")
    body += _columns(frame, [(d, after(d), n) for d, n in sorted(counts.items())], xmap)
    marks = sorted(counts)
    shown = marks if len(marks) <= 6 else [marks[round(i * (len(marks) - 1) / 5)] for i in range(6)]
    label = (lambda d: d.strftime("%Y-%m")) if unit == "month" else (lambda d: d.isoformat())
    for d in shown:
        x = (xmap(d) + xmap(after(d))) / 2
        body.append(_line(x, frame.bottom, x, frame.bottom + 4))
        body.append(_text(x, frame.bottom + 16, label(d), "middle", "#555", 10))
    return _svg(WIDTH, 220, body)


def histogram(lengths: Optional[dict], *, xlabel: str) -> Optional[str]:
    """A histogram already counted (``facts._lengths``: bins of (left, right, count)), with
    its median; on a log scale when its bins are log-spaced."""
    if not lengths:
        return None
    bins = [(max(0.5, l), r, n) for l, r, n in lengths["bins"]]
    lo, hi = bins[0][0], bins[-1][1]
    frame = _Frame(56, 8, WIDTH - 12, 180, max(n for _, _, n in bins), True)
    if lengths["log"]:
        f = lambda v: math.log(max(v, 0.5))  # noqa: E731
    else:
        f = lambda v: v  # noqa: E731
    spread = (f(hi) - f(lo)) or 1.0

    def xmap(v: float) -> float:
        return frame.left + (frame.right - frame.left) * (f(v) - f(lo)) / spread
    body = frame.axes("articles")
    body += _columns(frame, bins, xmap)
    edges = [lo, hi] if len(bins) < 3 else [lo, bins[len(bins) // 2][0], hi]
    for v in edges:
        body.append(_text(xmap(v), frame.bottom + 15, f"{v:,.0f}", "middle", "#555", 10))
    median = lengths["median"]
    x = xmap(min(max(median, lo), hi))
    body.append(_line(x, frame.top, x, frame.bottom, ACCENT, 1.5))
    body.append(_text(x + 4, frame.top + 10, f"median {median:,.0f}", "start", ACCENT, 10))
    body.append(_text((frame.left + frame.right) / 2, 210, xlabel + (" (log scale)" if lengths["log"] else ""), "middle"))
    return _svg(WIDTH, 216, body)


def history(runs: List[dict]) -> Optional[str]:
    """Runs over time: articles added, duration and reject rate, one panel each."""
    if not runs:
        return None
    panels = (("articles added", [float(r["articles"]) for r in runs], True, _number),
              ("seconds", [float(r["seconds"]) for r in runs], False, _number),
              ("reject rate %", [100 * float(r["reject_rate"]) for r in runs], False, _number))
    body, height, n = [], 110, len(runs)
    for p, (label, values, integer, fmt) in enumerate(panels):
        top = 8 + p * height
        frame = _Frame(64, top, WIDTH - 12, top + height - 24, max(values) or 1.0, integer)
        body += frame.axes(label, fmt)

        def xmap(i: float) -> float:
            return frame.left + (frame.right - frame.left) * (i + 0.5) / n
        if n == 1:
            body += _columns(frame, [(-0.2, 0.2, values[0])], xmap)
            continue
        points = " ".join(f"{xmap(i):.1f},{frame.y(v):.1f}" for i, v in enumerate(values))
        body.append(f'<polyline points="{points}" fill="none" stroke="{COLOR}" stroke-width="1.5"/>')
        body += [f'<circle cx="{xmap(i):.1f}" cy="{frame.y(v):.1f}" r="2.5" fill="{COLOR}"/>'
                 for i, v in enumerate(values)]
    bottom = 8 + 3 * height - 24
    step = max(1, math.ceil(n / 10))
    for i in range(0, n, step):
        x = 64 + (WIDTH - 12 - 64) * (i + 0.5) / n
        body.append(_text(x, bottom + 15, str(i + 1), "middle", "#555", 10))
    body.append(_text((64 + WIDTH - 12) / 2, bottom + 32, "run (oldest first)", "middle"))
    return _svg(WIDTH, bottom + 38, body)


def lines(xs: Sequence[float], series: Sequence[Tuple[str, Sequence[float], str]], *, xlabel: str,
          ylabel: str, title: str = "") -> Optional[str]:
    """Line chart over the points ``xs`` (drawn evenly spaced, labelled with their values);
    ``series``: (name, values, colour) each, named in a legend. Dashed when the name says
    "ideal"."""
    if not xs or not series:
        return None
    top = max(max(values) for _, values, _ in series)
    frame = _Frame(64, 28 if title else 12, WIDTH - 12, 230, top, False)
    n = len(xs)

    def xmap(i: float) -> float:
        return frame.left + (frame.right - frame.left) * (i + 0.5) / n
    body = frame.axes(ylabel)
    if title:
        body.append(_text((frame.left + frame.right) / 2, 16, title, "middle"))
    for i, x in enumerate(xs):
        body.append(_text(xmap(i), frame.bottom + 15, _number(x), "middle", "#555", 10))
    body.append(_text((frame.left + frame.right) / 2, frame.bottom + 32, xlabel, "middle"))
    for k, (name, values, color) in enumerate(series):
        points = " ".join(f"{xmap(i):.1f},{frame.y(v):.1f}" for i, v in enumerate(values))
        dash = ' stroke-dasharray="5 4"' if "ideal" in name else ""
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>')
        body += [f'<circle cx="{xmap(i):.1f}" cy="{frame.y(v):.1f}" r="3" fill="{color}"/>'
                 for i, v in enumerate(values)]
        y = frame.top + 6 + 16 * k
        body.append(_line(frame.left + 10, y, frame.left + 34, y, color, 2))
        body.append(_text(frame.left + 40, y + 4, name))
    return _svg(WIDTH, frame.bottom + 40, body)


def story_timeline(stories: Sequence[Tuple[str, Sequence[Tuple[dt.datetime, str]]]]) -> Optional[str]:
    """One lane per story (label: its title), a dot per article at its publication time
    (ingest time when undated): who reported first, and how the story grew over days."""
    points = [t for _, arts in stories for t, _ in arts]
    if not points:
        return None
    first, last = min(points), max(points)
    span = max((last - first).total_seconds(), 3600.0)
    label_w = 8 + CHAR * 34
    left, right, top = label_w, WIDTH - 16, 8
    height = top + BAR * len(stories) + 34

    def xmap(t) -> float:
        return left + (right - left) * (t - first).total_seconds() / span
    body = [_line(left, top + BAR * len(stories), right, top + BAR * len(stories))]
    for i, (title, arts) in enumerate(stories):
        y = top + BAR * i + BAR / 2
        short = title if len(title) <= 34 else title[:33] + "…"
        body.append(_text(4, y + 4, short))
        body.append(_line(left, y, right, y, "#eee"))
        xs = [xmap(t) for t, _ in arts]
        if len(xs) > 1:
            body.append(_line(min(xs), y, max(xs), y, COLOR, 2))
        for x, (t, site) in zip(xs, arts):
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLOR}">'
                        f'<title>{_e(site)} {_e(f"{t:%Y-%m-%d %H:%M}")}</title></circle>')
    base = top + BAR * len(stories)
    fmt = "%Y-%m-%d" if span > 2 * 86400 else "%m-%d %H:%M"
    for k in range(4):
        t = first + dt.timedelta(seconds=span * k / 3)
        x = xmap(t)
        body.append(_line(x, base, x, base + 4))
        body.append(_text(x, base + 16, t.strftime(fmt), "middle", "#555", 10))
    return _svg(WIDTH, height, body)
