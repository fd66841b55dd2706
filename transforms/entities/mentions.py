"""Entity mentions made fit to query: span clean-up, in-article alias resolution, label votes.

Pure functions over (text, raw spaCy spans); no Beam, no model. Offsets always index the
article text: ``text[start:end] == mention``.
"""
from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from schemas.records import Entity, EntityCount

# Labels whose mentions name one thing, and so can share a canonical name.
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT",
                         "WORK_OF_ART", "LAW", "LANGUAGE"})
_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_POSSESSIVE = re.compile(r"(?:['’]s|s['’]|['’])$")
_NONSPACE = re.compile(r"\S+")
_LAST_WORD = re.compile(r"(\S+)\s+$")
_NAME_WORD = re.compile(r"[\w.'’-]+")
_EDGE_PUNCT = "\"'“”‘’«»()[]{}<>,.;:!?-–—*/\\|#@&_ \t\n\r"
# A final "." is kept: on a name it is an abbreviation's ("U.S.", "Corp."), since spaCy
# leaves sentence-final periods out of entities.
_TRAILING_PUNCT = _EDGE_PUNCT.replace(".", "")
# Honorifics and offices that precede a name; never part of the canonical name.
TITLES = frozenset("""mr mr. mrs mrs. ms ms. miss dr dr. prof prof. sir dame lord lady
president vice prime minister secretary senator sen sen. rep rep. representative governor
gov gov. chancellor king queen prince princess pope premier general gen gen. colonel col
col. captain capt capt. judge justice mayor ambassador spokesman spokeswoman chairman
chairwoman ceo leader sheikh emir saint st st. rev rev. father""".split())
# Honorifics only ever precede a person's name, whatever label the model chose.
HONORIFICS = frozenset("mr mr. mrs mrs. ms ms. miss dr dr. sir dame".split())


def clean_span(text: str, start: int, end: int, label: str) -> Optional[Tuple[int, int]]:
    """A mention's span trimmed of a leading "the", a possessive, edge punctuation and
    trailing lower-case words; None when nothing name-like is left."""
    s, e = start, end
    while s < e and text[s] in _EDGE_PUNCT:
        s += 1
    m = _LEADING.match(text[s:e])
    if m and label in NAME_LABELS and e - s > m.end():
        s += m.end()
    if label == "PERSON" or _first_word(text, s, e).lower() in HONORIFICS:
        # "President Joe Biden" -> "Joe Biden": the office is not the name
        words = list(_NONSPACE.finditer(text, s, e))
        while len(words) > 1 and words[0].group(0).lower() in TITLES:
            words.pop(0)
            s = words[0].start()
    # Each trim can expose another ("Kyiv's," -> "Kyiv's" -> "Kyiv"): repeat until stable.
    previous = None
    while previous != (s, e):
        previous = (s, e)
        m = _POSSESSIVE.search(text[s:e])
        if m and label in NAME_LABELS and m.start() > 0:
            e = s + m.start()
        while e > s and text[e - 1] in _TRAILING_PUNCT:
            e -= 1
        if label in NAME_LABELS:
            # "Xi Jinping that" -> "Xi Jinping": names do not end in a lower-case word
            words = list(_NONSPACE.finditer(text, s, e))
            while len(words) > 1 and words[-1].group(0)[:1].islower():
                words.pop()
                e = words[-1].end()
    if e <= s or not any(ch.isalnum() for ch in text[s:e]):
        return None
    if label in NAME_LABELS and not any(ch.isupper() or ch.isdigit() for ch in text[s:e]):
        return None  # "state", "the government": a common noun, not a name
    return s, e


def _first_word(text: str, s: int, e: int) -> str:
    m = _NONSPACE.match(text, s, e)
    return m.group(0) if m else ""


def person_by_honorific(text: str, start: int) -> bool:
    """True when the words just before ``start`` are an honorific ("Ms Pugh")."""
    m = _LAST_WORD.search(text[max(0, start - 8):start])
    return bool(m) and m.group(1).lower() in HONORIFICS


def _words(name: str) -> List[str]:
    return _NAME_WORD.findall(name)


def core_name(name: str) -> str:
    """A name without titles and with single spaces: "President  Joe Biden" -> "Joe Biden"."""
    words = _words(name)
    while len(words) > 1 and words[0].lower() in TITLES:
        words = words[1:]
    return " ".join(words)


_DOTTED = re.compile(r"^(?:[A-Z]\.){2,}$")
# Labels a country's name or code can carry.
PLACE_LABELS = frozenset({"GPE", "LOC"})


@functools.lru_cache(maxsize=1)
def _countries() -> Dict[str, str]:
    """ISO 3166 (pycountry) spellings -> the country's name: its alpha-2 and alpha-3 codes
    (exact, capitals), its name, common name and official name (any case). The name is the
    common name where ISO gives one ("Iran", "South Korea"), else the short name ("United
    States"). Reference data, read once per process."""
    import pycountry
    out: Dict[str, str] = {}
    for c in pycountry.countries:
        name = getattr(c, "common_name", None) or c.name
        for code in (c.alpha_2, c.alpha_3):
            out[code] = name
        for spelling in (c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)):
            if spelling:
                out[spelling.lower()] = name
    return out


def standard_name(name: str, label: str) -> str:
    """One spelling per name, from the name alone (so every article and run agrees): a
    dotted acronym loses its dots ("U.N." -> "UN"); a place that is a country's ISO code or
    ISO name, however written, becomes the country's name ("US", "U.S.", "USA", "United
    States of America" -> "United States"). Names ISO does not know stay as they are."""
    if _DOTTED.match(name):
        name = name.replace(".", "")
    if label in PLACE_LABELS:
        countries = _countries()
        if name.isupper() and len(name) in (2, 3):
            return countries.get(name, name)
        return countries.get(name.lower(), name)
    return name


def resolve_aliases(mentions: Sequence[Tuple[str, str]]) -> List[str]:
    """Canonical name for each (name, label) mention of one article.

    A person named in full ("Joe Biden") is the canonical of every shorter mention that is
    one of its name parts ("Biden", "Mr Biden", "President Biden"; "Xi" for "Xi Jinping"),
    whatever label the model gave that shorter mention. Where a part fits several full
    names, the most mentioned, then the longest, then the alphabetically first wins. Every
    name is first put in its one spelling (``standard_name``).
    """
    cores = [standard_name(core_name(n), label) for n, label in mentions]
    full_counts: Counter = Counter()
    for core, (_, label) in zip(cores, mentions):
        if label == "PERSON" and len(core.split()) >= 2:
            full_counts[core] += 1
    by_part: Dict[str, List[str]] = defaultdict(list)
    for full in full_counts:
        parts = full.split()
        for part in {parts[0], parts[-1]}:
            if len(part) > 1 and part[:1].isupper():
                by_part[part].append(full)
    out = []
    for core, (_, label) in zip(cores, mentions):
        words = core.split()
        canon = core
        if len(words) == 1 and label in ("PERSON", "ORG", "GPE", "NORP", "LOC") and words[0] in by_part:
            canon = min(by_part[words[0]], key=lambda f: (-full_counts[f], -len(f), f))
        out.append(canon)
    return out


def vote_labels(canonicals: Sequence[str], labels: Sequence[str]) -> Dict[str, str]:
    """The majority label of each canonical entity (ties: PERSON, GPE, ORG, LOC, ... order of
    first appearance)."""
    prefer = {"PERSON": 0, "GPE": 1, "ORG": 2, "LOC": 3, "NORP": 4}
    votes: Dict[str, Counter] = defaultdict(Counter)
    first: Dict[Tuple[str, str], int] = {}
    for i, (c, l) in enumerate(zip(canonicals, labels)):
        votes[c][l] += 1
        first.setdefault((c, l), i)
    return {c: min(v, key=lambda l: (-v[l], prefer.get(l, 9), first[(c, l)])) for c, v in votes.items()}


def refine(text: str, raw: Iterable[Tuple[int, int, str]]) -> Tuple[List[Entity], List[EntityCount]]:
    """Raw (start, end, label) spans of one article -> clean mentions with canonical names and
    voted labels, and per-entity counts (most mentioned first)."""
    spans = []
    for start, end, label in raw:
        cleaned = clean_span(text, start, end, label)
        if cleaned is not None:
            if label in NAME_LABELS and person_by_honorific(text, cleaned[0]):
                label = "PERSON"
            spans.append((cleaned[0], cleaned[1], label))
    names = [(text[s:e], l) for s, e, l in spans]
    canon = resolve_aliases(names)
    labels = vote_labels(canon, [l for _, l in names])
    entities = [Entity(text[s:e], labels[c], s, e, c) for (s, e, _), c in zip(spans, canon)]
    counts = Counter((e.canonical, e.label) for e in entities)
    entity_counts = [EntityCount(c, l, n) for (c, l), n in
                     sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return entities, entity_counts
