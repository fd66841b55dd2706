"""Dedup: Articles (+ the signature index of earlier runs) -> kept articles + duplicates.

1. Exact: articles sharing ``text_hash`` (same words, any case, punctuation or wrapping) are
   one group. Its representative is the canonical rule's choice among them. Earlier runs'
   articles with the same hash meet it in step 2's graph (a text-hash bucket).
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

Canonical rule, one for a batch and for any split of it into runs (a pure function of the
group's records, so the output does not depend on worker count, order, or which run took
which record): records of the same page (``page_key`` of their URL) are versions of it, and
only its newest version competes (the latest declared update or publication time; versions
that declare none are ordered by the rank below, never by arrival, which differs between
one run and several); the others are ``version`` duplicates. Among what is left:
the most words, then the earliest ``published_at`` (unknown last), then the smallest
``article_id``. An earlier run's article that loses to a record of a later run is
superseded: it becomes a duplicate of the winner in that run's commit.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import time
import typing
from typing import Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.records import Article, DedupItem, Duplicate
from transforms.dedup import facts, minhash
from transforms.pool import Chunks, Task
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
    measure: str   # "text_hash" (the same words), "jaccard" or "containment"
    value: float


class Edge(typing.NamedTuple):
    """A verified pair of nodes (rank keys, ``a < b``) and what decided it."""
    a: str
    b: str
    measure: str
    value: float


beam.coders.registry.register_coder(Edge, beam.coders.RowCoder)


_TRACKING = re.compile(r"(?:utm_\w*|fbclid|gclid|dclid|mc_cid|mc_eid|_ga)(?:=|$)", re.I)


def page_key(url: Optional[str]) -> str:
    """The page a URL names, for telling captures of one page apart from copies on other
    pages: host without ``www.``, path without its trailing slash, the query without
    tracking parameters; no scheme or fragment. "" when there is no host."""
    if not url:
        return ""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    host = host[4:] if host.startswith("www.") else host
    host += f":{port}" if port not in (None, 80, 443) else ""
    query = "&".join(sorted(q for q in parts.query.split("&") if q and not _TRACKING.match(q)))
    return host + (parts.path.rstrip("/") or "/") + ("?" + query if query else "")


def _time_part(us: Optional[int]) -> str:
    return "0" * 21 if us is None else "1" + f"{us + 2**62:020d}"


def _page_part(page: str) -> str:
    return hashlib.blake2b(page.encode("utf-8"), digest_size=8).hexdigest() if page else ""


def rank_key(article_id: str, word_count: int, published_at_us: Optional[int],
             prior: bool = False, page: str = "", version_us: Optional[int] = None,
             folded_into: Optional[Tuple[str, str]] = None) -> str:
    """A record as a node of the dedup graph: ``rank|id|flag|version|page``. The rank part
    orders records of different pages (smaller is better: most words, earliest known date;
    then the id); ``flag`` is ``n`` for a record of this batch, ``p`` for an earlier run's
    article, ``g<id>:<page>`` for an earlier run's duplicate capture of a page that folded
    into article ``id`` (``folded_into``: its id and page key); ``version`` (the declared
    update, else publication time; larger is newer) orders versions of one page (``page``,
    hashed)."""
    words = min(max(word_count, 0), 10**9 - 1)
    pub = "1" + "0" * 20 if published_at_us is None else "0" + f"{published_at_us + 2**62:020d}"
    flag = (f"g{folded_into[0]}:{_page_part(folded_into[1])}" if folded_into
            else "p" if prior else "n")
    return (f"{10**9 - 1 - words:09d}{pub}|{article_id}|{flag}|"
            f"{_time_part(version_us)}|{_page_part(page)}")


def id_of(key: str) -> str:
    return key.split("|")[1]


def is_prior(key: str) -> bool:
    """An earlier run's record: an article, or a duplicate capture of a page."""
    return key.split("|")[2][0] in "pg"


def is_capture(key: str) -> bool:
    """An earlier run's duplicate capture of a page (a ghost: never an article again)."""
    return key.split("|")[2][0] == "g"


def page_of(key: str) -> str:
    return key.split("|")[4]


def resolved(key: str) -> Tuple[str, str]:
    """(article id, page) a node stands for: itself, or for an earlier duplicate capture the
    article it folded into (a newer capture that lost its group keeps pointing there)."""
    flag = key.split("|")[2]
    if flag[0] == "g":
        article, page = flag[1:].split(":")
        return article, page
    return id_of(key), page_of(key)


def canonical_of(keys: Iterable[str]) -> str:
    """The canonical node of a group: each page's newest version (ties, and versions that
    declare no time: the better rank), then the best rank among them. A record with no page
    is a page of its own. Arrival order (which run, which file time) never counts: one run and
    any split of it into runs keep the same article."""
    newest: Dict[str, str] = {}
    for key in sorted(set(keys)):  # by rank: of equal versions the first stays
        _, _, _, version, page = key.split("|")
        best = newest.get(page or key)
        if best is None or version > best.split("|")[3]:
            newest[page or key] = key
    return min(newest.values())


def method_of(page: str, canonical_page: str, measure: str) -> str:
    """How a record of ``page`` (hashed) folds into an article of ``canonical_page``:
    ``version`` for a capture of the same page; else ``exact`` (the same words) or ``near``."""
    if page and page == canonical_page:
        return "version"
    return "exact" if measure == "text_hash" else "near"


def fold_method(node: str, canonical: str, measure: str) -> str:
    """``method_of`` for two nodes of the graph."""
    return method_of(page_of(node), resolved(canonical)[1], measure)


def item_rank(it: DedupItem) -> str:
    return rank_key(it.article_id, it.word_count, it.published_at_us, it.prior, it.page_key,
                    it.version_us, None if it.kept else (it.canonical_id, it.canonical_page))


def version_time(a: Article) -> Optional[int]:
    return a.modified_at_us if a.modified_at_us is not None else a.published_at_us


def page_hash(a: Article) -> str:
    """The page part of an article's node (``rank_key``)."""
    return _page_part(page_key(a.url))


def article_rank(a: Article) -> str:
    return rank_key(a.article_id, a.word_count, a.published_at_us, False, page_key(a.url),
                    version_time(a))


def pick_exact(articles: Iterable[Article]) -> Tuple[Article, List[Article]]:
    """(representative, copies) of a group of articles with equal text hash: the canonical
    rule's choice among them."""
    by_key = {article_rank(a): a for a in articles}
    rep = canonical_of(by_key)
    return by_key[rep], [a for k, a in sorted(by_key.items()) if k != rep]


def sketch(text: str, num_perm: int, shingle: int) -> Tuple[bytes, bytes, bytes]:
    """(MinHash signature, shingle hashes, fact slots) of a text, as ``DedupItem`` keeps them."""
    sh = minhash.shingle_hashes(text, shingle)
    return (minhash.signature(sh, num_perm).tobytes(), sh.tobytes(),
            facts.to_bytes(facts.slots(text)))


def sketcher(num_perm: int, shingle: int):
    """``sketch`` as a function of the text: the task of the driver's helper processes
    (``transforms.pool``)."""
    return lambda text: sketch(text, num_perm, shingle)


def sketch_task(num_perm: int, shingle: int) -> Task:
    return Task(f"{__name__}:sketcher", (num_perm, shingle))


def to_item(a: Article, num_perm: int, shingle: int,
            sketched: Optional[Tuple[bytes, bytes, bytes]] = None) -> DedupItem:
    """``a``'s DedupItem; ``sketched``: ``sketch`` of its text, when made elsewhere."""
    signature, shingles, slots = sketched or sketch(a.text, num_perm, shingle)
    return DedupItem(a.article_id, a.text_hash, a.word_count, a.published_at_us, False,
                     signature, shingles, slots, a.source_uri, page_key(a.url), version_time(a))


def candidate_keys(it: DedupItem, bands: int, rows: int, num_perm: int) -> List[str]:
    """The buckets an item meets its candidates in: its text hash (exact copies, also of
    index rows sketched with other settings), its page (its other captures) and its LSH band
    keys (when sketched with this run's settings; not for an earlier duplicate capture,
    which only its page's captures meet)."""
    keys = ["#" + it.text_hash] + (["@" + it.page_key] if it.page_key else [])
    if it.kept and len(it.signature) == 4 * num_perm:
        keys += minhash.band_keys(np.frombuffer(it.signature, dtype=np.uint32), bands, rows)
    return keys


def bucket_pairs(keys: Iterable[str]) -> Iterable[Tuple[str, str]]:
    """Candidate pairs (smaller key first) of one bucket; pairs of two earlier runs' records
    are left out (earlier runs compared them)."""
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
    if a.text_hash == b.text_hash:
        return Match("text_hash", 1.0)
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
    """A folded node: its canonical article and the edge that explains the fold."""
    canonical_id: str
    matched_id: str
    method: str      # "exact", "near" or "version" (``fold_method``)
    measure: str
    similarity: float
    canonical_page: str  # the canonical article's page (hashed): its other versions


beam.coders.registry.register_coder(Verdict, beam.coders.RowCoder)

_MEASURE_ORDER = {"text_hash": 0, "jaccard": 1, "containment": 2}


def explain(node: str, canonical: str, edges: Iterable[Tuple[str, str, float]]) -> Verdict:
    """The fold of ``node`` into ``canonical``: its direct edge to it when it has one, else
    its strongest edge (same words, then jaccard, then containment; the higher value; the
    key)."""
    edges = sorted(edges, key=lambda e: (e[0] != canonical, _MEASURE_ORDER[e[1]], -e[2], e[0]))
    other, measure, value = edges[0]
    article, page = resolved(canonical)
    return Verdict(article, id_of(other), fold_method(node, canonical, measure), measure, value,
                   page)


def folds(node: str, canonical: str) -> bool:
    """Whether ``node`` gets a verdict: it is not its group's article (earlier duplicate
    captures keep theirs: the commit repoints them with their article)."""
    return canonical != node and not is_capture(node) and resolved(canonical)[0] != id_of(node)


def with_canonical(nodes: Iterable[str]) -> List[Tuple[str, str]]:
    """The nodes of one component -> (node, the component's canonical node) for each."""
    nodes = list(nodes)
    canonical = canonical_of(nodes)
    return [(n, canonical) for n in nodes]


def canonical_by_node(roots: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """(node, component root) pairs -> node -> its component's canonical node."""
    members: Dict[str, List[str]] = {}
    for node, root in roots:
        members.setdefault(root, []).append(node)
    return dict(pair for nodes in members.values() for pair in with_canonical(nodes))


def _capture(rep_item: DedupItem, a: Article, v: Verdict):
    """The index row of a folded record of a page (its sketch is its rep's: the same words):
    a later run's older capture of that page meets it by page (``kept`` False)."""
    page = page_key(a.url)
    if page:
        yield beam.pvalue.TaggedOutput("index", rep_item._replace(
            article_id=a.article_id, source_uri=a.source_uri, word_count=a.word_count,
            published_at_us=a.published_at_us, page_key=page, version_us=version_time(a),
            kept=False, canonical_id=v.canonical_id))


def _dup(copy, v: Verdict) -> Duplicate:
    """The duplicates row of ``copy`` (an Article, or an earlier run's DedupItem)."""
    return Duplicate(copy.source_uri, copy.article_id, v.canonical_id, float(v.similarity),
                     v.method, v.measure, v.matched_id)


def near_verdicts(items: Iterable[DedupItem], threshold: float, bands: int, rows: int,
                  num_perm: int, stats: Optional[Dict[str, int]] = None) -> List[Tuple[str, Verdict]]:
    """Pure: (article id, Verdict) of every item that folds into another, computed in memory
    over all ``items`` (this batch's representatives and the earlier articles looked up for
    them; an earlier article folds when a new record wins its group). The same candidates,
    tests and components as the distributed steps of ``Dedup``, hence the same verdicts;
    ``stats`` counts candidate pairs and their outcomes."""
    by_key = {item_rank(it): it for it in items}
    buckets: Dict[str, List[str]] = {}
    for key, it in by_key.items():
        for band in candidate_keys(it, bands, rows, num_perm):
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
    canonical = canonical_by_node(union_find_roots((e.a, e.b) for e in edges).items())
    ends: Dict[str, List[Tuple[str, str, float]]] = {}
    for e in edges:
        ends.setdefault(e.a, []).append((e.b, e.measure, e.value))
        ends.setdefault(e.b, []).append((e.a, e.measure, e.value))
    return [(id_of(node), explain(node, c, ends[node])) for node, c in sorted(canonical.items())
            if folds(node, c)]


class _NearInMemoryFn(TalliedFn, beam.DoFn):
    """(None, [DedupItem]) -> (article id, Verdict): ``near_verdicts`` over one small batch."""

    def __init__(self, threshold: float, bands: int, rows: int, num_perm: int,
                 progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.threshold, self.bands, self.rows, self.num_perm = threshold, bands, rows, num_perm
        self.counters = {name: Metrics.counter(STAGE, name) for name in (
            "candidate_pairs", "pairs_by_jaccard", "pairs_by_containment", "pairs_by_text_hash")}
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
    """(article id, {group: [(rep, copies)], item: [item], prior: [item], verdict: [Verdict]})
    -> kept articles (main), ``duplicates``, and ``index`` items of the kept articles. An
    earlier run's article with a verdict (``prior``) is superseded: it becomes a duplicate,
    which the commit turns into the removal of its article."""

    def __init__(self, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.kept = Metrics.counter(STAGE, "articles_kept")
        self.exact = Metrics.counter(STAGE, "exact_duplicates")
        self.near = Metrics.counter(STAGE, "near_duplicates")
        self.versions = Metrics.counter(STAGE, "older_versions")
        self.superseded = Metrics.counter(STAGE, "earlier_articles_superseded")

    def process(self, element):
        start = time.perf_counter()
        out = list(self._resolve(element))
        tagged = [o.tag for o in out if isinstance(o, beam.pvalue.TaggedOutput)]
        kept = len(out) - len(tagged)
        self.tally.add(kept + tagged.count("duplicates"), time.perf_counter() - start, kept=kept)
        yield from out

    def _count(self, v: Verdict) -> None:
        {"exact": self.exact, "near": self.near, "version": self.versions}[v.method].inc()

    def _resolve(self, element):
        _, grouped = element
        verdicts = list(grouped["verdict"])
        items = list(grouped["item"])
        for prior in grouped["prior"]:
            for v in verdicts[:1]:  # a new record won this earlier article's group
                self.superseded.inc()
                yield beam.pvalue.TaggedOutput("duplicates", _dup(prior, v))
        for rep, copies in grouped["group"]:
            if not verdicts:
                self.kept.inc()
                yield rep
                if items:
                    yield beam.pvalue.TaggedOutput("index", items[0])
                # copies with the rep's words: explained by it
                fold = Verdict(rep.article_id, rep.article_id, "exact", "text_hash", 1.0,
                               page_hash(rep))
            else:
                fold = verdicts[0]
                self._count(fold)
                yield beam.pvalue.TaggedOutput("duplicates", _dup(rep, fold))
                if items:
                    yield from _capture(items[0], rep, fold)
            for c in copies:
                if items:
                    yield from _capture(items[0], c, fold)
                # a copy has the rep's words, hence its edges: the rep's explanation, with the
                # copy's own method (another run may have taken it without the rep)
                v = fold._replace(method=method_of(page_hash(c), fold.canonical_page, fold.measure))
                self._count(v)
                yield beam.pvalue.TaggedOutput("duplicates", _dup(c, v))


class _VerifyFn(TalliedFn, beam.DoFn):
    def __init__(self, threshold, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "dedup")
        self.threshold = threshold
        self.candidates = Metrics.counter(STAGE, "candidate_pairs")
        self.by_jaccard = Metrics.counter(STAGE, "pairs_by_jaccard")
        self.by_containment = Metrics.counter(STAGE, "pairs_by_containment")
        self.by_text_hash = Metrics.counter(STAGE, "pairs_by_text_hash")
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
            {"jaccard": self.by_jaccard, "containment": self.by_containment,
             "text_hash": self.by_text_hash}[m.measure].inc()
            yield Edge(a_key, b_key, m.measure, m.value)


class _SketchFn(TalliedFn, beam.DoFn):
    """(rep, copies) -> (rep, copies, DedupItem of rep): the MinHash sketch of a text. In the
    process that holds ``warm``'s objects, once the run has started its helper processes
    (``transforms.pool``), texts go to them in chunks and groups come out as they come back."""

    def __init__(self, num_perm: int, shingle: int, progress: Optional[str] = None, warm=None):
        TalliedFn.__init__(self, progress, "dedup")
        self.num_perm, self.shingle, self.warm = num_perm, shingle, warm
        self.pool = self.chunks = None

    def setup(self):
        super().setup()
        if self.warm is not None and self.warm.here():
            self.pool = self.warm.get("pool", lambda: None, "pool")

    def start_bundle(self):
        self.chunks = None
        if self.pool is not None and self.pool.usable:
            self.chunks = Chunks(self.pool, sketch_task(self.num_perm, self.shingle),
                                 sketcher(self.num_perm, self.shingle))

    def process(self, group, element=beam.DoFn.WindowedValueParam):
        rep, copies = group
        if self.chunks is not None:
            for sketched, seconds, element, _ in self.chunks.add(rep.text, element):
                yield self._item(element.value, sketched, seconds, element)
            return
        start = time.perf_counter()
        item = to_item(rep, self.num_perm, self.shingle)
        self.tally.add(0, time.perf_counter() - start)
        yield rep, copies, item

    def finish_bundle(self):
        if self.chunks is not None:
            for sketched, seconds, element, _ in self.chunks.flush():
                yield self._item(element.value, sketched, seconds, element)
        super().finish_bundle()

    def _item(self, group, sketched, seconds: float, element):
        rep, copies = group
        self.tally.add(0, seconds)
        item = to_item(rep, self.num_perm, self.shingle, sketched)
        return element.with_value((rep, copies, item))


class Dedup(beam.PTransform):
    """PCollection[Article] -> DoOutputsTuple: ``articles`` (kept), ``duplicates``
    (Duplicate), ``index`` (DedupItem of each kept article, for later runs).

    ``lookup``: an optional PTransform, PCollection[DedupItem] of this batch's articles ->
    PCollection[DedupItem] of the earlier articles that may be their copies
    (``transforms.dedup.index.LookupPrior``); they take part in the canonical rule like the
    batch's own: copies of them become duplicates pointing to them, and one that a new
    record beats (a newer version of its page, a fuller copy) comes out as a duplicate
    itself, which the commit turns into its removal from ``articles``. Options:
    ``threshold`` (shingle Jaccard at which two texts are one article), ``num_perm`` (MinHash size), ``shingle`` (words per shingle), ``progress``
    (the folder of ``transforms.progress`` tallies, or None), ``in_memory`` (find near
    copies in one step holding all the batch's sketches, ``near_verdicts``: the same verdicts
    with a dozen fewer shuffles, for batches known to be small; default: distributed),
    ``warm`` (a ``transforms.warm.Warm`` whose helper processes sketch the texts, or None).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM,
                 shingle: int = DEFAULT_SHINGLE, lookup: Optional[beam.PTransform] = None,
                 progress: Optional[str] = None, in_memory: bool = False, warm=None):
        super().__init__()
        self.progress, self.in_memory, self.warm = progress, in_memory, warm
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
            | "Sketch" >> beam.ParDo(_SketchFn(num_perm, shingle, self.progress, self.warm))
        )
        new_items = exact | "Items" >> beam.Map(lambda g: g[2])
        if self.lookup is not None:
            # earlier articles sharing a text hash or a band key meet the batch's in the
            # graph: a copy folds into them, or a better record supersedes them
            prior = new_items | "EarlierArticles" >> self.lookup
        else:  # nothing earlier to consult (a new output): no shuffle for it
            prior = (articles.pipeline
                     | "NoPrior" >> beam.Create([], reshuffle=False).with_output_types(DedupItem))
        keyed_groups = exact | "ByRep" >> beam.Map(lambda g: (g[0].article_id, (g[0], g[1])))
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
                    lambda it: [(k, item_rank(it)) for k in candidate_keys(it, bands, rows, num_perm)])
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
            # the canonical rule looks at a whole component (versions of one page)
            canonical = (
                roots
                | "ByRoot" >> beam.Map(lambda nr: (nr[1], nr[0]))
                | "Members" >> beam.GroupByKey()
                | "Canonical" >> beam.FlatMapTuple(lambda _root, nodes: with_canonical(nodes))
            )
            verdicts = (
                {"canonical": canonical,
                 "edges": edges | "EdgeEnds" >> beam.FlatMap(
                     lambda e: [(e.a, (e.b, e.measure, e.value)), (e.b, (e.a, e.measure, e.value))])}
                | "EdgesOfNode" >> beam.CoGroupByKey()
                | "Explain" >> beam.FlatMapTuple(
                    lambda node, g: [(id_of(node), explain(node, c, g["edges"]))
                                     for c in g["canonical"] if folds(node, c)])
            )
        return (
            {"group": keyed_groups, "verdict": verdicts,
             "item": new_items | "ItemById" >> beam.Map(lambda it: (it.article_id, it)),
             "prior": prior | "PriorById" >> beam.Map(lambda it: (it.article_id, it))}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_ResolveFn(self.progress)).with_outputs(
                "duplicates", "index", main="articles")
        )
