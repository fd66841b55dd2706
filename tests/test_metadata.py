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


def test_pipes_set_off_labels_and_a_domain_name_is_a_site():
    # pipes: every short label goes, however many; other separators: only the site or a date
    assert strip_site_suffix("Council passes the budget | Opinion | Local", None, short_labels=False,
                             pipe_labels=True) == "Council passes the budget"
    assert strip_site_suffix("Best Bread Machines – My Favorites!", None, short_labels=False,
                             pipe_labels=True) == "Best Bread Machines – My Favorites!"
    assert strip_site_suffix("GAME CHANGER | Newegg.com", None, short_labels=False) == "GAME CHANGER"
    assert strip_site_suffix("Why we wrote it | Node.js", None, short_labels=False) == "Why we wrote it"
    # a domain-like word after a short headline and no pipe is the headline's own
    assert strip_site_suffix("Lessons learned – Node.js", None, short_labels=False) == \
        "Lessons learned – Node.js"
    assert strip_site_suffix("Ten great neighbourhoods – St.Louis", None, short_labels=False) == \
        "Ten great neighbourhoods – St.Louis"
    assert strip_site_suffix("Council passes the budget | Two new parks", None, short_labels=False) == \
        "Council passes the budget | Two new parks"


def test_the_headline_is_the_first_h1_that_is_not_the_site_or_a_section():
    def page(h1s, og="Budget Traveler's Guide To Travel Insurance - Budget Travel With Gabby",
             extra=""):
        body = "".join(f"<h1>{h}</h1>" for h in h1s)
        return meta(f"<html><head><meta property='og:site_name' content='Budget Travel With Gabby'>"
                    f"<meta property='og:title' content=\"{og}\">{extra}</head>"
                    f"<body>{body}<p>text</p></body></html>").title
    # the logo's <h1> comes first; the headline is the next one
    assert page(["Budget Travel With Gabby", "Budget Traveler’s Guide To Travel Insurance"]) == \
        "Budget Traveler’s Guide To Travel Insurance"
    # a section name that shares one word with a long declared text is not the headline
    assert page(["Travel Insurance Updates"], og="Budget Traveler's Guide To Travel Insurance",
                extra="<meta name='twitter:title' content='Everything budget travellers ask about "
                      "insurance, claims, cover and what to read before buying a travel policy'>") == \
        "Budget Traveler's Guide To Travel Insurance"
    # the headline as shown loses its pipe labels and the site's name
    assert page(["Budget Traveler’s Guide To Travel Insurance | Guides | Budget Travel With Gabby"]) == \
        "Budget Traveler’s Guide To Travel Insurance"
    # a logo that shares the declared title's words is still the site's name, not the headline
    assert page(["Budget Travel With Gabby", "Budget travel insurance, step by step"],
                og="Budget travel with insurance - Budget Travel With Gabby") == \
        "Budget travel insurance, step by step"
    # what is left of an <h1> without the site's name must still be a headline's length
    assert page(["Guides | Budget Travel With Gabby"], og="Travel insurance guides") == \
        "Travel insurance guides"
    # no <h1> reads as the headline: the declared title, without the site's name
    assert page(["Budget Travel With Gabby", "Latest posts from the blog"]) == \
        "Budget Traveler's Guide To Travel Insurance"


def test_a_headline_is_read_as_shown_without_the_dates_and_bylines_set_in_it():
    def title(h1, og="Preparing a transition in Debusine"):
        return meta(f"<html><head><meta property='og:title' content='{og}'></head>"
                    f"<body><h1>{h1}</h1><p>text</p></body></html>").title
    assert title("<time datetime='2025-12-18'>Dec <span>18</span> 2025</time> Preparing a "
                 "transition in&nbsp;Debusine") == "Preparing a transition in Debusine"
    assert title("Preparing a transition in Debusine<h3>Posted on July 1, 2024 by cjw</h3>") == \
        "Preparing a transition in Debusine"
    assert title("Preparing a transition<br>in Debusine") == "Preparing a transition in Debusine"
    # an <h1> that a theme set inside another heading is read all the same
    assert meta("<html><head><meta property='og:title' content='Council passes the budget, mayor says'>"
                "</head><body><h2 class='title'><h1>Council passes the budget</h1></h2><p>text</p>"
                "</body></html>").title == "Council passes the budget"
    # capitals are a style: the declared title gives the same words in the author's case
    assert title("PREPARING A TRANSITION IN DEBUSINE") == "Preparing a transition in Debusine"


def test_a_headline_shown_as_one_declared_title_wins_over_another():
    ld = {"@type": "NewsArticle", "headline": "Amp AI Fitness Machine Review With Photos"}
    html = ("<html><head><meta property='og:title' content='I Tried Amp, the AI Strength System'>"
            f"<script type='application/ld+json'>{json.dumps(ld)}</script></head>"
            "<body><h1>I Tried Amp, the AI Strength System</h1><p>text</p></body></html>")
    assert meta(html).title == "I Tried Amp, the AI Strength System"


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
