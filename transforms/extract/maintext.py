"""Main-content extraction for full HTML pages: the article's own text, without menus,
related links, share bars and footers.

trafilatura (its recall-favouring mode, comments excluded) finds the article body; then a
repeated headline goes, and the line model (``line_model.py``) drops the lines a reader would
skip (menus, share and reprint prompts, teasers, tag lists, captions...), or, where it cannot
judge, hand-written rules do. A fragment (no ``<html>``/``<body>``), a page on which
the extractor finds nothing, or a page too large for it falls back to plain tag stripping
(``strip.html_to_text``), so no text is lost silently.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Optional

import numpy as np

from transforms.extract import strip
from transforms.extract.lines import block_index
from transforms.dedup import minhash
from transforms.dedup.minhash import tokens

log = logging.getLogger(__name__)

# Pages above this size go to tag stripping: the extractor's cost is not linear in size.
MAX_EXTRACTOR_CHARS = 5_000_000
_FULL_PAGE = re.compile(r"<(?:html|body)\b", re.I)
_BOILERPLATE = re.compile(
    r"""^(?:[-–—•|*]\s*)?(?:
        (?:read|see|view|watch|show)\s+(?:more|also|next)\s*(?:[:›»…].*|\.\.\..*)?
      | (?:read|see|view)\s+the\s+full\s+(?:story|article|report)\b.*
      | click\s+here\b.*
      | (?:related|recommended|trending|popular|most\s+read)(?:\s+(?:articles?|stories|posts|news|content))?:?
      | don['’]?t\s+miss:?
      | (?:tags?|topics?|categories|filed\s+under)\s*:?.*
      | (?:share|tweet|email|print|save|comment)(?:\s+(?:this|on|via|article|story|page).*)?
      | (?:order\s+reprints?|print\s+article|text\s+size|advertisement|sponsored(?:\s+content)?)
      | (?:sign\s+up|subscribe)\s+(?:for|to|now)\b.*
      | you\s+(?:may|might)\s+also\s+like\W*
      | tell\s+us\s+what\s+you\s+think\W*
      | (?:\d+\s+)?comments?
      | thank\s+you\W*
      | by
      | (?:updated|published|posted|last\s+modified)(?:\s+(?:on|at))?\s*:?\s*[\w ,.:/-]{0,40}
      | an\s+error\s+(?:has\s+)?occurred.*
      | this\s+copy\s+is\s+for\s+your\s+personal.*
    )$""", re.I | re.X)
# Prompts that carry an address or an offer rather than news.
_PROMPT = re.compile(r"""(?:
      \b(?:newsletter|subscribe|sign\s+up|in\s+your\s+inbox|delivered\s+(?:to|through))\b
    | \b(?:write\s+to|reached\s+at|contact)\b.*@[\w-]+\.\w
    | \[(?:video|insight|reaction|pictures|photos|latest|poll|reveal|watch)\]\W*$
    )""", re.I | re.X)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# A line that is only a date, perhaps with a time and a weekday: a byline detail.
_DATE_LINE = re.compile(
    rf"^(?:\w+day,?\s+)?(?:{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})"
    r"(?:[\s,|-]+(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{2,4})?)?\W*$", re.I)


def _key(s: str) -> str:
    return " ".join(tokens(s))


# Lines no article body holds whatever their length: a copyright notice, a syndication
# notice ("This copy is for your personal, non-commercial use only..."). Not a bare web
# address: articles list their sources that way.
_NOTICE = re.compile(r"""^(?:
      (?:copyright\s*)?(?:©\s*(?:\d{4}|\w)|\(c\)\s*\d{4}).{0,200}
    | copyright\s+\d{4}\b.{0,200}
    | .{0,200}\ball\s+rights\s+reserved\.?
    | this\s+copy\s+is\s+for\s+your\s+personal,?\s+non-?commercial\s+use\b.*
    )$""", re.I | re.X | re.S)


def is_boilerplate(line: str) -> bool:
    """A line a reader skips: prompts, teasers, bare dates, contact and reprint notes (short
    lines only), copyright and syndication notices (any line)."""
    if _NOTICE.match(line):
        return True
    if len(line) >= 160:
        return False
    return bool(_BOILERPLATE.match(line) or _DATE_LINE.match(line) or _PROMPT.search(line))


def _repeats_title(line: str, title: Optional[str]) -> bool:
    """The headline again (the page title may add a site name: "Headline - Site")."""
    k, t = _key(line), _key(title or "")
    return bool(k) and bool(t) and (k == t or (len(k.split()) >= 3 and t.startswith(k + " ")))


def clean_lines(text: str, title: Optional[str] = None, line_model=None, index=None) -> str:
    """Drops a leading repeat of the headline, then the lines that are not the article's: by
    ``line_model`` (``line_model.LineModel``, with ``index``, the page's
    ``lines.block_index``) or, without one or where it cannot judge (it fails, or would keep
    nothing), by the hand-written rules (``is_boilerplate``). One line = one paragraph."""
    lines = [l.strip() for l in text.split("\n")]
    lines = [l for l in lines if l]
    if lines and _repeats_title(lines[0], title):
        lines = lines[1:]
    keep = None
    if line_model is not None and lines:
        try:
            keep = line_model.keep(lines, title, index, is_boilerplate)
        except Exception as e:  # the model is an improvement, never a reason to fail
            log.debug("line model could not judge a page, the rules do: %s: %s", type(e).__name__, e)
            keep = None
    if keep is None or not keep.any():
        kept = [l for l in lines if not is_boilerplate(l)]
    else:
        kept = [l for l, k in zip(lines, keep) if k]
    return strip.normalize_text("\n\n".join(kept))


# Text outside these is article candidate text; a page with none is chrome only.
_CONTENT_TEXT = ("//body//text()[normalize-space() and not(ancestor::nav or ancestor::header or "
                 "ancestor::footer or ancestor::aside or ancestor::script or ancestor::style or "
                 "ancestor::noscript or ancestor::template)]")


# When the page's plain paragraph text (or its JSON-LD articleBody) is this many times longer
# than the extraction and contains it, the extractor stopped early -- typically at an ad or
# embed inside a long article -- and the longer reading is the article.
LONGER_READING_RATIO = 2.3
LONGER_READING_MIN_WORDS = 300
LONGER_READING_CONTAINMENT = 0.9


# A chrome element that holds at least this share of the body's words, and an article (an
# <article> or <main>, or paragraphs of prose), is mis-nested markup (an unclosed <header> or
# <aside> swallows the article that follows), not chrome. A menu has no paragraphs.
SWALLOWED_SHARE = 0.5
SWALLOWED_PROSE_WORDS = 100


def _swallows_article(el, total: int) -> bool:
    if len(el.text_content().split()) < SWALLOWED_SHARE * total:
        return False
    if el.find(".//article") is not None or el.find(".//main") is not None:
        return True
    return sum(len(p.text_content().split()) for p in el.iter("p")) >= SWALLOWED_PROSE_WORDS


def has_article_text(tree) -> bool:
    """Whether the page shows text outside navigation, headers, footers, asides and scripts,
    counting as outside a "chrome" element that swallowed the article (mis-nested markup)."""
    if tree.xpath(_CONTENT_TEXT):
        return True
    body = tree.find(".//body")
    total = len(body.text_content().split()) if body is not None else 0
    return total > 0 and any(_swallows_article(el, total)
                             for el in tree.iter("nav", "header", "footer", "aside"))


def _reading_upper_bound(tree) -> int:
    """Words in the page's <p> elements and JSON-LD article bodies: an upper bound of what the
    baseline reading can find, cheap enough to decide whether to compute it."""
    words = sum(len(p.text_content().split()) for p in tree.iter("p"))
    for script in tree.xpath('//script[contains(@type, "ld+json")]/text()'):
        if "articleBody" in script:
            words = max(words, len(script.split()))
    return words


def _longer_reading(html: str, found: str, upper_bound: int) -> str:
    words = len(found.split())
    if words < LONGER_READING_MIN_WORDS or upper_bound < LONGER_READING_RATIO * words:
        return found
    import trafilatura  # here, not at the top: the driver builds the graph without it
    try:
        _, base, _ = trafilatura.baseline(html)
    except Exception:
        return found
    if len(base.split()) < LONGER_READING_RATIO * words:
        return found
    mine = minhash.shingle_hashes(found, 4)
    inside = np.intersect1d(mine, minhash.shingle_hashes(base, 4), assume_unique=True).size
    if mine.size and inside / mine.size >= LONGER_READING_CONTAINMENT:
        return base
    return found


# When the page's main-content text (by a second, structure-blind extractor) holds this many
# times the words of the extraction, and 90% of the extraction's words, the extractor took one
# block (an intro, a teaser, the first card of a list) for the whole article: the fuller
# reading is kept. Measured on WCXB's even pages and article-extraction's, checked on the odd
# halves (WCXB odd 0.934 -> 0.945, article-extraction unchanged).
FULLER_READING_RATIO = 3
FULLER_READING_CONTAINMENT = 0.9
# Reader comments are no part of the article, but a structure-blind extractor keeps them:
# elements whose class or id names them go first (the names WordPress, Disqus and most themes
# use: "comments-area", "comment-list", "commentlist", "respond", "disqus_thread"). A whole
# name part only: "responsive" and "commentary" are no comments.
_COMMENT_BLOCK = re.compile(r"(?:^|[-_])(?:comments?|commentlist|respond|disqus|discussions?)(?:$|[-_])",
                            re.I)


def _names_comments(el) -> bool:
    names = (el.get("class") or "").split() + (el.get("id") or "").split()
    return any(_COMMENT_BLOCK.search(n) for n in names)


def _body_words(tree) -> int:
    body = tree.find(".//body")
    return len(body.text_content().split()) if body is not None else 0


def without_comments(tree):
    """``tree`` with every element whose class or id names comments removed (in place)."""
    doomed = [el for el in tree.iter("*") if _names_comments(el)]
    for el in doomed:  # an element already gone with an ancestor is removed from that subtree
        if el.getparent() is not None:
            el.drop_tree()  # its tail (text after it in the parent) stays
    return tree


def _resiliparse_text(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree
    return extract_plain_text(HTMLTree.parse(html), main_content=True)


def fuller_reading(html: str) -> str:
    """The page's main-content text by resiliparse (fast, no article model: all text that is
    not navigation, header, footer or aside), reader comments taken out first."""
    import lxml.html
    from trafilatura.utils import load_html
    tree = load_html(html)  # a fresh tree: the extractor has altered the page's own
    if tree is None:
        return ""
    return _resiliparse_text(lxml.html.tostring(without_comments(tree), encoding=str))


def _prefer_fuller(html: str, found: str, title: Optional[str], body_words: int,
                   line_model=None, index=None) -> str:
    words = tokens(found)
    enough = FULLER_READING_RATIO * len(words)
    if not words or body_words < enough:
        return found  # the page cannot hold a reading that much longer: no second extractor
    try:
        # the page as it is first (a few ms): comments only take words away, so a page whose
        # whole main-content text is not long enough needs no second parse to remove them
        if len(tokens(_resiliparse_text(html))) < enough:
            return found
        fuller = fuller_reading(html)
    except Exception:  # the second reading is an improvement, never a reason to fail
        return found
    more = tokens(fuller)
    if len(more) < enough:
        return found
    inside = sum((Counter(words) & Counter(more)).values())
    if inside < FULLER_READING_CONTAINMENT * len(words):
        return found
    return clean_lines(fuller, title, line_model, index) or found


def main_text(html: str, title: Optional[str] = None, tree=None, line_model=None) -> str:
    """The article text of an HTML page or fragment (paragraphs separated by blank lines).

    ``tree``: the page from ``extract.parse_page``; it is altered here. A page on which that
    tree shows no text outside navigation, headers, footers, asides and scripts is not given to the extractor
    (which would make an article of the menus): tag stripping decides, and finds nothing on
    a chrome-only page (a reject) but still finds text the lxml tree lost (libxml2 stops
    at 256 levels of nesting; BeautifulSoup's tree builder does not).

    ``line_model``: a ``line_model.LineModel`` that decides which lines of the reading are
    the article's (without one, the hand-written rules do).
    """
    if (tree is not None and len(html) <= MAX_EXTRACTOR_CHARS
            and _FULL_PAGE.search(html[:200_000])):
        if not has_article_text(tree):
            return strip.html_to_text(html)
        upper_bound = _reading_upper_bound(tree)
        body_words = _body_words(tree)
        index = None
        if line_model is not None:
            try:  # the markup as the page has it: the extractor alters the tree
                index = block_index(tree)
            except Exception as e:  # unreadable markup: the model judges lines by their text
                log.debug("markup not indexed for the line model: %s: %s", type(e).__name__, e)
                index = None
        import trafilatura
        try:
            # The extractor takes the tree (no second parse) and alters it: it is used last.
            found = trafilatura.extract(tree, include_comments=False, favor_recall=True,
                                        output_format="txt")
        except Exception:  # the extractor failing is a reason to fall back, not to reject
            found = None
        if found and found.strip():
            cleaned = clean_lines(_longer_reading(html, found, upper_bound), title, line_model, index)
            if cleaned:
                return _prefer_fuller(html, cleaned, title, body_words, line_model, index)
    return strip.html_to_text(html)
