"""The whole pipeline through Beam's portable runner API (the submission path of Flink and
Spark: a job service, artifact staging, SDK workers in a separate worker pool with a private
/tmp), against the remote lake, with inputs on the object store: workers share nothing with
the driver but the catalog and the store. Its tables equal those of the in-process runner."""
import json
import os

import pytest

from conftest import SAMPLES, RemoteLake
from servers import PortableRunnerServices, ServerError
from test_incremental import run_ok

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def portable():
    try:
        services = PortableRunnerServices().start()
    except ServerError as e:
        pytest.fail(f"portable runner services: {e}", pytrace=False)
    try:
        yield services
    finally:
        services.stop()


def upload(s3, prefix):
    client = s3.client()
    for folder, _, files in os.walk(SAMPLES):
        for name in files:
            path = os.path.join(folder, name)
            client.upload_file(path, "lake", f"{prefix}/{os.path.relpath(path, SAMPLES)}")
    return f"s3://lake/{prefix}/"


def test_the_whole_pipeline_on_the_portable_runner_equals_the_in_process_one(servers, portable):
    pg, s3 = servers
    inputs = upload(s3, f"inputs-{os.getpid()}")
    on_cluster = RemoteLake(pg, s3, f"portable_{os.getpid()}")
    in_process = RemoteLake(pg, s3, f"in_process_{os.getpid()}")
    # NER on, two batches: batch 2's workers look up batch 1's articles in the catalog
    common = ("--input", inputs, "--batch_files", "7")
    from conftest import ROOT
    # the project travels as a package, as to a cluster: the workers install and run it
    # and the catalog's password only in the driver's PGPASSWORD: the workers (which do not
    # have it) get it with the lake
    from servers import PG_PASSWORD
    where = ["--catalog", on_cluster.bare_catalog, *on_cluster.args[2:]]
    out = run_ok(*common, *where, *portable.options(),
                 f"--setup_file={os.path.join(ROOT, 'pyproject.toml')}", env={"PGPASSWORD": PG_PASSWORD})
    assert "PGPASSWORD" not in os.environ  # the pool's workers were started without it
    run_ok(*common, *in_process.args)
    print(f"\nworkers in a private /tmp: {portable.isolated}")
    with open(os.path.join(portable.root, "pool.log")) as f:
        booted = [line for line in f if line.startswith("portable_boot: installed")]
    assert len(booted) == 2  # one worker per batch's job, each with the job's package
    assert all("beam-worker-" in line and line.rstrip().endswith("/site/transforms/__init__.py")
               for line in booted), booted
    assert "2 batch(es)" in out and "earlier articles fetched" in out
    tables = on_cluster.tables()
    assert tables == in_process.tables()
    assert len(tables["articles"]) == 11 and len(tables["duplicates"]) == 2
    con = on_cluster.connect()
    assert con.execute("SELECT count(*) FROM entities WHERE canonical = 'Joe Biden'").fetchone()[0] > 0
    assert all(uri.startswith(inputs) for (uri,) in con.execute(
        "SELECT source_uri FROM articles").fetchall())
    # each stage's counts and seconds came through Beam metrics: these workers share no
    # tally folder with the driver
    for (timings,) in con.execute("SELECT timings FROM runs").fetchall():
        stages = json.loads(timings)["stages"]
        assert set(stages) >= {"read", "extract", "dedup", "ner", "write"}
        assert stages["read"] > 0 and stages["ner"] > 0


def test_workers_that_do_not_share_a_local_lakes_disk_commit_nothing_and_say_why(portable, tmp_path):
    # the pool's workers have a private /tmp: what they write under the driver's /tmp is lost
    import shutil
    import subprocess
    import sys
    from conftest import ROOT
    if not portable.isolated:
        pytest.fail("this machine gives the worker pool no private /tmp (unshare as root): "
                    "the isolation this test checks cannot be set up", pytrace=False)
    shared = tmp_path / "land"  # unreadable for the workers too: records become rejects
    shutil.copytree(os.path.join(SAMPLES, "seeds"), shared)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(shared), "--output",
                           str(tmp_path / "out"), "--skip_entities", *portable.options()],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "do not share this output's disk; nothing was committed" in err[0]
    from schemas.views import connect
    assert connect(str(tmp_path / "out")).execute("SELECT count(*) FROM runs").fetchone()[0] == 0
