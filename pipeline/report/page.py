"""The report as one self-contained HTML page: inline CSS, charts as inline SVG, no script,
nothing fetched, so it opens offline in any browser and survives being mailed around.

Every section is a ``<section id=...>``; every table has a ``class`` naming what it lists, so
that tests (and scripts) can read the figures back.
"""
from __future__ import annotations

import html
from datetime import datetime
from typing import Any, Dict, Iterable, Optional, Sequence

from pipeline.report import plots

CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
     color:#222;max-width:980px;margin:24px auto;padding:0 16px;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:0 0 10px;color:#234}
.sub{color:#666;margin:0 0 18px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:14px 18px;margin:0 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{flex:1 1 120px;border:1px solid #e6e6e6;border-radius:5px;padding:8px 10px;background:#fcfcfc}
.card b{display:block;font-size:20px} .card span{color:#666;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600;border-bottom:1px solid #ddd} td.n,th.n{text-align:right}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start} .row>div{flex:1 1 300px}
figure.chart{margin:8px 0} figure.chart svg{max-width:100%;height:auto} .muted{color:#777} code{font-size:12px;background:#f1f1f1;padding:1px 4px;border-radius:3px}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _n(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.1f}"
    return f"{x:,}"


def _img(svg: Optional[str], alt: str) -> str:
    if not svg:
        return ""
    return f'<figure class="chart" role="img" aria-label="{_e(alt)}">{svg}</figure>'


def _table(cls: str, head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    out = [f'<table class="{cls}"><tr>']
    out += [f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
            for i, h in enumerate(head)]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{_n(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _cards(items: Sequence[tuple]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card" data-key="{_e(key)}"><b>{_n(value)}</b><span>{_e(label)}</span></div>'
        for key, label, value in items) + "</div>"


def _section(id_: str, title: str, body: str) -> str:
    return f'<section id="{id_}"><h2>{_e(title)}</h2>{body}</section>'


def _when(t: Optional[datetime]) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC" if t else "–"


def render(f: Dict[str, Any]) -> str:
    scope = f"run {f['run_id']}" if f["run_id"] else "all runs"
    head = (f"<h1>News ingest report: {_e(scope)}</h1>"
            f'<p class="sub">output <code>{_e(f["output"])}</code>')
    if f.get("empty"):
        body = _section("summary", "Summary", "<p>No committed run in this output yet.</p>")
        return _page(scope, head + "</p>" + body)
    head += (f" · {_when(f['started'])} → {_when(f['finished'])} · {f['batches']} batch(es)"
             f" · code {_e(f['code_version'])}</p>")
    parts = [_summary(f), _files(f), _outcome(f), _time(f), _duplicates(f), _stories(f),
             _sources(f), _lengths(f), _entities(f), _history(f)]
    return _page(scope, head + "".join(parts))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>News ingest report: {_e(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def _summary(f) -> str:
    o, t = f["outcome"], f["time"]
    inputs = ", ".join(f["inputs"]) if f["inputs"] else "–"
    return _section("summary", "Summary", _cards([
        ("articles", "articles", o["articles"]), ("duplicates", "duplicates", o["duplicates"]),
        ("rejects", "rejects", o["rejects"]), ("seconds", "seconds (batches)", round(t["wall"], 1)),
    ]) + f'<p class="muted">inputs: <code>{_e(inputs)}</code></p>')


def _files(f) -> str:
    fl = f["files"]
    rows = [("found (matched the inputs)", fl["found"]), ("new", fl["new"]),
            ("changed (taken again)", fl["changed"]), ("touched, same bytes (not taken)", fl["unchanged"]),
            ("skipped (taken by an earlier run)", fl["skipped"])]
    note = "" if f["run_id"] else '<p class="muted">found and skipped are per run: see the history.</p>'
    return _section("files", "Files", _table("files", ["files", "count"], rows, numeric=[1]) + note)


def _outcome(f) -> str:
    o = f["outcome"]
    totals = [("articles", o["articles"]), ("duplicates", o["duplicates"]), ("rejects", o["rejects"])]
    if o.get("replaced"):
        totals.append(("records of changed files replaced", o["replaced"]))
    if o.get("superseded"):
        totals.append(("earlier articles superseded", o["superseded"]))
        totals.append(("… by a newer version of their page", o["versions_superseded"]))
    reasons = f["reject_reasons"]
    chart = plots.bars(reasons, xlabel="rejects", color=plots.ACCENT)
    body = ('<div class="row"><div>' + _table("outcome", ["table", "rows"], totals, numeric=[1])
            + "<p class=\"muted\">Every input record is in exactly one of these tables.</p></div><div>"
            + ("<h3>Rejects by reason</h3>" + _table("reject-reasons", ["reason", "rejects"], reasons, numeric=[1])
               if reasons else "<p>No rejects.</p>")
            + "</div></div>" + _img(chart, "rejects by reason"))
    return _section("outcome", "Articles, duplicates and rejects", body)


STAGE_LABELS = {"read": "read and decode", "extract": "extract text", "dedup": "deduplicate",
                "ner": "named entities", "stories": "stories", "write": "rows for Parquet"}


def _time(f) -> str:
    t = f["time"]
    if not t["measured"]:
        return _section("time", "Where the time went",
                        "<p class=\"muted\">Not recorded for this run (made by an earlier version).</p>")
    driver = [("building the job graph", t["graph"]), ("Beam job", t["job"]), ("commit", t["commit"])]
    stages = [(STAGE_LABELS.get(s, s), v) for s, v in t["stages"].items()]
    body = ('<div class="row"><div><h3>Wall time (seconds)</h3>'
            + _table("time-driver", ["part", "seconds"], [(k, round(v, 2)) for k, v in driver], numeric=[1])
            + '</div><div><h3>Inside the job: the workers\' own seconds per stage</h3>'
            + _table("time-stages", ["stage", "seconds"], [(k, round(v, 2)) for k, v in stages], numeric=[1])
            + '<p class="muted">Summed over workers; the rest of the job is Beam moving data '
              "between stages, writing Parquet and starting workers.</p></div></div>"
            + _img(plots.bars(driver + [("  " + k, v) for k, v in stages], xlabel="seconds",
                              fmt="{:,.1f}"), "where the time went"))
    return _section("time", "Where the time went", body)


def _duplicates(f) -> str:
    measures = [(f"{m} ({me})", n, avg) for m, me, n, avg in f["duplicate_measures"]]
    groups = [(title or "(untitled)", copies, uri) for _cid, title, uri, copies in f["duplicate_groups"]]
    if not measures:
        return _section("duplicates", "Duplicates", "<p>No duplicates.</p>")
    body = ('<div class="row"><div>'
            + _table("duplicate-measures", ["found by", "duplicates", "mean similarity"], measures, numeric=[1])
            + "</div></div><h3>Largest duplicate groups</h3>"
            + _table("duplicate-groups", ["kept article", "copies", "source"], groups, numeric=[1]))
    return _section("duplicates", "Duplicates", body)


def _stories(f) -> str:
    st = f.get("stories")
    if not st or not st["stories"]:
        return _section("stories", "Top stories", "<p>No stories.</p>")
    cards = _cards([("stories", "stories", st["stories"]),
                    ("multi_outlet", "covered by several outlets", st["multi_outlet"]),
                    ("started", "started" + (" by this run" if f["run_id"] else ""), st["started"]),
                    ("merged", "merged into older stories", st["merged"])])
    rows = [(title, articles, dups, sites, _when(first), ", ".join(names or []))
            for _sid, title, articles, dups, sites, first, _last, names, _times in st["top"]]
    chart = plots.story_timeline([(title, times) for _sid, title, *_rest, times in st["top"]])
    body = (cards + _table("top-stories", ["story", "articles", "copies", "outlets",
                                           "first reported", "top entities"], rows,
                           numeric=[1, 2, 3])
            + "<h3>Timeline (a dot per article; hover for its outlet)</h3>"
            + _img(chart, "timeline of the top stories"))
    return _section("stories", "Top stories", body)


def _sources(f) -> str:
    days = f["days"]
    body = ('<div class="row"><div><h3>Articles per site</h3>'
            + _img(plots.bars(f["sites"], xlabel="articles"), "articles per site")
            + _table("sites", ["site", "articles"], f["sites"][:25], numeric=[1])
            + '</div><div><h3>Articles per language</h3>'
            + _img(plots.bars(f["languages"], xlabel="articles"), "articles per language")
            + _table("languages", ["language", "articles"], f["languages"], numeric=[1])
            + "</div></div><h3>Articles per publication day</h3>"
            + (_img(plots.per_day(days), "articles per publication day") if days else "<p>No dates.</p>")
            + f'<p class="muted" data-key="undated">{_n(f["undated"])} article(s) without a publication date; '
              f'{len(days)} day(s) with articles.</p>')
    return _section("sources", "Sites, languages and days", body)


def _lengths(f) -> str:
    ln = f["lengths"]
    if not ln:
        return _section("lengths", "Text length", "<p>No articles.</p>")
    stats = [("articles", ln["n"]), ("shortest", ln["min"]), ("median", int(ln["median"])),
             ("longest", ln["max"]), ("total words", ln["total"])]
    body = (_table("lengths", ["words", "value"], stats, numeric=[1])
            + _img(plots.histogram(ln, xlabel="words per article"), "text length distribution"))
    return _section("lengths", "Text length", body)


def _entities(f) -> str:
    ents = f["entities"]
    if not ents:
        return _section("entities", "Top entities", "<p>No entities (NER was off, or found none).</p>")
    cells = "".join(
        f'<div><h3>{_e(label)}</h3>'
        + _table(f"entities entities-{label}", ["entity", "mentions", "articles"], rows, numeric=[1, 2])
        + "</div>" for label, rows in ents.items())
    return _section("entities", "Top entities by label", f'<div class="row">{cells}</div>')


def _history(f) -> str:
    runs = f["runs"]
    rows = [(r["run_id"], f"{r['started']:%Y-%m-%d %H:%M}", round(r["seconds"], 1), r["files"],
             r["articles"], r["duplicates"], r["rejects"], f"{100 * r['reject_rate']:.1f}%")
            for r in runs]
    shown = rows[-30:]
    more = (f'<p class="muted">{len(rows) - len(shown)} earlier run(s) in the chart only.</p>'
            if len(rows) > len(shown) else "")
    body = (_img(plots.history(runs), "runs over time")
            + _table("history", ["run", "started (UTC)", "seconds", "files", "articles",
                                 "duplicates", "rejects", "reject rate"], shown,
                     numeric=[2, 3, 4, 5, 6]) + more)
    return _section("history", f"Runs over time ({len(runs)})", body)
