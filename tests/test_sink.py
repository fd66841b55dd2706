from datetime import datetime, timezone

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from schemas.records import Article, Duplicate, Entity, EntityCount, Reject
from schemas.tables import ARTICLES, DUPLICATES, REJECTS
from schemas.views import connect
from transforms.sink.parquet import WriteTables

WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def articles(n):
    return [Article(f"id{i:04d}", f"/in/{i}.html", f"https://x.org/{i}", f"T{i}",
                    1647561600000000 if i % 2 else None, f"Joe Biden met Xi {i}", 5, f"h{i}", 100, "en",
                    [Entity("Joe Biden", "PERSON", 0, 9, "Joe Biden"), Entity("Xi", "PERSON", 14, 16, "Xi")],
                    [EntityCount("Joe Biden", "PERSON", 1), EntityCount("Xi", "PERSON", 1)], None)
            for i in range(n)]


def test_every_row_written_is_read_back_in_hive_partitions(tmp_path):
    out = str(tmp_path / "out")
    with TestPipeline() as p:
        {
            "articles": p | "a" >> beam.Create(articles(2500)),
            "duplicates": p | "d" >> beam.Create([Duplicate("/in/x", "idx", "id0001", 0.9, "near", "jaccard", "id0001")]),
            "rejects": p | "r" >> beam.Create([], reshuffle=False).with_output_types(Reject),
        } | WriteTables(out, "run1", WHEN)
    part = tmp_path / "out" / "articles" / "dt=2026-11-23"
    assert part.is_dir() and any(f.suffix == ".parquet" for f in part.iterdir())
    # the files carry exactly the declared schema, zstd-compressed
    f = next(part.glob("*.parquet"))
    assert pq.read_schema(f).equals(ARTICLES, check_metadata=False)
    assert pq.ParquetFile(f).metadata.row_group(0).column(0).compression == "ZSTD"

    con = connect(out)
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone() == (2500, 2500)
    assert con.execute("SELECT min(dt)::VARCHAR, max(run_id) FROM articles").fetchone() == ("2026-11-23", "run1")
    assert con.execute("SELECT count(*) FROM articles WHERE published_at = TIMESTAMPTZ '2022-03-18 00:00:00+00'").fetchone()[0] == 1250
    assert con.execute("SELECT count(*) FROM entities").fetchone()[0] == 5000
    row = con.execute("SELECT a.text, e.text, e.start_char, e.end_char FROM articles a JOIN entities e USING (article_id) "
                      "WHERE article_id = 'id0007' ORDER BY e.start_char").fetchall()
    assert [r[0][r[2]:r[3]] for r in row] == [r[1] for r in row] == ["Joe Biden", "Xi"]
    assert con.execute("SELECT canonical_id, method FROM duplicates").fetchall() == [("id0001", "near")]
    # an empty table is still a table
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
    cols = [r[0] for r in con.execute("DESCRIBE rejects").fetchall()]
    assert cols[:4] == ["source_uri", "reason", "detail", "size_bytes"]
    for name, schema in (("duplicates", DUPLICATES), ("rejects", REJECTS)):
        f = next((tmp_path / "out" / name / "dt=2026-11-23").glob("*.parquet"))
        assert pq.read_schema(f).equals(schema, check_metadata=False)


def test_views_sql_works_in_plain_duckdb(tmp_path):
    out = str(tmp_path / "out")
    with TestPipeline() as p:
        {
            "articles": p | "a" >> beam.Create(articles(3)),
            "duplicates": p | "d" >> beam.Create([], reshuffle=False).with_output_types(Duplicate),
            "rejects": p | "r" >> beam.Create([Reject("/in/bad.pdf", "unsupported", "extension 'pdf'", 10)]),
        } | WriteTables(out, "r", WHEN)
    from schemas.views import views_sql
    con = duckdb.connect()
    con.execute(f"SET VARIABLE ingest_output = '{out}'")
    con.execute(views_sql())
    assert con.execute("SELECT text, count(*) FROM entities GROUP BY 1 ORDER BY 1").fetchall() == [("Joe Biden", 3), ("Xi", 3)]
    assert con.execute("SELECT canonical, sum(mentions) FROM entity_counts GROUP BY 1 ORDER BY 1").fetchall() == [
        ("Joe Biden", 3), ("Xi", 3)]
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("unsupported",)]
