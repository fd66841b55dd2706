"""--streaming: the unbounded graph on Beam's streaming DirectRunner, driven by TestStream
(late data, copies across windows, a copy after its original's window closed), committed per
window pane into a real DuckLake and read back by DuckDB."""
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from conftest import seed_text
from pipeline.options import IngestOptions
from pipeline.stream import build_streaming
from schemas.records import FileEntry
from schemas.views import connect
from transforms.dedup.stream import Found, Seen, first_match, remembered
from transforms.dedup.dedup import to_item
from transforms.extract import article_id, text_hash, word_count
from schemas.records import Article, DedupItem

pytestmark = pytest.mark.slow


def entry(path):
    return FileEntry(str(path), os.path.getsize(path), int(os.path.getmtime(path) * 1e6), None, [])


def edited(text, every=40):
    words = text.split()
    return " ".join("changed" if i % every == 7 else w for i, w in enumerate(words))


@pytest.fixture(params=["local", "remote"])
def lake(request):
    """None (the local lake under tmp_path), or a ``conftest.RemoteLake``: the panes then
    commit from the workers through the PostgreSQL catalog onto the object store."""
    return request.getfixturevalue("remote_lake") if request.param == "remote" else None


def run_stream(tmp_path, events, *extra, remote=None):
    out = tmp_path / "out"
    where = remote.args if remote else ["--output", str(out)]
    options = PipelineOptions([*where, "--input", str(tmp_path), "--window_seconds", "60",
                               "--allowed_lateness", "600", *extra])
    options.view_as(StandardOptions).streaming = True
    opts = options.view_as(IngestOptions)
    stream = TestStream()
    for kind, value in events:
        if kind == "watermark":
            stream = stream.advance_watermark_to(value)
        else:
            stream = stream.add_elements([TimestampedValue(entry(path), ts) for path, ts in value])
    stream = stream.advance_watermark_to_infinity()
    p = TestPipeline(runner="BundleBasedDirectRunner", options=options)
    files = p | stream
    build_streaming(p, opts, "stream1", files, lake=remote.lake if remote else None)
    p.run().wait_until_finish()
    return remote.connect() if remote else connect(str(out))


def test_windows_late_data_and_copies_across_windows(tmp_path, lake):
    land = tmp_path / "land"
    land.mkdir()
    paths = {}
    for i in range(5):
        paths[f"s{i}"] = land / f"seed{i}.txt"
        paths[f"s{i}"].write_text(seed_text(f"00{i}"), encoding="utf-8")
    paths["near1"] = land / "near-copy-of-1.txt"
    paths["near1"].write_text(edited(seed_text("001")), encoding="utf-8")
    paths["exact2"] = land / "exact-copy-of-2.txt"
    paths["exact2"].write_text(seed_text("002").upper(), encoding="utf-8")
    paths["pdf"] = land / "press.pdf"
    paths["pdf"].write_bytes(b"%PDF-1.4 binary")
    con = run_stream(tmp_path, [
        ("watermark", 0),
        ("add", [(paths["s0"], 10), (paths["s1"], 20), (paths["pdf"], 30)]),   # window [0, 60)
        ("watermark", 70),                                                    # it closes
        ("add", [(paths["s2"], 80), (paths["near1"], 90)]),                   # [60, 120): copy of 1
        ("add", [(paths["s3"], 40)]),                                         # late, for [0, 60)
        ("watermark", 130),
        ("add", [(paths["exact2"], 140), (paths["s4"], 150)]),                # [120, 180)
    ], remote=lake)
    ids = dict(con.execute("SELECT source_uri, article_id FROM articles").fetchall())
    assert sorted(ids) == sorted(str(paths[k]) for k in ("s0", "s1", "s2", "s3", "s4"))
    dups = {r[0]: r[1:] for r in con.execute(
        "SELECT source_uri, canonical_id, method FROM duplicates").fetchall()}
    # a copy arriving after its original's window closed still folds into it
    assert dups[str(paths["near1"])] == (ids[str(paths["s1"])], "near")
    assert dups[str(paths["exact2"])] == (ids[str(paths["s2"])], "exact")
    assert con.execute("SELECT source_uri, reason FROM rejects").fetchall() == [(str(paths["pdf"]), "unsupported")]
    # every file in exactly one table, and in the ledger once
    uris = con.execute("""SELECT source_uri FROM articles UNION ALL SELECT source_uri FROM duplicates
                          UNION ALL SELECT source_uri FROM rejects""").fetchall()
    assert len(uris) == len(set(uris)) == len(paths)
    assert con.execute("SELECT count(*), count(DISTINCT file_uri) FROM ingest_files").fetchone() == (8, 8)
    # each pane's commit continues the stories of the panes before: five outlets' reports of
    # one event, committed in four panes, are one story
    assert con.execute("SELECT count(DISTINCT story_id), count(*) FROM articles").fetchone() == (1, 5)
    assert con.execute("SELECT count(*) FROM story_index").fetchone()[0] == 5
    # one commit per pane: window [0, 60) on time (2 articles, the pdf), then its late panes
    # (the late file's records, which may reach the sink in several firings); then the others
    runs = {r[0]: r[1:] for r in con.execute(
        "SELECT commit_id, articles, duplicates, rejects, files_new FROM runs").fetchall()}
    assert runs.pop("stream1-w19700101T000100-p0") == (2, 0, 1, 3)
    assert runs.pop("stream1-w19700101T000200-p0") == (1, 1, 0, 2)
    assert runs.pop("stream1-w19700101T000300-p0") == (1, 1, 0, 2)
    assert runs and all(c.startswith("stream1-w19700101T000100-p") for c in runs)
    assert [sum(v[i] for v in runs.values()) for i in range(4)] == [1, 0, 0, 1]
    if lake is not None:  # every pane's files went to the store, under the data path
        files = [r[0] for r in con.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'articles')").fetchall()]
        assert len(files) >= 4 and all(f.startswith(f"{lake.output}/data/batches/stream1-w") for f in files)


def test_with_entities(tmp_path):
    land = tmp_path / "land"
    land.mkdir()
    a = land / "a.txt"
    a.write_text(seed_text("001"), encoding="utf-8")
    con = run_stream(tmp_path, [("add", [(a, 5)]), ("watermark", 100)])
    assert con.execute("SELECT count(*) FROM entities").fetchone()[0] > 0
    # the article commits in its landing window (NER's batching keeps it there)
    assert con.execute("SELECT commit_id, articles FROM runs").fetchall() == [("stream1-w19700101T000100-p0", 1)]


def art(uri, text):
    h = text_hash(text)
    return Article(article_id(uri, h), uri, None, None, None, text, word_count(text), h,
                   len(text), "en", [], [], None)


def test_a_bucket_matches_the_earliest_it_remembers_and_stays_bounded():
    base = seed_text("003")
    a, b, c = art("a", base), art("b", edited(base)), art("c", edited(base, 35))
    items = {x.source_uri: to_item(x, 128, 5) for x in (a, b, c)}
    seen = [Seen((2, b.article_id), b.article_id, a.article_id, items["b"]),
            Seen((1, a.article_id), a.article_id, a.article_id, items["a"])]
    found = first_match(items["c"], (5, "c"), seen, 0.8)
    assert isinstance(found, Found) and found.matched_id == a.article_id and found.root_id == a.article_id
    assert first_match(to_item(art("x", seed_text("000")), 128, 5), (5, "x"), seen, 0.8) is None
    # only articles that arrived earlier: a bucket that saw b before a (another bucket saw them
    # the other way round) must not fold a into b, or the story would have no kept article
    assert first_match(items["a"], (1, a.article_id), seen, 0.8) is None
    assert first_match(items["b"], (2, b.article_id), seen, 0.8).matched_id == a.article_id
    kept = remembered(seen, Seen((3, "z"), "z", "z", items["c"]), cap=2)
    assert [s.article_id for s in kept] == [b.article_id, "z"]


def test_the_listing_skips_files_the_ledger_has_and_names_in_progress(tmp_path):
    import shutil
    import subprocess
    import sys
    import time
    import apache_beam as beam
    from apache_beam.io.filesystem import FileMetadata
    from apache_beam.testing.util import assert_that, equal_to
    from conftest import ROOT, SEEDS
    from pipeline.stream import _NotTakenFn
    land, out = tmp_path / "land", tmp_path / "out"
    land.mkdir()
    for name in ("a.txt", "b.txt"):
        shutil.copy(os.path.join(SEEDS, sorted(os.listdir(SEEDS))[0]), land / name)
    subprocess.run([sys.executable, "-m", "pipeline", "--input", str(land), "--output", str(out),
                    "--skip_entities", "--quiet", "--no_report"], cwd=ROOT, check=True, capture_output=True)
    (land / "b.txt").write_text("an edited version of b, long enough to be an article " * 5)
    os.utime(land / "b.txt", (time.time() + 5, time.time() + 5))
    (land / "c.txt").write_text("new")
    (land / "d.txt.part").write_text("half")

    def meta(name):
        path = str(land / name)
        return FileMetadata(path, os.path.getsize(path), os.path.getmtime(path))

    with TestPipeline() as p:
        taken = (p | beam.Create([meta(n) for n in ("a.txt", "b.txt", "c.txt", "d.txt.part")])
                 | beam.ParDo(_NotTakenFn(str(out)))
                 | beam.Map(lambda e: (os.path.basename(e.path), e.prior_hash is not None,
                                       len(e.prior_records))))
        # a: taken before, unchanged; b: changed (replaces its rows); c: new; d: in progress
        assert_that(taken, equal_to([("b.txt", True, 1), ("c.txt", False, 0)]))


def test_a_newer_version_of_a_page_supersedes_the_committed_one_in_its_pane(tmp_path):
    from test_versions import page, paragraphs
    land = tmp_path / "land"
    land.mkdir()
    pars, url = paragraphs("000"), "https://news.example/world/blinken-xi-warning"
    update = "UPDATE: The White House confirmed the call will go ahead as planned on Friday."
    captures = {  # name: (paragraphs, declared update time)
        "v0900": (pars, None), "v1100": ([update] + pars, "2022-03-18T11:00:00Z"),
        "v1300": ([update] + pars + ["This story has been updated."], "2022-03-18T13:00:00Z"),
        "v1000": (pars + ["An earlier edit."], "2022-03-18T10:00:00Z")}
    paths = {}
    for name, (body, modified) in captures.items():
        paths[name] = land / f"{name}.html"
        paths[name].write_text(page("Blinken warns China", body, url, "2022-03-18T09:00:00Z",
                                    modified), encoding="utf-8")
    con = run_stream(tmp_path, [
        ("watermark", 0), ("add", [(paths["v0900"], 10)]),
        ("watermark", 70), ("add", [(paths["v1100"], 80)]),    # a later pane supersedes it
        ("watermark", 130), ("add", [(paths["v1300"], 140)]),
        ("watermark", 190), ("add", [(paths["v1000"], 200)]),  # an older capture, late
    ])
    ids = dict(con.execute("SELECT source_uri, article_id FROM articles").fetchall())
    assert list(ids) == [str(paths["v1300"])]
    dups = dict(con.execute("SELECT source_uri, (canonical_id, method) FROM duplicates").fetchall())
    assert dups == {str(paths[n]): (ids[str(paths["v1300"])], "version")
                    for n in ("v0900", "v1100", "v1000")}
    assert con.execute("SELECT sum(versions_superseded) FROM runs").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM dedup_bands b JOIN dedup_index i USING (article_id) "
                       "WHERE i.source_uri <> ?", [str(paths["v1300"])]).fetchone()[0] == 0


def test_supersedes_only_a_kept_capture_of_the_same_page_that_is_older():
    from transforms.dedup.stream import supersedes
    new = DedupItem("n", "h", 10, None, False, b"", b"", b"", "n.html", "site/a", 200)
    found = lambda **kw: Found((1, "o"), "o", "o", "jaccard", 0.9, "o.html", **kw)  # noqa: E731
    assert supersedes(new, found(page_key="site/a", version_us=100))
    assert supersedes(new, found(page_key="site/a", version_us=None))
    assert not supersedes(new, found(page_key="site/a", version_us=300))
    assert not supersedes(new, found(page_key="site/b", version_us=100))
    assert not supersedes(new._replace(version_us=None), found(page_key="site/a", version_us=None))
    assert not supersedes(new, Found((1, "o"), "o", "root", "jaccard", 0.9, "o.html", "site/a", 100))


def test_a_pages_captures_meet_the_one_they_matched_not_the_last_kept():
    """A page keeps every capture that matched none of the others (it can hold another story
    later); a newer capture supersedes the one it matched, followed through its successors."""
    from transforms.dedup.stream import page_step

    def cap(aid, version):
        a = Article(aid, f"/in/{aid}.html", "https://x.org/p", None, None, "t", 1, "h", 1, "en", [], [], None)
        return a, DedupItem(aid, "h", 1, None, False, b"", b"", b"", a.source_uri, "x.org/p", version)

    def match(aid):
        return Found((1, aid), aid, aid, "jaccard", 0.9)

    state = {}
    assert page_step(state, *cap("A", 10), None) == (True, [])
    assert page_step(state, *cap("B", 20), None) == (True, [])       # another story, same URL
    keep, dups = page_step(state, *cap("A2", 30), match("A"))
    assert keep and [(d.article_id, d.canonical_id, d.method) for d in dups] == [("A", "A2", "version")]
    keep, dups = page_step(state, *cap("A3", 40), match("A"))        # matched A: now A2
    assert keep and [(d.article_id, d.canonical_id) for d in dups] == [("A2", "A3")]
    keep, dups = page_step(state, *cap("A1", 15), match("A"))        # older, arriving late
    assert not keep and [(d.article_id, d.canonical_id) for d in dups] == [("A1", "A3")]
    assert sorted(state["kept"]) == ["A3", "B"]
