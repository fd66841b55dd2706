"""The after-run summary: what the run took, read back from the lake with DuckDB."""
from __future__ import annotations

import os
from typing import Optional

from schemas.catalog import attach_sql
from schemas.views import connect


def summarize(output: str, result, report: Optional[str] = None) -> str:
    """``result``: the ``pipeline.run.RunResult`` of the run; ``report``: its HTML report."""
    run_id = result.run_id
    lines = [f"run {run_id} -> {output}",
             f"  files:      {result.found} found, {result.new} new, "
             f"{result.known} changed or reprocessed, {result.skipped} already taken"]
    if not result.batches:
        lines.append("  nothing new: no table changed")
    else:
        con = connect(output)
        q = lambda sql: con.execute(sql, [run_id]).fetchall()  # noqa: E731
        c = result.counts
        dup_methods = q("SELECT method, count(*) FROM duplicates WHERE run_id = ? GROUP BY 1 ORDER BY 1")
        reasons = q("SELECT reason, count(*) FROM rejects WHERE run_id = ? GROUP BY 1 ORDER BY 2 DESC, 1")
        top = q("""SELECT canonical, label, sum(mentions) AS n FROM entity_counts WHERE run_id = ?
                   AND label IN ('PERSON', 'ORG', 'GPE', 'LOC', 'NORP')
                   GROUP BY 1, 2 ORDER BY n DESC, canonical LIMIT 10""")
        lines += [
            f"  batches:    {result.batches} committed",
            f"  articles:   {c.get('articles', 0)}",
            f"  duplicates: {c.get('duplicates', 0)}" + (" (" + ", ".join(f"{m}: {n}" for m, n in dup_methods) + ")" if dup_methods else ""),
            f"  rejects:    {c.get('rejects', 0)}" + (" (" + ", ".join(f"{r}: {n}" for r, n in reasons) + ")" if reasons else "")]
        if c.get("replaced"):
            lines.append(f"  replaced:   {c['replaced']} records of earlier versions of changed files")
        if top:
            lines.append("  top entities: " + ", ".join(f"{t} ({l}) x{n}" for t, l, n in top))
    if report:
        lines.append(f"  report:     {os.path.abspath(report)}")
    abs_out = os.path.abspath(output)
    lines += [
        "",
        "Query it from Python:",
        f"  .venv/bin/python -c \"from schemas.views import connect; print(connect('{abs_out}')"
        ".sql('SELECT title, word_count FROM articles ORDER BY word_count DESC LIMIT 5'))\"",
        "or attach it in DuckDB 1.5 (extensions ducklake and sqlite):",
        f"  {attach_sql(abs_out, alias='news')}; USE news;",
    ]
    return "\n".join(lines)
