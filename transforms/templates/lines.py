"""Site templates, the pure part: which lines of a site's pages are its template.

A page-at-a-time extractor cannot tell an author bio, a newsletter prompt or a legal footer
that sits inside the article's container from the article: on one page it is just another
paragraph. Across a batch it can be told: it recurs, word for word, on most of the site's
pages, and article text does not. The rules here are deliberately conservative, because a
line of article text dropped is worse than a line of boilerplate kept:

- a line counts once per page of a site: exact copies of one article count once, and so do
  the versions of one URL (a live page captured again and again: its lead paragraphs are on
  every capture, yet they are one page's text);
- it is template only when it recurs on at least ``min_pages`` of the site's pages *and* on at
  least ``min_share`` of them (a background paragraph or a quote that several stories of a
  running story repeat recurs on a few pages, not on most);
- a page whose template lines would take ``MAX_REMOVED_SHARE`` or more of its words is left
  whole: its text is as common as the template, so it is a copy of other pages (Dedup's
  business), not an article in a template.
"""
from __future__ import annotations

import hashlib
import re
from typing import Dict, Iterable, NamedTuple, Optional, Set, Tuple
from urllib.parse import urlsplit

from transforms.extract.metadata import host_of

DEFAULT_MIN_PAGES = 5
DEFAULT_MIN_SHARE = 0.8
MAX_REMOVED_SHARE = 0.5

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_BLANKS = re.compile(r"\n{3,}")


def site_key(url: Optional[str], site_name: Optional[str] = None) -> Optional[str]:
    """The site a page belongs to: its host (lower-cased, without ``www.`` and port), else
    the name it declares, else None (a page of no known site is never changed). Subdomains
    stay apart: ``sport.example.com`` and ``www.example.com`` usually differ in template."""
    host = host_of(url)
    if host:
        return host
    name = " ".join((site_name or "").casefold().split())
    return f"name:{name}" if name else None


def line_key(line: str) -> Optional[str]:
    """A line's identity across pages: its words, case-folded, numbers as ``0`` (a footer's
    year or a counter changes, the line does not); None for a line with no words. A 16-byte
    hash, so that a shuffle carries keys, not texts."""
    words = _WORD.findall(_DIGITS.sub("0", line.casefold()))
    if not words:
        return None
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


def split_lines(text: str):
    """A text's lines: Extract writes "\\n" only; other callers may use "\\r\\n" or "\\r"."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def page_keys(text: str) -> Tuple[str, ...]:
    """The distinct line keys of one article text, sorted (one line = one paragraph)."""
    return tuple(sorted({k for k in map(line_key, split_lines(text)) if k}))


# Query parameters that follow a reader, not a page (campaigns, click ids, share sources).
_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|dclid|msclkid|mc_[ce]id|igshid|ref|ref_src|"
                       r"cmpid|ocid|smid|at_\w+)$", re.I)


def page_url(url: str) -> str:
    """A URL as one page: host lower-cased without ``www.``, path without a trailing slash,
    tracking parameters and the fragment dropped, scheme ignored (``http://www.x.com/a/?utm_
    source=y`` and ``https://x.com/a`` are one page). Other query parameters stay: on some
    sites ``?id=123`` is the page."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    host = host_of(url) or ""
    query = "&".join(sorted(q for q in parts.query.split("&")
                            if q and not _TRACKING.match(q.split("=", 1)[0])))
    return f"{host}{parts.path.rstrip('/')}" + (f"?{query}" if query else "")


def template_keys(line_pages: Dict[str, int], site_pages: int,
                  min_pages: int = DEFAULT_MIN_PAGES,
                  min_share: float = DEFAULT_MIN_SHARE) -> Set[str]:
    """The keys of a site's template lines, from ``line_pages`` (key -> pages of the site that
    hold it) and ``site_pages`` (the site's pages). ``min_pages`` 0: nothing is template."""
    if min_pages <= 0:
        return set()
    need = max(min_pages, min_share * site_pages)
    return {k for k, n in line_pages.items() if n >= need}


class Trimmed(NamedTuple):
    text: str
    removed: int      # template lines taken out
    kept_whole: bool  # it held template lines but was left whole (they were most of it)


def remove_template_lines(text: str, template: Iterable[str]) -> Trimmed:
    """``text`` without its template lines. It comes back unchanged when it holds none, or
    when they would take ``MAX_REMOVED_SHARE`` of its words (``kept_whole``)."""
    template = template if isinstance(template, (set, frozenset)) else set(template)
    given = text
    lines = split_lines(text)
    text = "\n".join(lines)
    doomed = [i for i, line in enumerate(lines) if line_key(line) in template]
    if not doomed:
        return Trimmed(given, 0, False)
    total = len(_WORD.findall(text))
    removed = sum(len(_WORD.findall(lines[i])) for i in doomed)
    if removed >= MAX_REMOVED_SHARE * total:
        return Trimmed(given, 0, True)
    gone = set(doomed)
    kept = "\n".join(line for i, line in enumerate(lines) if i not in gone)
    # one blank line between paragraphs, as Extract writes them: a removed paragraph leaves none
    return Trimmed(_BLANKS.sub("\n\n", kept).strip("\n"), len(doomed), False)
