"""Facts in their slots: what tells a templated report from a copy of the same report.

Two earnings reports, weather forecasts or match results of one template share most of their
words and differ in the facts: numbers and names. A copy of one article (another site's
template, a copy-edit, a teaser, an export) keeps the facts it carries. So for every fact in a
text (a token with a digit, or a capitalised word that does not start a sentence) we keep its
*slot*: the words around it, with other facts masked. Two texts that fill the same slot with
different facts state different things; slots only one text has (an added caption, a dropped
sentence, an edited neighbour word) say nothing either way.

Pure NumPy/regex; the slots of an article are two sorted ``uint64`` arrays (slot hash, value
hash), compact enough to travel through a shuffle and be stored in the signature index.
"""
from __future__ import annotations

import re
import zlib
from typing import List, Tuple

import numpy as np

CONTEXT = 2          # words on each side that make a slot
_GAP_TOKEN = re.compile(r"(\W*)(\w+)")
_DIGIT = re.compile(r"\d")
_BOUNDARY = re.compile(r"[.!?:;\"“”‘’\n]")
_MASK = "#"


def _h(s: str) -> int:
    b = s.encode("utf-8")
    return zlib.crc32(b) | (zlib.adler32(b) << 32)


def slots(text: str) -> Tuple[np.ndarray, np.ndarray]:
    """(slot hashes, value hashes) of the text's facts, sorted by slot, one value per slot
    (a slot filled twice in one text keeps all its values, in order, as one value)."""
    pairs = _GAP_TOKEN.findall(text)
    toks = [tok for _, tok in pairs]
    fact: List[bool] = []
    for i, (gap, tok) in enumerate(pairs):
        if tok.islower() and tok.isalpha():  # the common case, decided by two C calls
            fact.append(False)
        elif tok[0].isupper() and tok.isalpha():
            fact.append(i > 0 and not _BOUNDARY.search(gap))
        else:
            fact.append(_DIGIT.search(tok) is not None or (tok[0].isupper() and i > 0
                                                          and not _BOUNDARY.search(gap)))
    if not any(fact):
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    masked = [_MASK if f else t.casefold() for t, f in zip(toks, fact)]
    values = {}
    for i, (tok, f) in enumerate(zip(toks, fact)):
        if not f:
            continue
        left = masked[max(0, i - CONTEXT):i]
        right = masked[i + 1:i + 1 + CONTEXT]
        if all(w == _MASK for w in left + right):
            continue  # a run of facts with no words around: no slot to compare
        key = " ".join(left) + "|" + " ".join(right)
        values.setdefault(key, []).append(tok)
    if not values:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    keys = np.fromiter((_h(k) for k in values), dtype=np.uint64, count=len(values))
    vals = np.fromiter((_h("\x1f".join(v)) for v in values.values()), dtype=np.uint64,
                       count=len(values))
    order = np.argsort(keys, kind="stable")
    return keys[order], vals[order]


def compare(a: Tuple[np.ndarray, np.ndarray], b: Tuple[np.ndarray, np.ndarray]) -> Tuple[int, int]:
    """(agreements, conflicts): slots both texts fill, with the same or another fact."""
    _, ia, ib = np.intersect1d(a[0], b[0], assume_unique=True, return_indices=True)
    same = int(np.count_nonzero(a[1][ia] == b[1][ib]))
    return same, int(ia.size - same)


MIN_CONFLICTS = 2
MAX_CONFLICT_SHARE = 0.2


def state_different_facts(agreements: int, conflicts: int) -> bool:
    """Two texts state different facts when at least two shared slots disagree and they make
    more than a fifth of the shared slots. A copy-edit that rewrites one number, or a word
    next to a few, stays a copy; a templated report with other figures and names does not."""
    compared = agreements + conflicts
    return conflicts >= MIN_CONFLICTS and conflicts > MAX_CONFLICT_SHARE * compared


def to_bytes(s: Tuple[np.ndarray, np.ndarray]) -> bytes:
    return s[0].tobytes() + s[1].tobytes()


def from_bytes(b: bytes) -> Tuple[np.ndarray, np.ndarray]:
    arr = np.frombuffer(b, dtype=np.uint64)
    n = arr.size // 2
    return arr[:n], arr[n:]
