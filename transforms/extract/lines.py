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
from lxml import etree

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
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


# Bits of an element's flags: what its own and its ancestors' class/id names say, and which
# of _ANCESTOR_TAGS or chrome tags it is or is within.
CHROME, META, BODY = 1, 2, 4
_TAG_BITS = {t: 8 << i for i, t in enumerate(_ANCESTOR_TAGS)}
CHROME_TAG = 8 << len(_ANCESTOR_TAGS)
_TAG_BITS.update({t: CHROME_TAG for t in _CHROME_TAGS})


class Block(NamedTuple):
    """What the markup says of the deepest element whose whole text is a line."""
    tag: int            # index into the tag groups
    link_share: float   # characters inside <a> over all characters
    depth: int
    own: int            # CHROME / META / BODY: its own class or id names a menu, share bar,
                        # footer...; a byline, date, caption...; the article body
    flags: int          # the same of it and its ancestors, with the _TAG_BITS it is within
    repeats: int        # elements with this same text (a parent sharing its child's counts once)


def key(text: str) -> str:
    """A line's text as an element's and a reading's agree on it."""
    return " ".join(text.split()).lstrip("-•*· ")


def _name_flags(el, seen: Dict[tuple, int]) -> int:
    """CHROME / META / BODY from ``el``'s class and id (``seen``: the page's answers so far,
    since its elements share a few class names)."""
    cls, ident = el.get("class"), el.get("id")
    if not cls and not ident:
        return 0
    names = (cls, ident)
    if names not in seen:
        parts = set(_NAME_PART.findall(f"{cls or ''} {ident or ''}".lower()))
        seen[names] = ((CHROME if not parts.isdisjoint(_CHROME_NAMES) else 0)
                       | (META if not parts.isdisjoint(_META_NAMES) else 0)
                       | (BODY if not parts.isdisjoint(_BODY_NAMES) else 0))
    return seen[names]


# The elements with text of their own (not only in their children), which is where a
# reading's lines come from; scripts, styles and what they hold aside.
_OWN_TEXT = etree.XPath(
    ".//*[text()[normalize-space()]][not(self::script or self::style or self::noscript or "
    "self::template or ancestor::noscript or ancestor::template)]")


class BlockIndex(NamedTuple):
    whole: Dict[str, Block]   # an element's whole text -> the deepest such element
    prefix: Dict[str, str]    # its first PREFIX_CHARS characters -> that whole text


def block_index(tree) -> BlockIndex:
    """Every element of ``tree``'s body that holds text of its own (scripts and styles
    aside) by its whole text, and by the first characters of it. Read the tree before an
    extractor alters it."""
    whole: Dict[str, Block] = {}
    prefix: Dict[str, str] = {}
    counts: Dict[str, int] = {}
    body = tree.find(".//body") if tree is not None else None
    if body is None:
        return BlockIndex(whole, prefix)
    seen: Dict[tuple, int] = {}
    own = _name_flags(body, seen)
    state = {body: (own, 0, own)}  # element -> (flags, depth, its own name flags)

    def state_of(el):
        chain = []
        while el not in state:
            chain.append(el)
            el = el.getparent()
        flags, depth, own = state[el]
        for el in reversed(chain):
            own = _name_flags(el, seen)
            flags, depth = flags | own | _TAG_BITS.get(el.tag, 0), depth + 1
            state[el] = (flags, depth, own)
        return state[el]

    texts: Dict[object, str] = {}
    budget = TEXT_BUDGET
    for el in _OWN_TEXT(body):  # document order
        if budget <= 0:
            break
        raw = el.text_content()
        budget -= len(raw)
        if len(raw) > 2 * MAX_KEY_CHARS:
            continue
        text = key(raw)
        if not text or len(text) > MAX_KEY_CHARS:
            continue
        flags, depth, own = state_of(el)
        texts[el] = text
        if texts.get(el.getparent()) != text:
            counts[text] = counts.get(text, 0) + 1
        links = sum(len(a.text_content()) for a in el.iter("a"))
        whole[text] = Block(_TAG_GROUPS.get(el.tag, N_TAG_GROUPS - 1), min(1.0, links / len(raw)),
                            depth, own, flags, 0)  # a child after its parent: the deepest wins
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
    + ["link_share", "depth", "own_chrome", "chrome", "own_meta", "meta", "own_body", "body"]
    + [f"in_{t}" for t in _ANCESTOR_TAGS]
    + ["in_chrome", "log_repeats"])
_FLAG_BITS = [CHROME, META, BODY] + [_TAG_BITS[t] for t in _ANCESTOR_TAGS] + [CHROME_TAG]
_MARKUP_COLUMNS = 2 + 6 + len(_ANCESTOR_TAGS) + 2


def _words(line: str) -> List[str]:
    return _WORD.findall(line)


def _markup_row(block: Optional[Block]) -> tuple:
    """The markup columns of a line from its block (a block's row is the same for every line
    that finds it)."""
    if block is None:  # unknown to the markup: -1 apart from every known value
        return (0.0,) * N_TAG_GROUPS + (-1.0,) * _MARKUP_COLUMNS
    tags = [0.0] * N_TAG_GROUPS
    tags[block.tag] = 1.0
    own, flags = block.own, block.flags
    return tuple(tags + [block.link_share, min(block.depth, 40),
                         bool(own & CHROME), bool(flags & CHROME), bool(own & META),
                         bool(flags & META), bool(own & BODY), bool(flags & BODY)]
                 + [bool(flags & bit) for bit in _FLAG_BITS[3:]] + [math.log1p(block.repeats)])


def line_features(lines: Sequence[str], title: Optional[str], index: Optional[BlockIndex],
                  boilerplate) -> np.ndarray:
    """One row of ``FEATURES`` per line. ``boilerplate``: today's rule (line -> bool)."""
    n = len(lines)
    if not n:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    words = [_words(l) for l in lines]
    counts = [len(w) for w in words]
    total = max(sum(counts), 1)
    title_words = {w.casefold() for w in _words(title or "")}
    markup: Dict[Optional[Block], tuple] = {}
    rows = []
    before = 0
    log_lines, log_total = math.log1p(n), math.log1p(total)
    for i, (line, ws) in enumerate(zip(lines, words)):
        chars = max(len(line), 1)
        wc = counts[i]
        block = _find(index, line)
        if block not in markup:
            markup[block] = _markup_row(block)
        if wc:
            lengths = list(map(len, ws))
            mean_len = sum(lengths) / wc
            capitalised = sum(map(str.isupper, [w[0] for w in ws])) / wc
            short = sum(l <= 3 for l in lengths) / wc
        else:
            mean_len = capitalised = short = 0.0
        if title_words and ws:
            lowered = {w.casefold() for w in ws}
            overlap = len(lowered & title_words) / len(lowered | title_words)
        else:
            overlap = 0.0
        rows.append((
            math.log1p(wc), math.log1p(len(line)), mean_len,
            sum(map(line.count, ".,;:!?")) / chars,
            float(bool(_TERMINAL.search(line))), float(line[:1].isupper()),
            capitalised, len(_DIGIT.findall(line)) / chars, short,
            float(bool(_ADDRESS.search(line))),
            i / (n - 1) if n > 1 else 0.0, min(i, 10), min(n - 1 - i, 10), before / total,
            math.log1p(counts[i - 1]) if i else -1.0,
            math.log1p(counts[i + 1]) if i + 1 < n else -1.0,
            log_lines, log_total, float(boilerplate(line)), overlap,
            float(block is not None),
        ) + markup[block])
        before += wc
    return np.array(rows, dtype=np.float64)
