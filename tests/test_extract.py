import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import seed_text
from schemas.records import Article, RawRecord, Reject
from transforms.extract.dates import parse_date
from transforms.extract import Extract, extract_record, text_hash
from transforms.extract.strip import html_to_text, plain_text


def rec(body, fmt="html", **kw):
    fields = dict(url=None, title=None, published=None)
    fields.update(kw)
    return RawRecord("mem://x", fmt, body, fields["url"], fields["title"], fields["published"], len(body))


def test_inline_tags_never_split_words_and_blocks_never_glue():
    assert html_to_text("<p><b>U</b>nited <i>St</i>ates</p>") == "United States"
    assert html_to_text("<div>end.</div><div>Start</div>") == "end.\n\nStart"
    assert html_to_text("<li>one</li><li>two</li>") == "one\n\ntwo"
    assert html_to_text("<p>line<br>break</p>") == "line\nbreak"
    assert html_to_text("<td>a</td><td>b</td>") == "a\n\nb"


def test_chrome_dropped_entities_unescaped_unicode_nfc():
    html = ("<html><head><style>p{}</style><script>var x=1</script></head><body>"
            "<nav>Home | World</nav><header>Site</header><p>Tom &amp; Jerry&nbsp;&mdash; cafe\u0301</p>"
            "<aside>Related</aside><form><input>Subscribe</form><footer>(c) Site</footer></body></html>")
    assert html_to_text(html) == "Tom & Jerry \u2014 caf\u00e9"


def test_page_wrapped_in_a_form_keeps_its_text():
    html = "<body><form id='aspnetForm'><nav>menu</nav><p>The article.</p></form></body>"
    assert html_to_text(html) == "The article."


def test_seed_000_inline_html_is_stripped_and_spaced():
    text = plain_text(seed_text("000"))
    assert "<" not in text and ">" not in text and "href" not in text
    assert text.startswith("Live updates: follow the latest news on Russia-Ukraine US Secretary of State")
    assert "struggle to advance in Ukraine" in text


def test_plain_text_keeps_paragraphs():
    text = plain_text(seed_text("003"))
    assert "according to Reuters.\nIn a video call" in text
    assert plain_text("a &amp; b\n\n\n\nc") == "a & b\n\nc"


def test_leading_date_line_becomes_published_at():
    a = extract_record(rec(seed_text("001"), fmt="text"))
    assert isinstance(a, Article)
    assert a.published_at_us == parse_date("2022-03-18")
    assert a.text.startswith("Blinken's remarks come ahead")
    assert "\n\n" in a.text


def test_page_metadata():
    html = ("<html><head><title>Plain title | Site</title><meta property='og:title' content='OG title'>"
            "<link rel='canonical' href='/news/1'><meta property='og:url' content='https://x.org/og'>"
            "<meta property='article:published_time' content='2022-03-18T14:05:00+01:00'></head>"
            "<body><p>Body words here.</p></body></html>")
    a = extract_record(rec(html, url="https://x.org/crawl?id=1"))
    assert a.title == "OG title"
    assert a.url == "https://x.org/news/1"
    assert a.published_at_us == parse_date("2022-03-18T13:05:00Z")
    assert a.word_count == 3


def test_dates():
    assert parse_date("2022-03-18") == parse_date("2022-03-18T00:00:00Z")
    assert parse_date("Fri, 18 Mar 2022 10:00:00 GMT") == parse_date("2022-03-18T10:00:00+00:00")
    assert parse_date("1647597600") == parse_date("2022-03-18T10:00:00Z")
    assert parse_date("March 18th, 2022") == parse_date("2022-03-18")
    assert parse_date("yesterday") is None and parse_date("0001-01-01") is None


def test_empty_and_junk_are_rejected_with_a_reason():
    for body, fmt in (("<html><body><nav>menu</nav><script>x()</script></body></html>", "html"),
                      ("   \n\n  ", "text"), ("<!-- nothing -->", "text")):
        out = extract_record(rec(body, fmt=fmt))
        assert isinstance(out, Reject) and out.reason == "empty_text", body


def test_text_hash_ignores_case_punctuation_and_wrapping():
    assert text_hash("Hello, World!\nAgain") == text_hash("hello world again")
    assert text_hash("a b") != text_hash("a c")


def test_extract_on_a_runner():
    records = [rec("<p>one <b>t</b>wo</p>"), rec("<nav>x</nav>"), rec("three", fmt="text")]
    with TestPipeline() as p:
        out = p | beam.Create(records) | Extract()
        assert_that(out.articles | beam.Map(lambda a: a.text), equal_to(["one two", "three"]), label="a")
        assert_that(out.rejects | beam.Map(lambda r: r.reason), equal_to(["empty_text"]), label="r")


def test_hard_wrapped_export_is_unwrapped_and_its_headline_becomes_the_title():
    body = ("Titan has lakes of liquid methane, scientists said on Monday in the\n"
            "first global map of the moon, which was based on radar data from the\n"
            "Cassini spacecraft. The Democratic Party-\ncontrolled House agreed.\n\n"
            "A list:\nOne\nTwo")
    rec = RawRecord("/in/export.txt", "text", "Scientists map Saturn's moon Titan\n\n" + body,
                    None, None, None, len(body))
    art = extract_record(rec)
    assert art.title == "Scientists map Saturn's moon Titan"
    assert art.text.startswith("Titan has lakes of liquid methane, scientists said on Monday in the "
                               "first global map")
    assert "Party-controlled House" in art.text
    assert art.text.endswith("A list:\nOne\nTwo")       # short lines are not a wrapped paragraph


def test_a_first_paragraph_is_not_taken_for_a_title():
    rec = RawRecord("/in/a.txt", "text", "The minister resigned on Monday.\n\nMore followed.",
                    None, None, None, 40)
    art = extract_record(rec)
    assert art.title is None and art.text.startswith("The minister resigned")


def test_a_text_longer_than_any_article_is_rejected_with_its_size():
    body = "<html><body><article>" + "<p>" + "word " * 600 + "</p>" * 1 + "</article></body></html>"
    rec = RawRecord("huge.html", "html", body, None, None, None, len(body))
    out = extract_record(rec, max_words=500)
    assert isinstance(out, Reject) and out.reason == "too_long" and "600 words" in out.detail
    assert isinstance(extract_record(rec, max_words=600), Article)
    assert isinstance(extract_record(rec, max_words=0), Article)  # no limit


def test_container_titles_lose_html_entities():
    rec = RawRecord("x.json", "text", "The mayor said the plan would be ready by May. " * 5, None,
                    "Mayor&#039;s &quot;plan&quot; &amp;#8216;ready&amp;#8217;", None, 100)
    assert extract_record(rec).title == "Mayor's \"plan\" ‘ready’"


def test_a_byline_and_a_date_shown_but_not_declared_are_found():
    from datetime import datetime, timezone
    body = "<p>" + "The council approved the new budget on a close vote after a long debate. " * 10 + "</p>"
    page = ("<html><head><title>Council passes budget | Town Herald</title></head><body><article>"
            "<h1>Council passes budget</h1><div class='byline'><span class='author'>By Jane Doe</span></div>"
            "<span class='posted-on'>Posted on 2024-03-12</span>" + body + "</article></body></html>")
    a = extract_record(RawRecord("t.html", "html", page, None, None, None, len(page)))
    assert a.authors == ["Jane Doe"] and a.title == "Council passes budget"
    assert datetime.fromtimestamp(a.published_at_us / 1e6, tz=timezone.utc).date().isoformat() == "2024-03-12"
    # declared metadata still wins over what the page shows
    declared = page.replace("<head>", "<head><meta name='author' content='John Roe'>"
                                      "<meta property='article:published_time' content='2024-03-10T08:00:00Z'>")
    a = extract_record(RawRecord("t.html", "html", declared, None, None, None, len(declared)))
    assert a.authors == ["John Roe"]
    assert datetime.fromtimestamp(a.published_at_us / 1e6, tz=timezone.utc).date().isoformat() == "2024-03-10"


def test_author_names_lose_html_entities():
    page = ("<html><head><meta name='author' content='Maria &amp;amp; Katerina'></head><body><article><p>"
            + "The recipe uses three kinds of flour and a long, slow rise overnight. " * 8 + "</p></article></body></html>")
    a = extract_record(RawRecord("t.html", "html", page, None, None, None, len(page)))
    assert a.authors == ["Maria & Katerina"]
