"""Dedup: Articles -> kept articles + duplicates, as a Beam graph.

1. Exact: articles sharing ``text_hash`` (same words, any case/punctuation/wrapping) are one
   group; its representative is the canonical choice among them.
2. Near: each representative gets a MinHash signature; LSH band keys go through a
   GroupByKey; every pair sharing a bucket is a candidate, verified on the real shingle sets
   (exact Jaccard >= threshold).
3. Verified edges are resolved into connected components (transitively: A~B and B~C fold
   A, B, C together) and each component keeps one canonical article.

Canonical rule (a pure function of content, so the same input gives the same output for any
worker count or order): the most words; then the earliest ``published_at`` (unknown last);
then the smallest ``article_id``.
"""
from __future__ import annotations

import itertools
import typing
from typing import Dict, Iterable, List, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.records import Article, Duplicate
from transforms import minhash

STAGE = "dedup"
DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE = 5
# Buckets larger than this pair each member with its neighbours in id order only, so a
# degenerate bucket (thousands of near-empty texts) cannot make the candidate set quadratic.
MAX_BUCKET_ALL_PAIRS = 64


class DedupItem(typing.NamedTuple):
    """What near-dup detection needs of an article: its rank and its sketches."""
    article_id: str
    word_count: int
    published_at_us: typing.Optional[int]
    signature: bytes   # uint32[num_perm]
    shingles: bytes    # sorted unique uint64 shingle hashes


class Edge(typing.NamedTuple):
    """A verified near-duplicate pair (a < b by id), each end with its rank and signature."""
    a: str
    a_words: int
    a_published: typing.Optional[int]
    a_sig: bytes
    b: str
    b_words: int
    b_published: typing.Optional[int]
    b_sig: bytes
    similarity: float


for _cls in (DedupItem, Edge):
    beam.coders.registry.register_coder(_cls, beam.coders.RowCoder)


def rank_key(article_id: str, word_count: int, published_at_us) -> Tuple:
    """Smaller is better: the canonical article of a group has the smallest key."""
    return (-word_count, published_at_us is None, published_at_us or 0, article_id)


def article_rank(a: Article) -> Tuple:
    return rank_key(a.article_id, a.word_count, a.published_at_us)


def pick_exact(articles: Iterable[Article]) -> Tuple[Article, List[Article]]:
    """(representative, copies) of a group of articles with equal text hash."""
    ordered = sorted(articles, key=article_rank)
    return ordered[0], ordered[1:]


def to_item(a: Article, num_perm: int, shingle: int) -> DedupItem:
    sh = minhash.shingle_hashes(a.text, shingle)
    return DedupItem(a.article_id, a.word_count, a.published_at_us,
                     minhash.signature(sh, num_perm).tobytes(), sh.tobytes())


def bucket_pairs(ids: Iterable[str]) -> Iterable[Tuple[str, str]]:
    """Candidate pairs (smaller id first) of one LSH bucket."""
    ids = sorted(set(ids))
    if len(ids) <= MAX_BUCKET_ALL_PAIRS:
        yield from itertools.combinations(ids, 2)
    else:
        for i, x in enumerate(ids):
            for y in ids[i + 1:i + 1 + 8]:
                yield x, y


def verify(a: DedupItem, b: DedupItem, threshold: float):
    """Edge when the exact shingle Jaccard reaches the threshold, else None."""
    sa = np.frombuffer(a.shingles, dtype=np.uint64)
    sb = np.frombuffer(b.shingles, dtype=np.uint64)
    sim = minhash.jaccard(sa, sb)
    if sim < threshold:
        return None
    return Edge(a.article_id, a.word_count, a.published_at_us, a.signature,
                b.article_id, b.word_count, b.published_at_us, b.signature, sim)


def components(edges: Iterable[Edge]) -> Dict[str, Tuple[str, float]]:
    """member id -> (canonical id, estimated Jaccard member~canonical), for every
    non-canonical member of every connected component of the edge graph."""
    parent: Dict[str, str] = {}
    info: Dict[str, Tuple[int, typing.Optional[int], bytes]] = {}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression, iteratively
            parent[x], x = root, parent[x]
        return root

    for e in edges:
        for node, words, pub, sig in ((e.a, e.a_words, e.a_published, e.a_sig),
                                      (e.b, e.b_words, e.b_published, e.b_sig)):
            parent.setdefault(node, node)
            info[node] = (words, pub, sig)
        ra, rb = find(e.a), find(e.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: Dict[str, List[str]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    out = {}
    for members in groups.values():
        canon = min(members, key=lambda m: rank_key(m, info[m][0], info[m][1]))
        csig = np.frombuffer(info[canon][2], dtype=np.uint32)
        for m in members:
            if m != canon:
                sim = minhash.estimated_jaccard(np.frombuffer(info[m][2], dtype=np.uint32), csig)
                out[m] = (canon, sim)
    return out


def _dup(copy: Article, canonical_id: str, similarity: float, method: str) -> Duplicate:
    return Duplicate(copy.source_uri, copy.article_id, canonical_id, float(similarity), method)


class _ResolveFn(beam.DoFn):
    """(rep id, {groups: [(rep, copies)], verdict: [(canonical, sim)]}) -> kept/duplicates."""

    def __init__(self):
        self.kept = Metrics.counter(STAGE, "articles_kept")
        self.exact = Metrics.counter(STAGE, "exact_duplicates")
        self.near = Metrics.counter(STAGE, "near_duplicates")

    def process(self, element):
        _, grouped = element
        verdicts = list(grouped["verdict"])
        for rep, copies in grouped["groups"]:
            if not verdicts:
                self.kept.inc()
                yield rep
                for c in copies:
                    self.exact.inc()
                    yield beam.pvalue.TaggedOutput("duplicates", _dup(c, rep.article_id, 1.0, "exact"))
                continue
            canonical, sim = verdicts[0]
            for a in [rep] + list(copies):
                self.near.inc()
                yield beam.pvalue.TaggedOutput("duplicates", _dup(a, canonical, sim, "near"))


class _ComponentsFn(beam.DoFn):
    def __init__(self):
        self.edges = Metrics.counter(STAGE, "verified_pairs")

    def process(self, element):
        _, edges = element
        edges = list(edges)
        self.edges.inc(len(edges))
        for member, verdict in sorted(components(edges).items()):
            yield member, verdict


class _VerifyFn(beam.DoFn):
    def __init__(self, threshold):
        self.threshold = threshold
        self.candidates = Metrics.counter(STAGE, "candidate_pairs")

    def process(self, element):
        _, grouped = element
        items = list(grouped["items"])
        if not items:
            return
        a_item = items[0]
        for other in grouped["with_b"]:
            self.candidates.inc()
            edge = verify(a_item, other, self.threshold)
            if edge is not None:
                yield edge


class Dedup(beam.PTransform):
    """PCollection[Article] -> DoOutputsTuple: ``articles`` (kept), ``duplicates``.

    Options: ``threshold`` (Jaccard of word shingles at which two texts are one article),
    ``num_perm`` (MinHash size), ``shingle`` (words per shingle). Bands and rows of the LSH
    index are derived from the threshold (``minhash.lsh_params``).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM,
                 shingle: int = DEFAULT_SHINGLE):
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.shingle = threshold, num_perm, shingle
        self.bands, self.rows = minhash.lsh_params(threshold, num_perm)

    def expand(self, articles):
        num_perm, shingle, bands, rows = self.num_perm, self.shingle, self.bands, self.rows

        groups = (
            articles
            | "ByTextHash" >> beam.Map(lambda a: (a.text_hash, a))
            | "GroupExact" >> beam.GroupByKey()
            | "PickExact" >> beam.MapTuple(lambda _h, arts: pick_exact(arts))
        )
        keyed_groups = groups | "ByRep" >> beam.Map(lambda g: (g[0].article_id, g))

        items = groups | "Sketch" >> beam.Map(lambda g: to_item(g[0], num_perm, shingle))
        items_by_id = items | "ItemById" >> beam.Map(lambda it: (it.article_id, it))
        pairs = (
            items
            | "BandKeys" >> beam.FlatMap(
                lambda it: [(k, it.article_id) for k in minhash.band_keys(
                    np.frombuffer(it.signature, dtype=np.uint32), bands, rows)])
            | "Buckets" >> beam.GroupByKey()
            | "Pairs" >> beam.FlatMapTuple(lambda _k, ids: bucket_pairs(ids))
            | "OncePerPair" >> beam.Distinct()
        )
        # Join each pair with both ends' sketches: first b (keyed by b), then a (keyed by a).
        with_b = (
            {"items": items_by_id, "pairs": pairs | "ByB" >> beam.Map(lambda p: (p[1], p[0]))}
            | "JoinB" >> beam.CoGroupByKey()
            | "AttachB" >> beam.FlatMapTuple(
                lambda _b, g: [(a, item) for item in list(g["items"])[:1] for a in g["pairs"]])
        )
        edges = (
            {"items": items_by_id, "with_b": with_b}
            | "JoinA" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(self.threshold))
        )
        # Verified edges are few (only real near-copies) and small: resolving them in one
        # place keeps the components exact. Signatures and texts never meet there.
        verdicts = (
            edges
            | "OneGraph" >> beam.Map(lambda e: (None, e))
            | "AllEdges" >> beam.GroupByKey()
            | "Components" >> beam.ParDo(_ComponentsFn())
        )
        return (
            {"groups": keyed_groups, "verdict": verdicts}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_ResolveFn()).with_outputs("duplicates", main="articles")
        )
