"""The after-run summary: what the run took, from what its report read of the lake."""
from __future__ import annotations

import os
from typing import Dict, Optional

from schemas.catalog import as_lake, attach_sql

# The entity labels the summary's "top entities" line draws from.
SUMMARY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP")


def summarize(output, result, facts: Optional[dict] = None, report: Optional[str] = None) -> str:
    """``result``: the ``pipeline.run.RunResult`` of the run; ``facts``: what
    ``pipeline.report.facts.gather`` read of it (None: the counts only, without their
    breakdowns); ``report``: the path of its HTML report."""
    run_id = result.run_id
    lake = as_lake(output)
    output = lake.output
    lines = [f"run {run_id} -> {output}" + (f" (catalog {lake.shown()})" if lake.remote else ""),
             f"  files:      {result.found} found, {result.new} new, "
             f"{result.known} changed or reprocessed, {result.skipped} already taken"]
    if not result.batches:
        lines.append("  nothing new: no table changed")
    else:
        facts = facts or {"duplicate_measures": [], "reject_reasons": [], "entities": {}}
        c = result.counts
        by_method: Dict[str, int] = {}
        for method, _measure, n, _avg in facts["duplicate_measures"]:
            by_method[method] = by_method.get(method, 0) + n
        reasons = facts["reject_reasons"]
        top = sorted(((name, label, n) for label, rows in facts["entities"].items()
                      if label in SUMMARY_LABELS for name, n, _ in rows),
                     key=lambda e: (-e[2], e[0]))[:10]
        lines += [
            f"  batches:    {result.batches} committed",
            f"  articles:   {c.get('articles', 0)}",
            f"  duplicates: {c.get('duplicates', 0)}" + (" (" + ", ".join(f"{m}: {n}" for m, n in sorted(by_method.items())) + ")" if by_method else ""),
            f"  rejects:    {c.get('rejects', 0)}" + (" (" + ", ".join(f"{r}: {n}" for r, n in reasons) + ")" if reasons else "")]
        if c.get("replaced"):
            lines.append(f"  replaced:   {c['replaced']} records of earlier versions of changed files")
        if c.get("superseded"):
            lines.append(f"  superseded: {c['superseded']} articles of earlier runs, now duplicates of a "
                         f"record of this run ({c.get('versions_superseded', 0)} by a newer version "
                         "of their page)")
        st = facts.get("stories")
        if st and st["stories"]:
            lines.append(f"  stories:    {st['stories']} ({st['started']} new, {st['multi_outlet']} "
                         f"covered by several outlets, {st['merged']} merged into older ones)")
            lead = st["top"][0]
            lines.append(f"  top story:  {lead[1]} ({lead[2]} article{'s' if lead[2] != 1 else ''}, "
                         f"{lead[4]} outlet{'s' if lead[4] != 1 else ''})")
        if top:
            lines.append("  top entities: " + ", ".join(f"{t} ({l}) x{n}" for t, l, n in top))
    if report:
        lines.append(f"  report:     {report if '://' in report else os.path.abspath(report)}")
    if lake.remote:
        lines += [
            "",
            "Query it from Python (from any machine that reaches the catalog and the store; the "
            "password from PGPASSWORD, the store's settings from the AWS_* variables):",
            f"  .venv/bin/python -c \"from schemas.views import connect; print(connect('{output}', "
            f"catalog='{lake.without_password()}').sql('SELECT count(*) FROM articles'))\"",
            "or attach it in DuckDB 1.5 (extensions ducklake, postgres and httpfs; the store's "
            "keys in a CREATE SECRET of TYPE s3):",
            f"  {attach_sql(lake, alias='news', shown=True)}; USE news;",
        ]
        return "\n".join(lines)
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
