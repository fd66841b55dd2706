"""Page metadata from a full HTML page's lxml tree: title, canonical URL, publication date,
authors, site name and declared language.

Sources, most trusted first: JSON-LD (``NewsArticle`` and kin), Open Graph / article meta,
the rest of ``<head>`` (``<title>``, ``<link rel=canonical>``, ``<html lang>``), ``<time>``
in the body, and a date in the URL path.
"""
from __future__ import annotations

import html
import json
import logging
import re
import typing
from typing import Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

_ARTICLE_TYPES = {"newsarticle", "article", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
                  "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "webpage",
                  "scholarlyarticle", "techarticle", "liveblogposting"}
_PUBLISHED_META = ("article:published_time", "og:published_time", "datepublished", "pubdate",
                   "publish-date", "publishdate", "date", "dc.date", "dc.date.issued",
                   "sailthru.date", "parsely-pub-date", "article.published")
_MODIFIED_META = ("article:modified_time", "og:updated_time", "datemodified", "dc.date.modified",
                  "last-modified", "lastmod", "article.updated", "parsely-updated")
_AUTHOR_META = ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator", "byl")
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](0[1-9]|1[0-2])[/-](0[1-9]|[12]\d|3[01])(?:/|-|\b)")
log = logging.getLogger(__name__)
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:·•»]{1,2}\s+")


class PageMeta(typing.NamedTuple):
    title: Optional[str] = None
    url: Optional[str] = None
    published: Optional[str] = None
    authors: List[str] = []
    site_name: Optional[str] = None
    language: Optional[str] = None
    modified: Optional[str] = None


def _json_ld_objects(tree) -> Iterable[dict]:
    for script in tree.xpath('//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]'):
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                yield node
                if "@graph" in node:
                    stack.append(node["@graph"])


def _types(obj: dict) -> List[str]:
    t = obj.get("@type", [])
    return [x.lower() for x in (t if isinstance(t, list) else [t]) if isinstance(x, str)]


def _names(value, nodes: Optional[Dict[str, dict]] = None) -> List[str]:
    """Person or organisation names from a JSON-LD value (str, dict, list). ``nodes``: the
    page's JSON-LD objects by ``@id``, to resolve a reference ({"@id": ".../#author"}, as
    Yoast writes its author) to the node that holds the name."""
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict) and not isinstance(v.get("name"), str) and nodes:
            v = nodes.get(v.get("@id")) if isinstance(v.get("@id"), str) else v
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict) and isinstance(v.get("name"), str):
            out.append(v["name"])
    return [" ".join(n.split()) for n in out if n and n.strip() and not n.strip().startswith("http")]


def _article_ld(tree) -> Tuple[Dict, Dict[str, dict]]:
    """(the page's article object, or {}; all its JSON-LD objects by ``@id``)."""
    best: Dict = {}
    nodes: Dict[str, dict] = {}
    for obj in _json_ld_objects(tree):
        if isinstance(obj.get("@id"), str):
            nodes.setdefault(obj["@id"], obj)
        types = _types(obj)
        if any(t in _ARTICLE_TYPES for t in types):
            # a real article type beats a generic WebPage
            if not best or ("webpage" in _types(best) and "webpage" not in types):
                best = obj
    return best, nodes


# A title part that is a date ("28.04.2023", "2023-04-28", "April 28, 2023") is no headline.
_DATE_PART = re.compile(
    r"^(\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.? \w+\.? \d{4}|\w+\.? \d{1,2},? \d{4})$")


def _key(s: str) -> str:
    return re.sub(r"\W+", "", s.casefold())


def _is_site(part: str, sites: Sequence[str]) -> bool:
    """Whether a title part names the site: it holds a site name, or is a part of one of at
    least three letters ("Golem" of "golem.de"), never a stray letter of it."""
    k = _key(part)
    return bool(k) and any(_key(s) and (_key(s) in k or (len(k) >= 3 and k in _key(s)))
                           for s in sites)


def strip_site_suffix(title: str, site_name, short_labels: bool = True) -> str:
    """"Headline | Site" -> "Headline" (also with - – — : · separators). Trailing parts that
    name the site (``site_name``: one name or several, e.g. the site name and the host) or
    are a date go, as many as there are ("… | DW | 28.04.2023"); with ``short_labels``, so
    does one last part of at most four words after a headline of three or more ("… | World
    News"), which is how ``<title>`` ends far more often than a headline does."""
    sites = [site_name] if isinstance(site_name, str) else [s for s in (site_name or []) if s]
    while True:
        parts = _TITLE_SEPARATORS.split(title)
        if len(parts) < 2:
            return title
        last = parts[-1].strip()
        head = re.sub(r"\s*[|\-–—:·•»]{1,2}$", "", title[: title.rfind(last)].rstrip()).rstrip()
        if not head:
            return title
        if _is_site(last, sites) or _DATE_PART.match(last):
            title = head
            continue
        if short_labels and len(last.split()) <= 4 and len(head.split()) >= 3:
            return head
        return title


# The page's first <h1> is its headline as readers see it when it has this many words and
# shares this share of them with the declared title (an SEO variant of the same headline:
# "10 Tips to Pass Online Courses – Journey To College" over "10 Tips to Pass Online
# Courses"). A shorter or unrelated <h1> is a logo or a section name. Measured on WCXB's
# even pages, checked on its odd ones (title right 0.772 -> 0.834 there). Later rules (the
# first of several <h1>, pipe labels, domain-named parts, headings read without their dates,
# capitals) took WCXB to 0.895 but news pages of other publishers from 0.78 to 0.73: they
# fitted WCXB's annotators and went (issue 26). WCXB: 0.864; trafilatura's metadata 0.549.
HEADLINE_MIN_WORDS = 3
HEADLINE_SHARED = 0.3


def visible_headline(tree, declared: Optional[str]) -> Optional[str]:
    """The title to keep: the page's first ``<h1>`` when it is the declared headline as
    shown (see above), else ``declared``."""
    h1 = next((" ".join(h.text_content().split()) for h in tree.iter("h1")
               if h.text_content().strip()), None)
    if not h1:
        return declared
    shown = set(re.findall(r"\w+", h1.casefold()))
    if len(re.findall(r"\w+", h1)) < HEADLINE_MIN_WORDS:
        return declared
    if not declared:
        return h1
    said = set(re.findall(r"\w+", declared.casefold()))
    return h1 if len(shown & said) >= HEADLINE_SHARED * len(shown) else declared


# What a byline wraps around a name: "By ", "Author: ", "Written by", "Recipe by"; and what
# follows it: a role ("- Editorial Team", "| The Texas Newsroom", "Tech Reporter", "Former
# McKinsey Consultant"), an update note ("Last updated August 1"), a month.
_BYLINE_LEAD = re.compile(
    r"^(?:(?:this\s+(?:post|article|story)\s+(?:was\s+)?)?(?:written|posted|reviewed|edited)\s+by"
    r"|(?:recipe|story|words|text|article)\s+by|read\s+more\s+about|by|authors?|written|updated)"
    r"\b\s*[:\-–—]?\s*", re.I)
_BYLINE_TAIL = re.compile(r"\s+(?:[-–—|•·]\s|(?:last\s+)?(?:updated|published|posted)\b|on\s+\w+\s+\d).*$", re.I)
_MONTHS = ("jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
           "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october", "nov",
           "november", "dec", "december")
_ROLE_START = {"former", "senior", "staff", "contributing", "tech", "technology", "ai", "freelance",
               "guest", "chief", "managing", "lead", "head", "executive", "associate", "deputy"}
_ROLE_END = {"writer", "reporter", "editor", "journalist", "correspondent", "columnist", "contributor",
             "founder", "co-founder", "cofounder", "consultant", "ceo", "head", "author", "producer",
             "analyst", "strategist", "dietitian", "expert", "specialist"}
_NOT_A_NAME = re.compile(
    r"^(?:the\s+)?(?:author|authors|admin|administrator|editor|staff|guest|team|anonymous|unknown|"
    + "|".join(_MONTHS) + r")\W*$|^[\d\W_]+$", re.I)


def _without_role(name: str) -> str:
    """"Harry Rabinowitz Tech Reporter" -> "Harry Rabinowitz"; a role or a month after at
    least two words of name is cut, the name alone is never emptied."""
    words = name.split()
    if len(words) >= 3 and words[-1].casefold().strip(".,") in _ROLE_END | set(_MONTHS):
        for i in range(2, len(words)):
            w = words[i].casefold().strip(".,")
            if w in _ROLE_START or w in _ROLE_END or w in _MONTHS:
                return " ".join(words[:i])
    return name


def clean_author(name: str) -> Optional[str]:
    """A byline's name without its wrapping ("By Jane Doe - Editorial Team" -> "Jane Doe"),
    or None when what remains names nobody ("Author", "Dec", "262588213843476")."""
    name = " ".join(html.unescape(name).split()).strip(" ,;:|-–—")
    name = _BYLINE_LEAD.sub("", name)
    name = _without_role(_BYLINE_TAIL.sub("", name).strip(" ,;:|-–—"))
    return None if not name or _NOT_A_NAME.match(name) else name


def clean_authors(names: Iterable[str]) -> List[str]:
    """Cleaned names (see ``clean_author``), each once (case-blind), at most ten."""
    seen, unique = set(), []
    for n in names:
        c = clean_author(n)
        if c and c.casefold() not in seen:
            seen.add(c.casefold())
            unique.append(c)
    return unique[:10]


def host_of(url: Optional[str]) -> Optional[str]:
    """A URL's host, lower-cased, without ``www.``, port or trailing dot; None when it names
    none (no host, or malformed: a bad port, stray brackets)."""
    if not url:
        return None
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return None
    return (host[4:] if host.startswith("www.") else host) or None


def page_metadata(tree) -> PageMeta:
    """PageMeta of an lxml tree (None -> empty PageMeta)."""
    if tree is None:
        return PageMeta()
    meta: Dict[str, str] = {}
    authors_meta: List[str] = []
    for tag in tree.iter("meta"):
        key = (tag.get("property") or tag.get("name") or tag.get("itemprop") or "").strip().lower()
        content = " ".join((tag.get("content") or "").split())
        if key and content:
            meta.setdefault(key, content)
            if key in _AUTHOR_META and not content.startswith("http"):
                authors_meta.append(content)
    # Yoast's share card: twitter:label1 "Written by", twitter:data1 the name
    for n in range(1, 5):
        if re.match(r"(?:written\s+)?by$|authors?$", meta.get(f"twitter:label{n}", ""), re.I):
            authors_meta.append(meta.get(f"twitter:data{n}", ""))
    # microdata: <span itemprop="author"><span itemprop="name">Name</span></span>; not the
    # authors of reader comments (schema.org Comment items, comment blocks)
    for el in tree.xpath('//*[@itemprop="author"][not(self::meta) and not(self::link)]'
                         '[not(ancestor::*[contains(@itemtype, "Comment") or '
                         'contains(@class, "comment") or contains(@id, "comment")])]'):
        named = el.xpath('.//*[@itemprop="name"]')
        text = " ".join((named[0] if named else el).text_content().split())
        if 0 < len(text) <= 80:
            authors_meta.append(text)
    ld, ld_nodes = _article_ld(tree)
    site_name = meta.get("og:site_name") or next(iter(_names(ld.get("publisher"), ld_nodes)), None)
    url = None
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            url = link.get("href").strip()
            break
    url = url or meta.get("og:url")
    sites = [site_name, host_of(url)]
    title = None
    if isinstance(ld.get("headline"), str) and ld["headline"].strip():
        title = " ".join(ld["headline"].split())
    title = title or meta.get("og:title") or meta.get("twitter:title")
    if title:  # declared headlines: only the site's name or a date is taken off
        title = strip_site_suffix(html.unescape(title), sites, short_labels=False)
    else:
        t = tree.find(".//title")
        if t is not None and t.text_content().strip():
            title = strip_site_suffix(html.unescape(" ".join(t.text_content().split())), sites)
    title = visible_headline(tree, title)
    published = ld.get("datePublished") if isinstance(ld.get("datePublished"), str) else None
    published = published or next((meta[k] for k in _PUBLISHED_META if k in meta), None)
    if not published:
        times = tree.xpath("//time[@datetime]/@datetime")
        published = str(times[0]) if times else None
    if not published and url:
        m = _URL_DATE.search(url)
        published = "-".join(m.groups()) if m else None
    unique = clean_authors(_names(ld.get("author"), ld_nodes) or authors_meta)
    lang = (tree.get("lang") or tree.get("xml:lang") or meta.get("og:locale") or "").strip()
    language = re.split(r"[-_]", lang)[0].lower() or None  # "en-GB" -> "en"; "" -> None
    modified = ld.get("dateModified") if isinstance(ld.get("dateModified"), str) else None
    modified = modified or next((meta[k] for k in _MODIFIED_META if k in meta), None)
    return PageMeta(title or None, url, published, unique, site_name, language, modified)


def shown_date(tree, url: Optional[str]) -> Optional[str]:
    """The publication day the page shows (``YYYY-MM-DD``), by htmldate (well kept; it weighs
    the declared dates too, and reads a copy of our tree: no second parse, nothing altered).
    Its default search only (markup, URL, date-like elements): its extensive search dated 119
    of 123 WCXB pages that have no date. Call it before the extractor alters the tree. A
    library failing on a hostile page costs the field, never the article; it is counted
    (``metadata/fallback_errors``) and logged."""
    try:
        from htmldate import find_date
        return find_date(tree, url=url, original_date=True, extensive_search=False)
    except Exception as e:
        _fallback_failed("date", e)
        return None


_BYLINE_CLASS = re.compile(r"author|byline", re.I)


def byline_box(tree) -> List[str]:
    """The name in the page's first byline box: an element whose class names an author or a
    byline and whose text, wrapping removed ("Written by", roles), is two to five words with
    capitals, as names are written. Links to an author page count as such a box."""
    for el in tree.xpath('//body//*[@class or @href][not(self::script or self::style or self::meta)]'):
        if not (_BYLINE_CLASS.search(el.get("class") or "")
                or re.search(r"/(?:author|authors|writers?|people|profile)/[^/?#]+/?$", el.get("href") or "")):
            continue
        text = " ".join(" ".join(el.itertext()).split())  # "<p>By</p><p>Name</p>": words apart
        name = clean_author(text) if 0 < len(text) <= 80 else None
        if name and 2 <= len(name.split()) <= 5 and all(w[:1].isupper() or not w[:1].isalpha()
                                                         or w.casefold() in _NAME_PARTICLES for w in name.split()):
            return [name]
    return []


_NAME_PARTICLES = {"van", "von", "der", "de", "da", "del", "la", "le", "di", "du", "bin", "al", "and", "&"}


def shown_authors(tree) -> List[str]:
    """Authors a page shows in a byline but does not declare, by trafilatura's byline rules on
    our own tree, else the page's first byline box. Call it last: it may trim the tree."""
    try:
        from trafilatura.metadata import extract_author
        found = extract_author(tree)
    except Exception as e:
        _fallback_failed("author", e)
        found = None
    return clean_authors((found or "").split(";")) or byline_box(tree)


def _fallback_failed(field: str, e: Exception) -> None:
    from apache_beam.metrics import Metrics
    Metrics.counter("metadata", "fallback_errors").inc()
    log.debug("%s fallback failed: %s: %s", field, type(e).__name__, e)
