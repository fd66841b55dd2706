"""Progress while a run works: the workers' tallies, and the terminal in both modes."""
import os
import pty
import subprocess
import sys

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
import pytest

from conftest import ROOT, SAMPLES
from pipeline.build import Ingest
from schemas.records import FileEntry
from pipeline.progress import Progress, stage_totals
from transforms.progress import FIRST, LAST, STAGES, Tally, empty, from_metrics, read_folder
from transforms.read.discover import list_files

SAMPLE_FILES = 14
SAMPLE_RECORDS = 17  # files, plus the extra lines of samples/exports/*.jsonl


def test_tallies_of_one_stage_add_up_across_workers(tmp_path):
    a, b = Tally(str(tmp_path), "read"), Tally(str(tmp_path), "read")
    a.add(1, 0.5, records=3, rejected=1)
    b.add(2, 0.25, records=2)
    a.flush()
    b.flush()
    got = read_folder(str(tmp_path))
    first, last = got["read"].pop(FIRST), got["read"].pop(LAST)
    assert got["read"] == {"n": 3, "seconds": 0.75, "records": 5, "rejected": 1}
    assert first == a.counts[FIRST] and last == b.counts[LAST]  # the earliest, the latest
    assert got["ner"] == empty("ner")
    with pytest.raises(KeyError):
        a.add(1, kept=1)  # a count the stage does not declare


def test_stage_totals_follow_what_each_stage_lets_through():
    c = {s: empty(s) for s in STAGES}
    assert stage_totals(c, 10) == {"read": 10, "extract": None, "dedup": None, "ner": None,
                                   "stories": None, "write": None}
    c["read"].update(n=10, records=12, rejected=2)
    c["extract"].update(n=10, rejected=1)
    c["dedup"].update(n=9, kept=7)
    assert stage_totals(c, 10) == {"read": 10, "extract": 10, "dedup": 9, "ner": 7,
                                   "stories": 7, "write": 12}
    c["ner"].update(n=3, rejected=1)  # an article NER rejects never reaches the stories
    assert stage_totals(c, 10)["stories"] == 6


def test_the_pipeline_tallies_every_stage_in_the_folder_and_in_beam_metrics(tmp_path):
    folder = tmp_path / "tallies"
    folder.mkdir()
    p = TestPipeline(runner="FnApiRunner")
    files = [FileEntry(m.path, m.size_in_bytes, None, None, []) for m in list_files([SAMPLES])]
    tables = (p | beam.Create(files)
              | Ingest(skip_entities=False, progress=str(folder)))
    from transforms.sink.parquet import WriteTables
    from datetime import datetime, timezone
    tables | WriteTables(str(tmp_path / "staging"), "r", datetime.now(timezone.utc), str(folder))
    n_records = ((tables["articles"], tables["duplicates"], tables["rejects"])
                 | beam.Flatten() | beam.combiners.Count.Globally())
    assert_that(n_records, equal_to([SAMPLE_RECORDS]))
    result = p.run()
    result.wait_until_finish()
    tallied = read_folder(str(folder))
    assert tallied["read"]["n"] == SAMPLE_FILES
    assert tallied["read"]["records"] == SAMPLE_RECORDS
    assert tallied["write"]["n"] == SAMPLE_RECORDS  # each record in exactly one table
    assert tallied["extract"]["n"] == SAMPLE_RECORDS - tallied["read"]["rejected"]
    assert tallied["dedup"]["n"] == tallied["extract"]["n"] - tallied["extract"]["rejected"]
    assert tallied["ner"]["n"] == tallied["dedup"]["kept"]
    assert all(tallied[s]["seconds"] > 0 for s in STAGES)
    metrics = from_metrics(result)
    for s in STAGES:  # the same counts through Beam's metrics (which keep no times)
        assert {k: v for k, v in metrics[s].items() if k != "seconds"} == \
               {k: v for k, v in tallied[s].items() if k not in ("seconds", FIRST, LAST)}, s


def test_quiet_progress_gives_the_workers_no_folder():
    progress = Progress("quiet")
    with progress.batch(1, 5, local=True) as folder:
        assert folder is None


def _cli(*args):
    return [sys.executable, "-m", "pipeline", "--input", SAMPLES, *args]


@pytest.mark.slow
def test_progress_lines_when_stdout_is_not_a_terminal(tmp_path):
    out = tmp_path / "o"
    done = subprocess.run(_cli("--output", str(out), "--progress_interval", "0.3"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"files: {SAMPLE_FILES} found, {SAMPLE_FILES} new, 0 changed or reprocessed, 0 already taken; 1 batch(es)"
    progress = [l for l in lines if l.startswith("progress: batch 1/1")]
    assert len(progress) >= 3
    assert any(f"read files {SAMPLE_FILES}/{SAMPLE_FILES}" in l for l in progress)
    assert f"written {SAMPLE_RECORDS}/{SAMPLE_RECORDS}" in progress[-1]  # the batch's last line
    assert any(l.startswith("batch 1/1 committed: 14 files") for l in lines)
    assert f"  files:      {SAMPLE_FILES} found, {SAMPLE_FILES} new" in done.stdout
    # the syndicated copy declares the original's canonical URL: a version of that page
    assert "  duplicates: 2 (exact: 1, version: 1)" in lines
    assert "  rejects:    4 (binary: 1, invalid_json: 1, no_content: 1, unsupported: 1)" in lines
    assert any(l.startswith("  top entities: United States (GPE) x56, Russia (GPE) x") for l in lines)
    assert "  stories:    7 (7 new, 0 covered by several outlets, 0 merged into older ones)" in lines
    assert any(l.startswith("  top story:  Biden and Xi") for l in lines)
    report = next(l for l in lines if l.startswith("  report:")).split(None, 1)[1]
    assert os.path.isfile(report)
    assert "\x1b[" not in done.stdout  # no terminal codes in a log


@pytest.mark.slow
def test_quiet_prints_only_the_summary(tmp_path):
    done = subprocess.run(_cli("--output", str(tmp_path / "o"), "--quiet", "--progress_interval", "0.2"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done in ")
    assert "progress:" not in done.stdout and "committed:" not in done.stdout
    assert done.stderr == ""


@pytest.mark.slow
def test_progress_bars_on_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(_cli("--output", str(tmp_path / "o")), cwd=ROOT, stdout=follower,
                            stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in screen  # drawn, not logged
    for label in ("run: files", "read files", "extracted", "deduplicated", "NER", "written"):
        assert label in screen, label
    assert f"{SAMPLE_FILES}/{SAMPLE_FILES}" in screen
    assert "progress: batch" not in screen
    assert "done in" in screen


@pytest.mark.slow
def test_worker_processes_are_counted_and_their_log_noise_kept_off_the_terminal(tmp_path):
    out = tmp_path / "o"
    done = subprocess.run(_cli("--output", str(out), "--progress_interval", "0.3", "--run_id", "mp",
                               "--direct_running_mode=multi_processing", "--direct_num_workers=2"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "INFO" not in done.stdout
    assert any(f"read files {SAMPLE_FILES}/{SAMPLE_FILES}" in l for l in done.stdout.splitlines())
    log = out / "_logs" / "mp.log"
    assert log.is_file()  # what the workers said is kept
    import json
    from schemas.views import connect
    timings = json.loads(connect(str(out)).execute("SELECT timings FROM runs").fetchone()[0])
    assert set(timings["stages"]) == set(STAGES) and timings["stages"]["ner"] > 0


def test_worker_stderr_goes_to_the_log_and_comes_back_after(tmp_path):
    log = tmp_path / "logs" / "run.log"
    code = (
        "import os, subprocess, sys\n"
        "from pipeline.progress import silence_workers\n"
        f"restore = silence_workers({str(log)!r})\n"
        "os.write(2, b'driver-during ')\n"
        "subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"worker-noise\")'])\n"
        "restore()\n"
        "sys.stderr.write('driver-after')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert done.stderr.endswith("driver-after") and "worker-noise" not in done.stderr
    assert log.read_text() == "driver-during worker-noise"


def test_the_eta_weighs_stages_by_their_seconds_in_the_batch_before():
    import time
    progress = Progress("log")
    progress.planned(100, 1)
    progress.started = time.monotonic() - 10  # ten seconds into the run
    c = {s: empty(s) for s in STAGES}
    c["read"].update(n=100, records=100)
    totals = stage_totals(c, 100)
    assert progress.eta(c, totals) == pytest.approx(50, rel=0.02)  # 1 of 6 equal stages done
    progress._weights = {"read": 1.0, "extract": 0.0, "dedup": 0.0, "ner": 9.0, "stories": 0.0,
                         "write": 0.0}
    assert progress.eta(c, totals) == pytest.approx(90, rel=0.02)  # NER is 90% of the work
    c["ner"].update(n=100)
    assert progress.eta(c, {**totals, "ner": 100}) == pytest.approx(0, abs=0.1)


def test_tally_folders_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    """A folder is a live run's while a process holds its lock: one killed (kill -9, its
    lock gone with it) is removed; a live one, or one without the lock file, is kept."""
    from pipeline.progress import ALIVE, TALLY_PREFIX, remove_stale_tally_folders
    hold = ("import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'w'); fcntl.flock(f.fileno(), fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(600)\n")
    folders = {}
    for name in ("killed", "live", "no-lock-file"):
        d = tmp_path / f"{TALLY_PREFIX}{name}"
        d.mkdir()
        (d / "extract-1.json").write_text("{}")
        folders[name] = d
    other = tmp_path / "something-else"
    other.mkdir()
    (other / ALIVE).write_text("")
    runs = {}
    for name in ("killed", "live"):
        runs[name] = subprocess.Popen([sys.executable, "-c", hold, str(folders[name] / ALIVE)],
                                      stdout=subprocess.PIPE, text=True)
        assert runs[name].stdout.readline().strip() == "held"
    try:
        runs["killed"].kill()
        runs["killed"].wait()
        assert remove_stale_tally_folders(str(tmp_path)) == [str(folders["killed"])]
        assert not folders["killed"].exists() and folders["live"].exists()
        assert folders["no-lock-file"].exists() and other.exists()
    finally:
        runs["live"].kill()
        runs["live"].wait()
    assert remove_stale_tally_folders(str(tmp_path)) == [str(folders["live"])]
