"""Main-content extraction for full HTML pages: the article's own text, without menus,
related links, share bars and footers.

trafilatura (its recall-favouring mode, comments excluded) finds the article body; then lines
a reader would skip are dropped (a repeated headline, share/print/reprint prompts, "Read more"
and "Don't miss" teasers, tag lists). A fragment (no ``<html>``/``<body>``), a page on which
the extractor finds nothing, or a page too large for it falls back to plain tag stripping
(``strip.html_to_text``), so no text is lost silently.
"""
from __future__ import annotations

import re
from typing import Optional

from transforms import strip

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
    )$""", re.I | re.X)


def _key(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.casefold()))


def clean_lines(text: str, title: Optional[str] = None) -> str:
    """Drops boilerplate lines and a leading repeat of the headline; one line = one paragraph."""
    lines = [l.strip() for l in text.split("\n")]
    lines = [l for l in lines if l]
    if lines and title and _key(lines[0]) and _key(lines[0]) == _key(title):
        lines = lines[1:]
    kept = [l for l in lines if not (len(l) < 120 and _BOILERPLATE.match(l))]
    return strip.normalize_text("\n\n".join(kept))


# Text outside these is article candidate text; a page with none is chrome only.
_CONTENT_TEXT = ("//body//text()[normalize-space() and not(ancestor::nav or ancestor::header or "
                 "ancestor::footer or ancestor::aside or ancestor::script or ancestor::style or "
                 "ancestor::noscript or ancestor::template)]")


def main_text(html: str, title: Optional[str] = None, tree=None) -> str:
    """The article text of an HTML page or fragment (paragraphs separated by blank lines).

    ``tree``: the page parsed by ``lxml.html``. A page on which that tree shows no text
    outside navigation, headers, footers, asides and scripts is not given to the extractor
    (which would make an article of the menus): tag stripping decides, and finds nothing on
    a chrome-only page (a reject) but still finds text the lxml tree lost (libxml2 stops
    at 256 levels of nesting; BeautifulSoup's tree builder does not).
    """
    if (tree is not None and len(html) <= MAX_EXTRACTOR_CHARS
            and _FULL_PAGE.search(html[:200_000])):
        if not tree.xpath(_CONTENT_TEXT):
            return strip.html_to_text(html)
        try:
            import trafilatura
            found = trafilatura.extract(html, include_comments=False, favor_recall=True,
                                        output_format="txt")
        except Exception:  # the extractor failing is a reason to fall back, not to reject
            found = None
        if found and found.strip():
            cleaned = clean_lines(found, title)
            if cleaned:
                return cleaned
    return strip.html_to_text(html)
