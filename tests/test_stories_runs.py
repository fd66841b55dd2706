"""Stories through real runs: one batch run, scheduled runs over a growing folder, a merge
in a later run's commit, a replaced article, kill -9 at the merge's commit. Real processes,
real DuckLake, read back through DuckDB."""
import json
import os
import random
import signal

import pytest

from conftest import SAMPLES, lake_tables
from schemas.views import connect
from test_incremental import pipeline, run_ok
from test_stories import BRIDGE, BUDGET, GLACIER, GLACIER2

pytestmark = pytest.mark.slow

FAST = ("--skip_entities",)


def write_json(folder, name, text, published, title=None):
    os.makedirs(folder, exist_ok=True)
    record = {"text": text, "published": published, "url": f"https://news.example/{name}"}
    if title:
        record["title"] = title
    with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(record, f)


def stories(out, run_id=None):
    """source file name -> story id of every article."""
    rows = connect(str(out), run_id=run_id).execute(
        "SELECT source_uri, story_id FROM articles").fetchall()
    return {os.path.basename(uri): sid for uri, sid in rows}


def partition(by_name):
    groups = {}
    for name, sid in by_name.items():
        groups.setdefault(sid, set()).add(name)
    return sorted(sorted(g) for g in groups.values())


def news_corpus(land, part):
    """The bridge collapse (three outlets), the same mayor's budget two days later, an
    unrelated glacier story; ``part`` 0, 1, 2: what lands by each of three scheduled runs."""
    day = ["2024-05-01", "2024-05-02", "2024-05-03"]
    if part >= 0:
        write_json(land, "bridge0", BRIDGE[0][1], f"{day[0]}T08:00:00Z", BRIDGE[0][0])
        write_json(land, "glacier", GLACIER[1], f"{day[0]}T10:00:00Z", GLACIER[0])
    if part >= 1:
        write_json(land, "bridge1", BRIDGE[1][1], f"{day[0]}T13:00:00Z", BRIDGE[1][0])
        write_json(land, "bridge2", BRIDGE[2][1], f"{day[1]}T07:00:00Z", BRIDGE[2][0])
    if part >= 2:
        write_json(land, "budget", BUDGET[1], f"{day[2]}T09:00:00Z", BUDGET[0])


def test_a_run_gives_every_article_a_story_and_the_views_show_them(tmp_path):
    out = tmp_path / "out"
    run_ok("--input", SAMPLES, "--output", str(out))
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM articles WHERE story_id IS NULL").fetchone()[0] == 0
    by_name = stories(out)
    seeds = {n for n in by_name if n[:3] in ("000", "001", "003", "004")}
    assert len(seeds) == 4 and len({by_name[n] for n in seeds}) == 1
    seeds_story = by_name[sorted(seeds)[0]]
    n_stories, = con.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()
    assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == n_stories
    title, articles, copies, languages, first_run, names = con.execute(
        "SELECT title, articles, duplicates, languages, first_run, top_entities FROM stories "
        "WHERE story_id = ?", [seeds_story]).fetchone()
    assert articles >= 4 and copies >= 1 and languages == ["en"] and first_run
    assert title and {"Joe Biden", "China"} <= set(names) and len(names) == 5
    assert not {"2022", "Friday"} & set(names)  # dates and numbers are no names
    # the coverage in time order: the copy of a seed is there, as its canonical article's
    coverage = con.execute("SELECT position, kind, source_uri FROM story_coverage "
                           "WHERE story_id = ? ORDER BY position", [seeds_story]).fetchall()
    assert [p for p, _, _ in coverage] == list(range(1, len(coverage) + 1))
    assert any(kind == "duplicate" and "002_" in uri for _, kind, uri in coverage)
    # copies of articles elsewhere all belong to a story through their canonical article
    assert con.execute("""SELECT count(*) FROM duplicates d LEFT JOIN articles a
                          ON a.article_id = d.canonical_id WHERE a.story_id IS NULL""").fetchone()[0] == 0


def test_scheduled_runs_over_a_growing_folder_make_the_stories_of_one_run(tmp_path):
    land, scheduled, once = tmp_path / "land", tmp_path / "scheduled", tmp_path / "once"
    for part in range(3):
        news_corpus(land, part)
        run_ok("--input", str(land), "--output", str(scheduled), *FAST)
    run_ok("--input", str(land), "--output", str(once), *FAST)
    assert stories(scheduled) == stories(once)
    assert partition(stories(once)) == [["bridge0.json", "bridge1.json", "bridge2.json"],
                                        ["budget.json"], ["glacier.json"]]
    con = connect(str(scheduled))
    runs = [r for r, in con.execute("SELECT DISTINCT run_id FROM runs ORDER BY run_id").fetchall()]
    first = dict(con.execute("SELECT story_id, first_run FROM stories").fetchall())
    assert first[stories(scheduled)["bridge0.json"]] == runs[0]
    assert first[stories(scheduled)["budget.json"]] == runs[2]


# Rare words, so that each counts alike; "the", "was" and "with" carry no weight.
WORDS = """pelican lantern saffron turbine walrus quarry lagoon harpoon falcon meadow thistle
anvil beacon canyon glacier orchid parsnip quiver rampart sapphire""".split()


def frame(ids, seed):
    ws = [WORDS[i] for i in ids]
    random.Random(seed).shuffle(ws)  # another order: no shingles in common for dedup
    return " ".join(f"The {a} was with the {b}." for a, b in zip(ws[::2], ws[1::2]))


# S: a0, a1, a2 share eight words; T: b1 shares three words with a0 and with a1 but one with
# a2, so it starts a story of its own; c has S's eight words and T's six: it bridges them.
X = list(range(8))
BRIDGED = {"a0": X + [8, 9], "a1": X + [10, 11], "a2": X + [12, 13],
           "b1": [14, 15, 16, 17, 18, 19, 0, 8, 9, 10, 11], "c": X + [14, 15, 16, 17, 18, 19]}


def bridged(land, names):
    for i, name in enumerate(names):
        hour = list(BRIDGED).index(name)
        write_json(land, name, frame(BRIDGED[name], i), f"2024-05-01T{8 + hour:02d}:00:00Z")


def test_a_bridge_in_a_later_run_merges_two_stories_in_its_commit(tmp_path):
    land, out, once = tmp_path / "land", tmp_path / "out", tmp_path / "once"
    bridged(land, ["a0", "a1", "a2", "b1"])
    run_ok("--input", str(land), "--output", str(out), *FAST)
    before = stories(out)
    assert partition(before) == [["a0.json", "a1.json", "a2.json"], ["b1.json"]]
    bridged(land, ["c"])
    run_ok("--input", str(land), "--output", str(out), *FAST)
    after = stories(out)
    s, t = before["a0.json"], before["b1.json"]
    assert set(after.values()) == {s}  # the older story's id survives
    con = connect(str(out))
    merges = con.execute("SELECT story_id, into_id, article_id FROM story_merges").fetchall()
    c_id = con.execute("SELECT article_id FROM articles WHERE source_uri LIKE '%c.json'").fetchone()[0]
    assert merges == [(t, s, c_id)]
    assert {r for r, in con.execute("SELECT DISTINCT story_id FROM story_index").fetchall()} == {s}
    # time travel: the first run's state still has two stories
    first_run = con.execute("SELECT min(run_id) FROM runs").fetchone()[0]
    assert stories(out, run_id=first_run) == before
    # one run over the same folder ends in the same stories
    run_ok("--input", str(land), "--output", str(once), *FAST)
    assert stories(once) == after


def test_a_changed_file_takes_its_article_to_its_new_story_in_the_same_commit(tmp_path):
    land, out = tmp_path / "land", tmp_path / "out"
    news_corpus(land, 1)
    run_ok("--input", str(land), "--output", str(out), *FAST)
    before = stories(out)
    assert before["bridge2.json"] == before["bridge0.json"]
    # the page now reports the glacier, in another outlet's words, a day after the first report
    write_json(land, "bridge2", GLACIER2[1], "2024-05-02T07:00:00Z", GLACIER2[0])
    run_ok("--input", str(land), "--output", str(out), *FAST)
    after = stories(out)
    assert after["bridge2.json"] == before["glacier.json"]
    con = connect(str(out))
    assert con.execute("SELECT count(*) FROM story_index").fetchone()[0] == \
        con.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert con.execute("""SELECT count(*) FROM story_index i JOIN articles a USING (article_id)
                          WHERE i.story_id <> a.story_id""").fetchone()[0] == 0
    assert con.execute("SELECT articles FROM stories WHERE story_id = ?",
                       [before["bridge0.json"]]).fetchone()[0] == 2


@pytest.mark.parametrize("kill_at", ["staged:1", "commit:1"])
def test_kill_9_at_the_merging_batch_then_rerun_equals_an_uninterrupted_run(tmp_path, kill_at):
    land = tmp_path / "land"
    bridged(land, ["a0", "a1", "a2", "b1"])
    ref, out = tmp_path / "ref", tmp_path / "out"
    for o in (ref, out):
        run_ok("--input", str(land), "--output", str(o), *FAST)
    bridged(land, ["c"])
    run_ok("--input", str(land), "--output", str(ref), *FAST)
    proc = pipeline("--input", str(land), "--output", str(out), *FAST,
                    env={"NEWS_INGEST_KILL_AT": kill_at})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert len(set(stories(out).values())) == 2  # nothing of the merge is visible
    run_ok("--input", str(land), "--output", str(out), *FAST)
    assert lake_tables(out) == lake_tables(ref)
    assert connect(str(out)).execute("SELECT count(*) FROM story_merges").fetchone()[0] == 1
