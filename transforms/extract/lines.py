"""What the line model sees of a candidate line: pure functions from a page and the lines an
extractor read from it to one row of numbers per line (``FEATURES`` names the columns).

A line is judged by its own text (length, punctuation, capitals, short words), its place
(position in the reading, its neighbours' lengths), what the page's markup says about the
element it came from (tag, link density, class and id names of it and its ancestors, repeats
of the same text elsewhere on the page), and whether today's hand-written rules call it
boilerplate. ``block_index`` reads the markup before the extractor alters the tree.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
_SKIP = {"script", "style", "noscript", "template", "head", "title", "meta", "link"}
# Element texts longer than this are containers, not one line of a reading.
MAX_KEY_CHARS = 20_000
# Characters of element text read per page at most: each element's text holds its
# descendants', so a deeply nested page would cost its depth times its size. Elements after
# the budget is spent stay unknown to the model (as a line the markup cannot place).
TEXT_BUDGET = 5_000_000
PREFIX_CHARS = 60

# Class and id name parts. Whole parts only ("ad" in "ad-slot", not in "header"): split at
# anything that is not a letter or digit.
_NAME_PART = re.compile(r"[a-z0-9]+")
_CHROME_NAMES = frozenset(
    "nav navbar navigation menu footer header sidebar aside related recommended recommend "
    "share sharing social comment comments promo promotion advert advertisement ad ads banner "
    "newsletter subscribe subscription signup widget widgets tag tags breadcrumb breadcrumbs "
    "cookie cookies popup modal teaser teasers trending popular outbrain taboola sponsored "
    "more toolbar tools pagination pager skip login search".split())
_META_NAMES = frozenset(
    "author authors byline meta date time timestamp published caption credit credits copyright "
    "figcaption photo image img media video gallery source dateline kicker label category".split())
_BODY_NAMES = frozenset(
    "article content body story text post entry main paragraph prose richtext rich "
    "articlebody storybody".split())

_TAG_GROUPS = {"p": 0, "li": 1, "h1": 2, "h2": 2, "h3": 2, "h4": 2, "h5": 2, "h6": 2, "a": 3,
               "td": 4, "th": 4, "blockquote": 5, "figcaption": 6, "caption": 6, "div": 7,
               "span": 7, "section": 7}
N_TAG_GROUPS = 9  # the groups above and "other"
_ANCESTOR_TAGS = ("article", "main", "li", "figure", "table", "form", "blockquote")
_CHROME_TAGS = {"header", "footer", "aside", "nav"}


class Block(NamedTuple):
    """What the markup says of the deepest element whose whole text is a line."""
    tag: int            # index into the tag groups
    link_share: float   # characters inside <a> over all characters
    depth: int
    own_chrome: bool    # its own class/id names a menu, share bar, footer...
    up_chrome: bool     # an ancestor's does
    own_meta: bool      # a byline, date, caption, credit...
    up_meta: bool
    up_body: bool       # an ancestor's names the article body
    inside: tuple       # for each of _ANCESTOR_TAGS: the element is one or is within one
    in_chrome: bool     # is or is within <header>, <footer>, <aside> or <nav>
    repeats: int        # elements with this same text (a parent sharing its child's counts once)


def key(text: str) -> str:
    """A line's text as an element's and a reading's agree on it."""
    return _SPACE.sub(" ", text).strip().lstrip("-•*· ").strip()


def _names(el) -> set:
    return set(_NAME_PART.findall(f"{el.get('class') or ''} {el.get('id') or ''}".lower()))


class BlockIndex(NamedTuple):
    whole: Dict[str, Block]   # an element's whole text -> the deepest such element
    prefix: Dict[str, str]    # its first PREFIX_CHARS characters -> that whole text


def block_index(tree) -> BlockIndex:
    """Every element of ``tree``'s body (scripts and styles aside) by its whole text, and by
    the first characters of it. Read the tree before an extractor alters it."""
    whole: Dict[str, Block] = {}
    prefix: Dict[str, str] = {}
    counts: Dict[str, int] = {}
    body = tree.find(".//body") if tree is not None else None
    if body is None:
        return BlockIndex(whole, prefix)
    # per element: (chrome, meta, body) flags of its ancestors, its depth, ancestor tags
    state = {body: (False, False, False, 0, (False,) * len(_ANCESTOR_TAGS), False)}
    link_chars: Dict[object, int] = {}
    for a in body.iter("a"):
        n = len(_SPACE.sub("", a.text_content()))
        el = a
        while el is not None:
            link_chars[el] = link_chars.get(el, 0) + n
            if el is body:
                break
            el = el.getparent()
    texts: Dict[object, str] = {}
    budget = TEXT_BUDGET
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag in _SKIP:
            continue
        parent = el.getparent()
        up = state.get(parent)
        if up is None and el is not body:
            continue  # inside a skipped element
        names = _names(el)
        own_chrome, own_meta = bool(names & _CHROME_NAMES), bool(names & _META_NAMES)
        own_body = bool(names & _BODY_NAMES)
        if el is body:
            up = state[body]
        chrome, meta, in_body, depth, inside, in_chrome = up
        state[el] = (chrome or own_chrome, meta or own_meta, in_body or own_body, depth + 1,
                     tuple(f or el.tag == t for f, t in zip(inside, _ANCESTOR_TAGS)),
                     in_chrome or el.tag in _CHROME_TAGS)
        if el is body:
            continue
        if budget <= 0:
            continue
        raw = el.text_content()
        budget -= len(raw)
        text = key(raw) if len(raw) <= 2 * MAX_KEY_CHARS else ""
        if not text or len(text) > MAX_KEY_CHARS:
            continue
        texts[el] = text
        if texts.get(parent) != text:
            counts[text] = counts.get(text, 0) + 1
        chars = len(text.replace(" ", ""))
        _, _, _, _, inside_self, in_chrome_self = state[el]
        block = Block(_TAG_GROUPS.get(el.tag, N_TAG_GROUPS - 1),
                      min(1.0, link_chars.get(el, 0) / chars) if chars else 0.0,
                      depth, own_chrome, chrome, own_meta, meta, in_body, inside_self,
                      in_chrome_self, 0)
        whole[text] = block  # document order: a child after its parent, so the deepest wins
        if len(text) > PREFIX_CHARS:
            prefix[text[:PREFIX_CHARS]] = text
    for text, block in whole.items():
        whole[text] = block._replace(repeats=counts.get(text, 1))
    return BlockIndex(whole, prefix)


def _find(index: Optional[BlockIndex], line: str) -> Optional[Block]:
    if index is None:
        return None
    k = key(line)
    found = index.whole.get(k)
    if found is None and len(k) > PREFIX_CHARS and k[:PREFIX_CHARS] in index.prefix:
        found = index.whole[index.prefix[k[:PREFIX_CHARS]]]
    return found


_TERMINAL = re.compile(r"[.!?…:;\"”’)»]$")
_ADDRESS = re.compile(r"@|https?://|www\.|©", re.I)

FEATURES = (
    ["log_words", "log_chars", "mean_word_len", "punct_share", "ends_terminal", "starts_upper",
     "capitalised_share", "digit_share", "short_word_share", "has_address",
     "rel_position", "from_start", "from_end", "word_position", "log_prev_words",
     "log_next_words", "log_lines", "log_total_words", "rule_boilerplate", "title_overlap",
     "found_in_markup"]
    + [f"tag_{i}" for i in range(N_TAG_GROUPS)]
    + ["link_share", "depth", "own_chrome", "up_chrome", "own_meta", "up_meta", "up_body"]
    + [f"in_{t}" for t in _ANCESTOR_TAGS]
    + ["in_chrome", "log_repeats"])


def _words(line: str) -> List[str]:
    return _WORD.findall(line)


def line_features(lines: Sequence[str], title: Optional[str], index: Optional[BlockIndex],
                  boilerplate) -> np.ndarray:
    """One row of ``FEATURES`` per line. ``boilerplate``: today's rule (line -> bool)."""
    n = len(lines)
    words = [_words(l) for l in lines]
    counts = [len(w) for w in words]
    total = max(sum(counts), 1)
    title_words = {w.casefold() for w in _words(title or "")}
    rows = np.zeros((n, len(FEATURES)), dtype=np.float64)
    before = 0
    for i, (line, ws) in enumerate(zip(lines, words)):
        chars = max(len(line), 1)
        wc = len(ws)
        lowered = {w.casefold() for w in ws}
        block = _find(index, line)
        row = [
            math.log1p(wc), math.log1p(len(line)),
            sum(map(len, ws)) / wc if wc else 0.0,
            sum(c in ".,;:!?" for c in line) / chars,
            float(bool(_TERMINAL.search(line))), float(line[:1].isupper()),
            sum(w[:1].isupper() for w in ws) / wc if wc else 0.0,
            sum(c.isdigit() for c in line) / chars,
            sum(len(w) <= 3 for w in ws) / wc if wc else 0.0,
            float(bool(_ADDRESS.search(line))),
            i / (n - 1) if n > 1 else 0.0, min(i, 10), min(n - 1 - i, 10), before / total,
            math.log1p(counts[i - 1]) if i else -1.0,
            math.log1p(counts[i + 1]) if i + 1 < n else -1.0,
            math.log1p(n), math.log1p(total), float(boilerplate(line)),
            len(lowered & title_words) / len(lowered | title_words) if title_words and lowered else 0.0,
            float(block is not None),
        ]
        tags = [0.0] * N_TAG_GROUPS
        if block is not None:
            tags[block.tag] = 1.0
            row += tags + [block.link_share, min(block.depth, 40), block.own_chrome, block.up_chrome,
                           block.own_meta, block.up_meta, block.up_body, *block.inside,
                           block.in_chrome, math.log1p(block.repeats)]
        else:  # unknown to the markup: -1 apart from every known value
            row += tags + [-1.0] * (7 + len(_ANCESTOR_TAGS) + 2)
        rows[i] = row
        before += wc
    return rows
