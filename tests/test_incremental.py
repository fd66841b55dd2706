"""Scheduled runs over one output: only new files, atomic batches, exactly once under kill -9,
one writer at a time, readers isolated from a run in progress. Real processes, real
DuckLake, real files."""
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SAMPLES, SEEN_SQL, exited, lake_tables
from pipeline.progress import TALLY_PREFIX
from schemas.views import connect
from transforms.sink.commit import index_files
from transforms.sink.parquet import INDEX_ROW_GROUP

pytestmark = pytest.mark.slow

FAST = ("--skip_entities", "--batch_files", "7")  # 14 sample files: 2 batches


def pipeline(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True, **kw)


def run_ok(*args, env=None):
    proc = pipeline(*args, env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def snapshot_id(out):
    return connect(str(out)).execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]


def no_orphans(out, scheduled: bool = False):
    """The Parquet files on disk are exactly those the catalog knows (data and delete files of
    any snapshot; ``scheduled``: and those it has scheduled for deletion, which a compaction
    leaves until snapshots expire), and every batch folder belongs to a commit."""
    con = connect(str(out))
    data = os.path.join(out, "data")
    known = set()
    if scheduled:
        for path, relative in con.execute(
                "SELECT path, path_is_relative FROM "
                "__ducklake_metadata_lake.ducklake_files_scheduled_for_deletion").fetchall():
            known.add(os.path.normpath(os.path.join(data, path) if relative else path))
    for table in ("ducklake_data_file", "ducklake_delete_file"):
        # a relative path is relative to its table's folder (itself relative to its schema's)
        for path, relative in con.execute(f"""
                SELECT CASE WHEN f.path_is_relative THEN
                           (CASE WHEN t.path_is_relative THEN s.path || t.path ELSE t.path END) || f.path
                       ELSE f.path END, f.path_is_relative AND t.path_is_relative AND s.path_is_relative
                FROM __ducklake_metadata_lake.{table} f
                JOIN __ducklake_metadata_lake.ducklake_table t USING (table_id)
                JOIN __ducklake_metadata_lake.ducklake_schema s USING (schema_id)""").fetchall():
            known.add(os.path.normpath(os.path.join(data, path) if relative else path))
    on_disk = {os.path.normpath(os.path.join(d, f))
               for d, _, files in os.walk(data) for f in files}
    assert on_disk == known
    committed = {r[0] for r in con.execute("SELECT commit_id FROM runs").fetchall()}
    assert set(os.listdir(os.path.join(data, "batches"))) <= committed


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """A landing folder in two states (seeds first, then everything), and the tables of an
    uninterrupted pair of runs over it: the reference every crashed pair must equal."""
    base = tmp_path_factory.mktemp("grown")
    land = base / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land / "seeds")
    ref = base / "ref"
    run_ok("--input", str(land), "--output", str(ref), *FAST)
    grow(land)
    t0 = time.monotonic()
    out = run_ok("--input", str(land), "--output", str(ref), *FAST)
    full_s = time.monotonic() - t0
    return land, ref, lake_tables(ref), out, full_s


def grow(land):
    for sub in ("pages", "exports", "bad"):
        shutil.copytree(os.path.join(SAMPLES, sub), land / sub)  # copy2: same times as samples


@pytest.fixture(scope="module")
def reference(grown):
    """One uninterrupted run over the whole landing folder into an empty output: (landing
    folder, its tables, each batch's seconds as the run printed them)."""
    land, *_ = grown
    out = land.parent / "one-run"
    printed = run_ok("--input", str(land), "--output", str(out), *FAST)
    batches = [float(s) for s in re.findall(r"^batch \d+/\d+ committed: .* \((\d+\.\d)s: graph", printed, re.M)]
    assert len(batches) == 2, printed
    return land, lake_tables(out), batches


def crashed_then_rerun(land, out, start):
    """A run over the reference's landing folder (article ids hash the path) killed by
    ``start(args)`` -> its process, then the same command again, to the end."""
    proc = start(("--input", str(land), "--output", str(out), *FAST))
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    run_ok("--input", str(land), "--output", str(out), *FAST)


def test_growing_folder_takes_only_new_files_and_copies_point_to_earlier_articles(grown):
    land, ref, want, out, _ = grown
    assert "files: 14 found, 9 new, 0 changed or reprocessed, 5 already taken; 2 batch(es)" in out
    con = connect(str(ref))
    # the JSONL copy of seed 002 came later, dated where the seed is not: as in one run over
    # everything, it is the article, and the first run's seed article became its duplicate
    first_run, last_run = con.execute("SELECT min(run_id), max(run_id) FROM runs").fetchone()
    (dup_run, method, canon_run, canon_uri) = con.execute("""
        SELECT d.run_id, d.method, a.run_id, a.source_uri FROM duplicates d
        JOIN articles a ON a.article_id = d.canonical_id
        WHERE d.source_uri LIKE '%seeds/002_1351631f90ef5070.txt'""").fetchone()
    assert (dup_run, method, canon_run) == (last_run, "exact", last_run)
    assert canon_uri.endswith("export.jsonl#1") and first_run != last_run
    assert con.execute("SELECT sum(superseded) FROM runs").fetchone()[0] == 1
    # the first run's lake still shows the seed as the article
    old = connect(str(ref), run_id=first_run)
    assert old.execute("SELECT count(*) FROM articles WHERE source_uri LIKE '%seeds/002_%'").fetchone()[0] == 1
    # every input record is in exactly one table, and in the ledger
    uris = con.execute("""SELECT source_uri FROM articles UNION ALL SELECT source_uri FROM duplicates
                          UNION ALL SELECT source_uri FROM rejects""").fetchall()
    assert len(uris) == len(set(uris)) == 17 == len(want["ingest_records"])
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1 + 2


def test_rerun_over_an_unchanged_folder_adds_nothing(grown):
    land, ref, want, _, full_s = grown
    before = snapshot_id(ref)
    t0 = time.monotonic()
    out = run_ok("--input", str(land), "--output", str(ref), *FAST)
    again_s = time.monotonic() - t0
    print(f"\nrun over 9 new files: {full_s:.1f}s; no-op rerun over 14 taken files: {again_s:.1f}s")
    assert "14 already taken; 0 batch(es)" in out and "nothing new" in out
    assert snapshot_id(ref) == before  # not one commit: no table, no ledger row changed
    assert lake_tables(ref) == want


@pytest.mark.parametrize("kill_at", ["planned", "staged:1", "commit:1", "committed:1",
                                     "commit:2"])
def test_kill_9_at_any_point_then_rerun_equals_one_uninterrupted_run(reference, tmp_path, kill_at):
    land, want, _ = reference
    out = tmp_path / "out"
    crashed_then_rerun(land, out, lambda args: pipeline(*args, env={"NEWS_INGEST_KILL_AT": kill_at}))
    assert lake_tables(out) == want
    no_orphans(str(out))


@pytest.mark.parametrize("after", ["files: ", "batch 1/2 committed"])
def test_kill_9_from_outside_at_a_random_moment(reference, tmp_path, after):
    """Killed by the test at a moment it draws, not at one of the code's points: a random
    time, up to half a batch of the uninterrupted run, after the run printed ``after`` (its
    plan, or its first commit): inside a batch's Beam job, its commit, or between."""
    land, want, batches = reference
    out = tmp_path / "out"
    delay = random.uniform(0, 0.5) * batches[0 if after == "files: " else 1]

    def start(args):
        proc = pipeline(*args)
        for line in proc.stdout:
            if line.startswith(after):
                break
        time.sleep(delay)
        assert proc.poll() is None, f"the run ended within {delay:.2f}s after {after!r}"
        os.killpg(proc.pid, signal.SIGKILL)
        return proc

    crashed_then_rerun(land, out, start)
    assert lake_tables(out) == want
    no_orphans(str(out))


def test_kill_9_during_ner_then_rerun_equals_an_uninterrupted_run(tmp_path):
    """Killed while worker processes run NER (in-memory runs annotate in a child process
    ahead of the NER stage, too quickly to catch it there: test_kill_9_with_ner_in_its_child_process)."""
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "pages"), land)
    ref, out = tmp_path / "ref", tmp_path / "out"
    workers = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
    run_ok("--input", str(land), "--output", str(ref), *workers)
    proc = pipeline("--input", str(land), "--output", str(out), "--progress_interval", "0.05",
                    *workers)
    deadline = time.monotonic() + 120
    # NER runs once dedup is done: kill when the progress lines say dedup has its total
    # (the model loads meanwhile) and NER has not finished
    line = ""
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        m = re.search(r"deduplicated (\d+)/(\d+).*NER (\d+)/(\d+)", line)
        if m and m[1] == m[2] != "0" and int(m[3]) < int(m[4]):
            break
    assert proc.poll() is None, f"the run ended before it could be killed ({line!r})"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert connect(str(out)).execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    run_ok("--input", str(land), "--output", str(out), *workers)
    assert lake_tables(out) == lake_tables(ref)
    no_orphans(str(out))


def test_a_second_run_started_meanwhile_exits_with_a_clear_message_or_waits(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(SAMPLES, land)
    mark = tmp_path / "holding"
    first = pipeline("--input", str(land), "--output", str(out), *FAST,
                     env={"NEWS_INGEST_PAUSE_AT": "planned", "NEWS_INGEST_PAUSE_MARK": str(mark),
                          "NEWS_INGEST_PAUSE_SECONDS": "8"})
    while not mark.exists():
        assert first.poll() is None
        time.sleep(0.05)
    second = pipeline("--input", str(land), "--output", str(out), *FAST, "--overwrite")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 2
    assert err.strip().count("\n") == 0 and "is writing to this output" in err and "--wait" in err
    waiting = pipeline("--input", str(land), "--output", str(out), *FAST, "--wait")
    assert first.wait(timeout=300) == 0
    wout, werr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, werr
    assert "waiting for run" in wout and "0 batch(es)" in wout
    con = connect(str(out))
    assert con.execute("SELECT count(*), count(DISTINCT source_uri) FROM articles").fetchone() == (11, 11)
    assert con.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] == 1


def test_a_reader_sees_the_state_before_a_commit_then_after_it(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(SAMPLES, land)
    mark = tmp_path / "in-commit"
    writer = pipeline("--input", str(land), "--output", str(out), *FAST, "--run_id", "r1",
                      env={"NEWS_INGEST_PAUSE_AT": "commit:2", "NEWS_INGEST_PAUSE_MARK": str(mark),
                           "NEWS_INGEST_PAUSE_SECONDS": "6"})
    while not mark.exists():
        assert writer.poll() is None
        time.sleep(0.05)
    # batch 2's files are registered inside its open transaction: a reader sees batch 1 only
    con = connect(str(out))
    seen = con.execute(SEEN_SQL).fetchone()
    assert seen[2] == 1 and seen[0] == seen[1] > 0
    con.close()
    assert writer.wait(timeout=300) == 0
    con = connect(str(out))
    assert con.execute("SELECT max(batch), sum(articles + duplicates + rejects) FROM runs").fetchone() == (2, 17)
    # history: the state as of an earlier run stays queryable
    run_ok("--input", str(land / "seeds"), "--output", str(out), "--reprocess",
           "--skip_entities", "--run_id", "r2")
    now, then = connect(str(out)), connect(str(out), run_id="r1")
    q = "SELECT count(*) FROM articles WHERE run_id = 'r1'"
    from_seeds = then.execute(q + " AND source_uri LIKE '%/seeds/%'").fetchone()[0]
    assert from_seeds == 4  # seed 002 is a copy of its dated JSONL export
    assert then.execute(q).fetchone()[0] == 11 and now.execute(q).fetchone()[0] == 11 - from_seeds
    assert now.execute("SELECT count(*) FROM articles").fetchone()[0] == 11


def test_small_runs_are_compacted_without_changing_what_queries_return(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(SAMPLES, land)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--batch_files", "1")
    before = lake_tables(out)
    con = connect(str(out))
    files_before = con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'articles')").fetchone()[0]
    # one file per commit that kept an article (files with no rows are not registered)
    assert files_before == con.execute("SELECT count(*) FROM runs WHERE articles > 0").fetchone()[0] == 10
    con.close()
    out_text = run_ok("compact", str(out))
    assert re.search(r"\barticles 1\b", out_text)
    assert lake_tables(out) == before
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'articles')").fetchone()[0] == 1


def test_compaction_merges_files_with_deleted_rows_too(tmp_path):
    """A changed file deletes its record's rows from an earlier file; DuckLake merges only
    files without deletes, so compaction rewrites those first: each table ends in one file,
    and queries return what they did."""
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(SAMPLES, land)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities")
    add_to_first_paragraph(land / "pages" / "aljazeera-afghanistan-helicopter.html",
                           " The ministry released new figures on Thursday.")
    assert "1 changed" in run_ok("--input", str(land), "--output", str(out), "--skip_entities")
    before = lake_tables(out)
    run_ok("compact", str(out))
    assert lake_tables(out) == before
    con = connect(str(out))
    # (before the rewrite, these and three more tables stayed in two files)
    for table in ("articles", "dedup_index", "story_index", "ingest_records"):
        assert con.execute(f"SELECT count(*), count(delete_file) FROM ducklake_list_files('lake', "
                           f"'{table}')").fetchone() == (1, 0), table
    # the index's files once compacted: small row groups, which a lookup reads one at a time
    assert con.execute("SELECT value, scope_entry FROM lake.options() "
                       "WHERE option_name = 'parquet_row_group_size'").fetchall() == [
        ("2048", "main.dedup_index")]


def add_to_first_paragraph(page, words: str) -> None:
    """Appends ``words`` to the first paragraph of the article in the HTML file ``page``."""
    html = page.read_text(encoding="utf-8")
    cut = html.index("</p>", html.index("<article"))
    page.write_text(html[:cut] + words + html[cut:], encoding="utf-8")


def index_row_groups(con):
    """(row groups, most rows in one) of the index's data files."""
    files = index_files(con)
    return con.execute("SELECT count(DISTINCT (file_name, row_group_id)), max(row_group_num_rows) "
                       "FROM parquet_metadata(?)", [files]).fetchone()


def test_time_travel_to_earlier_runs_survives_repeated_compactions(tmp_path):
    """Compaction flushes the rows the catalog holds inline and rewrites files with deleted
    rows; DuckLake bug reports say that sequence, repeated, can change what older snapshots
    read. Every earlier run's view stays what it was through two compactions, with a
    replaced record before each."""
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(SAMPLES, land)
    page = land / "pages" / "aljazeera-afghanistan-helicopter.html"
    views = {}
    for run_id, added in (("r1", ""), ("r2", " The ministry released new figures on Thursday."),
                          ("r3", " Officials said more details would follow.")):
        if added:  # a sentence more in the article: the next run replaces its record
            add_to_first_paragraph(page, added)
        run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--run_id", run_id)
        views[run_id] = lake_tables(out, run_id=run_id)
        if added:
            run_ok("compact", str(out))
            for earlier, view in views.items():
                assert lake_tables(out, run_id=earlier) == view, earlier
    assert views["r1"] != views["r2"] != views["r3"]


def old_style_index(out) -> int:
    """Runs the samples into ``out`` and leaves its index as compactions before the index's
    row-group option did: one file, in one row group of DuckDB's default size (with copies
    of the real rows under other ids, enough for more than one small group); its rows."""
    from schemas.catalog import open_lake
    run_ok("--input", SAMPLES, "--output", str(out), "--skip_entities")
    con = open_lake(str(out), read_only=False)
    con.execute("CALL lake.set_option('parquet_row_group_size', 122880, table_name => 'dedup_index')")
    con.execute("INSERT INTO lake.dedup_index SELECT i.* REPLACE (i.article_id || '-' || n AS article_id) "
                "FROM lake.dedup_index i, range(300) r(n)")
    con.execute("CALL ducklake_merge_adjacent_files('lake')")
    groups, most = index_row_groups(con)
    assert most > INDEX_ROW_GROUP and groups == 1
    con.close()
    return most


def test_compaction_splits_an_index_compacted_in_large_row_groups(tmp_path):
    """A lake compacted before the index's row-group option holds its index in row groups of
    up to 122,880 rows, which a merge keeps whole (and a lookup reads whole); compaction
    writes such an index anew, in small row groups, and queries return what they did."""
    out = tmp_path / "out"
    rows = old_style_index(out)
    before = lake_tables(out)
    run_ok("compact", str(out))
    assert lake_tables(out) == before
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM dedup_index").fetchone()[0] == rows
    groups, most = index_row_groups(con)
    assert most <= INDEX_ROW_GROUP and groups >= 2
    files = index_files(con)
    con.close()
    run_ok("compact", str(out))  # written anew once: the next compaction leaves it
    assert index_files(connect(str(out))) == files


def test_a_compaction_killed_while_writing_the_index_anew_changes_nothing(tmp_path):
    out = tmp_path / "out"
    rows = old_style_index(out)
    before, files = lake_tables(out), index_files(connect(str(out)))
    proc = pipeline("compact", str(out), env={"NEWS_INGEST_KILL_AT": "rewrite"})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert lake_tables(out) == before and index_files(connect(str(out))) == files
    run_ok("compact", str(out))
    assert lake_tables(out) == before
    assert index_row_groups(connect(str(out)))[1] <= INDEX_ROW_GROUP
    # the next run (nothing new to take) deletes the files the killed compaction wrote
    run_ok("--input", SAMPLES, "--output", str(out), "--skip_entities")
    assert lake_tables(out) == before
    assert connect(str(out)).execute("SELECT count(*) FROM dedup_index").fetchone()[0] == rows
    no_orphans(out, scheduled=True)


def test_a_changed_file_replaces_its_article_and_a_touched_one_changes_nothing(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    for sub in ("seeds", "pages", "exports"):
        shutil.copytree(os.path.join(SAMPLES, sub), land / sub)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--run_id", "r1")
    con = connect(str(out))
    (old_id, old_text) = con.execute("SELECT article_id, text FROM articles "
                                     "WHERE source_uri LIKE '%aljazeera-afghanistan-helicopter.html'").fetchone()
    assert con.execute("SELECT canonical_id FROM duplicates WHERE source_uri LIKE '%copy.htm'").fetchone()[0] == old_id
    con.close()
    page = land / "pages" / "aljazeera-afghanistan-helicopter.html"
    html = page.read_text(encoding="utf-8")
    tail = old_text.split("\n\n")[1][-25:]  # the end of a paragraph of the article body
    cut = html.index(tail) + len(tail)
    page.write_text(html[:cut] + " The ministry released new figures on Thursday." + html[cut:], encoding="utf-8")
    seed = next((land / "seeds").iterdir())
    os.utime(seed, (time.time() + 60, time.time() + 60))  # touched: same bytes, new time
    with open(land / "exports" / "export.jsonl", "a", encoding="utf-8") as f:
        f.write('{"text": "A council in Bergen approved the harbour plan on Monday after a long debate '
                'about costs, ferries and the fishing fleet that uses the old quay."}\n')
    out_text = run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--run_id", "r2")
    assert "0 new, 3 changed or reprocessed" in out_text
    con = connect(str(out))
    rows = con.execute("SELECT source_uri, article_id, text FROM articles WHERE run_id = 'r2'").fetchall()
    assert sorted(os.path.basename(u) for u, _, _ in rows) == ["aljazeera-afghanistan-helicopter.html",
                                                              "export.jsonl#5"]
    new_id, new_text = next((a, t) for u, a, t in rows if u.endswith(".html"))
    assert new_id != old_id and "new figures on Thursday" in new_text and "new figures" not in old_text
    # not a duplicate of its own old version, which is gone from the current state ...
    assert con.execute("SELECT count(*) FROM duplicates WHERE run_id = 'r2'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM articles WHERE article_id = ?", [old_id]).fetchone()[0] == 0
    # ... its copy now points to the new version, and the old one is reachable as of run r1
    assert con.execute("SELECT canonical_id FROM duplicates WHERE source_uri LIKE '%copy.htm'").fetchone()[0] == new_id
    assert connect(str(out), run_id="r1").execute(
        "SELECT text FROM articles WHERE article_id = ?", [old_id]).fetchone()[0] == old_text
    assert con.execute("SELECT files_new, files_changed, files_unchanged, replaced FROM runs "
                       "WHERE run_id = 'r2'").fetchall() == [(0, 2, 1, 1)]
    uris = con.execute("""SELECT source_uri FROM articles UNION ALL SELECT source_uri FROM duplicates
                          UNION ALL SELECT source_uri FROM rejects""").fetchall()
    assert len(uris) == len(set(uris)) == con.execute("SELECT count(*) FROM ingest_records").fetchone()[0] == 16


def every_record_once(con):
    uris = con.execute("""SELECT source_uri FROM articles UNION ALL SELECT source_uri FROM duplicates
                          UNION ALL SELECT source_uri FROM rejects""").fetchall()
    assert len(uris) == len(set(uris)) == con.execute("SELECT count(*) FROM ingest_records").fetchone()[0]


def test_reprocessing_a_folder_with_copies_in_it_changes_nothing_but_the_run(tmp_path):
    """Every record's new version meets its old one and its copies in one batch: none may
    fold into an earlier version that the same commit replaces."""
    land, out = tmp_path / "land", tmp_path / "out"
    for sub in ("seeds", "pages", "exports"):
        shutil.copytree(os.path.join(SAMPLES, sub), land / sub)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities")
    before = lake_tables(out)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--reprocess")
    after = lake_tables(out)
    assert {t: rows for t, rows in after.items() if t != "ingest_files"} == {
        t: rows for t, rows in before.items() if t != "ingest_files"}
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM duplicates d LEFT JOIN articles a ON a.article_id = d.canonical_id "
                       "WHERE a.article_id IS NULL").fetchone()[0] == 0
    every_record_once(con)


def test_a_line_inserted_at_the_top_of_a_jsonl_export_loses_nothing(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land / "seeds")
    lines = [json_line(i) for i in range(4)]
    (land / "feed.jsonl").write_text("".join(lines), encoding="utf-8")
    run_ok("--input", str(land), "--output", str(out), "--skip_entities")
    (land / "feed.jsonl").write_text(json_line(9) + "".join(lines), encoding="utf-8")  # every line moves
    run_ok("--input", str(land), "--output", str(out), "--skip_entities")
    con = connect(str(out))
    texts = {t for (t,) in con.execute("SELECT text FROM articles WHERE source_uri LIKE '%feed.jsonl#%'").fetchall()}
    assert len(texts) == 5 and all(any(f"number {i} " in t for t in texts) for i in (0, 1, 2, 3, 9))
    assert con.execute("SELECT count(*) FROM duplicates d LEFT JOIN articles a ON a.article_id = d.canonical_id "
                       "WHERE a.article_id IS NULL").fetchone()[0] == 0
    every_record_once(con)


def json_line(i):
    import json
    text = (f"Story number {i} from the harbour desk. " + " ".join(
        f"Sentence {j} of story {i} tells how council {i} weighed ferry route {j * i} with {j + i} boats."
        for j in range(12)))
    return json.dumps({"text": text}) + "\n"


def test_a_page_reused_for_another_story_leaves_its_copies_on_the_old_version(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    shutil.copytree(os.path.join(SAMPLES, "pages"), land)
    run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--run_id", "r1")
    con = connect(str(out))
    (old_id,) = con.execute("SELECT canonical_id FROM duplicates WHERE source_uri LIKE '%copy.htm'").fetchone()
    con.close()
    (land / "aljazeera-afghanistan-helicopter.html").write_text(
        "<html><body><article>" + "".join(f"<p>{json_line(7)[10:-3]}</p>" for _ in range(2))
        + "</article></body></html>", encoding="utf-8")
    run_ok("--input", str(land), "--output", str(out), "--skip_entities", "--run_id", "r2")
    con = connect(str(out))
    assert con.execute("SELECT canonical_id FROM duplicates WHERE source_uri LIKE '%copy.htm'").fetchone()[0] == old_id
    assert con.execute("SELECT count(*) FROM articles WHERE article_id = ?", [old_id]).fetchone()[0] == 0
    assert connect(str(out), run_id="r1").execute(
        "SELECT count(*) FROM articles WHERE article_id = ?", [old_id]).fetchone()[0] == 1
    every_record_once(con)


def children(pid: int):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def test_kill_9_with_ner_in_its_child_process(grown, tmp_path):
    """NER on, in the default in-memory runner (the model in a child process of the run):
    the driver alone killed at a random moment of its second batch; the child does not
    outlive it, and the rerun equals one uninterrupted run."""
    land, *_ = grown
    ref = tmp_path / "ref"
    printed = run_ok("--input", str(land), "--output", str(ref), "--batch_files", "7")
    want = lake_tables(ref)
    assert want["articles"] and "top entities:" in printed
    second = float(re.findall(r"^batch 2/2 committed: .* \((\d+\.\d)s: graph", printed, re.M)[0])
    delay = random.uniform(0, 0.5) * second
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"  # its own temporary folder: no other test's run cleans it up
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    proc = pipeline("--input", str(land), "--output", str(out), "--batch_files", "7",
                    "--progress_interval", "0.05", env=env)
    for line in proc.stdout:
        if line.startswith("progress: batch 2/2"):  # the second batch's job is under way
            break
    kids = children(proc.pid)
    time.sleep(delay)
    assert proc.poll() is None, f"the run ended within {delay:.2f}s into its second batch"
    assert kids, "no NER process was started"
    os.kill(proc.pid, signal.SIGKILL)  # the driver only, as the kernel's OOM killer would
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while not all(exited(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(exited(k) for k in kids)
    tallies = os.path.join(str(tmp), f"{TALLY_PREFIX}{proc.pid}-*")
    assert glob.glob(tallies)  # the killed run's progress folder...
    run_ok("--input", str(land), "--output", str(out), "--batch_files", "7", env=env)
    assert lake_tables(out) == want
    no_orphans(str(out))
    assert not glob.glob(tallies)  # ...is removed by the next run
