import random

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import seed_text
from schemas.records import Article
from transforms.dedup import minhash
from transforms.dedup import facts
from transforms.dedup.dedup import (ConnectedComponents, Dedup, canonical_of, fold_method, id_of,
                                    is_prior, page_key, pick_exact, rank_key, to_item,
                                    union_find_roots, verify)
from transforms.extract import article_id, text_hash, word_count
from transforms.extract.strip import plain_text


def art(uri, text, published=None):
    h = text_hash(text)
    return Article(article_id(uri, h), uri, None, None, published, text, word_count(text), h,
                   len(text), "en", [], [], None)


WORDS = ("the minister said on tuesday that talks with the union would resume next week after "
         "a pause of two months while both sides studied the proposals on pay pensions and hours "
         "for staff in hospitals schools and the civil service across the country").split()


def story(seed, n=220):
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) + str(rnd.randrange(50)) for _ in range(n))


def edit(text, every, seed=0, start=0):
    rnd = random.Random(seed)
    toks = text.split()
    for i in range(start, len(toks), every):
        toks[i] = "edited%d" % rnd.randrange(10**6)
    return " ".join(toks)


def test_signatures_are_deterministic_and_estimate_jaccard():
    a = minhash.shingle_hashes(story(1))
    b = minhash.shingle_hashes(edit(story(1), 60))
    sa, sb = minhash.signature(a), minhash.signature(b)
    assert np.array_equal(sa, minhash.signature(minhash.shingle_hashes(story(1))))
    assert abs(minhash.estimated_jaccard(sa, sb) - minhash.jaccard(a, b)) < 0.12
    assert minhash.jaccard(a, a) == 1.0


def test_lsh_params_fit_the_threshold():
    b, r = minhash.lsh_params(0.8, 128)
    assert b * r <= 128
    p = lambda s: 1 - (1 - s ** r) ** b  # noqa: E731
    assert p(0.8) > 0.9 and p(0.85) > 0.98 and p(0.5) < 0.1


def test_rank_key_orders_by_the_canonical_rule_whichever_run_took_the_record():
    keys = [rank_key("b", 100, None), rank_key("a", 100, None), rank_key("z", 120, None),
            rank_key("c", 100, 5), rank_key("d", 100, -5), rank_key("old", 10, None, prior=True)]
    assert [id_of(k) for k in sorted(keys)] == ["z", "d", "c", "a", "b", "old"]
    assert canonical_of(keys) == keys[2]
    assert is_prior(keys[-1]) and not is_prior(keys[0])


def test_the_newest_version_of_a_page_wins_its_group_before_the_rank():
    page = page_key("https://www.news.example/live/story/?utm_source=x")
    assert page == page_key("http://news.example/live/story") == "news.example/live/story"
    assert page != page_key("https://news.example/live/other") and page_key(None) == ""
    assert page_key("https://news.example:8443/live/story") == "news.example:8443/live/story"
    assert page_key("http://news.example:80/live/story") == page and page_key("http://[::1") == ""
    v1 = rank_key("v1", 500, 10, prior=True, page=page, version_us=10)
    v2 = rank_key("v2", 300, 10, page=page, version_us=20)          # updated, shorter
    v3 = rank_key("v3", 300, 10, page=page, version_us=None)           # declares no time
    wire = rank_key("wire", 400, 12, page="wire.example/x", version_us=12)
    assert canonical_of([v1, v2]) == v2 and canonical_of([v2, v1, v3]) == v2
    assert canonical_of([v1, v2, wire]) == wire       # another page: the rank decides
    assert canonical_of([v1, wire]) == v1
    # versions that declare the same time (or none): the rank decides, never arrival
    a = rank_key("a", 300, 10, page=page, version_us=10)
    b = rank_key("b", 320, 10, page=page, version_us=10)
    assert canonical_of([a, b]) == b and canonical_of([b, a]) == b
    assert canonical_of([rank_key("c", 300, None, page=page), rank_key("d", 310, None, page=page)]) \
        == rank_key("d", 310, None, page=page)
    assert fold_method(v1, v2, "jaccard") == "version" and fold_method(wire, v2, "text_hash") == "exact"


def test_components_on_a_runner_are_exact_beyond_the_propagation_rounds():
    chain = [f"n{i:02d}" for i in range(25)]          # a path far longer than the rounds
    edges = list(zip(chain, chain[1:])) + [("x2", "x1"), ("y", "x2"), ("q", "p")]
    random.Random(0).shuffle(edges)
    expected = [(n, "n00") for n in chain] + [("x1", "x1"), ("x2", "x1"), ("y", "x1"),
                                              ("p", "p"), ("q", "p")]
    with TestPipeline() as p:
        roots = p | beam.Create(edges) | ConnectedComponents(rounds=2)
        assert_that(roots, equal_to(expected))


def test_union_find_roots_are_component_minima():
    assert union_find_roots([("b", "c"), ("c", "a"), ("x", "y")]) == {
        "a": "a", "b": "a", "c": "a", "x": "x", "y": "x"}


def report(city, high, low, wind, rain):
    lead = (f"{city} can expect highs of {high} degrees and lows of {low} degrees on Monday, "
            f"with winds from the north at {wind} kilometres per hour and a {rain} percent chance "
            f"of rain.")
    boiler = " ".join(WORDS[:40]) + ". " + " ".join(WORDS[10:50]) + "."
    return lead + "\n\n" + boiler


def test_templated_reports_state_different_facts_and_stay_apart():
    a = to_item(art("a", report("Lisbon", 21, 14, 20, 10)), 128, 5)
    b = to_item(art("b", report("Oslo", 9, 2, 35, 60)), 128, 5)
    same = to_item(art("c", "Read this. " + report("Lisbon", 21, 14, 20, 10)), 128, 5)
    agree, conflict = facts.compare(facts.from_bytes(a.facts), facts.from_bytes(b.facts))
    assert conflict >= 4 and facts.state_different_facts(agree, conflict)
    sa, sb = (np.frombuffer(x.shingles, dtype=np.uint64) for x in (a, b))
    assert minhash.jaccard(sa, sb) > 0.5               # a shingle threshold alone would merge
    assert verify(a, b, 0.5) is None
    assert verify(a, same, 0.8) is not None            # the same report re-published


def test_a_teaser_folds_by_containment_a_quoting_analysis_does_not():
    full = story(11, 400)
    words = full.split()
    teaser = art("teaser", " ".join(words[:300]) + " Read the full story")
    analysis = art("analysis", story(12, 500) + " " + " ".join(words[:300]) + " " + story(13, 200))
    full_i, teaser_i, analysis_i = (to_item(x, 128, 5) for x in (art("full", full), teaser, analysis))
    m = verify(teaser_i, full_i, 0.8)
    assert m is not None and m.measure == "containment" and m.value > 0.95
    assert verify(analysis_i, full_i, 0.8) is None     # contains 300 words, but is 1,000 long


def test_pick_exact_prefers_known_earliest_date():
    a, b, c = art("u1", "same text"), art("u2", "same text", published=20), art("u3", "same text", published=10)
    rep, copies = pick_exact([a, b, c])
    assert rep == c and sorted(copies) == sorted([a, b])


def test_exact_near_and_transitive_folding_on_a_runner():
    base = story(7)
    a = art("a", base)
    a_upper = art("a_upper", base.upper().replace(" ", "  "))   # same words: exact
    b = art("b", edit(base, 70, 1, start=10))                   # copy-edited
    c = art("c", edit(b.text, 70, 2, start=45))                 # edited again: near b, not a
    other = art("other", story(8))
    arts = [a, a_upper, b, c, other]
    ids = {x.source_uri: x.article_id for x in arts}
    with TestPipeline() as p:
        out = p | beam.Create(arts) | Dedup()
        assert_that(out.articles | "k" >> beam.Map(lambda x: x.source_uri),
                    equal_to(["a", "other"]), label="kept")
        assert_that(out.duplicates | "d" >> beam.Map(
                        lambda d: (d.source_uri, d.canonical_id, d.method, d.measure, d.matched_id)),
                    equal_to([("a_upper", ids["a"], "exact", "text_hash", ids["a"]),
                              ("b", ids["a"], "near", "jaccard", ids["a"]),
                              # c is too far from a for Jaccard; its direct edge to the
                              # canonical article is the containment one
                              ("c", ids["a"], "near", "containment", ids["a"])]), label="dups")
    a_sh, c_sh = minhash.shingle_hashes(a.text), minhash.shingle_hashes(c.text)
    assert minhash.jaccard(a_sh, c_sh) < 0.8


def check_dedup(articles, kept, dups):
    with TestPipeline() as p:
        out = p | beam.Create(articles) | Dedup()
        assert_that(out.articles | "k" >> beam.Map(lambda a: a.source_uri), equal_to(kept), label="kept")
        assert_that(out.duplicates | "d" >> beam.Map(lambda d: (d.source_uri, d.canonical_id, d.method)),
                    equal_to(dups), label="dups")


def test_five_seeds_stay_apart():
    seeds = [art(p, plain_text(seed_text(p))) for p in ("000", "001", "002", "003", "004")]
    check_dedup(seeds, ["000", "001", "002", "003", "004"], [])


def test_same_result_whatever_the_input_order():
    base = story(3)
    copies = [art(f"u{i}", edit(base, 90 + i, i)) for i in range(6)]
    arts = copies + [art("solo", story(4))]
    # equal word counts, no dates: the smallest id is canonical
    canon = min(copies, key=lambda a: a.article_id)
    dups = [(a.source_uri, canon.article_id, "near") for a in copies if a is not canon]
    for seed in (1, 2, 3):
        shuffled = arts[:]
        random.Random(seed).shuffle(shuffled)
        check_dedup(shuffled, [canon.source_uri, "solo"], dups)


def test_the_index_prefilter_keeps_a_half_length_copy_and_drops_unrelated_texts():
    from transforms.dedup.index import near_enough
    words = seed_text("003").split()
    sig = lambda text: minhash.signature(minhash.shingle_hashes(text, 5), 128)  # noqa: E731
    full, half = sig(" ".join(words)), sig(" ".join(words[:len(words) // 2]))
    other = sig(seed_text("001"))  # the same event told by another outlet
    assert near_enough(full, [half]) and near_enough(half, [other, full])
    assert not near_enough(full, [other])


def chain_corpus():
    """Stories with exact copies, near copies, and a chain of edits longer than the
    propagation rounds (each link near the previous one only)."""
    arts = []
    for s in range(6):
        base = story(100 + s)
        arts.append(art(f"s{s}", base))
        arts.append(art(f"s{s}_exact", base.upper()))
        arts += [art(f"s{s}_near{i}", edit(base, 60 + 7 * i, 10 * s + i)) for i in range(3)]
    text = story(999)
    for i in range(9):
        arts.append(art(f"chain{i}", text))
        text = edit(text, 60, 500 + i, start=5 * i)
    arts.append(art("teaser", " ".join(story(101).split()[:150])))
    return arts


def test_in_memory_and_distributed_near_copies_are_the_same(tmp_path):
    arts = chain_corpus()
    out = {}
    for in_memory in (False, True):
        with TestPipeline() as p:
            res = p | beam.Create(arts) | Dedup(in_memory=in_memory)
            out[in_memory] = tmp_path / f"m{in_memory}"
            ((res.articles | "k" >> beam.Map(lambda a: ("kept", a.source_uri)),
              res.duplicates | "d" >> beam.Map(lambda d: ("dup", tuple(d))),
              res.index | "i" >> beam.Map(lambda it: ("index", it.article_id)))
             | beam.Flatten() | beam.Map(repr)
             | beam.io.WriteToText(str(out[in_memory]), shard_name_template=""))
    lines = {m: sorted(open(path).read().splitlines()) for m, path in out.items()}
    assert lines[True] == lines[False]
    dups = [line for line in lines[True] if line.startswith("('dup'")]
    # the chain folds as one component although its ends are far apart
    assert sum("'chain" in d and "'near'" in d for d in dups) == 8
    assert len(dups) >= 6 * 4
