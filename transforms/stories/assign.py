"""Story assignment: articles in time order, each joins the story whose articles it is like,
or starts one.

Pure functions, no Beam. A single pass over the batch's articles sorted by (time, id), as
in streaming news clustering (Miranda et al., EMNLP 2018), with a precision-first join
test: an article joins a story only when it is like (nearly) every article the story holds
within the horizon, not merely like its average (complete linkage, greedy in time order).
Two articles' similarity is the cosine of their term vectors (``transforms.stories.features``)
discounted by the days between them (a Gaussian of ``DECAY_DAYS``): coverage of one event
comes within a day or two; a follow-up days later is another story unless it says the
same. Of the stories an article passes the test for, it joins the one it is most like on
average; with none, it starts a story named by its own article id.

Stories of earlier runs (their articles within the horizon, looked up from the lake) take
part as they stand, so a scheduled run continues the stories the runs before it made; and
since a batch is read in time order, one run over a folder and several runs over it as it
grows see nearly the same sequence.

An article that also passes the test for a second story, at ``merge_threshold`` (stricter
than joining), bridges them when the two stories' articles pass it for each other too: they
merge, the older story's id survives (earlier first article, then smaller id), and a merge
of a story earlier runs committed is returned so the commit can repoint its articles.

An undated article (its time is its ingest time) is compared with every story at hand
without a time discount: its time says nothing about its event.
"""
from __future__ import annotations

import bisect
import math
import typing
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from schemas.records import Merge, StoryItem
from transforms.stories.features import unpack

DAY_US = 86_400 * 1_000_000
DEFAULT_THRESHOLD = 0.20
# Articles of a story further than this from an article are not compared with it: a story
# is judged by its articles of the day around each new one, so it can grow over days while
# staying one event; and one quiet for longer is not continued.
DEFAULT_HORIZON_DAYS = 1.0
# Similarity of two articles keeps exp(-gap²/2σ²) of itself, σ in days.
DECAY_DAYS = 1.0
# Share of a story's articles within reach an article must pass the threshold with: all of
# them up to three, three of four, and so on (a large story tolerates a few outliers).
QUORUM = 0.75
MERGE_MARGIN = 0.10
# Bounds on the work per article, whatever the corpus: a term held by more articles than
# this within the horizon is scanned over those nearest in time only (the articles of one
# event are close in time; a term that common there is this corpus's background); and a
# story is judged by the articles it took last (up to this many).
MAX_POSTINGS = 32
MAX_COMPARED = 32


def time_decay(gap_us: int) -> float:
    g = gap_us / DAY_US / DECAY_DAYS
    return math.exp(-0.5 * g * g)


def reach_us(threshold: float, horizon_days: float) -> int:
    """How far apart two articles may be to be compared: the horizon, or less where the
    decay alone (identical texts) keeps a pair below ``threshold``."""
    decayed = DECAY_DAYS * math.sqrt(2 * math.log(1 / threshold)) if 0 < threshold < 1 else 0.0
    return int(min(horizon_days, decayed) * DAY_US)


class _Member(typing.NamedTuple):
    story_id: str
    time_us: int
    dated: bool
    vector: Dict[int, float]


class _Story:
    __slots__ = ("story_id", "first", "members")

    def __init__(self, story_id: str, time_us: int):
        self.story_id, self.first = story_id, time_us
        self.members: List[str] = []

    def older_than(self, other: "_Story") -> bool:
        return (self.first, self.story_id) < (other.first, other.story_id)


class _Index:
    """Articles (members of stories) and an inverted index from term to the articles."""

    def __init__(self, horizon_us: int):
        self.horizon_us = horizon_us
        self.committed: set = set()  # ids of the stories earlier runs committed
        self.members: Dict[str, _Member] = {}
        self.stories: Dict[str, _Story] = {}
        # term -> (times, article ids, their weights of the term) of the dated articles
        # holding it, in time order, so that a dated article scans only the horizon around
        # it; and term -> (ids, weights) of the undated ones
        self.postings: Dict[int, Tuple[List[int], List[str], List[float]]] = {}
        self.undated: Dict[int, Tuple[List[str], List[float]]] = {}
        self.parent: Dict[str, str] = {}

    def find(self, sid: str) -> str:
        while self.parent.get(sid, sid) != sid:
            sid = self.parent[sid]
        return sid

    def add(self, article_id: str, story: _Story, time_us: int, dated: bool,
            vector: Dict[int, float]) -> None:
        self.members[article_id] = _Member(story.story_id, time_us, dated, vector)
        story.members.append(article_id)
        story.first = min(story.first, time_us)
        for t, w in vector.items():
            if not dated:
                ids, ws = self.undated.setdefault(t, ([], []))
                ids.append(article_id)
                ws.append(w)
                continue
            times, ids, ws = self.postings.setdefault(t, ([], [], []))
            i = bisect.bisect_right(times, time_us)
            times.insert(i, time_us)
            ids.insert(i, article_id)
            ws.insert(i, w)

    def near(self, t: int, me: "_Member") -> Iterable[Tuple[str, float]]:
        """(article, its weight of term ``t``) of the articles holding ``t`` that ``me`` may be
        compared with."""
        ids, ws = self.undated.get(t, ((), ()))
        yield from zip(ids[-MAX_POSTINGS:], ws[-MAX_POSTINGS:])
        times, ids, ws = self.postings.get(t, ((), (), ()))
        if not me.dated:  # no time to be near: the latest
            yield from zip(ids[-MAX_POSTINGS:], ws[-MAX_POSTINGS:])
            return
        lo = bisect.bisect_left(times, me.time_us - self.horizon_us)
        hi = bisect.bisect_right(times, me.time_us + self.horizon_us)
        if hi - lo > MAX_POSTINGS:  # a term this common here: its articles nearest in time
            at = bisect.bisect_left(times, me.time_us, lo, hi)
            lo = max(lo, min(at - MAX_POSTINGS // 2, hi - MAX_POSTINGS))
            hi = lo + MAX_POSTINGS
        yield from zip(ids[lo:hi], ws[lo:hi])

    def pair(self, a: _Member, b: _Member, dot: float) -> Optional[float]:
        """Two articles' similarity, discounted by their time gap; None beyond reach (see
        ``reach_us``: ``horizon_us`` is that reach)."""
        if not (a.dated and b.dated):
            return dot
        gap = abs(a.time_us - b.time_us)
        return None if gap > self.horizon_us else dot * time_decay(gap)

    def passes(self, sims: List[float], threshold: float) -> bool:
        return bool(sims) and sum(s >= threshold for s in sims) >= QUORUM * len(sims)

    def candidates(self, me: _Member) -> List[Tuple[float, str, List[float]]]:
        """(mean similarity, story id, similarities to its articles within the horizon) of
        every story sharing a term with ``me``, best first."""
        dots: Dict[str, float] = {}
        for t, w in me.vector.items():
            for aid, theirs in self.near(t, me):
                dots[aid] = dots.get(aid, 0.0) + w * theirs
        out = []
        for sid in {self.members[aid].story_id for aid in dots}:
            sims = [s for s in (self.pair(me, self.members[m], dots.get(m, 0.0))
                                for m in self.stories[sid].members[-MAX_COMPARED:])
                    if s is not None]
            if sims:
                out.append((sum(sims) / len(sims), sid, sims))
        out.sort(key=lambda x: (-x[0], x[1]))
        return out

    def cross(self, a: _Story, b: _Story) -> List[float]:
        """Similarities of every pair of articles of two stories (within the horizon)."""
        out = []
        for x in a.members[-MAX_COMPARED:]:
            mx = self.members[x]
            for y in b.members[-MAX_COMPARED:]:
                my = self.members[y]
                small, large = sorted((mx.vector, my.vector), key=len)
                s = self.pair(mx, my, sum(w * large.get(t, 0.0) for t, w in small.items()))
                if s is not None:
                    out.append(s)
        return out

    def merge(self, keep: _Story, gone: _Story) -> None:
        for aid in gone.members:
            self.members[aid] = self.members[aid]._replace(story_id=keep.story_id)
        keep.members = sorted(keep.members + gone.members,  # the latest stay last
                              key=lambda a: (self.members[a].time_us, a))
        keep.first = min(keep.first, gone.first)
        del self.stories[gone.story_id]
        self.parent[gone.story_id] = keep.story_id


def _vector(it: StoryItem) -> Dict[int, float]:
    terms, weights = unpack(it.terms, it.weights)
    return dict(zip(terms.tolist(), weights.astype(np.float64).tolist()))


def assign(new: Sequence[StoryItem], prior: Iterable[StoryItem] = (),
           threshold: float = DEFAULT_THRESHOLD, horizon_days: float = DEFAULT_HORIZON_DAYS,
           merge_threshold: Optional[float] = None, starts: Optional[Dict[str, int]] = None
           ) -> Tuple[List[Tuple[str, str]], List[Merge]]:
    """(article id, story id) for every new item, and the merges of committed stories.

    ``prior``: items of earlier runs with their ``story_id`` (the stories to continue);
    ``starts``: the time of each such story's first article, where it lies before the items
    at hand (which story is older decides which id a merge keeps).
    Items of one call should share a language; nothing here compares across languages.
    """
    merge_threshold = threshold + MERGE_MARGIN if merge_threshold is None else merge_threshold
    index = _Index(reach_us(threshold, horizon_days))
    for it in sorted(prior, key=lambda it: (it.time_us, it.article_id)):
        story = index.stories.get(it.story_id)
        if story is None:
            story = index.stories[it.story_id] = _Story(it.story_id, it.time_us)
            index.committed.add(it.story_id)
        index.add(it.article_id, story, it.time_us, it.dated, _vector(it))
    for sid, first in (starts or {}).items():
        if sid in index.stories:
            index.stories[sid].first = min(index.stories[sid].first, first)
    joined: List[Tuple[str, str]] = []
    merges: List[Merge] = []
    for it in sorted(new, key=lambda it: (it.time_us, it.article_id)):
        me = _Member("", it.time_us, it.dated, _vector(it))
        ranked = [c for c in index.candidates(me) if index.passes(c[2], threshold)]
        if ranked:
            story = index.stories[ranked[0][1]]
        elif it.article_id in index.stories or it.article_id in index.parent:
            # a record taken again, unchanged, that founded a story: it is that story's still
            story = index.stories[index.find(it.article_id)]
        else:
            story = index.stories[it.article_id] = _Story(it.article_id, it.time_us)
        index.add(it.article_id, story, it.time_us, it.dated, me.vector)
        joined.append((it.article_id, story.story_id))
        similarity = {sid: mean for mean, sid, _ in ranked}
        for mean, sid, sims in ranked[1:]:
            other = index.stories.get(sid)
            if (other is None or other is story or not index.passes(sims, merge_threshold)
                    or not index.passes(index.cross(story, other), threshold)):
                continue
            keep, gone = (story, other) if story.older_than(other) else (other, story)
            if gone.story_id in index.committed:  # only earlier runs' stories need repointing
                merges.append(Merge(gone.story_id, keep.story_id, it.article_id,
                                    float(similarity.get(gone.story_id, mean))))
            index.merge(keep, gone)
            story = keep
    out = [(aid, index.find(sid)) for aid, sid in joined]
    merges = [m._replace(into_id=index.find(m.into_id)) for m in merges]
    return out, merges
