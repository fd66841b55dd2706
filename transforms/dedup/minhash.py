"""MinHash signatures, word shingles and LSH banding: pure NumPy, no Beam.

Every hash here is a fixed function of the text (no per-process salt as with ``hash()``),
so two workers, or two runs, compute the same signature for the same text.
"""
from __future__ import annotations

import functools
import re
import zlib
from typing import List, Tuple

import numpy as np

# Chinese, Japanese and Korean run words together without spaces: each of their characters
# is a token (so shingles are character n-grams there), other scripts split on non-word chars.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_SEED = 0x5EED_2026
_MASK32 = np.uint64(0xFFFFFFFF)


def tokens(text: str) -> List[str]:
    return _WORD.findall(text.casefold())


def shingle_hashes(text: str, k: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the text's word k-shingles (one shingle for texts
    shorter than k words, none for texts without words)."""
    toks = tokens(text)
    if not toks:
        return np.zeros(0, dtype=np.uint64)
    tok = np.fromiter((zlib.crc32(t.encode("utf-8")) for t in toks), dtype=np.uint64,
                      count=len(toks))
    k = min(k, len(tok))
    n = len(tok) - k + 1
    # Polynomial combination of the k token hashes; uint64 arithmetic wraps, as intended.
    h = np.zeros(n, dtype=np.uint64)
    base = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for i in range(k):
            h = h * base + tok[i:i + n] + np.uint64(i + 1)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return np.unique(h)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def signature(shingles: np.ndarray, num_perm: int = 128) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of a shingle-hash set: for each of ``num_perm``
    multiply-shift hash functions, the minimum over the set. Empty set -> all 0xFFFFFFFF."""
    if shingles.size == 0:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    a, b = _permutations(num_perm)
    out = np.empty(num_perm, dtype=np.uint32)
    # Chunked to bound memory at num_perm x 4096 on very long texts.
    with np.errstate(over="ignore"):
        mins = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        for start in range(0, shingles.size, 4096):
            chunk = shingles[start:start + 4096]
            hv = (a[:, None] * chunk[None, :] + b[:, None]) >> np.uint64(32)
            np.minimum(mins, hv.min(axis=1), out=mins)
    out[:] = mins & _MASK32
    return out


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def _integrate(f, lo: float, hi: float, steps: int = 200) -> float:
    xs = np.linspace(lo, hi, steps + 1)
    ys = f(xs)
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)))


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.05,
               fn_weight: float = 0.95) -> Tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm that minimise the weighted area of false
    positives below ``threshold`` and false negatives above it, for the S-curve
    P(candidate | Jaccard s) = 1 - (1 - s^rows)^bands.

    Every candidate is verified on its real shingle sets afterwards, so a false positive
    costs one comparison while a false negative is a missed duplicate: the default weights
    favour recall (0.8 -> 16 bands x 8 rows: P(candidate) 0.95 at s=0.8, 0.06 at s=0.5)."""
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integrate(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)
            fn = _integrate(lambda s: (1 - s ** r) ** b, threshold, 1.0)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def band_keys(sig: np.ndarray, bands: int, rows: int) -> List[str]:
    """One bucket key per band: the band index and a digest of its rows."""
    keys = []
    for i in range(bands):
        chunk = sig[i * rows:(i + 1) * rows].tobytes()
        keys.append(f"{i}:{zlib.crc32(chunk):08x}{zlib.adler32(chunk):08x}")
    return keys
