"""The next micro-batch extracted in the driver while a job waits for NER
(``transforms.extract.ahead``): results equal to the job's own, handed over once, and a run of
several batches writes the same tables with it as without it."""
import os
import threading
import time

import pytest

from conftest import SAMPLES, lake_tables
from schemas.records import Article, RawRecord
from transforms.extract import DEFAULT_MAX_WORDS, extract_record
from transforms.extract.ahead import ExtractAhead
from transforms.extract.language import load_identifier
from transforms.read.decode import DEFAULT_MAX_BYTES, read_file, records_from_bytes


def sample_paths():
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(SAMPLES) for f in fs)


def records_of(paths):
    out = []
    for p in paths:
        try:
            out.extend(r for r in records_from_bytes(p, read_file(p, DEFAULT_MAX_BYTES))
                       if isinstance(r, RawRecord))
        except Exception:  # noqa: BLE001 (a file the job rejects: nothing made ahead)
            pass
    return out


def test_what_is_made_ahead_is_what_the_job_would_make_and_is_handed_over_once():
    identify = load_identifier()
    paths = sample_paths()
    after, announced = threading.Event(), []
    ahead = ExtractAhead()
    ahead.start(paths, after, max_bytes=DEFAULT_MAX_BYTES, max_words=DEFAULT_MAX_WORDS,
                identify=identify, announce=announced.append)
    time.sleep(0.5)
    assert ahead.made == 0  # nothing before the job asks for entities
    after.set()
    ahead.wait()
    records = records_of(paths)
    assert len(records) >= 10 and ahead.made == len(records)
    want = [extract_record(r, identify, DEFAULT_MAX_WORDS) for r in records]
    assert announced == [w for w in want if isinstance(w, Article)]
    changed = records[0]._replace(body=records[0].body + " One more sentence.")
    assert ahead.take(changed) is None  # only an equal record is found
    assert [ahead.take(r) for r in records] == want
    assert all(ahead.take(r) is None for r in records)  # once
    assert ahead.taken == len(records)


def test_a_new_job_stops_the_thread_and_a_later_start_drops_what_was_not_taken():
    paths = sample_paths() * 20
    after = threading.Event()
    after.set()
    ahead = ExtractAhead()
    ahead.start(paths, after, max_bytes=DEFAULT_MAX_BYTES, max_words=DEFAULT_MAX_WORDS)
    deadline = time.monotonic() + 30
    while ahead.made == 0 and time.monotonic() < deadline:  # under way, however slow
        time.sleep(0.05)
    ahead.new_job()
    made = ahead.made
    assert 0 < made < len(records_of(sample_paths())) * 20
    time.sleep(0.2)
    assert ahead.made == made  # stopped
    ahead.start(paths[:1], after, max_bytes=DEFAULT_MAX_BYTES, max_words=DEFAULT_MAX_WORDS)
    ahead.wait()
    first = records_of(paths[:1])
    assert all(ahead.take(r) is not None for r in first)
    assert all(ahead.take(r) is None for r in records_of(paths[1:len(sample_paths())]))


@pytest.mark.slow
def test_several_batches_give_the_same_tables_with_and_without_extracting_ahead(tmp_path,
                                                                              monkeypatch):
    """In-process with NER, batches of 3 files: every batch after the first is extracted
    while the one before waits for NER, and the tables are those of a run that does not."""
    from pipeline.__main__ import main
    from pipeline.run import Writer
    taken = []
    original = ExtractAhead.take

    def counted(self, rec):
        out = original(self, rec)
        taken.append(out is not None)
        return out
    monkeypatch.setattr(ExtractAhead, "take", counted)
    args = ["--input", SAMPLES, "--batch_files", "3", "--run_id", "t"]
    assert main([*args, "--output", str(tmp_path / "ahead")]) == 0
    assert sum(taken) >= 8  # batches 2.. came from ahead
    monkeypatch.setattr(Writer, "_extract_ahead", lambda self, following: None)
    taken.clear()
    assert main([*args, "--output", str(tmp_path / "plain")]) == 0
    assert not any(taken)
    ahead, plain = lake_tables(tmp_path / "ahead"), lake_tables(tmp_path / "plain")
    assert ahead["articles"] and ahead["duplicates"] and ahead["rejects"]
    assert ahead == plain
