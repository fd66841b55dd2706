"""Site templates: lines a site repeats on most of its pages leave its articles; article text,
sites with few pages and copies of one article are left alone."""
import os
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import SEEDS
from schemas.records import Article
from transforms.extract import article_id, text_hash, word_count
from transforms.templates import RemoveSiteTemplates, trim_article
from transforms.templates.lines import (line_key, page_keys, remove_template_lines, site_key,
                                        template_keys)

BIO = ("Jane Roe covers energy and climate for the Daily Ledger. She joined in 2019 from the "
       "Northern Courier, where she reported on the oil industry.")
PROMPT = "Follow The Daily Ledger on Mastodon and Bluesky for live coverage of markets and politics."


def seed_paragraphs():
    """Every paragraph of the bundled seed articles, in order."""
    out = []
    for name in sorted(os.listdir(SEEDS)):
        with open(os.path.join(SEEDS, name), encoding="utf-8") as f:
            out += [p.strip() for p in re.split(r"\n\s*\n", f.read()) if len(p.split()) >= 12]
    return out


def article(uri, text, url="https://www.ledger.example/a", site_name=None):
    h = text_hash(text)
    return Article(article_id=article_id(uri, h), source_uri=uri, url=url, title="T",
                   published_at_us=None, text=text, word_count=word_count(text), text_hash=h,
                   size_bytes=len(text), language="en", entities=[], entity_counts=[],
                   ner_skipped=None, authors=[], site_name=site_name)


def test_site_key_is_the_host_without_www_else_the_declared_name():
    assert site_key("https://www.Ledger.example:8443/a/b?c") == "ledger.example"
    assert site_key("https://sport.ledger.example/x") == "sport.ledger.example"
    assert site_key(None, "The  Ledger") == site_key("", "the ledger") == "name:the ledger"
    assert site_key("http://[::1:bad/x", None) is None  # a malformed URL names no site
    assert site_key(None, None) is None and site_key("not a url", " ") is None


def test_line_key_ignores_case_punctuation_and_numbers_but_not_words():
    assert line_key("© 2024 The Ledger. All rights reserved") == line_key("© 2025 the ledger -- all rights reserved!")
    assert line_key("Updated 3 minutes ago") == line_key("Updated 12 minutes ago")
    assert line_key("Story one about rates") != line_key("Story two about rates")
    assert line_key("  --- ") is None and line_key("") is None
    assert page_keys("a b\n\nc d\n\na b") == tuple(sorted({line_key("a b"), line_key("c d")}))


def test_template_lines_need_many_pages_and_most_of_them():
    counts = {"footer": 20, "bio": 9, "quote": 3, "half": 10}
    assert template_keys(counts, 20) == {"footer"}                       # 80% by default
    assert template_keys(counts, 20, min_share=0.45) == {"footer", "bio", "half"}
    assert template_keys({"x": 4}, 4) == set()                           # fewer than 5 pages
    assert template_keys({"x": 4}, 4, min_pages=4) == {"x"}
    assert template_keys(counts, 20, min_pages=0) == set()


def test_removing_lines_keeps_the_paragraphs_and_leaves_a_mostly_template_page_whole():
    first, last = seed_paragraphs()[:2]
    text = f"{PROMPT}\n\n{first}\n\n{BIO}\n\n{last}"
    template = {line_key(PROMPT), line_key(BIO)}
    out = remove_template_lines(text, template)
    assert out.text == f"{first}\n\n{last}"
    assert out.removed == 2 and not out.kept_whole
    assert remove_template_lines(out.text, template) == (out.text, 0, False)
    short = f"A short brief.\n\n{BIO}"  # the bio is most of it: a copy's business, not ours
    assert remove_template_lines(short, template) == (short, 0, True)


def test_a_trimmed_article_gets_the_count_hash_and_id_of_its_new_text():
    story = seed_paragraphs()[0]
    a = article("f.html", f"{story}\n\n{BIO}")
    b, removed, whole = trim_article(a, {line_key(BIO)})
    assert removed == 1 and not whole and b.text == story
    assert (b.word_count, b.text_hash, b.article_id) == (
        word_count(b.text), text_hash(b.text), article_id("f.html", text_hash(b.text)))
    assert trim_article(b, {line_key(BIO)})[0] is b


def _texts(articles):
    return sorted((a.source_uri, a.text) for a in articles)


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_transform_takes_a_sites_template_and_nothing_else(in_memory):
    paras = seed_paragraphs()
    assert len(paras) >= 20
    ledger = [article(f"ledger/{i}.html", "\n\n".join([PROMPT, paras[3 * i], paras[3 * i + 1],
                                                        paras[3 * i + 2], BIO]),
                      url=f"https://www.ledger.example/story/{i}")
              for i in range(6)]
    # a paragraph two stories of the site repeat (a quote) is article text
    quoted = ledger[0]._replace(text=ledger[0].text.replace(BIO, paras[19] + "\n\n" + BIO))
    quoted2 = ledger[1]._replace(text=ledger[1].text.replace(BIO, paras[19] + "\n\n" + BIO))
    ledger[0], ledger[1] = quoted, quoted2
    # another site with only two pages keeps the same lines; so does a page of no known site
    other = [article(f"other/{i}.html", f"{paras[18 - i]}\n\n{BIO}", url=f"https://other.example/{i}")
             for i in range(2)]
    nowhere = article("nowhere.txt", f"{paras[17]}\n\n{BIO}", url=None)
    # a third site has four stories with the bio, one of them copied three more times (under
    # other URLs): copies count once, so the bio is on 4 of its pages, too few for a template
    copies = [article(f"copy/{i}.html", f"{paras[16 - i]}\n\n{paras[15 - i]}\n\n{BIO}",
                      url=f"https://copies.example/{i}") for i in range(4)]
    copies += [article(f"copy/again-{i}.html", copies[0].text, url=f"https://copies.example/again/{i}")
               for i in range(3)]
    inputs = ledger + other + [nowhere] + copies
    expected = [(a.source_uri, a.text.replace(PROMPT + "\n\n", "").replace("\n\n" + BIO, ""))
                for a in ledger] + [(a.source_uri, a.text) for a in other + [nowhere] + copies]
    with TestPipeline() as p:
        out = p | beam.Create(inputs) | RemoveSiteTemplates(in_memory=in_memory)
        assert_that(out | beam.Map(lambda a: (a.source_uri, a.text)), equal_to(expected))
        assert_that(out | "Consistent" >> beam.Map(
            lambda a: a.word_count == word_count(a.text) and a.text_hash == text_hash(a.text)
            and a.article_id == article_id(a.source_uri, a.text_hash)),
            equal_to([True] * len(inputs)), label="counts")
    for a in ledger[:2]:
        assert paras[19] in dict(expected)[a.source_uri]


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_versions_of_one_page_are_one_page(in_memory):
    """A live story captured ten times as it grew (three paragraphs, then four, ...): its lead
    paragraphs are on every capture, but they are one page's text, never the site's."""
    paras = seed_paragraphs()
    captures = [article(f"live/{i}.html", "\n\n".join(paras[:3 + i]),
                        url="https://news.example/live/story") for i in range(10)]
    others = [article(f"o/{i}.html", "\n\n".join(paras[14 + 2 * i: 16 + 2 * i]),
                      url=f"https://news.example/other/{i}") for i in range(3)]
    with TestPipeline() as p:
        out = p | beam.Create(captures + others) | RemoveSiteTemplates(min_pages=2, min_share=0.5,
                                                                       in_memory=in_memory)
        assert_that(out | beam.Map(lambda a: (a.source_uri, a.text)),
                    equal_to([(a.source_uri, a.text) for a in captures + others]))


@pytest.mark.parametrize("in_memory", [False, True])
def test_near_copies_that_make_most_of_a_site_are_left_whole(in_memory):
    """Six versions of one article (their times differ) and two other stories: the article's
    lines recur on 6 of 8 texts, but they are all of each version, so no version is cut."""
    paras = seed_paragraphs()
    body = "\n\n".join(paras[:4])
    versions = [article(f"v/{i}.html", f"{body}\n\nUpdated {i + 1} minutes ago.",
                        url=f"https://site.example/story?v={i}") for i in range(6)]
    others = [article(f"o/{i}.html", "\n\n".join(paras[5 + 3 * i: 8 + 3 * i]),
                      url=f"https://site.example/other/{i}") for i in range(2)]
    with TestPipeline() as p:
        out = p | beam.Create(versions + others) | RemoveSiteTemplates(min_share=0.7, in_memory=in_memory)
        assert_that(out | beam.Map(lambda a: (a.source_uri, a.text)),
                    equal_to([(a.source_uri, a.text) for a in versions + others]))


def test_settings_out_of_range_are_refused():
    for bad in ({"min_pages": 0}, {"min_share": 0}, {"min_share": 1.2}):
        with pytest.raises(ValueError):
            RemoveSiteTemplates(**bad)


def test_text_with_carriage_returns_is_read_as_lines():
    first, last = seed_paragraphs()[:2]
    out = remove_template_lines(f"{BIO}\r\n\r\n{first}\r\n\r\n{last}", {line_key(BIO)})
    assert out.text == f"{first}\n\n{last}" and out.removed == 1
    assert remove_template_lines("a\r\nb", {line_key(BIO)}).text == "a\r\nb"  # nothing taken: as given


TEMPLATE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title} | The Daily Ledger</title>
<link rel="canonical" href="https://www.ledger.example/news/{slug}">
<meta property="og:site_name" content="The Daily Ledger"></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a></nav></header>
<main><article><h1>{title}</h1>
{paragraphs}
<p>{prompt}</p>
<p><em>{bio}</em></p>
</article></main>
<footer><p>The Daily Ledger, 1 Press Street</p></footer></body></html>"""


@pytest.mark.slow
def test_a_batch_of_one_sites_pages_comes_out_without_its_template(tmp_path, capsys):
    """Real pages through the whole job: six articles of one site in one template, whose bio
    and newsletter prompt sit inside <article> (the extractor keeps them), and a page of
    another site with the same lines. Read back with DuckDB."""
    from pipeline.__main__ import main
    from schemas.views import connect
    paras = seed_paragraphs()
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        body = "\n".join(f"<p>{p}</p>" for p in paras[3 * i: 3 * i + 3])
        (src / f"ledger-{i}.html").write_text(TEMPLATE.format(
            title=f"Story {' '.join(paras[3 * i].split()[:6])}", slug=f"story-{i}",
            paragraphs=body, prompt=PROMPT, bio=BIO), encoding="utf-8")
    (src / "elsewhere.html").write_text(TEMPLATE.format(
        title="Another story", slug="x", paragraphs="\n".join(f"<p>{p}</p>" for p in paras[18:21]),
        prompt=PROMPT, bio=BIO).replace("www.ledger.example", "elsewhere.example"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--input", str(src), "--output", str(out), "--skip_entities"]) == 0
    assert "; 12 site template lines taken out of 6 articles" in capsys.readouterr().out
    con = connect(str(out))
    rows = con.execute("SELECT source_uri, text, word_count FROM articles ORDER BY source_uri").fetchall()
    assert con.execute("SELECT count(*) FROM duplicates").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
    assert len(rows) == 7
    for uri, text, words in rows:
        assert words == word_count(text)
        if "ledger-" in uri:
            assert BIO not in text and PROMPT not in text, uri
            first = paras[int(uri.rsplit("-", 1)[1][0]) * 3]
            assert " ".join(re.sub(r"<[^>]+>", " ", first).split())[:50] in text
        else:
            assert BIO in text and PROMPT in text
    # 0 keeps every line
    out2 = tmp_path / "out2"
    assert main(["--input", str(src), "--output", str(out2), "--skip_entities", "--quiet",
                 "--site_template_pages", "0"]) == 0
    texts = [r[0] for r in connect(str(out2)).execute("SELECT text FROM articles").fetchall()]
    assert sum(BIO in t and PROMPT in t for t in texts) == 7


def test_one_page_under_several_spellings_of_its_url():
    from transforms.templates.lines import page_url
    same = ["https://www.News.example/live/story/", "http://news.example/live/story?utm_source=x&fbclid=1",
            "https://news.example/live/story#update-3", "https://news.example/live/story?ref=home"]
    assert {page_url(u) for u in same} == {"news.example/live/story"}
    assert page_url("https://news.example/article?id=12") != page_url("https://news.example/article?id=13")
    assert page_url("https://news.example/a?b=2&a=1") == page_url("https://news.example/a?a=1&b=2")
