"""The after-run summary, read back from the Parquet output with DuckDB."""
from __future__ import annotations

import os

from schemas.views import connect


def summarize(output: str, run_id: str) -> str:
    con = connect(output)
    q = lambda sql: con.execute(sql, [run_id]).fetchall()  # noqa: E731
    n_art = q("SELECT count(*) FROM articles WHERE run_id = ?")[0][0]
    n_dup = q("SELECT count(*) FROM duplicates WHERE run_id = ?")[0][0]
    n_rej = q("SELECT count(*) FROM rejects WHERE run_id = ?")[0][0]
    dup_methods = q("SELECT method, count(*) FROM duplicates WHERE run_id = ? GROUP BY 1 ORDER BY 1")
    reasons = q("SELECT reason, count(*) FROM rejects WHERE run_id = ? GROUP BY 1 ORDER BY 2 DESC, 1")
    top = q("""SELECT canonical, label, sum(mentions) AS n FROM entity_counts WHERE run_id = ?
               AND label IN ('PERSON', 'ORG', 'GPE', 'LOC', 'NORP')
               GROUP BY 1, 2 ORDER BY n DESC, canonical LIMIT 10""")
    lines = [f"run {run_id} -> {output}",
             f"  articles:   {n_art}",
             f"  duplicates: {n_dup}" + (" (" + ", ".join(f"{m}: {c}" for m, c in dup_methods) + ")" if dup_methods else ""),
             f"  rejects:    {n_rej}" + (" (" + ", ".join(f"{r}: {c}" for r, c in reasons) + ")" if reasons else "")]
    if top:
        lines.append("  top entities: " + ", ".join(f"{t} ({l}) x{n}" for t, l, n in top))
    abs_out = os.path.abspath(output)
    lines += [
        "",
        "Query it with DuckDB, e.g.:",
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.sql(\\\"SELECT title, word_count, "
        f"len(entities) AS n_entities FROM read_parquet('{abs_out}/articles/**/*.parquet', "
        f"hive_partitioning=true) ORDER BY word_count DESC\\\"))\"",
        "or, in the duckdb shell, with the views of schemas/views.sql:",
        f"  SET VARIABLE ingest_output = '{abs_out}';",
        "  .read schemas/views.sql",
        "  SELECT canonical, count(*) FROM entities WHERE label = 'PERSON' GROUP BY 1 ORDER BY 2 DESC LIMIT 10;",
    ]
    return "\n".join(lines)
