"""What a process that runs many batches (a long run, a watcher) keeps between them: the
lookups' DuckDB and the writer's connection are made anew, so that DuckLake's catalog state
(kept in a DuckDB instance until it closes) does not pile up batch after batch."""
import ctypes
import ctypes.util

import pytest

from schemas.catalog import CatalogError, as_lake, new_duckdb, open_lake
from transforms.lake_reader import LakeReader, RenewedDuckDB
from transforms.warm import Warm


def _heap_in_use():
    """Bytes glibc's malloc has handed out and not had back (None off glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    mallinfo2.restype = MallInfo2
    return lambda: mallinfo2().uordblks


def _lake_with_a_snapshot(tmp_path):
    lake = as_lake(str(tmp_path / "out"))
    con = open_lake(lake, read_only=False)
    snapshot = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]
    con.close()
    return lake, snapshot


def test_lookup_readers_over_many_jobs_leave_no_catalog_state_behind(tmp_path):
    """Held as a run holds it (``pipeline.run.local_models``), the lookups' DuckDB is made anew
    before each job: 100 jobs' readers leave the C heap as it was. One instance kept for all
    of them grew by ~16 MB here (DuckLake keeps each attachment's catalog until the instance
    closes, DETACH or not)."""
    in_use = _heap_in_use()
    if in_use is None:
        pytest.skip("needs glibc's mallinfo2")
    lake, snapshot = _lake_with_a_snapshot(tmp_path)
    warm = Warm()
    warm.hold("duckdb", lambda: RenewedDuckDB(lambda: new_duckdb(lake=lake)), "duckdb")

    def job():
        warm.before_job()
        reader = LakeReader(lake, snapshot, warm)
        assert reader.open().execute("SELECT count(*) FROM articles").fetchone() == (0,)
        reader.close()

    for _ in range(10):
        job()
    before = in_use()
    for _ in range(100):
        job()
    assert in_use() - before < 4 * 2**20


def test_the_lookups_duckdb_is_a_new_instance_in_each_job(tmp_path):
    made = []
    renewed = RenewedDuckDB(lambda: made.append(new_duckdb()) or made[-1])
    renewed.cursor().execute("CREATE TABLE only_this_job AS SELECT 1 AS x")
    assert renewed.cursor().execute("SELECT x FROM only_this_job").fetchone() == (1,)
    renewed.new_job()
    assert len(made) == 1  # made when a reader asks, not before
    with pytest.raises(Exception, match="only_this_job"):
        renewed.cursor().execute("SELECT x FROM only_this_job")
    assert len(made) == 2
    with pytest.raises(Exception, match="closed"):
        made[0].execute("SELECT 1")


def test_a_prepared_connection_writes_to_the_same_lake_and_never_makes_a_new_one(tmp_path):
    """``open_lake(prepared=True)``, the writer's connection made anew after each commit:
    what it writes, a fresh reader sees; a local catalog that has gone is an error, not a new
    empty lake made in its place."""
    lake, _ = _lake_with_a_snapshot(tmp_path)
    con = open_lake(lake, read_only=False, prepared=True)
    con.execute("INSERT INTO rejects (source_uri, reason, ingested_at, run_id) "
                "VALUES ('file:///a', 'binary', now(), 'r')")
    con.close()
    reader = open_lake(lake)
    assert reader.execute("SELECT source_uri, run_id FROM rejects").fetchall() == [("file:///a", "r")]
    reader.close()
    (tmp_path / "out" / "catalog.sqlite").rename(tmp_path / "elsewhere.sqlite")
    with pytest.raises(CatalogError, match="missing"):
        open_lake(lake, read_only=False, prepared=True)
    assert not (tmp_path / "out" / "catalog.sqlite").exists()


def test_the_writer_makes_its_connection_anew_after_a_commit_and_keeps_the_old_if_it_cannot(
        tmp_path, caplog):
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipeline.options import IngestOptions
    from pipeline.progress import Progress
    from pipeline.run import Writer
    lake, _ = _lake_with_a_snapshot(tmp_path)
    options = PipelineOptions(["--input", str(tmp_path), "--output", lake.output])
    first = open_lake(lake, read_only=False)
    writer = Writer(first, options, options.view_as(IngestOptions), "r", Progress("log"), lake=lake)
    writer._renew_connection()
    assert writer.con is not first
    with pytest.raises(Exception, match="closed"):
        first.execute("SELECT 1")
    assert writer.con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    kept = writer.con
    (tmp_path / "out" / "catalog.sqlite").rename(tmp_path / "elsewhere.sqlite")
    with caplog.at_level("WARNING", logger="pipeline.run"):
        writer._renew_connection()  # says so and goes on: the batch before it is committed
    assert writer.con is kept
    assert "not made anew" in caplog.text
    writer.con.close()
