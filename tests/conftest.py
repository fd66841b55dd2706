import logging
import os
import shutil
import tempfile

import pytest

# The language model's uncompressed copy (transforms/extract/language.py) goes to a folder of
# the test machine's temporary space, not the user's cache; runs started by tests inherit it.
os.environ.setdefault("NEWS_INGEST_CACHE", os.path.join(tempfile.gettempdir(), "news-ingest-test-cache"))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")
SEEDS = os.path.join(SAMPLES, "seeds")


def seed_text(prefix: str) -> str:
    name = next(f for f in sorted(os.listdir(SEEDS)) if f.startswith(prefix))
    with open(os.path.join(SEEDS, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(autouse=True)
def _quiet_beam():
    logging.getLogger().setLevel(logging.ERROR)
    yield


@pytest.fixture
def samples_copy(tmp_path):
    """A private copy of the bundled samples (tests may add files to it)."""
    dst = tmp_path / "samples"
    shutil.copytree(SAMPLES, dst)
    return dst


# Every table, less the columns that name the run or the moment (a rerun after a crash has
# another run id and time); ledger states compared as they are.
LAKE_TABLES = {
    "articles": "* EXCLUDE (run_id, ingested_at)",
    "duplicates": "* EXCLUDE (run_id, ingested_at)",
    "rejects": "* EXCLUDE (run_id, ingested_at)",
    "dedup_index": "* EXCLUDE (run_id)",
    "dedup_bands": "*",
    # an undated article's story time is its ingest time, another in a rerun
    "story_index": "* EXCLUDE (run_id, time_us), CASE WHEN dated THEN time_us END",
    "story_merges": "* EXCLUDE (run_id, ingested_at)",
    "ingest_files": "* EXCLUDE (run_id, ingested_at)",
    "ingest_records": "* EXCLUDE (run_id, ingested_at)",
}


# What a reader sees of a run in progress: records in the three tables, ledger rows, the
# last committed batch (the first two are equal when no batch is half-seen).
SEEN_SQL = ("SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM duplicates) "
            "+ (SELECT count(*) FROM rejects), (SELECT count(*) FROM ingest_records), "
            "(SELECT max(batch) FROM runs)")


def lake_tables(out, stories: bool = True, run_id=None):
    """Every table of the output at ``out``, sorted, without run ids and times;
    ``stories`` False: without the story tables and ``articles.story_id``; ``run_id``: as
    that run's last commit left them (time travel)."""
    from schemas.views import connect
    con = connect(str(out), run_id=run_id)
    tables = {t: c for t, c in LAKE_TABLES.items() if stories or not t.startswith("story_")}
    if not stories:
        tables["articles"] = "* EXCLUDE (run_id, ingested_at, story_id)"
    return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
            for t, cols in tables.items()}


def child_ends_with_its_parent(script: str) -> None:
    """Runs ``script`` (which prints its child's pid, then "ready", then sleeps), kills it
    with SIGKILL and asserts that the child exits by itself within 20 s."""
    import subprocess
    import sys
    import time
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "ready"
        assert not exited(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 20
        while not exited(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exited(child)
    finally:
        if parent.poll() is None:
            parent.kill()


def exited(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# --- the remote lake: real PostgreSQL and a real S3-compatible store on 127.0.0.1 ---------

class RemoteLake:
    """One test's remote lake: a new database on the session's PostgreSQL, a new prefix in
    the session's store. ``args``: what the CLI takes to write there; ``env``: the store's
    standard variables (readers, commands); ``lake``: the ``schemas.catalog.Lake``."""

    def __init__(self, pg, s3, name: str):
        from schemas.catalog import Lake, storage_settings
        self.pg, self.s3, self.name = pg, s3, name
        self.catalog = pg.create_database(name)
        self.output = f"s3://lake/{name}"
        self.args = ["--catalog", self.catalog, "--output", self.output, *s3.beam_options()]
        # the same catalog without its password, which then comes from PGPASSWORD
        self.bare_catalog = pg.dsn(name, password=False)
        self.env = s3.env()
        self.lake = Lake(self.output, self.catalog, storage_settings(env=self.env))

    def connect(self, run_id=None):
        from schemas.views import connect
        return connect(self.lake, run_id=run_id)

    def tables(self):
        con = self.connect()
        try:
            return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
                    for t, cols in LAKE_TABLES.items()}
        finally:
            con.close()


@pytest.fixture(scope="session")
def servers():
    """(PostgreSQL, SeaweedFS) for the whole session, stopped by their pids at its end, also
    when tests fail. A server that cannot start fails the tests that need it, in one line."""
    from servers import Postgres, SeaweedS3, ServerError
    started = []
    try:
        pg = Postgres().start()
        started.append(pg)
        s3 = SeaweedS3().start()
        started.append(s3)
    except ServerError as e:
        for server in reversed(started):
            server.stop()
        pytest.fail(f"remote-lake test servers: {e}", pytrace=False)
    try:
        yield pg, s3
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def remote_lake(servers, request):
    import re
    import secrets
    pg, s3 = servers
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    return RemoteLake(pg, s3, name)
