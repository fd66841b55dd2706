"""What story assignment compares: an article as a weighted bag of words and names.

Pure functions, no Beam. A word weighs what it tells: its inverse frequency in the
language at large (``wordfreq``'s Zipf scale, the same for every run, batch and worker,
so that one run and many scheduled runs weigh a word alike), times a sublinear count. The
title counts more than the body, the lead more than the rest; the article's named entities
(their canonical names) are features of their own. The vector is L2-normalised and cut to
its ``TOP_TERMS`` heaviest terms, stored as sorted 64-bit term hashes and float32 weights.
"""
from __future__ import annotations

import functools
import hashlib
import math
import re
import threading
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

# Terms kept per article: a long article's distinctive words and names (the dev stories
# score the same with 48, 64 or 96; fewer terms, less work per comparison).
TOP_TERMS = 64
# Words of the body read: the news lead and its development; later paragraphs add
# background that different stories share.
BODY_WORDS = 400
LEAD_WORDS = 60
TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 1.5
# An entity's weight relative to its rarest word's IDF (its words count as words too).
ENTITY_SCALE = 0.5
# Zipf frequency of the commonest words ("the" is 7.7); a word's IDF is what it lacks of it.
ZIPF_TOP = 8.0
# wordfreq's long lists (down to about one word in a billion; a language that has only the
# short one uses it) rank rare words apart, which its short ones (Zipf 3 and above) cannot: pairwise F1 0.005 to 0.01 higher on the dev
# stories. Loading one takes about 0.5 s per process and language (``preload``), read
# from the list as it ships (``_buckets``): wordfreq's own lookup table takes 1.5 s.
WORDLIST = "large"
# Words the list does not hold (names, rare words, typos): rarer than its rarest.
UNKNOWN_ZIPF = 1.5
# Words that carry no event: very common words are already weighed near zero.
MIN_IDF = 2.5
_WORD = re.compile(r"[^\W\d_](?:[\w'’.-]*\w)?")
# Labels whose names tell which event an article reports.
ENTITY_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "LAW",
                           "PRODUCT", "WORK_OF_ART"})


def words(text: str) -> list:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text or "")]


def _buckets(language: str) -> Dict[str, int]:
    """word -> its frequency bucket in ``language`` (bucket i: a frequency of 10^(-i/100),
    Zipf 9 - i/100), from wordfreq's list as it ships; empty for a language it lacks. Built
    once per process (a read-only memo: a preloading thread and the stage share it)."""
    table = _TABLES.get(language)
    if table is None:
        with _TABLES_LOCK:
            table = _TABLES.get(language)
            if table is None:
                from wordfreq import get_frequency_list
                lists = []
                for wordlist in (WORDLIST, "best"):  # many languages have the short list only
                    try:
                        lists = get_frequency_list(language, wordlist=wordlist)
                        break
                    except LookupError:
                        continue
                table = _TABLES[language] = {w: i for i, bucket in enumerate(lists)
                                             for w in bucket}
    return table


_TABLES: Dict[str, Dict[str, int]] = {}
_TABLES_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1 << 17)
def idf(word: str, language: str) -> float:
    """How much a word tells, from its frequency in ``language`` at large (0 for the
    commonest words; languages wordfreq does not know weigh every word alike)."""
    language = language or "en"
    return max(0.0, ZIPF_TOP - _zipf(word, language, _buckets(language)))


def _zipf(word: str, language: str, buckets: Dict[str, int]) -> float:
    """A word's Zipf frequency as wordfreq's ``zipf_frequency`` reckons it (its tokens'
    frequencies f combined as 1/f = 1/f1 + 1/f2 ...; any token missing: unknown)."""
    from wordfreq import lossy_tokenize
    from wordfreq.numbers import digit_freq, smash_numbers
    inverse = 0.0
    try:
        tokens = lossy_tokenize(word, language)
    except ImportError:  # Chinese, Japanese, Korean: their tokenizers are not installed
        tokens = [word]
    for token in tokens:
        smashed = smash_numbers(token)  # "covid-19": its digits as wordfreq counts them
        bucket = buckets.get(smashed)
        if bucket is None:
            return UNKNOWN_ZIPF
        inverse += 10.0 ** (bucket / 100.0) / (digit_freq(token) if smashed != token else 1.0)
    if not tokens:
        return UNKNOWN_ZIPF
    return 9.0 - math.log10(inverse)


def preload(language: str = "en") -> None:
    """Loads wordfreq and ``language``'s list (call from a thread, so that it overlaps other
    work: the driver's planning and the stages before the stories for in-process workers,
    a DoFn's ``setup()`` elsewhere)."""
    idf("the", language)


def term_hash(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")


def weights(title: Optional[str], text: str, entities: Iterable[Tuple[str, str, int]],
            language: Optional[str]) -> Dict[str, float]:
    """term -> weight (unnormalised) of an article: ``entities`` are (canonical, label,
    count) of its entity counts."""
    lang = (language or "en").split("-")[0]
    counts: Dict[str, float] = {}
    for w in words(title):
        counts[w] = counts.get(w, 0.0) + TITLE_WEIGHT
    for i, w in enumerate(words(text)[:BODY_WORDS]):
        counts[w] = counts.get(w, 0.0) + (LEAD_WEIGHT if i < LEAD_WORDS else 1.0)
    out: Dict[str, float] = {}
    for w, n in counts.items():
        g = idf(w, lang)
        if g >= MIN_IDF and len(w) > 1:
            out[w] = (1.0 + math.log(n)) * g
    for name, label, count in entities:
        if label in ENTITY_LABELS and name:
            key = "@" + name.lower()
            out[key] = out.get(key, 0.0) + (1.0 + math.log(max(count, 1))) * name_idf(key[1:], lang)
    return out


def name_idf(name: str, language: str) -> float:
    """How much a name tells: its rarest word's IDF, scaled by ``ENTITY_IDF`` per ``ZIPF_TOP``
    (a household name such as a president's tells less than a town's)."""
    parts = words(name)
    if not parts:
        return 0.0
    return ENTITY_SCALE * max(idf(w, language) for w in parts)


def sketch(terms: Dict[str, float], top: int = TOP_TERMS) -> Tuple[bytes, bytes]:
    """(sorted uint64 term hashes, their float32 weights), L2-normalised over the ``top``
    heaviest terms; empty bytes for an article with no telling term."""
    if not terms:
        return b"", b""
    best = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    merged: Dict[int, float] = {}
    for t, w in best:
        h = term_hash(t)
        merged[h] = merged.get(h, 0.0) + w
    keys = np.array(sorted(merged), dtype=np.uint64)
    vals = np.array([merged[int(k)] for k in keys], dtype=np.float64)
    vals /= np.linalg.norm(vals)
    return keys.tobytes(), vals.astype(np.float32).tobytes()


def unpack(hashes: bytes, values: bytes) -> Tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(hashes, dtype=np.uint64), np.frombuffer(values, dtype=np.float32)
