import gzip
import os

import pytest

from conftest import SAMPLES
from transforms.extract import parse_page
from transforms.maintext import clean_lines, is_boilerplate, main_text


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


def test_hostile_pages_do_not_crash():
    deep = "<html><body>" + "<div>" * 100_000 + "deep text here" + "</div>" * 100_000 + "</body></html>"
    assert "deep text here" in mt(deep)
    broken = "<html><body><p>Unclosed <b>bold <i>italic <p>para</table></td> text &amp;&#xZZ; end"
    assert "para" in mt(broken)


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
