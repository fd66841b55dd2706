"""The NER model in a child process (``transforms.entities.process``): the same entities as
the model loaded here, errors kept to their request, and no child outliving its parent."""
import logging
import os
import signal
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import SAMPLES, child_ends_with_its_parent, exited as gone, seed_text
from schemas.records import Article
from transforms.entities import Enrich, annotate, chunk_spans, load_ner
from transforms.entities.process import ModelUnavailable, NerPool, NerProcess, default_processes
from transforms.extract import article_id, text_hash, word_count
from transforms.extract.strip import plain_text
from transforms.warm import Warm


def art(uri, text):
    h = text_hash(text)
    return Article(article_id(uri, h), uri, None, None, None, text, word_count(text), h, len(text),
                   "en", [], [], None)


def seeds():
    return [art(p, plain_text(seed_text(p))) for p in ("000", "001", "002", "003", "004")]


@pytest.fixture(scope="module")
def nlp():
    return load_ner("en_core_web_sm")


def test_the_child_finds_the_same_entities_as_the_model_loaded_here(nlp):
    ner = NerProcess("en_core_web_sm")
    try:
        assert (ner.lang, ner.max_length) == (nlp.lang, nlp.max_length)
        arts = seeds()
        ours = annotate(ner, arts, max_chars=400)  # pieces across chunk boundaries too
        assert ours == annotate(nlp, arts, max_chars=400)
        assert sum(len(a.entities) for a in ours) > 100
    finally:
        ner.close()
    assert gone(ner.pid)


def test_an_error_stays_with_its_request_and_the_child_goes_on(nlp):
    with pytest.raises(Exception) as here:
        list(nlp.pipe([None]))  # spaCy refuses a text that is not a string
    ner = NerProcess("en_core_web_sm")
    try:
        with pytest.raises(Exception) as there:
            ner.pipe([None])
        assert (type(there.value), str(there.value)) == (type(here.value), str(here.value))
        # Ctrl-C and SIGTERM reach the whole process group: the parent decides, not the child
        os.kill(ner.pid, signal.SIGINT)
        os.kill(ner.pid, signal.SIGTERM)
        docs = ner.pipe(["Joe Biden met Xi Jinping in Beijing."])
        assert [(e.label_) for e in docs[0].ents] == ["PERSON", "PERSON", "GPE"]
        assert not gone(ner.pid)
    finally:
        ner.close()
    assert ner._proc.returncode == 0  # it ended by itself when its input closed


def test_announced_texts_are_answered_the_same(nlp):
    texts = [plain_text(seed_text(p)) for p in ("000", "001", "002")]
    want = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    ner = NerProcess("en_core_web_sm")
    try:
        # a text the model refuses, announced with good ones: they are annotated all the same
        ner.prefetch([None, texts[0]], "en")
        ner.prefetch(texts[1:2], "en")
        ner.prefetch(texts[2:], "de")  # another language: not annotated ahead, still answered
        assert ner.settle() == 2
        docs = ner.pipe(texts + texts[:1])
        assert [[tuple(e) for e in d.ents] for d in docs] == want + want[:1]
        assert ner.ahead == 3  # texts[0] twice and texts[1] came from what was kept
        docs = ner.pipe(texts)  # served once: computed again
        assert [[tuple(e) for e in d.ents] for d in docs] == want and ner.ahead == 3
        ner.prefetch(texts, None)  # asked for by this job already: not annotated twice
        assert ner.settle() == 0
        ner.prefetch(texts, None, ahead=True)  # for the next job: annotated (no language known)
        assert ner.settle() == 3
        ner.new_job()  # what was announced ahead for this job stays
        assert ner.settle() == 3
        assert [[tuple(e) for e in d.ents] for d in ner.pipe(texts)] == want and ner.ahead == 6
        ner.prefetch(texts[:1], "en")
        assert ner.settle() == 0  # asked for by this job already
        ner.prefetch(texts[:2], "en", ahead=True)
        assert ner.settle() == 2
        ner.new_job()
        ner.new_job()  # what an earlier job announced goes
        assert ner.settle() == 0
        with pytest.raises(Exception):
            ner.pipe([None])
    finally:
        ner.close()


def test_the_whole_graph_with_the_child_gives_the_same_articles():
    """Ingest over the samples with the model held in a child (articles announced to it
    right after Extract) and without: the same articles, entities included."""
    from pipeline.build import Ingest
    from schemas.records import FileEntry
    from transforms.read.discover import list_files
    files = [FileEntry(m.path, m.size_in_bytes, None, None, []) for m in list_files([SAMPLES])]
    ner = NerProcess("en_core_web_sm")
    warm = Warm()
    warm.hold("ner", lambda: ner, "en_core_web_sm")

    def keyed(articles, label):
        return articles | label >> beam.Map(lambda a: (a.source_uri, (a.text, a.entities, a.entity_counts)))

    def check(rows):
        rows = list(rows)
        assert len(rows) >= 10
        for uri, g in rows:
            assert len(list(g["own"])) == 1 and list(g["held"]) == list(g["own"]), uri

    class Labels(beam.pipeline.PipelineVisitor):
        def __init__(self):
            self.seen = []

        def enter_composite_transform(self, node):
            self.seen.append(node.full_label)
    try:
        with TestPipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as p:
            files_in = p | beam.Create(files)
            held = files_in | "held" >> Ingest(warm=warm)
            own = files_in | "own" >> Ingest()
            joined = ({"held": keyed(held["articles"], "kh"), "own": keyed(own["articles"], "ko")}
                      | beam.CoGroupByKey())
            assert_that(joined, check)
            labels = Labels()
            p.visit(labels)
        assert "held/AnnounceToNER" in labels.seen and not any(
            label.startswith("own/AnnounceToNER") for label in labels.seen)
        assert ner.answered >= 1
    finally:
        ner.close()


def test_a_pool_of_children_finds_the_same_entities_and_each_text_goes_to_the_child_told_of_it(nlp):
    """Two children: every text is annotated where it was announced (all found done), the
    answers come back in the order asked, and an error still reaches the caller."""
    arts = seeds()
    want = annotate(nlp, arts, max_chars=400)
    pool = NerPool("en_core_web_sm", 2)
    try:
        assert (pool.lang, pool.max_length) == (nlp.lang, nlp.max_length)
        pieces = [a.text[s:e] for a in arts for s, e in chunk_spans(a.text, 400)]
        for a in arts:
            pool.prefetch([a.text[s:e] for s, e in chunk_spans(a.text, 400)], "en")
        assert pool.settle() == len(set(pieces))
        assert all(c.settle() > 0 for c in pool.children)  # both took a share
        assert annotate(pool, arts, max_chars=400) == want
        assert pool.ahead == len(pieces)  # every piece found done by the child told of it
        assert annotate(pool, arts[::-1], max_chars=400) == want[::-1]  # asked again: computed
        with pytest.raises(Exception):
            pool.pipe(pieces[:3] + [None])
        pool.new_job()
        assert pool.settle() == 0
    finally:
        pool.close()
    assert all(gone(pid) for pid in pool.pids)


def test_a_pool_shares_announced_work_out_evenly_and_asks_each_text_of_its_child(nlp):
    """Announced texts go to the child with the fewest characters waiting, not by a hash
    (which left one child ~5% more work on a 1,000-article batch): one long text and ten
    short ones of about the same total are one child's and the other's. Each is then found done
    where it was announced, a text announced twice stays with its child, and what was
    announced for a job that ended is forgotten."""
    long = "Ann Lee met the mayor of Leeds on Monday to talk about the new bridge. " * 9
    short = [f"Bob Smith{i} spoke in Paris on Friday about the rail strike there." for i in range(10)]
    assert sum(map(len, short[:-1])) < len(long) < sum(map(len, short))
    pool = NerPool("en_core_web_sm", 2)
    try:
        pool.prefetch([long], "en")
        for text in short:
            pool.prefetch([text], "en")
        pool.prefetch([short[0]], "en")  # announced again: the same child, annotated once
        assert [c.settle() for c in pool.children] == [1, 10]
        docs = pool.pipe([long] + short)
        assert pool.ahead == 11  # all found done by the child told of them
        assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == [
            [(e.start_char, e.end_char, e.label_) for e in nlp(t).ents] for t in [long] + short]
        pool.prefetch(short[:3], "en")
        pool.prefetch(short[3:5], "en", ahead=True)  # the next batch's, extracted ahead
        pool.new_job()  # never asked for: forgotten here as in the children; ahead: kept
        assert [c.settle() for c in pool.children] == [1, 1]
        before = pool.ahead
        pool.pipe(short[3:5])
        assert pool.ahead == before + 2  # found done where they were announced
        pool.prefetch([long], "en")  # nothing waits anywhere: the first child again
        pool.prefetch([long + " Elsewhere."], "fr")  # not the model's language: no share
        pool.prefetch([short[0]], "en")  # so the second child is still the one with least
        assert [c.settle() for c in pool.children] == [1, 1]
    finally:
        pool.close()


def test_the_next_jobs_texts_are_annotated_in_short_steps_so_this_jobs_requests_wait_little():
    """A child annotates announced texts a call at a time, and a request waits for the call
    under way: texts announced for a later job (the next batch, extracted ahead) go in calls
    of AHEAD_BATCH, those of the job under way in calls of BATCH, and a request that has
    come is served before any more of them."""
    from transforms import child
    from transforms.entities.process import AHEAD_BATCH, BATCH, _Inbox
    read, write = os.pipe()
    requests = os.fdopen(read, "rb")
    try:
        inbox = _Inbox(requests)
        with os.fdopen(write, "wb") as parent:
            child.send(parent, ("prefetch", [f"next {i}" for i in range(AHEAD_BATCH + 5)], "en", 2))
            child.send(parent, ("prefetch", [f"more {i}" for i in range(BATCH + 5)], "en", 2))
            step = inbox.next(job=1)  # job 1 under way: these are the next job's
            assert step[0] == "prefetch" and len(step[1]) == AHEAD_BATCH
            assert {j for _, _, j in step[1]} == {2}
            child.send(parent, ("pipe", ["asked"], 8))
            deadline = time.monotonic() + 10
            while not inbox._asks and time.monotonic() < deadline:  # the reader takes it in
                time.sleep(0.01)
            assert inbox.next(job=1)[0] == "pipe"  # served before the rest of the announced
            step = inbox.next(job=2)  # job 2 under way: its own texts, in long calls
            assert len(step[1]) == BATCH and step[1][0][0] == f"next {AHEAD_BATCH}"
        deadline = time.monotonic() + 10
        while not inbox.closed and time.monotonic() < deadline:  # the reader sees the end
            time.sleep(0.01)
        assert inbox.next(job=2) is None  # the parent closed its end: the rest is dropped
    finally:
        requests.close()


def test_the_default_pool_is_one_child_per_core_up_to_four():
    cores = len(os.sched_getaffinity(0))
    assert default_processes() == max(1, min(cores, 4))
    with pytest.raises(ValueError):
        NerPool("en_core_web_sm", 0)


def test_a_child_never_asked_is_not_waited_for():
    """A run with nothing new closes the child while it still loads: killed, not awaited."""
    ner = NerProcess("en_core_web_sm")
    ner.close()  # spaCy takes far longer to import than this
    assert ner._proc.returncode == -signal.SIGKILL


def test_a_child_that_died_is_replaced_by_the_model_loaded_here(nlp, caplog):
    ner = NerProcess("en_core_web_sm")
    try:
        assert ner.lang == "en"
        os.kill(ner.pid, signal.SIGKILL)
        arts = seeds()[:2]
        with caplog.at_level(logging.WARNING, logger="transforms.entities.process"):
            assert annotate(ner, arts) == annotate(nlp, arts)
        assert "loading the model in this process" in caplog.text
    finally:
        ner.close()


def test_a_model_that_cannot_load_fails_the_job_instead_of_rejecting_every_article():
    ner = NerProcess("no_such_pipeline_xx")
    try:
        with pytest.raises(ModelUnavailable, match="no_such_pipeline_xx"):
            ner.lang
        with pytest.raises(ModelUnavailable):  # and again, without another try
            ner.pipe(["Joe Biden"])
        warm = Warm()
        warm.hold("ner", lambda: ner, "no_such_pipeline_xx")
        with pytest.raises(Exception, match="no_such_pipeline_xx"):
            with TestPipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as p:
                p | beam.Create(seeds()) | Enrich("no_such_pipeline_xx", warm=warm)
    finally:
        ner.close()


def test_enrich_uses_the_child_its_process_holds(nlp):
    """Through a runner whose workers are this process's threads (as ``pipeline.run`` sets it
    up): the articles come out as with a model of their own."""
    want = [(a.source_uri, a.entities) for a in annotate(nlp, seeds())]
    ner = NerProcess("en_core_web_sm")
    warm = Warm()
    warm.hold("ner", lambda: ner, "en_core_web_sm")
    try:
        with TestPipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as p:
            arts = p | beam.Create(seeds())
            held = arts | "held" >> Enrich(batch_size=2, warm=warm)
            own = arts | "own" >> Enrich(batch_size=2)
            key = beam.Map(lambda a: (a.source_uri, a.entities))
            assert_that(held.articles | "k1" >> key, equal_to(want))
            assert_that(own.articles | "k2" >> key, equal_to(want), label="own")
        assert ner.answered >= 3  # 5 articles in batches of 2: the held child did the work
    finally:
        ner.close()


def test_the_child_ends_when_its_parent_is_killed(tmp_path):
    script = ("import sys, time\n"
              "from transforms.entities.process import NerProcess\n"
              "ner = NerProcess('en_core_web_sm')\n"
              "print(ner.pid, flush=True)\n"
              "ner.lang\n"
              "print('ready', flush=True)\n"
              "time.sleep(600)\n")
    child_ends_with_its_parent(script)


def test_a_run_holds_models_only_for_workers_in_its_own_process():
    from pipeline.options import IngestOptions
    from pipeline.run import local_models

    def models(*args):
        options = PipelineOptions(["--input", "x", "--runner", "FnApiRunner", *args])
        return local_models(options, options.view_as(IngestOptions))
    with models() as warm:  # the in-memory runner: workers are threads of this process
        assert warm.holds("ner")
        ner = warm.get("ner", lambda: None, "en_core_web_sm")
        assert isinstance(ner, NerPool) and ner.lang == "en"
        assert len(ner.children) == 1  # the others once the run plans enough files
        ner.grow()
        assert len(ner.children) == default_processes() and ner.lang == "en"
    assert all(gone(pid) for pid in ner.pids)  # ended with the run
    with models("--ner_processes=1") as warm:
        assert len(warm.get("ner", lambda: None, "en_core_web_sm").children) == 1
    with models("--direct_running_mode=multi_processing", "--direct_num_workers=2") as warm:
        assert warm is None  # the workers load their own
    with models("--skip_entities") as warm:  # the other models only, from the first job on
        assert not any(warm.holds(k) for k in ("ner", "language", "duckdb"))
        warm.before_job()
        assert warm.holds("language") and warm.holds("duckdb") and not warm.holds("ner")
        identify = warm.get("language", lambda: None, "py3langid")
        assert identify("The government said on Monday that the new rules would apply "
                        "to every company in the country.")[0] == "en"
