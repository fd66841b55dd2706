import json

from transforms.dates import parse_date
from transforms.extract import parse_page
from transforms.metadata import page_metadata, strip_site_suffix


def meta(html):
    return page_metadata(parse_page(html))


def test_json_ld_article_wins():
    ld = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "page"},
        {"@type": "NewsArticle", "headline": "Storm  hits the coast", "datePublished": "2019-11-20T08:00:00Z",
         "author": [{"@type": "Person", "name": "Ana Silva"}, {"@type": "Person", "name": "Tom Berg"}],
         "publisher": {"@type": "Organization", "name": "Daily Bench"}}]}
    html = (f"<html lang='en-GB'><head><title>Other | Daily Bench</title>"
            f"<script type='application/ld+json'>{json.dumps(ld)}</script>"
            "<meta name='author' content='Ana Silva'></head><body><p>x</p></body></html>")
    m = meta(html)
    assert m.title == "Storm hits the coast"
    assert m.published == "2019-11-20T08:00:00Z"
    assert m.authors == ["Ana Silva", "Tom Berg"]
    assert m.site_name == "Daily Bench"
    assert m.language == "en"


def test_head_fallbacks_and_url_date():
    html = ("<html><head><title>Storm hits the coast - Daily Bench</title>"
            "<meta property='og:site_name' content='Daily Bench'>"
            "<link rel='canonical' href='https://bench.example/2019/11/20/storm-hits/'>"
            "<meta name='author' content='Ana Silva'></head><body><p>x</p></body></html>")
    m = meta(html)
    assert m.title == "Storm hits the coast"
    assert m.url == "https://bench.example/2019/11/20/storm-hits/"
    assert parse_date(m.published) == parse_date("2019-11-20")
    assert m.authors == ["Ana Silva"]


def test_broken_json_ld_and_empty_pages_do_not_fail():
    m = meta("<html><head><script type='application/ld+json'>{not json</script></head><body></body></html>")
    assert m.title is None and m.authors == []
    assert page_metadata(None).title is None


def test_strip_site_suffix():
    assert strip_site_suffix("Storm hits the coast | World News | Daily", None) == "Storm hits the coast | World News"
    assert strip_site_suffix("Storm hits the coast - Daily Bench", "Daily Bench") == "Storm hits the coast"
    assert strip_site_suffix("Biden - Xi call: what we know", None) == "Biden - Xi call: what we know"
