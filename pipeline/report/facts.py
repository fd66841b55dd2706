"""What a run report says, read from the lake with DuckDB: plain data, no formatting.

``gather(output, run_id)`` is one run (the lake as its last commit left it, rows of that run);
``gather(output)`` is the whole lake (every current row, every run).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from schemas.catalog import LAKE, as_lake, open_lake, snapshot_of_run

# Entity labels a news reader looks at first; other names follow in order of frequency;
# numbers and times are not names, and are left out.
MAIN_LABELS = ("PERSON", "ORG", "GPE", "NORP", "LOC", "EVENT")
NOT_NAMES = ("DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT")
TOP = 10
MAX_SITES = 25
HISTOGRAM_BINS = 30

# An article's site: the page's declared site name, else its URL's host without "www.".
SITE = ("coalesce(nullif(site_name, ''), "
        "nullif(regexp_replace(regexp_extract(url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1), "
        "'^www\\.', ''), ''), '(unknown)')")


def _rows(con, sql: str, params: List[Any]) -> List[tuple]:
    return con.execute(sql, params).fetchall()


def gather(output, run_id: Optional[str] = None, con=None) -> Dict[str, Any]:
    """``output``: a ``schemas.catalog.Lake`` or an output folder. ``con``: the writer's open
    connection to the lake, right after ``run_id``'s last commit (saves opening another: 0.2 s
    of loading extensions); it is left open."""
    lake = as_lake(output)
    output = lake.output
    if con is not None:
        return _gather(con, output, run_id)
    con = open_lake(lake)
    if run_id is not None:  # the lake as the run left it: later runs may have replaced rows
        snapshot = snapshot_of_run(con, run_id)
        if snapshot != con.execute(f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()").fetchone()[0]:
            con.close()
            con = open_lake(lake, snapshot=snapshot)
    try:
        return _gather(con, output, run_id)
    finally:
        con.close()


def _gather(con, output: str, run_id: Optional[str]) -> Dict[str, Any]:
    where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
    and_ = "AND run_id = ?" if run_id else ""
    runs_columns = {r[0] for r in _rows(con, "SELECT column_name FROM duckdb_columns() WHERE "
                                             "database_name = ? AND table_name = 'runs'", [LAKE])}
    has_timings = "timings" in runs_columns
    superseded = ("coalesce(r.superseded, 0), coalesce(r.versions_superseded, 0)"
                  if "superseded" in runs_columns else "0, 0")
    batches = _rows(con, f"""
        SELECT r.run_id, r.batch, r.batches, r.started_at, r.finished_at, r.files_found,
               r.files_skipped, r.files_new, r.files_changed, r.files_unchanged, r.articles,
               r.duplicates, r.rejects, r.replaced, r.options, r.code_version,
               {'r.timings' if has_timings else 'NULL'},
               epoch(s.snapshot_time) - epoch(r.finished_at) AS commit_seconds, {superseded}
        FROM runs r LEFT JOIN {LAKE}.snapshots() s ON s.commit_message = 'run ' || r.run_id
             || ' batch ' || r.batch || '/' || r.batches
        {"WHERE r.run_id = ?" if run_id else ""} ORDER BY r.started_at, r.batch""", params)
    facts: Dict[str, Any] = {"output": output, "run_id": run_id,
                             "runs": _history(con, run_id)}
    if not batches:
        facts["empty"] = True
        return facts
    first, last = batches[0], batches[-1]
    options = json.loads(last[14]) if last[14] else {}
    facts.update(
        empty=False,
        started=first[3], finished=last[4], batches=len(batches), code_version=last[15],
        inputs=options.get("input") or [],
        files={"found": first[5] if run_id else None, "skipped": first[6] if run_id else None,
               "new": sum(b[7] for b in batches), "changed": sum(b[8] for b in batches),
               "unchanged": sum(b[9] for b in batches)},
        outcome={"articles": sum(b[10] for b in batches), "duplicates": sum(b[11] for b in batches),
                 "rejects": sum(b[12] for b in batches), "replaced": sum(b[13] for b in batches),
                 "superseded": sum(b[18] for b in batches),
                 "versions_superseded": sum(b[19] for b in batches)},
        time=_time(batches),
    )
    if not run_id:  # the lake as it is: what its tables hold now
        facts["outcome"].update({t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                 for t in ("articles", "duplicates", "rejects")})
    facts["reject_reasons"] = _rows(con, f"""
        SELECT reason, count(*) AS n FROM rejects {where} GROUP BY 1 ORDER BY n DESC, reason""", params)
    facts["duplicate_measures"] = _rows(con, f"""
        SELECT method, measure, count(*) AS n, round(avg(similarity), 3)
        FROM duplicates {where} GROUP BY 1, 2 ORDER BY n DESC, 1, 2""", params)
    facts["duplicate_groups"] = _rows(con, f"""
        SELECT d.canonical_id, any_value(a.title), any_value(a.source_uri), count(*) AS copies
        FROM duplicates d LEFT JOIN articles a ON a.article_id = d.canonical_id
        {"WHERE d.run_id = ?" if run_id else ""}
        GROUP BY d.canonical_id ORDER BY copies DESC, d.canonical_id LIMIT {TOP}""", params)
    sites = _rows(con, f"""
        SELECT {SITE} AS site, count(*) AS n FROM articles {where}
        GROUP BY 1 ORDER BY n DESC, site""", params)
    if len(sites) > MAX_SITES:  # the rest as one row: an output may hold thousands of sites
        rest = sites[MAX_SITES - 1:]
        sites = sites[:MAX_SITES - 1] + [(f"({len(rest)} other sites)", sum(n for _, n in rest))]
    facts["sites"] = sites
    facts["languages"] = _rows(con, f"""
        SELECT coalesce(language, '(unknown)') AS lang, count(*) AS n FROM articles {where}
        GROUP BY 1 ORDER BY n DESC, lang""", params)
    facts["days"] = _rows(con, f"""
        SELECT CAST(published_at AS DATE) AS day, count(*) AS n FROM articles
        WHERE published_at IS NOT NULL {and_} GROUP BY 1 ORDER BY 1""", params)
    facts["undated"] = con.execute(
        f"SELECT count(*) FROM articles WHERE published_at IS NULL {and_}", params).fetchone()[0]
    facts["lengths"] = _lengths(con, where, params)
    facts["entities"] = _entities(con, and_, params)
    facts["stories"] = _stories(con, run_id)
    return facts


def _stories(con, run_id: Optional[str]) -> Dict[str, Any]:
    """Stories (of the run's articles, or of the lake): how many, how many several outlets
    covered, started, merged; the top ones (most outlets, then articles) with their
    articles' times and sites for the timeline."""
    scope = ("WHERE story_id IN (SELECT story_id FROM articles WHERE run_id = ?)" if run_id else "")
    params = [run_id] if run_id else []
    n, multi, started = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE sites > 1),
               count(*) FILTER (WHERE first_run = ?) FROM stories {scope}""",
                                   [run_id] + params).fetchone()
    merged = con.execute("SELECT count(*) FROM story_merges"
                         + (" WHERE run_id = ?" if run_id else ""), params).fetchone()[0]
    top = _rows(con, f"""
        SELECT story_id, coalesce(title, '(untitled)'), articles, duplicates, sites,
               first_published, last_published, top_entities
        FROM stories {scope} ORDER BY sites DESC, articles DESC, first_published DESC, story_id
        LIMIT {TOP}""", params)
    times: Dict[str, List[tuple]] = {}
    for story_id, at, site in _rows(con, f"""
            SELECT story_id, coalesce(published_at, ingested_at) AS reported_at, {SITE} FROM articles
            WHERE story_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY reported_at, article_id""",
                                     [[t[0] for t in top]]):
        times.setdefault(story_id, []).append((at, site))
    return {"stories": n, "multi_outlet": multi, "started": started if run_id else n,
            "merged": merged, "top": [(*t, times.get(t[0], [])) for t in top]}


def _lengths(con, where: str, params) -> Optional[Dict[str, Any]]:
    """Words per article: count, min, median, max, total, and a histogram (computed in DuckDB:
    the articles never come into Python). Bins are log-spaced when lengths span decades."""
    n, lo, median, hi, total = con.execute(
        f"""SELECT count(*), min(word_count), median(word_count), max(word_count),
                   sum(word_count) FROM articles {where}""", params).fetchone()
    if not n:
        return None
    log = hi / max(1, lo) > 50
    if log:
        import math
        step = (math.log(hi) - math.log(max(1, lo))) / HISTOGRAM_BINS
        edges = sorted({int(math.exp(math.log(max(1, lo)) + step * i)) for i in range(1, HISTOGRAM_BINS)})
    else:
        nbins = max(1, min(HISTOGRAM_BINS, hi - lo))
        edges = sorted({lo + (hi - lo) * i // nbins for i in range(1, nbins)})
    edges = [e for e in edges if lo <= e < hi] + [hi]
    counts = con.execute(f"SELECT histogram(word_count, ?::INTEGER[]) FROM articles {where}",
                         [edges] + params).fetchone()[0]
    bins, left = [], lo - 1
    for edge in edges:  # histogram(): values in (previous edge, edge]
        bins.append((left, edge, counts.get(edge, 0)))
        left = edge
    return {"n": n, "min": lo, "median": float(median), "max": hi, "total": int(total),
            "log": log, "bins": bins}


def _time(batches) -> Dict[str, float]:
    """Seconds per part of the run: building graphs, the jobs (and within them the workers'
    own seconds per stage), committing."""
    out = {"graph": 0.0, "job": 0.0, "commit": 0.0, "stages": {}, "measured": False}
    for b in batches:
        t = json.loads(b[16]) if b[16] else None
        if t:
            out["measured"] = True
            out["graph"] += t.get("graph", 0.0)
            out["job"] += t.get("job", 0.0)
            for s, v in (t.get("stages") or {}).items():
                out["stages"][s] = out["stages"].get(s, 0.0) + v
        if b[17] is not None:
            out["commit"] += max(0.0, float(b[17]))
    out["wall"] = sum((b[4] - b[3]).total_seconds() for b in batches) + out["commit"]
    return out


def _entities(con, and_: str, params) -> Dict[str, List[tuple]]:
    """The top entities of up to nine labels (the main ones first), in one pass over
    ``entity_counts``."""
    rows = _rows(con, f"""
        WITH per AS (
            SELECT label, canonical, sum(mentions) AS n, count(DISTINCT article_id) AS articles
            FROM entity_counts WHERE true {and_} GROUP BY 1, 2),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY label ORDER BY n DESC, canonical) AS rank,
                   sum(n) OVER (PARTITION BY label) AS label_mentions
            FROM per)
        SELECT label, canonical, n, articles FROM ranked WHERE rank <= {TOP}
        ORDER BY label_mentions DESC, label, rank""", params)
    by_label: Dict[str, List[tuple]] = {}
    for label, canonical, n, articles in rows:
        by_label.setdefault(label, []).append((canonical, n, articles))
    labels = ([l for l in MAIN_LABELS if l in by_label]
              + [l for l in by_label if l not in MAIN_LABELS and l not in NOT_NAMES])
    return {label: by_label[label] for label in labels[:9]}


def _history(con, up_to: Optional[str]) -> List[Dict[str, Any]]:
    """Every run (up to ``up_to``, in order): when, how long, what it added."""
    rows = _rows(con, """
        SELECT run_id, min(started_at), max(finished_at), count(*),
               sum(files_new + files_changed + files_unchanged), sum(articles), sum(duplicates),
               sum(rejects)
        FROM runs GROUP BY run_id ORDER BY min(started_at)""", [])
    out = []
    for run_id, start, end, batches, files, art, dup, rej in rows:
        records = art + dup + rej
        out.append({"run_id": run_id, "started": start, "seconds": (end - start).total_seconds(),
                    "batches": batches, "files": files, "articles": art, "duplicates": dup,
                    "rejects": rej, "reject_rate": rej / records if records else 0.0})
        if run_id == up_to:
            break
    return out
