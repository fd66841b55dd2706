from datetime import datetime, timezone

import os

import apache_beam as beam
import duckdb
import pytest
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from schemas.catalog import open_lake
from schemas.records import Article, Duplicate, Entity, EntityCount, FileTaken, RecordTaken, Reject
from schemas.tables import ARTICLES, DUPLICATES, STAGED
from schemas.views import connect
from transforms.sink.commit import commit_batch, staged_files, staging_dir
from transforms.sink.parquet import WriteTables, read_manifest, write_manifest

WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def articles(n):
    return [Article(f"id{i:04d}", f"/in/{i}.html", f"https://x.org/{i}", f"T{i}",
                    1647561600000000 if i % 2 else None, f"Joe Biden met Xi {i}", 5, f"h{i}", 100, "en",
                    [Entity("Joe Biden", "PERSON", 0, 9, "Joe Biden"), Entity("Xi", "PERSON", 14, 16, "Xi")],
                    [EntityCount("Joe Biden", "PERSON", 1), EntityCount("Xi", "PERSON", 1)], None)
            for i in range(n)]


def empty(p, label, cls):
    return p | label >> beam.Create([], reshuffle=False).with_output_types(cls)


def stage_and_commit(out, tables, run_id="run1"):
    """Stages ``tables`` (name -> callable(p) -> PCollection) through Beam, then commits them."""
    staging = staging_dir(out, f"{run_id}-00001-abc")
    with TestPipeline() as p:
        {name: make(p) for name, make in tables.items()} | WriteTables(staging, run_id, WHEN)
    schemas = {t: pq.read_schema(fs[0]) for t, fs in staged_files(staging).items() if fs}
    codec = pq.ParquetFile(staged_files(staging)["articles"][0]).metadata.row_group(0).column(0).compression
    con = open_lake(out, read_only=False)
    counts = commit_batch(con, staging, {
        "run_id": run_id, "batch": 1, "batches": 1, "commit_id": f"{run_id}-00001-abc",
        "started_at": WHEN, "finished_at": WHEN, "files_found": 1, "files_skipped": 0,
        "options": "{}", "code_version": "test"}, "test commit")
    con.close()
    return schemas, codec, counts


def test_every_row_written_is_read_back_through_the_lake(tmp_path):
    out = str(tmp_path / "out")
    schemas, codec, counts = stage_and_commit(out, {
        "articles": lambda p: p | "a" >> beam.Create(articles(2500)),
        "duplicates": lambda p: p | "d" >> beam.Create([Duplicate("/in/x", "idx", "id0001", 0.9, "near", "jaccard", "id0001")]),
        "rejects": lambda p: empty(p, "r", Reject),
        "ingest_files": lambda p: p | "f" >> beam.Create([FileTaken("/in/0.html", 100, 1, "h", 1, "new")]),
        "ingest_records": lambda p: p | "rec" >> beam.Create([RecordTaken("/in/0.html", "/in/0.html", "r", "new")]),
        "dedup_index": lambda p: p | "i" >> beam.Create([], reshuffle=False),
        "dedup_bands": lambda p: p | "b" >> beam.Create([], reshuffle=False),
    })
    assert counts["articles"] == 2500 and counts["duplicates"] == 1 and counts["rejects"] == 0
    # the staged files carry exactly the declared schema, zstd-compressed; no rows, no file
    for name, schema in (("articles", ARTICLES), ("duplicates", DUPLICATES)):
        assert schemas[name].equals(schema, check_metadata=False)
    assert "rejects" not in schemas
    assert codec == "ZSTD"

    con = connect(out)
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone() == (2500, 2500)
    assert con.execute("SELECT min(ingested_at) = ?, max(run_id) FROM articles", [WHEN]).fetchone() == (True, "run1")
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
    assert con.execute("SELECT run_id, batch, articles, duplicates, rejects FROM runs").fetchall() == [
        ("run1", 1, 2500, 1, 0)]
    assert con.execute("SELECT file_uri, state FROM ingest_files").fetchall() == [("/in/0.html", "new")]


def test_the_attach_line_works_in_plain_duckdb_under_any_name(tmp_path):
    out = str(tmp_path / "out")
    stage_and_commit(out, {
        "articles": lambda p: p | "a" >> beam.Create(articles(3)),
        "duplicates": lambda p: empty(p, "d", Duplicate),
        "rejects": lambda p: p | "r" >> beam.Create([Reject("/in/bad.pdf", "unsupported", "extension 'pdf'", 10)]),
        **{t: (lambda p, t=t: p | t >> beam.Create([], reshuffle=False))
           for t in STAGED if t not in ("articles", "duplicates", "rejects")},
    }, run_id="r")
    from schemas.catalog import attach_sql, load_extensions
    con = duckdb.connect()
    load_extensions(con)
    con.execute(attach_sql(out, alias="news"))
    con.execute("USE news")
    assert con.execute("SELECT text, count(*) FROM entities GROUP BY 1 ORDER BY 1").fetchall() == [("Joe Biden", 3), ("Xi", 3)]
    assert con.execute("SELECT canonical, sum(mentions) FROM entity_counts GROUP BY 1 ORDER BY 1").fetchall() == [
        ("Joe Biden", 3), ("Xi", 3)]
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("unsupported",)]


def test_cleanup_removes_uncommitted_batch_folders_even_empty_ones(tmp_path):
    from transforms.sink.commit import remove_orphans
    out = str(tmp_path / "out")
    stage_and_commit(out, {t: (lambda p, t=t: p | t >> beam.Create([], reshuffle=False)) for t in STAGED}
                     | {"articles": lambda p: p | "a" >> beam.Create(articles(1))})
    killed = tmp_path / "out" / "data" / "batches" / "killed-00001-xyz"
    (killed / "articles" / "beam-temp-articles-1").mkdir(parents=True)  # dirs only, no file yet
    (killed / "rejects").mkdir()
    (killed / "rejects" / "rejects-00000-of-00001.parquet").write_bytes(b"PAR1")
    # killed between the COMMIT and the clean-up after it: the committed batch kept its manifest
    spent = tmp_path / "out" / "data" / "batches" / "run1-00001-abc" / "_manifest.json"
    spent.write_text("[]")
    con = open_lake(out, read_only=False)
    assert remove_orphans(con, out) == [str(killed), str(spent)]
    assert sorted(os.listdir(tmp_path / "out" / "data" / "batches")) == ["run1-00001-abc"]
    assert not spent.exists() and os.listdir(spent.parent)  # the batch's data stays


def test_a_commit_that_fails_half_way_leaves_nothing_visible(tmp_path):
    import pyarrow as pa
    out = str(tmp_path / "out")
    staging = staging_dir(out, "bad-00001-abc")
    with TestPipeline() as p:
        ({t: p | t >> beam.Create([], reshuffle=False) for t in STAGED}
         | {"articles": p | "a" >> beam.Create(articles(3)),
            "ingest_records": p | "r" >> beam.Create([RecordTaken("/in/0.html", "/in/0.html", "h", "new")])}
         | WriteTables(staging, "bad", WHEN))
    # a file whose columns are not the table's: registering it fails inside the transaction,
    # after the articles' files were registered
    bad = os.path.join(staging, "rejects", "zz.parquet")
    os.makedirs(os.path.dirname(bad), exist_ok=True)
    pq.write_table(pa.table({"nope": [1]}), bad)
    write_manifest(read_manifest(staging) + [bad], staging)
    con = open_lake(out, read_only=False)
    with pytest.raises(duckdb.Error):
        commit_batch(con, staging, {
            "run_id": "bad", "batch": 1, "batches": 1, "commit_id": "bad-00001-abc",
            "started_at": WHEN, "finished_at": WHEN, "files_found": 1, "files_skipped": 0,
            "options": "{}", "code_version": "test"}, "test commit")
    # rolled back: the same connection has no transaction open and sees nothing of the batch
    con.execute("BEGIN")
    con.execute("ROLLBACK")
    for c in (con, connect(out)):
        for table in ("articles", "rejects", "ingest_records", "runs"):
            assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_a_lake_of_an_earlier_version_gets_the_columns_added_since(tmp_path):
    out = str(tmp_path / "out")
    con = open_lake(out, read_only=False)
    for column in ("timings", "superseded", "versions_superseded"):  # as a lake made before them
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("""INSERT INTO runs VALUES ('old', 1, 1, 'old-1', now(), now(), 1, 0, 1, 0, 0,
                   1, 0, 0, 0, '{}', 'v0')""")
    con.close()
    con = open_lake(out, read_only=False)
    cols = [r[0] for r in con.execute("DESCRIBE runs").fetchall()]
    assert cols[-3:] == ["timings", "superseded", "versions_superseded"]
    assert con.execute("SELECT run_id, articles, timings, superseded FROM runs").fetchall() == [
        ("old", 1, None, None)]


def test_only_the_files_the_manifest_lists_are_committed_and_big_bundles_split(tmp_path):
    """A file under the staging folder that the job's manifest does not list (the first
    attempt of a retried bundle) is neither registered nor kept; a bundle whose rows pass
    ``max_bytes`` writes several files, all of them listed."""
    out = str(tmp_path / "out")
    staging = staging_dir(out, "r-00001-abc")
    with TestPipeline() as p:
        ({t: p | t >> beam.Create([], reshuffle=False) for t in STAGED}
         | {"articles": p | "a" >> beam.Create(articles(40), reshuffle=False)}
         | WriteTables(staging, "r", WHEN, max_bytes=2_000))
    listed = read_manifest(staging)
    assert len(listed) > 1 and all("/articles/" in f for f in listed)
    assert sum(pq.read_metadata(f).num_rows for f in listed) == 40
    stray = os.path.join(staging, "articles", "articles-retried.parquet")
    pq.write_table(pq.read_table(listed[0]), stray)  # real rows, as a first try would leave
    con = open_lake(out, read_only=False)
    counts = commit_batch(con, staging, {
        "run_id": "r", "batch": 1, "batches": 1, "commit_id": "r-00001-abc",
        "started_at": WHEN, "finished_at": WHEN, "files_found": 1, "files_skipped": 0,
        "options": "{}", "code_version": "test"}, "test commit")
    assert counts["articles"] == 40 and not os.path.exists(stray)
    assert connect(out).execute("SELECT count(DISTINCT article_id) FROM articles").fetchone()[0] == 40


def test_a_batch_whose_job_did_not_finish_cannot_be_committed(tmp_path):
    out = str(tmp_path / "out")
    staging = staging_dir(out, "r-00001-abc")
    os.makedirs(os.path.join(staging, "articles"))
    con = open_lake(out, read_only=False)
    with pytest.raises(OSError):
        commit_batch(con, staging, {"run_id": "r", "batch": 1, "batches": 1, "commit_id": "r-00001-abc",
                                    "started_at": WHEN, "finished_at": WHEN, "files_found": 1,
                                    "files_skipped": 0, "options": "{}", "code_version": "test"}, "x")
    assert connect(out).execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_extension_signatures_are_skipped_only_on_our_own_connections_to_files_nobody_else_can_change(
        tmp_path, monkeypatch):
    from schemas import catalog
    from schemas.catalog import new_duckdb, only_we_can_change
    folder = tmp_path / "ext"
    folder.mkdir()
    f = folder / "x.duckdb_extension"
    f.write_bytes(b"\0")
    os.chmod(folder, 0o755)
    os.chmod(f, 0o644)
    assert only_we_can_change(str(f))
    os.chmod(f, 0o664)
    assert not only_we_can_change(str(f))  # the group may write the file
    os.chmod(f, 0o644)
    os.chmod(folder, 0o777)
    assert not only_we_can_change(str(f))  # anyone may replace it
    os.chmod(folder, 0o755)
    link = tmp_path / "link.duckdb_extension"
    link.symlink_to(f)
    assert not only_we_can_change(str(link))  # whoever owns a link may point it elsewhere

    def unsigned_allowed(con):
        return con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0]
    monkeypatch.setattr(catalog, "only_we_can_change", lambda path: True)
    assert unsigned_allowed(new_duckdb()) is True
    assert unsigned_allowed(new_duckdb(verify_extensions=True)) is False
    out = str(tmp_path / "out")
    open_lake(out, read_only=False).close()
    user = connect(out)  # handed to users: DuckDB's checks stay on
    assert unsigned_allowed(user) is False
    assert user.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    monkeypatch.setattr(catalog, "only_we_can_change", lambda path: False)
    assert unsigned_allowed(new_duckdb()) is False  # signed files load all the same


def test_the_renamed_sqlite_extension_is_never_written_into_someone_elses_folder(tmp_path, monkeypatch):
    from schemas import catalog
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    catalog._copy_folder.cache_clear()
    theirs = tmp_path / f"news-ingest-duckdb-{duckdb.__version__}-{os.getuid()}"
    theirs.mkdir(mode=0o777)  # taken by someone else: anyone may write it
    os.chmod(theirs, 0o777)
    path = catalog._sqlite_extension()
    assert not path.startswith(str(theirs)) and os.listdir(theirs) == []
    assert os.path.getsize(path) > 1_000_000
    assert catalog._sqlite_extension() == path  # decided once per process
    os.chmod(theirs, 0o755)
    catalog._copy_folder.cache_clear()
    mine = catalog._sqlite_extension()
    assert mine == str(theirs / "sqlite_scanner.duckdb_extension")
    catalog._copy_folder.cache_clear()  # later tests: the real temporary folder again


def _commit(out, run_id, rows):
    """Stages ``rows`` (table -> records; every other table empty) and commits them."""
    staging = staging_dir(out, f"{run_id}-00001-abc")
    with TestPipeline() as p:
        ({t: p | t >> beam.Create(rows.get(t, []), reshuffle=False) for t in STAGED}
         | WriteTables(staging, run_id, WHEN))
    con = open_lake(out, read_only=False)
    try:
        return commit_batch(con, staging, {
            "run_id": run_id, "batch": 1, "batches": 1, "commit_id": f"{run_id}-00001-abc",
            "started_at": WHEN, "finished_at": WHEN, "files_found": 1, "files_skipped": 0,
            "options": "{}", "code_version": "test"}, "test commit")
    finally:
        con.close()


def test_a_record_the_model_rejected_supersedes_nothing(tmp_path):
    """Dedup decides before NER: a newer version that then fails NER (``ner_error``) must not
    take its earlier article's place, which stays the article with its copies."""
    out = str(tmp_path / "out")
    old, copy = articles(2)
    _commit(out, "r1", {"articles": [old], "duplicates": [
        Duplicate(copy.source_uri, copy.article_id, old.article_id, 0.9, "near", "jaccard", old.article_id)]})
    counts = _commit(out, "r2", {
        "duplicates": [Duplicate(old.source_uri, old.article_id, "new", 0.9, "version", "jaccard", "new")],
        "rejects": [Reject("/in/new.html", "ner_error", "RuntimeError: boom", 10)]})
    con = connect(out)
    assert con.execute("SELECT article_id FROM articles").fetchall() == [(old.article_id,)]
    assert con.execute("SELECT article_id, canonical_id FROM duplicates").fetchall() == [
        (copy.article_id, old.article_id)]
    assert (counts["superseded"], counts["duplicates"], counts["rejects"]) == (0, 0, 1)
    assert con.execute("SELECT superseded, duplicates FROM runs WHERE run_id = 'r2'").fetchone() == (0, 0)


def test_staged_index_files_come_in_small_row_groups_and_other_tables_in_one(tmp_path):
    """A lookup reads a row group's sketches whole: the index's staged files hold at most
    INDEX_ROW_GROUP rows a group however large the bundle (pyarrow's default: one group)."""
    from transforms.sink.parquet import INDEX_ROW_GROUP, write_rows
    n = 2 * INDEX_ROW_GROUP + 5
    index = [{"article_id": f"a{i}", "source_uri": f"s{i}", "text_hash": f"h{i}", "word_count": 1,
              "published_at_us": None, "signature": b"s", "shingles": b"", "facts": b"",
              "num_perm": 128, "shingle_words": 5, "run_id": "r", "page_key": None,
              "version_us": None, "kept": True} for i in range(n)]
    bands = [{"band_key": f"0:{i:016x}", "article_id": f"a{i}"} for i in range(n)]
    staging = str(tmp_path)
    groups = pq.ParquetFile(write_rows(staging, "dedup_index", index)).metadata
    assert (groups.num_rows, groups.num_row_groups) == (n, 3)
    assert max(groups.row_group(g).num_rows for g in range(3)) == INDEX_ROW_GROUP
    assert pq.ParquetFile(write_rows(staging, "dedup_bands", bands)).metadata.num_row_groups == 1
