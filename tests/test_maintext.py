import gzip
import os

import pytest

from conftest import SAMPLES
from transforms.extract import parse_page
from transforms.extract.maintext import clean_lines, is_boilerplate, main_text


def mt(html, title=None):
    """main_text as the Extract stage calls it: with the page's lxml tree."""
    return main_text(html, title=title, tree=parse_page(html))


def page(body, title="Storm hits the coast"):
    return (f"<html><head><title>{title} | Daily</title></head><body>"
            "<nav><a href='/'>Home</a><a href='/world'>World</a><a href='/sport'>Sport</a></nav>"
            f"<main><article><h1>{title}</h1>{body}</article></main>"
            "<aside><h3>Most read</h3><ul><li><a href='/x'>Celebrity buys island</a></li></ul></aside>"
            "<footer>© Daily Media. All rights reserved. Privacy policy. Terms.</footer></body></html>")


ARTICLE = "".join(
    f"<p>Paragraph {i}: the storm reached the coast on Tuesday night, cutting power to thousands of "
    f"homes while rescue teams worked through the rain to reach villages cut off by floods.</p>"
    for i in range(6))


def test_full_page_keeps_the_article_and_drops_the_chrome():
    text = mt(page(ARTICLE + "<p>Read more: Ten tips for storm season</p><p>Share this article</p>"),
              title="Storm hits the coast")
    assert text.startswith("Paragraph 0: the storm reached the coast")
    assert text.count("\n\n") == 5
    for junk in ("Home", "Most read", "Celebrity", "All rights reserved", "Read more", "Share this"):
        assert junk not in text


def test_clean_lines():
    text = "Storm hits the coast\nFirst paragraph.\nTags: weather, storms\nDON'T MISS\nSecond paragraph."
    assert clean_lines(text, "Storm hits the coast") == "First paragraph.\n\nSecond paragraph."
    # a sentence that merely starts like a prompt is article text
    assert "Read more carefully" in clean_lines("Read more carefully, the minister said, and you will see why.")


def test_boilerplate_lines():
    for line in ("You may also like...", "Comments", "Updated at 1:23 p.m.", "August 23, 2018",
                 "Tuesday, 19 November 2019 10:02 GMT", "- Order Reprints", "By",
                 "Write to Al Root at al.root@example.com",
                 "Get the latest updates right in your inbox. Subscribe to our newsletters.",
                 "China furious at Macron for Hong Kong protest jibe [INSIGHT]|"):
        assert is_boilerplate(line), line
    for line in ("By Tuesday the river had burst its banks.", "Comments from the minister were brief.",
                 "The August 23, 2018 ruling was overturned on appeal last week by the court."):
        assert not is_boilerplate(line), line


def test_headline_repeat_with_site_suffix_is_dropped():
    text = "Is Football Violence a Crime?\nNFL assaults have led to lawsuits before."
    assert clean_lines(text, "Is Football Violence a Crime? - WSJ") == "NFL assaults have led to lawsuits before."


def test_fragments_are_stripped_not_judged():
    frag = "<p>A short <b>wire</b> item.</p><p>Second line.</p>"
    assert mt(frag) == "A short wire item.\n\nSecond line."


def test_chrome_only_page_has_no_text():
    assert mt("<html><body><nav>Home World Sport</nav><footer>(c) Daily</footer></body></html>") == ""


def test_bundled_page_loses_its_menus():
    with gzip.open(os.path.join(SAMPLES, "pages", "ap-uk-tories-manifesto.html.gz"), "rt", encoding="utf-8") as f:
        html = f.read()
    text = mt(html)
    assert "Conservative Party" in text and len(text.split()) > 300
    assert "Privacy Policy" not in text and "Terms of Use" not in text


@pytest.mark.parametrize("model", [False, True])
def test_hostile_pages_do_not_crash(model):
    from transforms.extract.line_model import load_line_model
    line_model = load_line_model() if model else None
    deep = "<html><body>" + "<div>" * 100_000 + "deep text here" + "</div>" * 100_000 + "</body></html>"
    assert "deep text here" in main_text(deep, tree=parse_page(deep), line_model=line_model)
    broken = "<html><body><p>Unclosed <b>bold <i>italic <p>para</table></td> text &amp;&#xZZ; end"
    assert "para" in main_text(broken, tree=parse_page(broken), line_model=line_model)
    # a page nested as deep as lxml goes, with long text at the bottom: the markup is read
    # within its character budget, not once per level
    nested = ("<html><body>" + "<div>" * 250 + "<p>" + "Long article text goes on. " * 4000
              + "</p>" + "</div>" * 250 + "</body></html>")
    assert main_text(nested, tree=parse_page(nested), line_model=line_model).count("Long article") == 4000


@pytest.mark.slow
def test_thirty_megabyte_page_is_linear_not_fatal():
    from schemas.records import Article, RawRecord, Reject
    from transforms.extract import extract_record
    html = "<html><head><title>Big</title></head><body>" + ("<p>" + "word " * 200 + "</p>\n") * 30_000 + "</body></html>"
    assert len(html) > 30_000_000
    rec = RawRecord("big.html", "html", html, None, None, None, len(html))
    a = extract_record(rec, max_words=0)  # no cap: the parse itself stays linear
    assert isinstance(a, Article) and a.word_count == 6_000_000 and a.title == "Big"
    r = extract_record(rec)  # the default cap: a reject that says why, not an "article"
    assert isinstance(r, Reject) and r.reason == "too_long" and "6000000 words" in r.detail


def test_an_article_swallowed_by_an_unclosed_header_is_still_found():
    prose = "".join(f"<p>Paragraph {i}: the harbour authority said container traffic fell again "
                    f"this month as shipping lines rerouted vessels around the cape.</p>" for i in range(12))
    page = ("<html><body><header><div class='logo'>Daily Port</div><nav>Home News Sport</nav>"
            "<main><article><h1>Traffic falls</h1>" + prose + "</article></main></body></html>")
    text = mt(page)  # lxml nests everything in the unclosed <header>
    assert "Paragraph 0:" in text and "Paragraph 11:" in text
    # a page that is only menus stays without text
    assert mt("<html><body><header><nav>Home World Sport Business Culture</nav></header></body></html>") == ""


def test_markup_after_an_early_body_end_is_part_of_the_page():
    # A theme closes </body></html> after its menu, then the article follows: browsers render
    # it, libxml2 alone would drop it.
    from transforms.extract.strip import mend_document_end
    prose = "".join(f"<p>Paragraph {i}: outsourcing payroll lets a small firm spend its time on "
                    f"customers rather than on forms and deadlines.</p>" for i in range(8))
    page = ("<html><head><title>HR outsourcing</title></head><body><header><nav>Home Blog Contact"
            "</nav></header></body></html><div class='post'><h1>HR outsourcing</h1>" + prose + "</div>")
    assert mt(page) == ""  # unmended, the article is lost: the reason for the repair
    text = mt(mend_document_end(page))
    assert "Paragraph 0:" in text and "Paragraph 7:" in text and "Contact" not in text
    assert mend_document_end("<p>plain</p>") == "<p>plain</p>"
    from schemas.records import Article, RawRecord
    from transforms.extract import extract_record
    a = extract_record(RawRecord("hr.html", "html", page, None, None, None, len(page)))
    assert isinstance(a, Article) and "Paragraph 7:" in a.text


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "wcxb")


def _fixture(name: str) -> str:
    with gzip.open(os.path.join(FIXTURES, name), "rt", encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("name, last_line, words", [
    ("4555.html.gz", "You are welcome to use them as templates or models.", 795),
    ("4705.html.gz", "lives and gardens in Palos Park, Illinois.", 732)])
def test_an_extraction_of_one_block_gives_way_to_the_fuller_reading(monkeypatch, name, last_line, words):
    # Real pages (WCXB, CC BY 4.0) on which the extractor keeps the first content box only.
    from transforms.extract import maintext
    html = _fixture(name)
    text = mt(html)
    assert last_line in text and 0.9 * words <= len(text.split()) <= 1.2 * words
    monkeypatch.setattr(maintext, "FULLER_READING_RATIO", 10 ** 9)  # the rule off: one block
    assert len(mt(html).split()) < 0.2 * words


def test_the_fuller_reading_needs_a_page_that_holds_it_and_the_extraction_inside_it(monkeypatch):
    from transforms.extract import maintext
    html = _fixture("4705.html.gz")
    monkeypatch.setattr(maintext, "FULLER_READING_RATIO", 10 ** 9)
    first = mt(html)  # the one block the extractor keeps
    monkeypatch.undo()
    assert len(maintext._prefer_fuller(html, first, None, body_words=100_000).split()) > 3 * len(first.split())
    assert maintext._prefer_fuller(html, first, None, body_words=10) == first  # too small a page
    unrelated = "A different story about harbour traffic and container ships at the port today."
    assert maintext._prefer_fuller(html, unrelated, None, body_words=100_000) == unrelated


def _page_with_comments() -> str:
    prose = "".join(f"<p>Paragraph {i}: the garden needs little water in winter and a bright "
                    f"window, the horticulturist said.</p>" for i in range(6))
    talk = "".join(f"<div class='comment'><p>Reader {i} says: my ferns died anyway.</p></div>"
                   for i in range(5))
    return ("<html><body><nav>Home</nav><article>" + prose + "</article><section id='comments'>"
            + talk + "</section><div class='comments-area'><p>Leave a reply</p></div></body></html>")


def test_comment_blocks_are_removed_from_the_fuller_reading():
    from transforms.extract.maintext import fuller_reading
    text = fuller_reading(_page_with_comments())
    assert "Paragraph 5:" in text and "Reader" not in text and "Leave a reply" not in text


def test_copyright_and_syndication_notices_go_at_any_length():
    for line in ("Copyright 2019 Hawaii News Now. All rights reserved.", "© 2024 Daily Media Ltd",
                 "(c) 2023 The Herald", "Copyright ©2019 Dow Jones & Company, Inc. All Rights Reserved.",
                 "This copy is for your personal, non-commercial use only. To order presentation-ready "
                 "copies for distribution to your colleagues, clients or customers visit "
                 "https://www.djreprints.com and use the order form on that page today."):
        assert is_boilerplate(line), line
    for line in ("Copyright law was the subject of the hearing, which ran for three hours.",
                 "(c) the applicant has lived in the country for five years;",
                 "https://www.example.org/report-2019.pdf"):  # articles list their sources so
        assert not is_boilerplate(line), line


def test_only_whole_comment_names_are_removed_and_text_after_them_stays():
    import lxml.html
    from transforms.extract.maintext import without_comments
    page = ("<div><div class='table-responsive'><p>Table kept.</p></div>"
            "<div class='commentary-body'><p>Commentary kept.</p></div>"
            "<p>Before <a class='comments-link'>5 comments</a> after text.</p>"
            "<ol class='commentlist'><li>Gone.</li></ol><div id='disqus_thread'>Gone too.</div></div>")
    text = without_comments(lxml.html.fromstring(page)).text_content()
    assert "Table kept." in text and "Commentary kept." in text and "after text." in text
    assert "5 comments" not in text and "Gone" not in text
