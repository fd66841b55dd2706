"""One name and one label per entity across the lake (``schemas/views.sql``: entity_names,
entities, entity_counts), on articles put in a real DuckDB lake in memory: spelling
variants, a short name to the full name of the same story, site or lake, majority labels with
a minimum of evidence, consistency as later articles arrive, and mentions' own text and
offsets untouched."""
from collections import Counter
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from schemas.records import Article
from schemas.tables import ARTICLES
from schemas.views import memory_lake
from transforms.entities.mentions import refine
from transforms.sink.parquet import article_row

WHEN = datetime(2026, 12, 7, tzinfo=timezone.utc)


def article(aid, text, spans, story=None, site=None, language="en"):
    """An article whose entities are ``spans``: (mention text, label), found in order in
    ``text``; canonical names and per-article labels as the pipeline makes them."""
    raw, pos = [], 0
    for mention, label in spans:
        start = text.index(mention, pos)
        raw.append((start, start + len(mention), label))
        pos = start + len(mention)
    entities, counts = refine(text, raw)
    return Article(aid, f"/in/{aid}.html", f"https://{site}/{aid}" if site else None, None, None,
                   text, len(text.split()), "", len(text), language, entities, counts, None,
                   site_name=site, story_id=story)


def lake_of(*articles):
    con = memory_lake()
    rows = [{**article_row(a), "ingested_at": WHEN, "run_id": "r"} for a in articles]
    batch = pa.Table.from_pylist(rows, schema=ARTICLES)  # noqa: F841 (read by DuckDB)
    con.execute("INSERT INTO lake.articles BY NAME SELECT * FROM batch")
    return con


def add(con, *articles):
    rows = [{**article_row(a), "ingested_at": WHEN, "run_id": "r2"} for a in articles]
    batch = pa.Table.from_pylist(rows, schema=ARTICLES)  # noqa: F841 (read by DuckDB)
    con.execute("INSERT INTO lake.articles BY NAME SELECT * FROM batch")


def names(con, aid):
    return sorted(con.execute("SELECT canonical, label FROM lake.entity_counts WHERE article_id = ?",
                              [aid]).fetchall())


def test_spelling_variants_take_the_lakes_most_used_spelling_not_a_datelines_capitals():
    con = lake_of(
        article("a", "LONDON (Reuters) - Officials in al-Tanf said.", [("LONDON", "GPE"), ("al-Tanf", "GPE")]),
        article("b", "In London, Al Tanf was quiet.", [("London", "GPE"), ("Al Tanf", "GPE")]),
        article("c", "London and Al-Tanf again; al-Tanf.", [("London", "GPE"), ("Al-Tanf", "GPE"),
                                                           ("al-Tanf", "GPE")]))
    assert names(con, "a") == [("London", "GPE"), ("al-Tanf", "GPE")]
    assert names(con, "b") == names(con, "c") == [("London", "GPE"), ("al-Tanf", "GPE")]
    # countries and dotted acronyms are one name already in each article (mentions.standard_name)
    con = lake_of(article("d", "The U.S. and the United States of America.", [("U.S.", "GPE"),
                                                                             ("United States of America", "GPE")]),
                  article("e", "The US said.", [("US", "GPE")]))
    assert names(con, "d") == [("United States", "GPE")] and names(con, "e") == [("United States", "GPE")]


def test_a_short_name_takes_the_one_full_name_of_its_story_then_site_then_lake():
    con = lake_of(
        article("full", "Vladimir Putin spoke.", [("Vladimir Putin", "PERSON")], story="s1", site="x.com"),
        article("short", "Putin said it again.", [("Putin", "PERSON")], story="s1", site="y.com"),
        # the site's one full name, when the story has none
        article("site-full", "Boris Johnson spoke.", [("Boris Johnson", "PERSON")], story="s2", site="y.com"),
        article("site-short", "Johnson spoke.", [("Johnson", "PERSON")], story="s3", site="y.com"),
        # two full names compete in this story: the short one stays as it is
        article("two-a", "Joe Biden met Hunter Biden.", [("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON")],
                story="s4"),
        article("two-b", "Biden left.", [("Biden", "PERSON")], story="s4"),
        # a place is never a person's short name
        article("place", "Washington said no.", [("Washington", "GPE")], story="s5"),
        article("george", "George Washington slept here.", [("George Washington", "PERSON")], story="s5"))
    assert names(con, "short") == [("Vladimir Putin", "PERSON")]
    assert names(con, "site-short") == [("Boris Johnson", "PERSON")]
    assert names(con, "two-b") == [("Biden", "PERSON")]
    assert names(con, "place") == [("Washington", "GPE")]
    # the lake: one full name anywhere, the article in no story or site of it
    add(con, article("lone", "Putin again.", [("Putin", "PERSON")]))
    assert names(con, "lone") == [("Vladimir Putin", "PERSON")]


def test_outside_its_story_a_short_name_takes_a_dominant_full_name_only():
    arts = [article(f"joe{i}", "Joe Biden spoke.", [("Joe Biden", "PERSON")]) for i in range(4)]
    arts += [article("jill", "Jill Biden spoke.", [("Jill Biden", "PERSON")]),
             article("biden", "Biden left.", [("Biden", "PERSON")])]
    assert names(lake_of(*arts), "biden") == [("Joe Biden", "PERSON")]   # 4 of 5 articles
    arts.append(article("jill2", "Jill Biden again.", [("Jill Biden", "PERSON")]))
    assert names(lake_of(*arts), "biden") == [("Biden", "PERSON")]       # 4 of 6: not dominant
    # a middle initial is a spelling variant
    con = lake_of(article("a", "Donald J. Trump said.", [("Donald J. Trump", "PERSON")]),
                  article("b", "Donald Trump said.", [("Donald Trump", "PERSON")]),
                  article("c", "Donald Trump again.", [("Donald Trump", "PERSON")]))
    assert names(con, "a") == names(con, "b") == [("Donald Trump", "PERSON")]


def test_labels_follow_the_majority_of_mentions_once_there_is_enough_evidence():
    arts = [article(f"p{i}", "Kyiv Rukban said.", [("Kyiv", "GPE"), ("Rukban", "GPE")]) for i in range(3)]
    arts.append(article("odd", "Kyiv and Rukban.", [("Kyiv", "PERSON"), ("Rukban", "ORG")]))
    con = lake_of(*arts)
    assert names(con, "odd") == [("Kyiv", "GPE"), ("Rukban", "GPE")]
    # two articles are not evidence enough: each keeps its own label
    con = lake_of(article("a", "Brexit loomed.", [("Brexit", "GPE")]),
                  article("b", "Brexit again.", [("Brexit", "EVENT")]))
    assert names(con, "a") == [("Brexit", "GPE")] and names(con, "b") == [("Brexit", "EVENT")]
    # nor is a split vote (under two thirds), nor a number's label a name's
    arts = [article(f"s{i}", "Apple rose.", [("Apple", "ORG" if i < 2 else "PERSON")]) for i in range(4)]
    arts.append(article("pct", "Up 10% today.", [("10%", "PERCENT")]))
    arts += [article(f"n{i}", "It was 10.", [("10", "CARDINAL")]) for i in range(3)]
    con = lake_of(*arts)
    assert names(con, "s2") == [("Apple", "PERSON")] and names(con, "s0") == [("Apple", "ORG")]
    assert names(con, "pct") == [("10", "PERCENT")]  # three articles' CARDINAL "10" do not vote
    # a date that shares a person's name does not vote on the person's label
    arts = [article(f"m{i}", "May spoke.", [("May", "PERSON")]) for i in range(4)]
    arts += [article("m-org", "May spoke.", [("May", "ORG")])]
    arts += [article(f"d{i}", "In May.", [("May", "DATE")]) for i in range(8)]
    con = lake_of(*arts)
    assert names(con, "m-org") == [("May", "PERSON")] and names(con, "d0") == [("May", "DATE")]
    # labels are voted per language
    con = lake_of(*[article(f"en{i}", "Paris said.", [("Paris", "GPE")]) for i in range(3)],
                  article("fr", "Paris a dit.", [("Paris", "PERSON")], language="fr"))
    assert names(con, "fr") == [("Paris", "PERSON")]


def test_a_later_article_renames_the_earlier_ones_and_offsets_never_move():
    con = lake_of(article("early", "Putin spoke. Putin left.", [("Putin", "PERSON"), ("Putin", "PERSON")],
                          story="s"))
    assert names(con, "early") == [("Putin", "PERSON")]
    add(con, article("later", "Vladimir Putin arrived.", [("Vladimir Putin", "PERSON")], story="s"))
    assert names(con, "early") == [("Vladimir Putin", "PERSON")]
    rows = con.execute("""SELECT e.text, e.start_char, e.end_char, e.canonical, e.article_canonical,
                                 a.text FROM lake.entities e JOIN lake.articles a USING (article_id)
                          WHERE article_id = 'early' ORDER BY e.start_char""").fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("Putin", 0, 5, "Vladimir Putin", "Putin"), ("Putin", 13, 18, "Vladimir Putin", "Putin")]
    assert all(text[s:e] == m for m, s, e, _, _, text in rows)
    # entity_counts sums an article's mentions under the lake's name
    assert con.execute("SELECT mentions FROM lake.entity_counts WHERE article_id = 'early'").fetchall() == [(2,)]
    total = Counter(r[0] for r in con.execute("SELECT canonical FROM lake.entities").fetchall())
    assert total == {"Vladimir Putin": 3}


@pytest.mark.parametrize("version", [1, None])
def test_a_lake_with_older_views_gets_the_new_ones_when_opened_for_writing(tmp_path, version):
    from schemas.catalog import LAKE, VIEWS_VERSION, open_lake
    out = str(tmp_path / "out")
    con = open_lake(out, read_only=False)
    con.execute(f"DROP VIEW {LAKE}.entity_names")
    con.execute(f"DROP VIEW {LAKE}.views_version")
    if version is not None:
        con.execute(f"CREATE VIEW {LAKE}.views_version AS SELECT {version} AS version")
    con.close()
    con = open_lake(out, read_only=False)
    assert con.execute("SELECT version FROM views_version").fetchone()[0] == VIEWS_VERSION
    assert con.execute("SELECT count(*) FROM entity_names").fetchone()[0] == 0
