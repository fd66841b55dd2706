"""Dedup: Articles (+ the signature index of earlier runs) -> kept articles + duplicates.

1. Exact: articles sharing ``text_hash`` (same words, any case, punctuation or wrapping) are
   one group. Its representative is the canonical choice among them, or the earlier run's
   article with that hash when there is one.
2. Candidates: each representative gets a MinHash signature; LSH band keys go through a
   GroupByKey. Bands and rows are derived from ``CANDIDATE_LEVEL`` (0.55), well below the
   decision thresholds, because a candidate costs one comparison and a missed one is lost.
3. Verification on the real shingle sets (``verify``): two texts are one article when they do
   not state different facts (``facts.state_different_facts``: the same slots filled with other
   numbers or names, as in templated reports) and
   - their shingle Jaccard reaches ``threshold`` (measure ``jaccard``), or
   - the shorter one's shingles lie at least ``CONTAINMENT`` inside the longer one and it is at
     least ``MIN_SIZE_RATIO`` of its length (``containment``: a teaser, a copy inside another
     template's captions and links).
4. Verified edges are resolved into connected components (A~B and B~C fold A, B and C) by
   distributed min-label propagation (``ConnectedComponents``); no step holds all edges or
   signatures.

Canonical rule (a pure function of content, so the same input gives the same output for any
worker count or order): an article of an earlier run (it is already in the articles table);
then the most words; then the earliest ``published_at`` (unknown last); then the smallest
``article_id``.
"""
from __future__ import annotations

import itertools
import time
import typing
from typing import Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.records import Article, DedupItem, Duplicate
from transforms.dedup import facts, minhash
from transforms.progress import TalliedFn

STAGE = "dedup"
DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE = 5
CANDIDATE_LEVEL = 0.55
CONTAINMENT = 0.8
MIN_SIZE_RATIO = 0.5
# Buckets larger than this pair each member with its neighbours in rank order only, so a
# degenerate bucket (thousands of near-empty texts) cannot make the candidate set quadratic.
MAX_BUCKET_ALL_PAIRS = 64
# Rounds of label propagation before the exact clean-up; dedup graphs are stars and short
# chains, so nearly every component is settled by then and the clean-up sees almost nothing.
PROPAGATION_ROUNDS = 3
# Batches of fewer input bytes find their near copies in one in-memory step (``in_memory``:
# the same verdicts, a dozen fewer shuffles); their sketches take a few tens of MB at most.
IN_MEMORY_BELOW_BYTES = 16 << 20


class Match(typing.NamedTuple):
    measure: str   # "jaccard" or "containment"
    value: float


class Edge(typing.NamedTuple):
    """A verified pair of nodes (rank keys, ``a < b``) and what decided it."""
    a: str
    b: str
    measure: str
    value: float


beam.coders.registry.register_coder(Edge, beam.coders.RowCoder)


def rank_key(article_id: str, word_count: int, published_at_us: Optional[int],
             prior: bool = False) -> str:
    """The canonical rule as a string key (smaller is better), also the node id in the graph:
    earlier run first, then most words, earliest known date, smallest id."""
    words = min(max(word_count, 0), 10**9 - 1)
    pub = "1" + "0" * 20 if published_at_us is None else "0" + f"{published_at_us + 2**62:020d}"
    return f"{0 if prior else 1}{10**9 - 1 - words:09d}{pub}|{article_id}"


def id_of(key: str) -> str:
    return key.rsplit("|", 1)[1]


def is_prior(key: str) -> bool:
    return key[0] == "0"


def item_rank(it: DedupItem) -> str:
    return rank_key(it.article_id, it.word_count, it.published_at_us, it.prior)


def article_rank(a: Article) -> str:
    return rank_key(a.article_id, a.word_count, a.published_at_us)


def pick_exact(articles: Iterable[Article]) -> Tuple[Article, List[Article]]:
    """(representative, copies) of a group of articles with equal text hash."""
    ordered = sorted(articles, key=article_rank)
    return ordered[0], ordered[1:]


def to_item(a: Article, num_perm: int, shingle: int) -> DedupItem:
    sh = minhash.shingle_hashes(a.text, shingle)
    return DedupItem(a.article_id, a.text_hash, a.word_count, a.published_at_us, False,
                     minhash.signature(sh, num_perm).tobytes(), sh.tobytes(),
                     facts.to_bytes(facts.slots(a.text)), a.source_uri)


def bucket_pairs(keys: Iterable[str]) -> Iterable[Tuple[str, str]]:
    """Candidate pairs (smaller key first) of one LSH bucket; pairs of two earlier-run
    articles are left out (both are already in the articles table)."""
    keys = sorted(set(keys))
    if len(keys) <= MAX_BUCKET_ALL_PAIRS:
        pairs = itertools.combinations(keys, 2)
    else:
        pairs = ((x, y) for i, x in enumerate(keys) for y in keys[i + 1:i + 1 + 8])
    return ((x, y) for x, y in pairs if not (is_prior(x) and is_prior(y)))


def verify(a: DedupItem, b: DedupItem, threshold: float,
           containment: float = CONTAINMENT, min_size_ratio: float = MIN_SIZE_RATIO,
           stats: Optional[Dict[str, int]] = None) -> Optional[Match]:
    """How two texts are one article (see the module docstring), or None."""
    sa = np.frombuffer(a.shingles, dtype=np.uint64)
    sb = np.frombuffer(b.shingles, dtype=np.uint64)
    small, large = sorted((sa.size, sb.size))
    if small == 0:
        return None
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    jac = inter / (sa.size + sb.size - inter)
    con = inter / small
    if jac < threshold and not (con >= containment and small >= min_size_ratio * large):
        return None
    agree, conflict = facts.compare(facts.from_bytes(a.facts), facts.from_bytes(b.facts))
    if facts.state_different_facts(agree, conflict):
        if stats is not None:
            stats["different_facts"] = stats.get("different_facts", 0) + 1
        return None
    return Match("jaccard", jac) if jac >= threshold else Match("containment", con)


def union_find_roots(pairs: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """node -> smallest node of its component, for every node of ``pairs``."""
    parent: Dict[str, str] = {}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression, iteratively
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in parent}


def _send_label(node, grouped):
    """Propagation step: a node's label goes to itself and to each neighbour."""
    labels = list(grouped["label"])
    label = min(labels) if labels else node
    yield node, label
    for other in grouped["adj"]:
        yield other, label


def _settle(node, labels):
    """Last round: a node takes the smallest label it hears; if it heard several, the
    component is not settled and the labels it heard are one group (tagged ``loose``)."""
    labels = sorted(set(labels))
    yield node, labels[0]
    for other in labels[1:]:
        yield beam.pvalue.TaggedOutput("loose", (labels[0], other))


class ConnectedComponents(beam.PTransform):
    """PCollection[(node, node)] edges -> PCollection[(node, root)] for every node of an edge,
    ``root`` the smallest node of its connected component.

    ``rounds`` rounds of min-label propagation (each a CoGroupByKey and a CombinePerKey),
    then a last round in which every node checks that all labels it hears agree. Pairs of
    labels that still disagree (components longer than the rounds could settle) are joined
    exactly by one union-find over those label pairs only, so the result is exact for any
    graph while the bulk of the work stays distributed."""

    def __init__(self, rounds: int = PROPAGATION_ROUNDS):
        super().__init__()
        self.rounds = rounds

    def expand(self, edges):
        adj = edges | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
        labels = (adj | "Nodes" >> beam.Keys() | "OncePerNode" >> beam.Distinct()
                  | "OwnLabel" >> beam.Map(lambda n: (n, n)))
        for r in range(self.rounds):
            labels = (
                {"label": labels, "adj": adj}
                | f"Round{r}Join" >> beam.CoGroupByKey()
                | f"Round{r}Send" >> beam.FlatMapTuple(_send_label)
                | f"Round{r}Min" >> beam.CombinePerKey(min)
            )
        settled = (
            {"label": labels, "adj": adj}
            | "LastJoin" >> beam.CoGroupByKey()
            | "LastSend" >> beam.FlatMapTuple(_send_label)
            | "LastGroup" >> beam.GroupByKey()
            | "Settle" >> beam.FlatMapTuple(_settle).with_outputs("loose", main="labels")
        )
        fixes = (
            settled.loose
            | "LooseOnOneKey" >> beam.Map(lambda pair: (None, pair))
            | "GatherLoose" >> beam.GroupByKey()
            | "JoinLoose" >> beam.FlatMapTuple(
                lambda _k, pairs: [(n, r) for n, r in union_find_roots(pairs).items() if n != r])
        )
        return (
            {"by_label": settled.labels | "ByLabel" >> beam.Map(lambda nl: (nl[1], nl[0])),
             "fix": fixes}
            | "ApplyFixes" >> beam.CoGroupByKey()
            | "Roots" >> beam.FlatMapTuple(
                lambda label, g: [(n, min(list(g["fix"]) or [label])) for n in g["by_label"]])
        )


class Verdict(typing.NamedTuple):
    """A folded representative: its canonical article and the edge that explains the fold."""
    canonical_id: str
    matched_id: str
    measure: str
    similarity: float


beam.coders.registry.register_coder(Verdict, beam.coders.RowCoder)


def explain(node: str, root: str, edges: Iterable[Tuple[str, str, float]]) -> Verdict:
    """The fold of ``node`` into ``root``: its direct edge to the root when it has one, else
    its strongest edge (jaccard before containment, then the higher value, then the key)."""
    edges = sorted(edges, key=lambda e: (e[0] != root, e[1] != "jaccard", -e[2], e[0]))
    other, measure, value = edges[0]
    return Verdict(id_of(root), id_of(other), measure, value)


def _dup(copy: Article, canonical_id: str, matched_id: str, similarity: float, method: str,
         measure: str) -> Duplicate:
    return Duplicate(copy.source_uri, copy.article_id, canonical_id, float(similarity), method,
                     measure, matched_id)


def near_verdicts(items: Iterable[DedupItem], threshold: float, bands: int, rows: int,
                  num_perm: int, stats: Optional[Dict[str, int]] = None) -> List[Tuple[str, Verdict]]:
    """Pure: (article id, Verdict) of every new item that folds into another, computed in
    memory over all ``items`` (this batch's representatives and the earlier articles looked
    up for them). The same candidates, tests and components as the distributed steps of
    ``Dedup``, hence the same verdicts; ``stats`` counts candidate pairs and their outcomes."""
    by_key = {item_rank(it): it for it in items}
    buckets: Dict[str, List[str]] = {}
    for key, it in by_key.items():
        if len(it.signature) != 4 * num_perm:
            continue  # index rows of other settings
        for band in minhash.band_keys(np.frombuffer(it.signature, dtype=np.uint32), bands, rows):
            buckets.setdefault(band, []).append(key)
    pairs = sorted({p for keys in buckets.values() for p in bucket_pairs(keys)})
    stats = stats if stats is not None else {}
    edges = []
    for a, b in pairs:
        stats["candidate_pairs"] = stats.get("candidate_pairs", 0) + 1
        m = verify(by_key[a], by_key[b], threshold, stats=stats)
        if m is not None:
            stats["pairs_by_" + m.measure] = stats.get("pairs_by_" + m.measure, 0) + 1
            edges.append(Edge(a, b, m.measure, m.value))
    roots = union_find_roots((e.a, e.b) for e in edges)
    ends: Dict[str, List[Tuple[str, str, float]]] = {}
    for e in edges:
        ends.setdefault(e.a, []).append((e.b, e.measure, e.value))
        ends.setdefault(e.b, []).append((e.a, e.measure, e.value))
    return [(id_of(node), explain(node, root, ends[node])) for node, root in sorted(roots.items())
            if root != node and not is_prior(node)]


class _NearInMemoryFn(TalliedFn, beam.DoFn):
    """(None, [DedupItem]) -> (article id, Verdict): ``near_verdicts`` over one small batch."""

    def __init__(self, threshold: float, bands: int, rows: int, num_perm: int,
                 progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.threshold, self.bands, self.rows, self.num_perm = threshold, bands, rows, num_perm
        self.counters = {name: Metrics.counter(STAGE, name) for name in (
            "candidate_pairs", "pairs_by_jaccard", "pairs_by_containment")}
        self.counters["different_facts"] = Metrics.counter(STAGE, "pairs_with_different_facts")

    def process(self, element):
        _, items = element
        start = time.perf_counter()
        stats: Dict[str, int] = {}
        out = near_verdicts(items, self.threshold, self.bands, self.rows, self.num_perm, stats)
        self.tally.add(0, time.perf_counter() - start)
        for name, n in stats.items():
            self.counters[name].inc(n)
        yield from out


class _ResolveFn(TalliedFn, beam.DoFn):
    """(rep id, {group: [(rep, copies, prior id)], item: [item], verdict: [Verdict]}) ->
    kept articles (main), ``duplicates``, and ``index`` items of the kept articles."""

    def __init__(self, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.kept = Metrics.counter(STAGE, "articles_kept")
        self.exact = Metrics.counter(STAGE, "exact_duplicates")
        self.near = Metrics.counter(STAGE, "near_duplicates")
        self.earlier = Metrics.counter(STAGE, "duplicates_of_earlier_runs")

    def process(self, element):
        start = time.perf_counter()
        out = list(self._resolve(element))
        tagged = [o.tag for o in out if isinstance(o, beam.pvalue.TaggedOutput)]
        kept = len(out) - len(tagged)
        self.tally.add(kept + tagged.count("duplicates"), time.perf_counter() - start, kept=kept)
        yield from out

    def _resolve(self, element):
        _, grouped = element
        verdicts = list(grouped["verdict"])
        items = list(grouped["item"])
        for rep, copies, prior_id in grouped["group"]:
            if prior_id is not None:  # same words as an article of an earlier run
                for a in [rep] + list(copies):
                    self.exact.inc()
                    self.earlier.inc()
                    yield beam.pvalue.TaggedOutput(
                        "duplicates", _dup(a, prior_id, prior_id, 1.0, "exact", "text_hash"))
                continue
            if not verdicts:
                self.kept.inc()
                yield rep
                if items:
                    yield beam.pvalue.TaggedOutput("index", items[0])
                canonical = rep.article_id
            else:
                v = verdicts[0]
                self.near.inc()
                yield beam.pvalue.TaggedOutput(
                    "duplicates", _dup(rep, v.canonical_id, v.matched_id, v.similarity, "near",
                                       v.measure))
                canonical = v.canonical_id
            for c in copies:
                self.exact.inc()
                yield beam.pvalue.TaggedOutput(
                    "duplicates", _dup(c, canonical, rep.article_id, 1.0, "exact", "text_hash"))


class _VerifyFn(TalliedFn, beam.DoFn):
    def __init__(self, threshold, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.threshold = threshold
        self.candidates = Metrics.counter(STAGE, "candidate_pairs")
        self.by_jaccard = Metrics.counter(STAGE, "pairs_by_jaccard")
        self.by_containment = Metrics.counter(STAGE, "pairs_by_containment")
        self.different_facts = Metrics.counter(STAGE, "pairs_with_different_facts")

    def process(self, element):
        a_key, grouped = element
        items = list(grouped["items"])
        if not items:
            return
        a_item = items[0]
        for b_key, b_item in grouped["with_b"]:
            self.candidates.inc()
            stats: Dict[str, int] = {}
            start = time.perf_counter()
            m = verify(a_item, b_item, self.threshold, stats=stats)
            self.tally.add(0, time.perf_counter() - start)
            self.different_facts.inc(stats.get("different_facts", 0))
            if m is None:
                continue
            (self.by_jaccard if m.measure == "jaccard" else self.by_containment).inc()
            yield Edge(a_key, b_key, m.measure, m.value)


class _SketchFn(TalliedFn, beam.DoFn):
    """(rep, copies) -> (rep, copies, DedupItem of rep): the MinHash sketch of a text."""

    def __init__(self, num_perm: int, shingle: int, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.num_perm, self.shingle = num_perm, shingle

    def process(self, group):
        rep, copies = group
        start = time.perf_counter()
        item = to_item(rep, self.num_perm, self.shingle)
        self.tally.add(0, time.perf_counter() - start)
        yield rep, copies, item


class _Exact(beam.DoFn):
    """(text hash, {new: [(rep, copies, item)], prior: [DedupItem]}) ->
    (rep, copies, prior id or None, item)."""

    def process(self, element):
        _, grouped = element
        priors = sorted(grouped["prior"], key=item_rank)
        for rep, copies, item in grouped["new"]:
            yield rep, copies, (priors[0].article_id if priors else None), item


class Dedup(beam.PTransform):
    """PCollection[Article] -> DoOutputsTuple: ``articles`` (kept), ``duplicates``
    (Duplicate), ``index`` (DedupItem of each kept article, for later runs).

    ``lookup``: an optional PTransform, PCollection[DedupItem] of this batch's articles ->
    PCollection[DedupItem] of the earlier articles that may be their copies
    (``transforms.dedup.index.LookupPrior``); copies of them become duplicates pointing to
    them, and they are never emitted again. Options: ``threshold`` (shingle Jaccard at which two texts
    are one article), ``num_perm`` (MinHash size), ``shingle`` (words per shingle), ``progress``
    (the folder of ``transforms.progress`` tallies, or None), ``in_memory`` (find near
    copies in one step holding all the batch's sketches, ``near_verdicts``: the same verdicts
    with a dozen fewer shuffles, for batches known to be small; default: distributed).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM,
                 shingle: int = DEFAULT_SHINGLE, lookup: Optional[beam.PTransform] = None,
                 progress: Optional[str] = None, in_memory: bool = False):
        super().__init__()
        self.progress, self.in_memory = progress, in_memory
        if not 0 < threshold <= 1:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.shingle = threshold, num_perm, shingle
        self.bands, self.rows = minhash.lsh_params(min(CANDIDATE_LEVEL, threshold), num_perm)
        self.lookup = lookup

    def expand(self, articles):
        num_perm, shingle, bands, rows = self.num_perm, self.shingle, self.bands, self.rows
        exact = (
            articles
            | "ByTextHash" >> beam.Map(lambda a: (a.text_hash, a))
            | "GroupExact" >> beam.GroupByKey()
            | "PickExact" >> beam.MapTuple(lambda _h, group: pick_exact(group))
            | "Sketch" >> beam.ParDo(_SketchFn(num_perm, shingle, self.progress))
        )
        if self.lookup is not None:
            prior = exact | "Reps" >> beam.Map(lambda g: g[2]) | "EarlierArticles" >> self.lookup
            groups = (
                {"new": exact | "NewByHash" >> beam.Map(lambda g: (g[0].text_hash, g)),
                 "prior": prior | "PriorByHash" >> beam.Map(lambda it: (it.text_hash, it))}
                | "GroupWithPrior" >> beam.CoGroupByKey()
                | "PickPrior" >> beam.ParDo(_Exact())
            )
        else:  # nothing earlier to consult (a new output): no shuffle for it
            prior = (articles.pipeline
                     | "NoPrior" >> beam.Create([], reshuffle=False).with_output_types(DedupItem))
            groups = exact | "NoEarlier" >> beam.MapTuple(lambda rep, copies, it: (rep, copies, None, it))
        keyed_groups = groups | "ByRep" >> beam.Map(lambda g: (g[0].article_id, (g[0], g[1], g[2])))
        new_items = (
            groups
            | "NotEarlier" >> beam.Filter(lambda g: g[2] is None)
            | "Items" >> beam.Map(lambda g: g[3])
        )
        items = (new_items, prior) | "WithPrior" >> beam.Flatten()
        if self.in_memory:
            verdicts = (
                items
                | "AllItems" >> beam.Map(lambda it: (None, it))
                | "GatherItems" >> beam.GroupByKey()
                | "NearInMemory" >> beam.ParDo(_NearInMemoryFn(self.threshold, bands, rows,
                                                               num_perm, self.progress))
            )
        else:
            items_by_key = items | "ItemByKey" >> beam.Map(lambda it: (item_rank(it), it))
            pairs = (
                items
                | "BandKeys" >> beam.FlatMap(
                    lambda it: [(k, item_rank(it)) for k in minhash.band_keys(
                        np.frombuffer(it.signature, dtype=np.uint32), bands, rows)]
                    if len(it.signature) == 4 * num_perm else [])  # index rows of other settings
                | "Buckets" >> beam.GroupByKey()
                | "Pairs" >> beam.FlatMapTuple(lambda _k, keys: bucket_pairs(keys))
                | "OncePerPair" >> beam.Distinct()
            )
            # Join each pair with both ends' sketches: first b (keyed by b), then a (keyed by a).
            with_b = (
                {"items": items_by_key, "pairs": pairs | "ByB" >> beam.Map(lambda ab: (ab[1], ab[0]))}
                | "JoinB" >> beam.CoGroupByKey()
                | "AttachB" >> beam.FlatMapTuple(
                    lambda b, g: [(a, (b, item)) for item in list(g["items"])[:1] for a in g["pairs"]])
            )
            edges = (
                {"items": items_by_key, "with_b": with_b}
                | "JoinA" >> beam.CoGroupByKey()
                | "Verify" >> beam.ParDo(_VerifyFn(self.threshold, self.progress))
            )
            roots = edges | "EdgeNodes" >> beam.Map(lambda e: (e.a, e.b)) | "Components" >> ConnectedComponents()
            verdicts = (
                {"root": roots,
                 "edges": edges | "EdgeEnds" >> beam.FlatMap(
                     lambda e: [(e.a, (e.b, e.measure, e.value)), (e.b, (e.a, e.measure, e.value))])}
                | "EdgesOfNode" >> beam.CoGroupByKey()
                | "Explain" >> beam.FlatMapTuple(
                    lambda node, g: [(id_of(node), explain(node, root, g["edges"]))
                                     for root in g["root"] if root != node and not is_prior(node)])
            )
        return (
            {"group": keyed_groups, "verdict": verdicts,
             "item": new_items | "ItemById" >> beam.Map(lambda it: (it.article_id, it))}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_ResolveFn(self.progress)).with_outputs(
                "duplicates", "index", main="articles")
        )
