"""The driver's helper processes (``transforms.pool``) that extract pages and sketch texts for
Dedup: the same results as the driver's own, a dead child's chunk computed in the driver, no
child left behind by a killed run, and a run of several batches writing the same tables with
them as without them."""
import operator
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import SAMPLES, child_ends_with_its_parent, exited, lake_tables
from schemas.records import RawRecord
from transforms.dedup.dedup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, Dedup, sketch, sketch_task
from transforms.extract import DEFAULT_MAX_WORDS, Extract, extract_record
from transforms.extract.extract import extract_task
from transforms.extract.language import load_identifier
from transforms.extract.line_model import load_line_model
from transforms.pool import ChildGone, HelperPool, Task
from transforms.read.decode import DEFAULT_MAX_BYTES, read_file, records_from_bytes
from transforms.rejects import REJECTS
from transforms.warm import Warm


def sample_records():
    out = []
    for d, _, fs in sorted(os.walk(SAMPLES)):
        for f in sorted(fs):
            path = os.path.join(d, f)  # a file the reader rejects yields a Reject, kept out
            out.extend(r for r in records_from_bytes(path, read_file(path, DEFAULT_MAX_BYTES))
                       if isinstance(r, RawRecord))
    # and one that extraction rejects (no words once stripped)
    return out + [RawRecord("mem://scripts-only.html", "html",
                            "<html><body><script>var x = 1;</script></body></html>",
                            None, None, None, 55)]


def extracted_here(records):
    identify, model = load_identifier(), load_line_model()
    return [extract_record(r, identify, DEFAULT_MAX_WORDS, model) for r in records]


def test_children_compute_what_the_driver_would_and_a_dead_one_hands_its_chunk_back():
    records = sample_records()
    want = extracted_here(records)
    task = extract_task(DEFAULT_MAX_WORDS)
    pool = HelperPool(2)
    try:
        assert not pool.usable and not pool.children  # nothing starts before grow()
        pool.grow(task)
        assert pool.usable and len(pool.pids) == 2
        asked = [pool.submit(task, records[i:i + 4]) for i in range(0, len(records), 4)]
        got = [out for a in asked for out, seconds in a.result()]
        assert got == want and any(not hasattr(o, "text") for o in got)  # rejects too
        texts = [o.text for o in want if hasattr(o, "text")]
        sketched = pool.submit(sketch_task(DEFAULT_NUM_PERM, DEFAULT_SHINGLE), texts).result()
        want_sketches = [sketch(t, DEFAULT_NUM_PERM, DEFAULT_SHINGLE) for t in texts]
        assert [s for s, _ in sketched] == want_sketches
        assert pool.chunks == len(asked) + 1
        with pytest.raises(ChildGone, match="ZeroDivisionError"):  # raised there: here too
            pool.submit(Task("functools:partial", (operator.truediv, 1)), [0]).result()
        assert pool.usable  # a function that raises leaves its child in service
        os.kill(pool.pids[0], 9)
        os.kill(pool.pids[1], 9)
        failed = 0
        for i in range(0, len(records), 4):
            try:
                pool.submit(task, records[i:i + 4]).result()
            except ChildGone:
                failed += 1
        assert failed == len(asked) and not pool.usable
    finally:
        pool.close()
    assert all(exited(pid) for pid in pool.pids)


@pytest.mark.parametrize("kill", [False, True], ids=["children", "children_killed"])
def test_extract_and_dedup_give_the_same_outputs_through_the_pool(kill):
    """A ``Warm`` holding a pool, as a run's process does: Extract's articles and rejects and
    Dedup's verdicts are the driver's own; with the children killed, the driver computes
    them itself."""
    records = sample_records()
    want = extracted_here(records)
    articles = [o for o in want if hasattr(o, "text")]
    pool = HelperPool(2)
    pool.grow()
    warm = Warm()
    warm.hold("pool", lambda: pool, "pool")
    if kill:
        for pid in pool.pids:
            os.kill(pid, 9)
    key = beam.Map(lambda d: (d.article_id, d.canonical_id))
    try:
        with TestPipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as p:
            own = p | "own" >> beam.Create(articles) | "Dedup" >> Dedup()
            alone = own.duplicates | "k" >> key
            out = p | beam.Create(records) | Extract(warm=warm)
            assert_that(out.articles, equal_to(articles))
            assert_that(out[REJECTS], equal_to([o for o in want if not hasattr(o, "text")]),
                        label="rejects")
            pooled = (out.articles | "DedupPool" >> Dedup(warm=warm)).duplicates | "k2" >> key
            assert_that(alone | beam.combiners.Count.Globally(), some_copies, label="copies")
            differ = ({"own": alone, "pool": pooled} | beam.CoGroupByKey()
                      | beam.Filter(lambda kv: sorted(kv[1]["own"]) != sorted(kv[1]["pool"])))
            assert_that(differ, equal_to([]), label="verdicts")
        assert (pool.chunks == 0) if kill else (pool.chunks >= len(records) // 8)
    finally:
        pool.close()


def some_copies(counts):
    assert counts[0] >= 1, "the samples have copies for Dedup to fold"


def test_a_child_ends_when_its_parent_is_killed():
    script = ("import time\n"
              "import operator\n"
              "from transforms.pool import HelperPool, Task\n"
              "pool = HelperPool(1)\n"
              "pool.grow()\n"
              "print(pool.pids[0], flush=True)\n"
              "pool.submit(Task('functools:partial', (operator.neg,)), [1]).result()\n"
              "print('ready', flush=True)\n"
              "time.sleep(600)\n")
    child_ends_with_its_parent(script)


def many_files(folder, n: int = 120) -> None:
    """``n`` files from the samples, cycled: each HTML page made distinct by a sentence of its
    own (the others copies of each other), so that a run has articles, duplicates and rejects."""
    sources = sorted(os.path.join(d, f) for d, _, fs in os.walk(SAMPLES) for f in fs)
    os.makedirs(folder)
    for i in range(n):
        src = sources[i % len(sources)]
        with open(src, "rb") as f:
            data = f.read()
        if src.endswith(".html") and b"<p>" in data:
            data = data.replace(b"<p>", b"<p>Desk %d reports this from the newsroom. " % i, 1)
        with open(os.path.join(folder, f"{i:03d}-{os.path.basename(src)}"), "wb") as f:
            f.write(data)


@pytest.mark.slow
@pytest.mark.parametrize("ner", [False, True], ids=["skip_entities", "entities"])
def test_several_batches_give_the_same_tables_with_and_without_extraction_children(
        tmp_path, monkeypatch, ner):
    """In-process, 120 files in batches of 40 (over ``POOL_FILES``: the pool starts): the
    children extract each batch and, while the driver finishes it, the next one; the tables
    are those of a run whose driver extracts everything."""
    from pipeline.__main__ import main
    from transforms.extract.ahead import ExtractAhead
    sent, taken = [], []
    submit, take = HelperPool.submit, ExtractAhead.take
    monkeypatch.setattr(HelperPool, "submit",
                        lambda self, task, items: sent.append((task.factory, len(items)))
                        or submit(self, task, items))
    monkeypatch.setattr(ExtractAhead, "take",
                        lambda self, rec: (lambda out: taken.append(out is not None) or out)(
                            take(self, rec)))
    many_files(tmp_path / "in")
    args = ["--input", str(tmp_path / "in"), "--batch_files", "40", "--run_id", "t",
            *([] if ner else ["--skip_entities"])]
    assert main([*args, "--output", str(tmp_path / "pool"), "--helper_processes", "2"]) == 0
    extracted = sum(n for factory, n in sent if factory.endswith(":extractor"))
    sketched = sum(n for factory, n in sent if factory.endswith(":sketcher"))
    assert any(taken)  # batches 2 and 3 were sent ahead while the one before finished
    sent.clear()
    assert main([*args, "--output", str(tmp_path / "driver"), "--helper_processes", "0"]) == 0
    assert not sent
    pooled, driver = lake_tables(tmp_path / "pool"), lake_tables(tmp_path / "driver")
    assert pooled["articles"] and pooled["duplicates"] and pooled["rejects"]
    assert pooled == driver
    # every record the Extract stage turned into an article went to the children, and the
    # representatives of exact copies to be sketched
    assert extracted >= len(pooled["articles"]) + len(pooled["duplicates"])
    assert sketched >= len(pooled["articles"])


def test_helpers_start_for_a_batch_of_enough_files_whether_a_run_or_a_watcher_plans_it():
    """``pipeline.run.start_processes_for``: what a run calls on its plan and a watcher on the
    files waiting (a burst). Fewer than ``POOL_FILES`` files start nothing; that many start
    every helper once."""
    from pipeline.options import IngestOptions
    from pipeline.run import POOL_FILES, start_processes_for
    opts = PipelineOptions([]).view_as(IngestOptions)
    pool, warm = HelperPool(1), Warm()
    warm.hold("pool", lambda: pool, "pool")
    try:
        start_processes_for(None, opts, POOL_FILES)  # a runner without held processes
        start_processes_for(warm, opts, POOL_FILES - 1)
        assert not pool.children
        start_processes_for(warm, opts, POOL_FILES)
        first = pool.pids
        assert len(first) == 1 and pool.usable
        start_processes_for(warm, opts, 10 * POOL_FILES)
        assert pool.pids == first
    finally:
        pool.close()
