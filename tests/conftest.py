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
    "ingest_files": "* EXCLUDE (run_id, ingested_at)",
    "ingest_records": "* EXCLUDE (run_id, ingested_at)",
}


def lake_tables(out):
    """Every table of the output at ``out``, sorted, without run ids and times."""
    from schemas.views import connect
    con = connect(str(out))
    return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
            for t, cols in LAKE_TABLES.items()}


def exited(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
