"""--watch: files are taken once complete, queryable while the watcher runs, exactly once
across SIGTERM, restarts and kill -9. Real watcher processes, real files, real DuckLake."""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SAMPLES, lake_tables
from pipeline.landing import Landing, Scope, in_progress_name
from schemas.catalog import CatalogError
from schemas.views import connect

# -- when a file is complete (pure rules) -------------------------------------------------


def test_a_closed_or_moved_in_file_is_ready_at_once_a_written_one_only_when_quiet():
    land = Landing(settle=2.0)
    land.changed("/in/a.html", now=10.0, wall=1000.0)
    land.changed("/in/b.html", now=10.0, wall=1000.0)
    assert land.ready(10.5) == []
    land.closed("/in/a.html", now=10.6, wall=1000.6)    # the writer closed it
    assert land.ready(10.6) == ["/in/a.html"]
    assert land.next_settle(10.6) == pytest.approx(1.4)
    land.listed("/in/b.html", 100, 999.0, now=11.0, wall=1001.0)   # first size seen: clock restarts
    assert land.ready(12.9) == ["/in/a.html"]
    land.listed("/in/b.html", 100, 999.0, now=13.0, wall=1003.0)   # unchanged
    assert land.ready(13.0) == ["/in/a.html", "/in/b.html"]


def test_a_growing_file_is_not_ready_until_it_stops_growing():
    land = Landing(settle=2.0)
    for i, t in enumerate((0.0, 1.5, 3.0, 4.5)):
        land.listed("/in/big.json", 1000 * (i + 1), 500.0 + t, now=t, wall=500.0 + t)
        assert land.ready(t + 1.9) == []
    assert land.ready(6.5) == ["/in/big.json"]


def test_a_file_there_before_the_watch_counts_its_age_and_temp_names_are_never_taken():
    land = Landing(settle=2.0)
    land.listed("/in/old.txt", 10, mtime=100.0, now=50.0, wall=200.0)     # 100 s old
    land.listed("/in/fresh.txt", 10, mtime=199.5, now=50.0, wall=200.0)   # 0.5 s old
    assert land.ready(50.0) == ["/in/old.txt"]
    assert land.ready(51.5) == ["/in/old.txt", "/in/fresh.txt"]
    for name in (".hidden.html", "page.html.part", "x.crdownload", "a.tmp", "draft~", "x.swp"):
        assert in_progress_name(f"/in/{name}")
        land.closed(f"/in/{name}", now=60.0, wall=210.0)
    assert not in_progress_name("/in/report.partial.html")
    assert land.ready(60.0) == ["/in/old.txt", "/in/fresh.txt"]
    land.taken(["/in/old.txt"])
    land.gone("/in/fresh.txt")
    assert len(land) == 0


def test_scope_watches_each_folder_once_and_filters_globs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    scope = Scope([str(tmp_path / "a"), str(tmp_path / "a" / "b" / "*.html"), "gs://bucket/news"])
    assert scope.roots() == [str(tmp_path / "a")]
    assert scope.remote == ["gs://bucket/news"]
    assert scope.wants(str(tmp_path / "a" / "x.txt"))
    only_glob = Scope([str(tmp_path / "a" / "b" / "*.html")])
    assert only_glob.wants(str(tmp_path / "a" / "b" / "p.html"))
    assert not only_glob.wants(str(tmp_path / "a" / "b" / "p.txt"))


# -- a real watcher ---------------------------------------------------------------------------

SEEDS = sorted(os.path.join(SAMPLES, "seeds", f) for f in os.listdir(os.path.join(SAMPLES, "seeds")))
# no two of these are copies of each other: which batch takes which file cannot change a row
DISTINCT = SEEDS + [os.path.join(SAMPLES, "pages", f) for f in (
    "polygraph-al-tanf.html", "spacenews-lunar-landers.html", "ap-uk-tories-manifesto.html.gz",
    "aljazeera-afghanistan-helicopter.html")] + [os.path.join(SAMPLES, "bad", "press-kit.pdf")]


def watcher(land, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "pipeline", "--input", str(land), "--output",
                             str(out), "--watch", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(proc, line_part, timeout=120):
    """Reads the watcher's lines until one holds ``line_part``; returns everything read."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line_part in line:
            return "".join(seen)
    raise AssertionError(f"no {line_part!r} in the watcher's output:\n{''.join(seen)}")


def committed_files(out):
    try:
        return {r[0] for r in connect(str(out)).execute("SELECT file_uri FROM ingest_files").fetchall()}
    except CatalogError:  # no catalog yet
        return set()


def wait_committed(out, paths, timeout=120, proc=None):
    deadline = time.monotonic() + timeout
    want = {str(p) for p in paths}
    while time.monotonic() < deadline:
        if want <= committed_files(out):
            return
        assert proc is None or proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    raise AssertionError(f"not committed in {timeout}s: {sorted(want - committed_files(out))}")


def stop(proc, sig=signal.SIGTERM):
    os.killpg(proc.pid, sig)
    rest, _ = proc.communicate(timeout=120)
    return rest


@pytest.mark.slow
def test_files_dropped_into_a_watched_folder_are_queryable_while_it_runs(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    land.mkdir()
    proc = watcher(land, out)
    try:
        wait_for(proc, "watching")
        # 1. an ordinary copy, with NER
        shutil.copy(SEEDS[1], land / "one.txt")
        wait_committed(out, [land / "one.txt"], proc=proc)
        con = connect(str(out))
        n_entities = con.execute("SELECT count(*) FROM entities").fetchone()[0]
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 1 and n_entities > 0
        con.close()
        # 2. a file written in two parts, open in between, longer than it takes to settle
        #    a closed file: only the complete text is taken
        text = open(SEEDS[2], encoding="utf-8").read()
        with open(land / "slow.txt", "w", encoding="utf-8") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            time.sleep(1.0)
            f.write(text[len(text) // 2:])
        # 3. a download under a temporary name, then renamed into place
        shutil.copy(SEEDS[3], land / "three.txt.part")
        time.sleep(0.5)
        os.rename(land / "three.txt.part", land / "three.txt")
        wait_committed(out, [land / "slow.txt", land / "three.txt"], proc=proc)
        con = connect(str(out))
        rows = dict(con.execute("SELECT source_uri, word_count FROM articles").fetchall())
        assert rows[str(land / "slow.txt")] >= 0.9 * len(text.split())  # not the first half
        assert str(land / "three.txt.part") not in committed_files(out)
        assert con.execute("SELECT count(*) FROM ingest_files").fetchone()[0] == 3
    finally:
        rest = stop(proc)
    assert proc.returncode == 0, rest
    assert "stopped (SIGTERM)" in rest and "3 taken" in rest
    # files that land while no watcher runs are taken by the next one
    shutil.copy(SEEDS[4], land / "while-down.txt")
    proc = watcher(land, out, "--skip_entities")
    try:
        wait_committed(out, [land / "while-down.txt"], proc=proc)
    finally:
        rest = stop(proc, signal.SIGINT)
    assert proc.returncode == 0 and "stopped (SIGINT)" in rest
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 4
    assert con.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] == 2
    # each watched batch continues the stories of the batches before it: three outlets'
    # undated reports of one event, taken one by one by two watchers, are one story; the
    # fourth, dated 2022, lies years from their ingest time, around which later batches
    # look for the stories of undated articles
    story = dict(con.execute("SELECT source_uri, story_id FROM articles").fetchall())
    undated = {story[str(land / n)] for n in ("slow.txt", "three.txt", "while-down.txt")}
    assert len(undated) == 1 and story[str(land / "one.txt")] not in undated


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1.5, 4.0])
def test_kill_9_while_files_land_then_restart_equals_one_batch_run(tmp_path, kill_after):
    """The watcher is killed at some moment while files land; more land while it is down;
    the next watcher takes the rest. The tables equal one batch run over the same folder."""
    land, out, ref = tmp_path / "land", tmp_path / "out", tmp_path / "ref"
    land.mkdir()
    names = [f"{i:02d}-{os.path.basename(p)}" for i, p in enumerate(DISTINCT)]
    proc = watcher(land, out, "--skip_entities")
    wait_for(proc, "watching")
    start = time.monotonic()
    killed = False
    rnd = random.Random(kill_after)
    for src, name in zip(DISTINCT, names):
        shutil.copy(src, land / name)
        time.sleep(rnd.uniform(0.05, 0.6))
        if not killed and time.monotonic() - start >= kill_after:
            stop(proc, signal.SIGKILL)
            killed = True
    if not killed:
        stop(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    proc = watcher(land, out, "--skip_entities")
    try:
        wait_committed(out, [land / n for n in names], proc=proc)
    finally:
        rest = stop(proc)
    assert proc.returncode == 0, rest
    subprocess.run([sys.executable, "-m", "pipeline", "--input", str(land), "--output", str(ref),
                    "--skip_entities", "--quiet"], cwd=ROOT, check=True, capture_output=True)
    # Every table equals, stories apart: an undated article is compared with every story of
    # its own batch but looked up around its ingest time from later ones, so which stories
    # undated texts join depends on how files fell into batches (docs/stages.md)
    ours, theirs = lake_tables(out, stories=False), lake_tables(ref, stories=False)
    assert ours == theirs
    assert connect(str(out)).execute(
        "SELECT count(*) FROM articles WHERE story_id IS NULL").fetchone()[0] == 0
    # nothing half-committed is left: every batch folder belongs to a commit
    con = connect(str(out))
    commits = {r[0] for r in con.execute("SELECT commit_id FROM runs").fetchall()}
    assert set(os.listdir(out / "data" / "batches")) <= commits
