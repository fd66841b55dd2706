"""Dedup on an unbounded stream (``--streaming``): stateful, keyed by text hash and by LSH
band, so that a copy is found however long after its original it arrives.

Batch dedup (``transforms.dedup.dedup``) sees a whole batch and picks the canonical article
by content. A stream never sees "the whole", so here the rule is arrival: the first article
of a story is canonical, later copies are duplicates of it; except for versions of one page:
a capture that declares a newer update or publication time than the kept capture of its
page it matched supersedes it (the same rule as a batch), in its pane's commit (step 4).
All state lives in the global window, keyed, so windows (which only cut the output into
commits) do not bound what the stream remembers:

1. **Exact** (key: text hash): the first article with a hash goes on; later ones are exact
   duplicates of it.
2. **Bands** (key: LSH band key): each band's state holds the sketches of the articles seen
   in that bucket (at most ``max_bucket`` of the newest, so a degenerate bucket cannot grow
   without bound), each with its root (canonical) as this bucket knew it. A new article is
   verified (``dedup.verify``: Jaccard or containment, and the facts check) against each,
   and the bucket emits one verdict for it: the earliest verified match, or none.
3. **Resolve** (key: article id): an article waits for the verdicts of all its bands (their
   number is known from its signature), then is kept, or becomes a near duplicate of the
   root of its earliest match.
4. **Pages** (key: page): a kept article of a page, or one that supersedes the capture of
   its page it matched, meets the page's kept capture (``_PageFn``): the newer one is kept
   and the other becomes its ``version`` duplicate.

A bucket knows roots only through what it saw, so a copy may name as canonical an article
that another bucket found to be a copy itself; the per-window commit follows such chains
(``commit_batch(follow_chains=True)``) so every ``canonical_id`` names a kept article.
The state is the signature index of the stream; on Dataflow it survives ``--update`` and
drains, not a new job (which starts remembering afresh).
"""
from __future__ import annotations

import typing
from typing import List, Optional

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec

from schemas.records import Article, DedupItem, Duplicate
from transforms.dedup import minhash
from transforms.dedup.dedup import (CANDIDATE_LEVEL, DEFAULT_NUM_PERM, DEFAULT_SHINGLE,
                                    DEFAULT_THRESHOLD, MAX_BUCKET_ALL_PAIRS, STAGE, page_key,
                                    to_item, verify, version_time)

MAX_BUCKET = MAX_BUCKET_ALL_PAIRS


class Seen(typing.NamedTuple):
    """An article as a bucket remembers it."""
    order: tuple          # (event time in micros, article id): arrival order
    article_id: str
    root_id: str
    item: DedupItem


class Found(typing.NamedTuple):
    """A bucket's verdict on a new article: its earliest verified match there, or None;
    with the match's record, page and version (a newer version of its page supersedes it)."""
    order: tuple
    matched_id: str
    root_id: str
    measure: str
    value: float
    source_uri: str = ""
    page_key: str = ""
    version_us: typing.Optional[int] = None


def first_match(item: DedupItem, order: tuple, seen: List[Seen],
                threshold: float) -> Optional[Found]:
    """Pure: the earliest article of ``seen`` that arrived before ``item`` (at ``order``) and
    that ``item`` verifies against, or None. Only earlier ones: buckets see arrivals in
    different orders, and a link to a later article could fold two copies into each other,
    leaving the story with no kept article."""
    for s in sorted(seen, key=lambda s: s.order):
        if s.order >= order:
            break
        m = verify(s.item, item, threshold)
        if m is not None:
            return Found(s.order, s.article_id, s.root_id, m.measure, m.value,
                         s.item.source_uri, s.item.page_key, s.item.version_us)
    return None


def newer(version: Optional[int], than: Optional[int]) -> bool:
    """Whether a capture declaring ``version`` is newer than one declaring ``than``: only a
    declared time can be (a stream has no whole to rank undated captures by)."""
    return version is not None and (than is None or version > than)


def supersedes(item: DedupItem, found: Found) -> bool:
    """Pure: whether ``item`` is a newer version of the page of the article it matched, that
    article being canonical (the batch rule for versions: the newest declared time; a capture
    that declares none never supersedes one in a stream, where there is no whole to rank)."""
    return (found.matched_id == found.root_id and bool(item.page_key)
            and item.page_key == found.page_key and newer(item.version_us, found.version_us))


def remembered(seen: List[Seen], new: Seen, cap: int) -> List[Seen]:
    """Pure: what a bucket keeps after ``new``: the newest ``cap`` articles."""
    return sorted(seen + [new], key=lambda s: s.order)[-cap:]


def _order(ts, article_id: str) -> tuple:
    return (int(ts.micros), article_id)


class _ExactFn(beam.DoFn):
    """(text hash, Article) -> Article (first of its hash, or a newer version of its page,
    which the near step then lets supersede it) or tagged ``duplicates``."""
    FIRST = ReadModifyWriteStateSpec("first", PickleCoder())

    def __init__(self):
        self.exact = Metrics.counter(STAGE, "exact_duplicates")

    def process(self, element, first=beam.DoFn.StateParam(FIRST)):
        _, article = element
        seen = first.read()
        page, version = page_key(article.url), version_time(article)
        # state written before pages were kept holds the id alone (a job updated in place)
        canonical = seen[0] if isinstance(seen, tuple) else seen
        if canonical is None:
            first.write((article.article_id, page, version))
            yield article
        elif canonical == article.article_id:
            return  # the same record again (a file matched by two inputs): once is enough
        elif isinstance(seen, tuple) and page and page == seen[1] and newer(version, seen[2]):
            first.write((article.article_id, page, version))
            yield article
        else:
            self.exact.inc()
            yield beam.pvalue.TaggedOutput("duplicates", Duplicate(
                article.source_uri, article.article_id, canonical, 1.0, "exact", "text_hash",
                canonical))


class _SketchFn(beam.DoFn):
    """Article -> (article id, ("article", article, item, bands)) and, per band key,
    (band key, (item, order))."""

    def __init__(self, num_perm: int, shingle: int, bands: int, rows: int):
        self.num_perm, self.shingle, self.bands, self.rows = num_perm, shingle, bands, rows

    def process(self, article: Article, ts=beam.DoFn.TimestampParam):
        item = to_item(article, self.num_perm, self.shingle)
        keys = minhash.band_keys(np.frombuffer(item.signature, dtype=np.uint32), self.bands, self.rows)
        yield beam.pvalue.TaggedOutput("resolve", (article.article_id, ("article", article, item, len(keys))))
        order = _order(ts, article.article_id)
        for k in keys:
            yield beam.pvalue.TaggedOutput("bands", (k, (item, order)))


class _BandFn(beam.DoFn):
    """(band key, (item, order)) -> (article id, ("band", Found or None))."""
    SEEN = BagStateSpec("seen", PickleCoder())

    def __init__(self, threshold: float, max_bucket: int = MAX_BUCKET):
        self.threshold, self.max_bucket = threshold, max_bucket
        self.candidates = Metrics.counter(STAGE, "candidate_pairs")

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
        _, (item, order) = element
        stored = list(seen.read())
        self.candidates.inc(len(stored))
        found = first_match(item, order, stored, self.threshold)
        yield item.article_id, ("band", found)
        keep = remembered(stored, Seen(order, item.article_id,
                                       found.root_id if found else item.article_id, item),
                          self.max_bucket)
        seen.clear()
        for s in keep:
            seen.add(s)


class _ResolveFn(beam.DoFn):
    """(article id, message) -> kept Article (main), ``duplicates``, ``index`` (DedupItem),
    once the article and all its bands' verdicts are in."""
    MESSAGES = BagStateSpec("messages", PickleCoder())

    def __init__(self):
        self.kept = Metrics.counter(STAGE, "articles_kept")
        self.near = Metrics.counter(STAGE, "near_duplicates")
        self.versions = Metrics.counter(STAGE, "older_versions")

    def process(self, element, messages=beam.DoFn.StateParam(MESSAGES)):
        _, message = element
        got = list(messages.read()) + [message]
        article = next((m for m in got if m[0] == "article"), None)
        verdicts = [m[1] for m in got if m[0] == "band"]
        if article is None or len(verdicts) < article[3]:
            messages.add(message)
            return
        messages.clear()
        _, a, item, _ = article
        found = [v for v in verdicts if v is not None]
        best = min(found, key=lambda f: f.order) if found else None
        if best is None or supersedes(item, best):
            if item.page_key:  # its page's captures decide (``_PageFn``)
                yield beam.pvalue.TaggedOutput("pages", (item.page_key, (a, item, best)))
                return
            self.kept.inc()
            yield a
            yield beam.pvalue.TaggedOutput("index", item)
            return
        self.near.inc()
        yield beam.pvalue.TaggedOutput("duplicates", Duplicate(
            a.source_uri, a.article_id, best.root_id, float(best.value), "near", best.measure,
            best.matched_id))


def page_step(state: dict, a: Article, item: DedupItem, found: Optional[Found]):
    """Pure: the captures of one page meet. ``state``: {"kept": {article id: (source uri,
    version)}, "replaced": {superseded id: the id that superseded it}}, updated in place.
    Returns (keep ``a``, [Duplicate]). A capture that matched nothing of the page is kept
    beside the others (a page can hold another story later); one that matched a kept
    capture (followed through the captures that superseded it) supersedes it when newer,
    else folds into it as a ``version``."""
    kept, replaced = state.setdefault("kept", {}), state.setdefault("replaced", {})
    target = found.matched_id if found is not None else None
    while target in replaced:
        target = replaced[target]
    if target not in kept:
        kept[a.article_id] = (a.source_uri, item.version_us)
        return True, []
    uri, version = kept[target]
    if not newer(item.version_us, version):
        return False, [Duplicate(a.source_uri, a.article_id, target, float(found.value), "version",
                                 found.measure, found.matched_id)]
    del kept[target]
    replaced[target] = a.article_id
    kept[a.article_id] = (a.source_uri, item.version_us)
    return True, [Duplicate(uri, target, a.article_id, float(found.value), "version",
                            found.measure, a.article_id)]


class _PageFn(beam.DoFn):
    """(page key, (Article, DedupItem, Found or None)) -> kept Article (main), ``index``,
    ``duplicates``: the captures of one page in arrival order (``page_step``). A kept
    capture that a newer one supersedes becomes its ``version`` duplicate; the pane's commit
    removes its article row and straightens the copies that pointed to it."""
    CAPTURES = ReadModifyWriteStateSpec("captures", PickleCoder())

    def __init__(self):
        self.kept = Metrics.counter(STAGE, "articles_kept")
        self.versions = Metrics.counter(STAGE, "older_versions")

    def process(self, element, captures=beam.DoFn.StateParam(CAPTURES)):
        _, (a, item, found) = element
        state = captures.read() or {}
        keep, dups = page_step(state, a, item, found)
        captures.write(state)
        for d in dups:
            self.versions.inc()
            yield beam.pvalue.TaggedOutput("duplicates", d)
        if keep:
            self.kept.inc()
            yield a
            yield beam.pvalue.TaggedOutput("index", item)


class StreamDedup(beam.PTransform):
    """PCollection[Article] (unbounded, any windowing: the state is global) ->
    DoOutputsTuple: ``articles`` (kept), ``duplicates``, ``index`` (DedupItem of each kept
    article). Output elements keep their input's timestamp."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM,
                 shingle: int = DEFAULT_SHINGLE, max_bucket: int = MAX_BUCKET):
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError(f"dedup threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.shingle, self.max_bucket = threshold, num_perm, shingle, max_bucket
        self.bands, self.rows = minhash.lsh_params(min(CANDIDATE_LEVEL, threshold), num_perm)

    def expand(self, articles):
        glob = articles | "Remember" >> beam.WindowInto(beam.window.GlobalWindows())
        exact = (glob
                 | "ByTextHash" >> beam.Map(lambda a: (a.text_hash, a))
                 | "Exact" >> beam.ParDo(_ExactFn()).with_outputs("duplicates", main="firsts"))
        sketched = exact.firsts | "Sketch" >> beam.ParDo(
            _SketchFn(self.num_perm, self.shingle, self.bands, self.rows)).with_outputs("resolve", "bands")
        verdicts = sketched.bands | "Bands" >> beam.ParDo(_BandFn(self.threshold, self.max_bucket))
        resolved = ((sketched.resolve, verdicts) | "ToResolve" >> beam.Flatten()
                    | "Resolve" >> beam.ParDo(_ResolveFn()).with_outputs("duplicates", "index",
                                                                          "pages", main="articles"))
        pages = resolved.pages | "Pages" >> beam.ParDo(_PageFn()).with_outputs(
            "duplicates", "index", main="articles")
        duplicates = ((exact.duplicates, resolved.duplicates, pages.duplicates)
                      | "AllDuplicates" >> beam.Flatten())
        return {"articles": (resolved.articles, pages.articles) | "AllArticles" >> beam.Flatten(),
                "duplicates": duplicates,
                "index": (resolved.index, pages.index) | "AllIndex" >> beam.Flatten()}
