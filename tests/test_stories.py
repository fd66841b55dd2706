"""Stories: the features, the single pass (pure), and the Beam transform on a real runner."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import seed_text
from schemas.records import Article, EntityCount, StoryItem
from transforms.extract.extract import article_id, text_hash, word_count
from transforms.stories import AssignStories
from transforms.stories.assign import DAY_US, assign
from transforms.stories.features import sketch, unpack, weights, words
from transforms.stories.stories import item_of

HOUR = 3_600 * 1_000_000
T0 = 1_714_550_400 * 1_000_000  # 2024-05-01 08:00 UTC

# Three outlets' reports of one event; the same town and mayor in another event of the same
# week (a hard negative); an unrelated event.
BRIDGE = [
    ("Northport bridge collapses into the Tamsen river",
     "The Harlow Street bridge in Northport collapsed into the Tamsen river on Tuesday "
     "morning, sending two delivery trucks into the water. Mayor Dana Whitfield said divers "
     "rescued both drivers and that the span had failed an inspection in March. Engineers "
     "blamed corroded steel cables on the 1962 suspension bridge."),
    ("Two drivers pulled from river after Northport span gives way",
     "Rescue divers pulled two truck drivers from the Tamsen river after the Harlow Street "
     "bridge gave way in Northport. The suspension bridge, built in 1962, had corroded "
     "cables, engineers said, and Mayor Dana Whitfield confirmed it failed a March "
     "inspection. Both drivers are in hospital."),
    ("Corroded cables blamed as Harlow Street bridge falls",
     "Corroded cables brought down the Harlow Street suspension bridge over the Tamsen "
     "river, Northport engineers said after Tuesday's collapse. Two delivery trucks fell "
     "into the river; divers rescued the drivers. The mayor, Dana Whitfield, said the "
     "bridge failed an inspection in March and had been due for repairs."),
]
BUDGET = ("Northport mayor proposes school budget increase",
          "Mayor Dana Whitfield of Northport proposed a school budget of 48 million dollars "
          "on Thursday, raising teacher salaries and hiring forty counsellors. The city "
          "council will vote on the budget in June; Whitfield said property taxes would "
          "not rise.")
GLACIER = ("Glacier in Patagonia retreats faster than expected",
           "Researchers measuring the Perito Moreno glacier in Patagonia found it retreated "
           "two hundred metres this year, faster than models predicted. The team blamed warm "
           "ocean currents and a dry winter for the melting ice.")
# Another outlet's report of the glacier's retreat.
GLACIER2 = ("Patagonian glacier lost two hundred metres in a year",
            "The Perito Moreno glacier, one of Patagonia's best known, shrank by two hundred "
            "metres over the past year according to a survey released on Wednesday. Scientists "
            "said warm ocean currents under the ice front and an unusually dry winter sped up "
            "the melting, outpacing what climate models had predicted for the glacier.")

ENTITIES = {"Northport": "GPE", "Dana Whitfield": "PERSON", "Tamsen": "LOC",
            "Harlow Street": "FAC", "Patagonia": "GPE", "Perito Moreno": "LOC"}


def article(uri, title, text, published=None, language="en"):
    h = text_hash(text)
    counts = [EntityCount(name, label, text.count(name)) for name, label in ENTITIES.items()
              if name in text]
    return Article(article_id(uri, h), uri, None, title, published, text, word_count(text), h,
                   len(text), language, [], counts, None)


def items(articles, ingested=T0 + 100 * DAY_US):
    return [item_of(a, ingested) for a in articles]


def stories_of(articles, prior=(), **kw):
    joined, merges = assign(items(articles), prior, **kw)
    return dict(joined), merges


def corpus():
    arts = [article(f"/in/bridge{i}.json", t, x, T0 + i * 3 * HOUR) for i, (t, x) in enumerate(BRIDGE)]
    arts.append(article("/in/budget.json", *BUDGET, T0 + 2 * DAY_US))
    arts.append(article("/in/glacier.json", *GLACIER, T0 + 5 * HOUR))
    arts.append(article("/in/glacier2.json", *GLACIER2, T0 + 20 * HOUR))
    return arts


def groups(story):
    by = {}
    for aid, sid in story.items():
        by.setdefault(sid, set()).add(aid)
    return sorted(sorted(g) for g in by.values())


# --- features -------------------------------------------------------------------------------

def test_words_weigh_what_they_tell_and_the_title_counts_more():
    w = weights("Bridge collapses", "The bridge collapsed and the mayor said it was old.",
                [("Dana Whitfield", "PERSON", 2)], "en")
    assert "the" not in w and "and" not in w  # the commonest words carry no event
    assert w["bridge"] > w["collapsed"]       # in the title and the body
    assert "@dana whitfield" in w             # a name is a feature of its own
    assert words("Mayor's “Harlow” 1962 U.S.") == ["mayor's", "harlow", "u.s"]


def test_a_sketch_is_normalised_sorted_and_cut_to_the_heaviest_terms():
    terms = {f"w{i}": float(i + 1) for i in range(200)}
    hashes, values = sketch(terms, top=10)
    h, v = unpack(hashes, values)
    assert len(h) == 10 and list(h) == sorted(h)
    assert np.isclose(np.linalg.norm(v), 1.0, atol=1e-6)
    assert sketch({}) == (b"", b"")
    assert sketch(terms, top=10) == (hashes, values)  # deterministic: no salted hash


def test_languages_without_a_long_list_or_a_tokenizer_still_weigh_their_words():
    turkish = weights(None, "bu bir da Ankara hükümet açıkladı", [], "tr")
    assert "bu" not in turkish and "bir" not in turkish and "hükümet" in turkish
    chinese = weights("北京下雨", "北京今天下大雨。上海也下雨。", [], "zh")  # jieba is not installed
    assert chinese and all(v > 0 for v in chinese.values())
    assert weights(None, "xyzzy plugh", [], "xx")  # a language wordfreq lacks: words alike


# --- the single pass --------------------------------------------------------------------------

def test_one_events_coverage_is_one_story_and_other_events_stay_apart():
    arts = corpus()
    story, merges = stories_of(arts)
    ids = [a.article_id for a in arts]
    assert groups(story) == sorted([sorted(ids[:3]), [ids[3]], sorted(ids[4:])])
    assert story[ids[0]] == ids[0]  # a story is named by its first article
    assert merges == []


def test_the_seeds_are_one_story():
    seeds = [article(f"/seeds/{p}.txt", None, seed_text(p), None) for p in ("000", "001", "003", "004")]
    story, _ = stories_of(seeds)
    assert len(set(story.values())) == 1


def test_a_story_quiet_beyond_the_horizon_is_not_continued():
    first = article("/in/a.json", *BRIDGE[0], T0)
    later = article("/in/b.json", *BRIDGE[1], T0 + 12 * HOUR)
    story, _ = stories_of([first, later], horizon_days=7)
    assert story[first.article_id] == story[later.article_id]
    story, _ = stories_of([first, later], horizon_days=0.25)
    assert story[first.article_id] != story[later.article_id]


def test_a_story_grows_over_days_judged_by_its_articles_within_reach():
    from transforms.stories.assign import reach_us
    assert reach_us(0.2, 7) == pytest.approx(1.794 * DAY_US, rel=0.001)
    assert reach_us(0.2, 1) == DAY_US
    # the same report each day for four days: each day's is like the days around it, and
    # the first day's, out of reach, does not vote against the fourth
    days = [article(f"/in/day{i}.json", *BRIDGE[i % 3], T0 + i * 20 * HOUR) for i in range(5)]
    story, _ = stories_of(days)
    assert len(set(story.values())) == 1


def test_an_undated_article_joins_the_dated_story_it_reports():
    dated = article("/in/a.json", *BRIDGE[0], T0)
    undated = article("/in/b.txt", *BRIDGE[2], None)  # ingested 100 days later
    story, _ = stories_of([dated, undated])
    assert story[undated.article_id] == story[dated.article_id] == dated.article_id


def test_languages_never_share_a_story():
    from transforms.stories.stories import assign_items
    en = article("/in/a.json", *BRIDGE[0], T0)
    same_words = article("/in/b.json", *BRIDGE[1], T0 + HOUR, language="de")
    asked = []
    assigned, _ = assign_items(items([en, same_words]),
                               lambda lang, new: asked.append(lang) or ([], {}), 0.2, 7)
    assert len({it.story_id for it in assigned}) == 2
    assert asked == ["de", "en"]  # earlier stories are looked up per language


def test_later_batches_continue_earlier_stories_as_one_pass_would():
    arts = corpus()
    whole, _ = stories_of(arts)
    ordered = sorted(arts, key=lambda a: a.published_at_us)
    first, second = ordered[:2], ordered[2:]
    earlier, _ = stories_of(first)
    prior = [it._replace(story_id=earlier[it.article_id]) for it in items(first)]
    later, merges = stories_of(second, prior)
    assert {**earlier, **later} == whole
    assert merges == []


def vec_item(aid, terms, time_us, story_id=None):
    """An item whose vector weighs ``terms`` (ints) alike."""
    keys = np.array(sorted(terms), dtype=np.uint64)
    vals = np.full(len(keys), 1 / np.sqrt(len(keys)), dtype=np.float32)
    return StoryItem(aid, time_us, "en", keys.tobytes(), vals.tobytes(), story_id, f"/{aid}")


def bridge_case():
    """Story S (a1, a2, a3) and story T (b1): b1 is like a1 and a2 (0.29) but not a3 (0.10),
    so it started its own story. c is like all of them: it joins S and bridges T into it."""
    X = list(range(8))
    a = [vec_item(f"a{i}", X + [100 + 10 * i, 101 + 10 * i], T0 + i * HOUR) for i in range(3)]
    b1 = vec_item("b1", [200, 201, 202, 203, 204, 205, 0, 100, 101, 110, 111], T0 + 3 * HOUR)
    c = vec_item("c", X + [200, 201, 202, 203, 204, 205], T0 + 4 * HOUR)
    return a, b1, c


def test_a_bridging_article_merges_an_earlier_story_into_the_older_one():
    a, b1, c = bridge_case()
    first, _ = assign(a + [b1])
    first = dict(first)
    assert first["b1"] == "b1" and {first[x.article_id] for x in a} == {"a0"}
    prior = [it._replace(story_id=first[it.article_id]) for it in a + [b1]]
    joined, merges = assign([c], prior)
    assert dict(joined) == {"c": "a0"}
    assert [(m.story_id, m.into_id, m.article_id) for m in merges] == [("b1", "a0", "c")]
    # one pass over everything ends in the same stories, with nothing committed to repoint
    whole, none = assign(a + [b1, c])
    assert set(dict(whole).values()) == {"a0"} and none == []


def test_only_merges_of_earlier_runs_stories_are_recorded():
    a, b1, c = bridge_case()
    # S committed earlier; T is this batch's (b1 new): the merge needs no repointing
    prior = [it._replace(story_id="a0") for it in a]
    joined, merges = assign([b1, c], prior)
    assert set(dict(joined).values()) == {"a0"} and merges == []
    # both committed, but S's first article lies before the items at hand: S is older
    prior = [it._replace(story_id=s) for it, s in zip(a + [b1], ["a0"] * 3 + ["b1"])]
    _, merges = assign([c], prior, starts={"a0": T0 - DAY_US, "b1": T0 + 3 * HOUR})
    assert [(m.story_id, m.into_id) for m in merges] == [("b1", "a0")]
    assert 0.3 <= merges[0].similarity <= 1  # c's likeness to the story merged away


def test_stories_merge_only_when_their_articles_are_alike_too():
    a, b1, c = bridge_case()
    far = vec_item("b1", [200, 201, 202, 203, 204, 205, 300, 301], T0 + 3 * HOUR)  # nothing of S
    prior = [it._replace(story_id=sid) for it, sid in zip(a + [far], ["a0"] * 3 + ["b1"])]
    joined, merges = assign([c], prior)
    assert merges == [] and dict(joined)["c"] == "a0"


# --- the Beam transform -----------------------------------------------------------------------

def test_assign_stories_sets_every_articles_story_and_indexes_it():
    arts = corpus() + [article("/in/undated.json", *BRIDGE[1], None)]
    expected, _ = assign(items(arts, T0), ())
    expected = dict(expected)
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(arts) | AssignStories(T0)
        assert_that(out["articles"] | "Pairs" >> beam.Map(lambda a: (a.article_id, a.story_id)),
                    equal_to(sorted(expected.items())), label="stories")
        assert_that(out["index"] | "Index" >> beam.Map(lambda it: (it.article_id, it.story_id, it.dated)),
                    equal_to([(a.article_id, expected[a.article_id], a.published_at_us is not None)
                              for a in arts]), label="index")
        assert_that(out["merges"], equal_to([]), label="merges")
