import json

from transforms.extract.dates import parse_date
from transforms.extract import parse_page
from transforms.extract.metadata import page_metadata, strip_site_suffix


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


def test_site_names_hosts_and_dates_leave_titles_however_many():
    assert strip_site_suffix("Germany debates pension reform | DW | 28.04.2023", "DW") == \
        "Germany debates pension reform"
    assert strip_site_suffix("Neuer Chip vorgestellt - Golem.de", [None, "golem.de"]) == "Neuer Chip vorgestellt"
    assert strip_site_suffix("Zinsen steigen weiter | Börsen-Zeitung", "Börsen-Zeitung",
                             short_labels=False) == "Zinsen steigen weiter"
    # a declared headline keeps a part that is neither the site nor a date
    assert strip_site_suffix("Ukraine war: Kyiv hit by drones", "BBC", short_labels=False) == \
        "Ukraine war: Kyiv hit by drones"
    assert strip_site_suffix("DW", "DW") == "DW"


def test_declared_titles_lose_entities_and_site_suffixes():
    m = meta("<html><head><link rel='canonical' href='https://www.golem.de/news/chip.html'>"
             "<meta property='og:title' content='Intel&amp;#8217;s &amp;quot;new&amp;quot; chip - Golem.de'>"
             "</head><body></body></html>")
    assert m.title == "Intel’s \"new\" chip"
    m = meta("<html><head><title>The &#8216;family&#8217; firm | Daily Bench</title></head><body></body></html>")
    assert m.title == "The ‘family’ firm"


def test_the_visible_headline_wins_over_a_declared_seo_variant_but_not_a_logo():
    def page(h1, og="10 Tips to Successfully Complete Online Courses – Journey To College"):
        return meta(f"<html><head><meta property='og:title' content='{og}'></head>"
                    f"<body><h1>{h1}</h1><p>text</p></body></html>")
    assert page("10 Tips to Successfully Complete Online Courses").title == \
        "10 Tips to Successfully Complete Online Courses"
    assert page("Journey College").title.startswith("10 Tips")           # too short: a logo
    assert page("Latest stories from our newsroom").title.startswith("10 Tips")  # unrelated
    assert meta("<html><body><h1>Council passes the budget</h1></body></html>").title == \
        "Council passes the budget"                                       # nothing declared






def test_bylines_lose_their_wrapping_and_non_names():
    from transforms.extract.metadata import clean_author, clean_authors
    assert clean_author("By Arlene Marturano") == "Arlene Marturano"
    assert clean_author("Author: Isaiah Shelton") == "Isaiah Shelton"
    assert clean_author("David Jackson - FullStack Editorial Team") == "David Jackson"
    assert clean_author("Cazzy Magennis Last Updated August 1") == "Cazzy Magennis"
    assert clean_author("Sergio Martínez-Beltrán | The Texas Newsroom") == "Sergio Martínez-Beltrán"
    assert clean_author("Mary-Jane O'Brien") == "Mary-Jane O'Brien"
    assert clean_author("Bylaw Smith") == "Bylaw Smith"  # a name that starts like "By"
    for junk in ("The Author", "Dec", "262588213843476", "Staff", " , "):
        assert clean_author(junk) is None, junk
    assert clean_authors(["By Ana Silva", "ana silva", "Author", "Tom Berg"]) == ["Ana Silva", "Tom Berg"]


def test_the_shown_day_wins_and_a_declared_timestamp_on_it_keeps_its_time():
    from transforms.extract import reconcile_dates
    assert reconcile_dates("2025-06-25T20:57:54-04:00", "2025-06-25") == "2025-06-25T20:57:54-04:00"
    assert reconcile_dates("2024-09-06T10:00:00Z", "2025-11-14") == "2025-11-14"
    assert reconcile_dates("2024-09-06T10:00:00Z", None) == "2024-09-06T10:00:00Z"
    assert reconcile_dates(None, "2025-11-14") == "2025-11-14"
    assert reconcile_dates("Tue, 3 May 2022 10:00 GMT", "2022-05-03") == "2022-05-03"
    # a declared timestamp that cannot be read does not hide the day shown
    assert reconcile_dates("2025-12-17UTC07:30:00+00:00", "2025-12-17") == "2025-12-17"


def test_authors_from_share_cards_json_ld_references_and_microdata():
    yoast = ("<html><head><meta name='twitter:label1' content='Written by'>"
             "<meta name='twitter:data1' content='Albert Swann'></head><body><p>x</p></body></html>")
    assert meta(yoast).authors == ["Albert Swann"]
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "Article", "headline": "H", "author": {"@id": "https://x.example/#/person/1"}},
        {"@type": "Person", "@id": "https://x.example/#/person/1", "name": "Shivkumar M"}]}
    ld = (f"<html><head><script type='application/ld+json'>{json.dumps(graph)}</script></head>"
          "<body><p>x</p></body></html>")
    assert meta(ld).authors == ["Shivkumar M"]
    micro = ("<html><body><div class='by'>by <span itemprop='author' itemscope>"
             "<span itemprop='name'>Sam O'Brien</span></span></div><p>x</p></body></html>")
    assert meta(micro).authors == ["Sam O'Brien"]
    talk = ("<html><body><p>x</p><ol class='comment-list'><li itemscope itemtype='https://schema.org/Comment'>"
            "<span itemprop='author'>Reader Joe</span> says: nice</li></ol></body></html>")
    assert meta(talk).authors == []  # a commenter is no author of the article


def test_a_byline_box_names_the_author_but_a_label_or_a_sentence_does_not():
    from transforms.extract.metadata import byline_box
    from transforms.extract import parse_page as pp
    box = "<html><body><div class='post-author'><p>Written by</p><p>Edzel Tabing</p></div><p>Text.</p></body></html>"
    assert byline_box(pp(box)) == ["Edzel Tabing"]
    link = "<html><body><a href='/authors/trevor-jackins'>Trevor Jackins</a><p>Text.</p></body></html>"
    assert byline_box(pp(link)) == ["Trevor Jackins"]
    for page in ("<html><body><div class='author-box'>Author</div></body></html>",
                 "<html><body><div class='author-bio'>she writes about gardens and food for us</div></body></html>",
                 "<html><body><div class='story'><p>No byline here at all.</p></div></body></html>"):
        assert byline_box(pp(page)) == [], page
