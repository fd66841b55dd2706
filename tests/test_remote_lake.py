"""The remote lake: its catalog in a real PostgreSQL server, its data files on a real
S3-compatible store (SeaweedFS), both on 127.0.0.1 (``tests/servers.py``). The promises of the
local lake, tested the same way: the same tables, only new files, exactly once under
``kill -9`` at every point (files a killed run left on the store removed by the next run),
one writer across processes, readers that never see half a batch, time travel, compaction,
and no password or key in any output, report or the run history."""
import os
import signal
import shutil
import time

import pytest

from conftest import SAMPLES, SEEN_SQL, RemoteLake, lake_tables
from servers import PG_PASSWORD, S3_SECRET
from test_incremental import FAST, grow, pipeline, run_ok

pytestmark = pytest.mark.slow

SECRETS = (PG_PASSWORD, S3_SECRET)


def no_secrets(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def run_both(*args, env=None):
    """run_ok that also returns what the run wrote to its standard error."""
    proc = pipeline(*args, env=env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out, err


@pytest.fixture(scope="module")
def reference(servers, tmp_path_factory):
    """A landing folder in two states (seeds, then everything), run twice into a local lake
    and twice into a remote one, and one uninterrupted local run over the whole folder: the
    tables every crashed remote pair must equal."""
    pg, s3 = servers
    base = tmp_path_factory.mktemp("remote")
    land = base / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land / "seeds")
    local = base / "local"
    remote = RemoteLake(pg, s3, f"reference_{os.getpid()}")
    printed = []
    run_ok("--input", str(land), "--output", str(local), *FAST, "--run_id", "r1")
    printed.append(run_both("--input", str(land), *remote.args, *FAST, "--run_id", "r1"))
    grow(land)
    run_ok("--input", str(land), "--output", str(local), *FAST, "--run_id", "r2")
    printed.append(run_both("--input", str(land), *remote.args, *FAST, "--run_id", "r2"))
    one = base / "one-run"
    run_ok("--input", str(land), "--output", str(one), *FAST)
    return land, local, remote, printed, lake_tables(one)


def test_two_runs_into_the_remote_lake_equal_the_same_runs_into_a_local_one(reference):
    land, local, remote, printed, _ = reference
    assert remote.tables() == lake_tables(local)
    out = printed[1][0]
    assert "files: 14 found, 9 new, 0 changed or reprocessed, 5 already taken; 2 batch(es)" in out
    assert "earlier articles fetched" in out  # workers looked up the first run's articles
    con = remote.connect()
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
    # the data files are on the store, under the data path
    files = [r[0] for r in con.execute(
        "SELECT data_file FROM ducklake_list_files('lake', 'articles')").fetchall()]
    assert files and all(f.startswith(f"{remote.output}/data/batches/") for f in files)
    # a rerun over the unchanged folder commits nothing
    before = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]
    con.close()
    again, _ = run_both("--input", str(land), *remote.args, *FAST)
    assert "14 already taken; 0 batch(es)" in again
    con = remote.connect()
    assert con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0] == before


def test_time_travel_on_the_remote_lake(reference):
    _, local, remote, _, _ = reference
    then = remote.connect(run_id="r1")
    assert then.execute("SELECT count(*), count(*) FILTER (WHERE source_uri LIKE '%/seeds/%') "
                        "FROM articles").fetchone() == (5, 5)
    assert then.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] == 1


def test_no_password_or_key_in_outputs_reports_or_the_run_history(reference):
    _, _, remote, printed, _ = reference
    for out, err in printed:
        no_secrets(out, err)
        assert "postgresql://postgres:***@127.0.0.1" in out
    con = remote.connect()
    options = [r[0] for r in con.execute("SELECT options FROM runs").fetchall()]
    no_secrets(*options)
    assert all('"catalog": "postgresql://postgres:***@' in o for o in options)
    assert all('"s3_secret_access_key": "***"' in o for o in options)
    # each run's report went to the data path, and says nothing secret either
    reports = [k for k in remote.s3.keys(f"{remote.name}/_reports/") if k.endswith(".html")]
    assert sorted(os.path.basename(k) for k in reports) == ["r1.html", "r2.html"]
    body = remote.s3.client().get_object(Bucket="lake", Key=reports[0])["Body"].read().decode()
    assert "articles" in body
    no_secrets(body)


def store_matches_catalog(remote):
    """The objects under the data path are exactly the files the catalog knows (data and
    delete files of any snapshot), and every batch folder belongs to a commit."""
    con = remote.connect()
    data = f"{remote.output}/data/"
    known = set()
    for table in ("ducklake_data_file", "ducklake_delete_file"):
        for path, relative in con.execute(
                f"SELECT path, path_is_relative FROM __ducklake_metadata_lake.{table}").fetchall():
            known.add(data + path if relative else path)
    stored = {f"s3://lake/{k}" for k in remote.s3.keys(f"{remote.name}/data/")}
    assert stored == known
    committed = {r[0] for r in con.execute("SELECT commit_id FROM runs").fetchall()}
    batches = {k.split("/data/batches/", 1)[1].split("/", 1)[0]
               for k in stored if "/data/batches/" in k}
    assert batches <= committed


def paused(tmp_path, land, remote, at, seconds, *extra):
    """A run into ``remote`` that pauses ``seconds`` at fault point ``at``: its process, once
    it is there."""
    mark = tmp_path / f"paused-{at.replace(':', '-')}"
    proc = pipeline("--input", str(land), *remote.args, *FAST, *extra,
                    env={"NEWS_INGEST_PAUSE_AT": at, "NEWS_INGEST_PAUSE_MARK": str(mark),
                         "NEWS_INGEST_PAUSE_SECONDS": str(seconds)})
    while not mark.exists():
        assert proc.poll() is None
        time.sleep(0.05)
    return proc


def crash_then_rerun(land, remote, start):
    proc = start(("--input", str(land), *remote.args, *FAST))
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    run_ok("--input", str(land), *remote.args, *FAST)


@pytest.mark.parametrize("kill_at", ["planned", "staged:1", "commit:1", "committed:1", "commit:2"])
def test_kill_9_at_any_point_then_rerun_equals_one_uninterrupted_run(reference, remote_lake, kill_at):
    land, _, _, _, want = reference
    crash_then_rerun(land, remote_lake,
                     lambda args: pipeline(*args, env={"NEWS_INGEST_KILL_AT": kill_at}))
    assert remote_lake.tables() == want
    store_matches_catalog(remote_lake)


def test_kill_9_while_files_upload_then_rerun_equals_one_uninterrupted_run(reference, remote_lake):
    land, _, _, _, want = reference
    prefix = f"{remote_lake.name}/data/batches/"

    def start(args):
        proc = pipeline(*args)
        deadline = time.monotonic() + 120
        while not remote_lake.s3.keys(prefix):  # the first staged file is on the store
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        return proc

    crash_then_rerun(land, remote_lake, start)
    assert remote_lake.tables() == want
    store_matches_catalog(remote_lake)


def test_one_writer_across_processes_a_second_exits_naming_the_first_or_waits(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(SAMPLES, land)
    first = paused(tmp_path, land, remote_lake, "planned", 8, "--run_id", "first")
    second = pipeline("--input", str(land), *remote_lake.args, *FAST)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 2
    assert err.strip().count("\n") == 0 and "run first pid" in err and "is writing to this lake" in err
    no_secrets(err)
    waiting = pipeline("--input", str(land), *remote_lake.args, *FAST, "--wait")
    assert first.wait(timeout=300) == 0
    wout, werr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, werr
    assert "waiting for run first" in wout and "0 batch(es)" in wout
    con = remote_lake.connect()
    assert con.execute("SELECT count(*), count(DISTINCT source_uri) FROM articles").fetchone() == (11, 11)
    assert con.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] == 1


def test_a_killed_writer_leaves_no_lock_behind(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    proc = pipeline("--input", str(land), *remote_lake.args, *FAST,
                    env={"NEWS_INGEST_KILL_AT": "planned"})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    # the server ended the killed driver's session, and its advisory lock with it
    out = run_ok("--input", str(land), *remote_lake.args, *FAST)
    assert "1 batch(es)" in out


def test_a_reader_sees_the_state_before_a_commit_then_after_it(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(SAMPLES, land)
    writer = paused(tmp_path, land, remote_lake, "commit:2", 6, "--run_id", "r1")
    # batch 2's files are registered inside its open transaction: a reader sees batch 1 only
    con = remote_lake.connect()
    seen = con.execute(SEEN_SQL).fetchone()
    assert seen[2] == 1 and seen[0] == seen[1] > 0
    con.close()
    assert writer.wait(timeout=300) == 0
    con = remote_lake.connect()
    assert con.execute("SELECT max(batch), sum(articles + duplicates + rejects) FROM runs").fetchone() == (2, 17)


def test_compaction_runs_and_report_commands_on_the_remote_lake(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    run_ok("--input", str(land), *remote_lake.args, "--skip_entities", "--batch_files", "1",
           "--run_id", "small")
    before = remote_lake.tables()
    con = remote_lake.connect()
    assert con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'articles')").fetchone()[0] == 5
    con.close()
    commands = ("--catalog", remote_lake.catalog)
    out = run_ok("compact", remote_lake.output, *commands, env=remote_lake.env)
    assert "articles 1" in out
    assert remote_lake.tables() == before
    con = remote_lake.connect()
    assert con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'articles')").fetchone()[0] == 1
    con.close()
    runs = run_ok("runs", remote_lake.output, *commands, env=remote_lake.env)
    assert "small" in runs
    report = run_ok("report", remote_lake.output, *commands, "--to", str(tmp_path / "all.html"),
                    env=remote_lake.env)
    assert (tmp_path / "all.html").exists() and "report:" in report
    # to the data path by default, the store's settings from the AWS_* variables
    on_store = run_ok("report", remote_lake.output, *commands, "--run", "small", env=remote_lake.env)
    assert f"report: {remote_lake.output}/_reports/small.html" in on_store
    assert f"{remote_lake.name}/_reports/small.html" in remote_lake.s3.keys(f"{remote_lake.name}/_reports/")
    no_secrets(out, runs, report, on_store, (tmp_path / "all.html").read_text())


def test_a_data_path_belongs_to_one_catalog(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    run_ok("--input", str(land), *remote_lake.args, *FAST)
    other = remote_lake.pg.create_database(remote_lake.name + "_other")
    proc = pipeline("--input", str(land), "--catalog", other, *remote_lake.args[2:], *FAST)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "holds the files of the lake whose catalog is" in err
    no_secrets(err)
    before = remote_lake.tables()
    proc = pipeline("--input", str(land), "--catalog", other, *remote_lake.args[2:], *FAST, "--overwrite")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "holds the files of the lake whose catalog is" in err
    store_matches_catalog(remote_lake)  # not one file of the first lake was touched
    assert remote_lake.tables() == before


def test_overwrite_starts_the_remote_lake_afresh(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    run_ok("--input", str(land), *remote_lake.args, *FAST)
    run_ok("--input", str(land), *remote_lake.args, *FAST, "--overwrite")
    con = remote_lake.connect()
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (1, 1)
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    con.close()
    store_matches_catalog(remote_lake)


def test_reports_go_to_a_local_report_dir_when_asked(tmp_path, remote_lake):
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    out = run_ok("--input", str(land), *remote_lake.args, *FAST, "--run_id", "rd",
                 "--report_dir", str(tmp_path / "reports"))
    assert (tmp_path / "reports" / "rd.html").exists()
    assert f"report:     {tmp_path / 'reports' / 'rd.html'}" in out
    assert not remote_lake.s3.keys(f"{remote_lake.name}/_reports/")
    no_secrets((tmp_path / "reports" / "rd.html").read_text())


def test_worker_processes_on_this_machine_write_to_the_remote_lake_too(reference, remote_lake):
    # Beam's multi_processing workers get none of the job's options: the store's settings
    # reach them through the environment they inherit
    land, _, _, _, want = reference
    run_ok("--input", str(land), *remote_lake.args, *FAST,
           "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert remote_lake.tables() == want


def test_a_run_whose_lock_session_ends_commits_nothing_more(tmp_path, remote_lake):
    import psycopg
    land = tmp_path / "land"
    shutil.copytree(os.path.join(SAMPLES, "seeds"), land)
    proc = paused(tmp_path, land, remote_lake, "planned", 4, "--run_id", "cut")
    with psycopg.connect(remote_lake.catalog, autocommit=True) as c:  # as a server restart would
        ended = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name LIKE 'news-ingest run cut %'").fetchall()
    assert ended == [(True,)]
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "lost its writer lock" in err.strip().splitlines()[-1]
    con = remote_lake.connect()
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
