"""Story assignment: articles in time order, each joins the story it is most like, or starts one.

Pure functions, no Beam. A single pass over the batch's articles sorted by (time, id), as
in streaming news clustering (Miranda et al., EMNLP 2018): an article's similarity to a
story is the cosine between its term vector (``transforms.stories.features``) and the
story's centroid (the sum of its members' vectors), discounted by the days between the
article and the story's span. Above ``threshold`` it joins the best story; below, it starts
a story of its own, named by its article id. Stories of earlier runs (their members within
the horizon, looked up from the lake) take part as they stand, so a scheduled run continues
the stories the runs before it made; and since a batch is read in time order, one run over a
folder and several runs over it as it grows see nearly the same sequence.

An article that is at least ``merge_threshold`` like a second story (stricter than joining)
while those two stories are themselves ``threshold`` alike bridges them: they merge, the
older story's id survives (earlier first article, then smaller id), and a merge of a story
earlier runs committed is returned so the commit can repoint its articles.

Precision comes first: two stories about the same people in the same week share names but
not the words of what happened, and the threshold keeps them apart.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from schemas.records import Merge, StoryItem
from transforms.stories.features import unpack

DAY_US = 86_400 * 1_000_000
DEFAULT_THRESHOLD = 0.30
DEFAULT_HORIZON_DAYS = 7
DECAY_DAYS = 1.5
AGE_DAYS = 1e9
MERGE_MARGIN = 0.10


def time_decay(gap_us: int, age_us: int) -> float:
    """What a story's similarity keeps when the article is ``gap_us`` from the story's span
    and ``age_us`` after its first article: a Gaussian in the gap."""
    g = gap_us / DAY_US / DECAY_DAYS
    a = max(0, age_us) / DAY_US / AGE_DAYS
    return math.exp(-0.5 * g * g - 0.5 * a * a)


class _Story:
    """A story's centroid and span. The span is that of its dated articles; a story of
    undated articles only spans their ingest times (``dated`` False) until a dated one joins."""
    __slots__ = ("story_id", "first", "last", "centroid", "norm2", "prior", "dated")

    def __init__(self, story_id: str, time_us: int, prior: bool, dated: bool):
        self.story_id, self.first, self.last, self.prior = story_id, time_us, time_us, prior
        self.dated = dated
        self.centroid: Dict[int, float] = {}
        self.norm2 = 0.0

    def extend(self, time_us: int, dated: bool) -> None:
        if dated and not self.dated:
            self.first, self.last, self.dated = time_us, time_us, True
        elif dated or not self.dated:
            self.first, self.last = min(self.first, time_us), max(self.last, time_us)

    def older_than(self, other: "_Story") -> bool:
        return (self.first, self.story_id) < (other.first, other.story_id)


class _Index:
    """Stories and an inverted index from term to the stories whose centroid holds it."""

    def __init__(self):
        self.stories: Dict[str, _Story] = {}
        self.postings: Dict[int, Dict[str, float]] = {}
        self.parent: Dict[str, str] = {}

    def find(self, sid: str) -> str:
        while self.parent.get(sid, sid) != sid:
            sid = self.parent[sid]
        return sid

    def add(self, story: _Story, terms: np.ndarray, weights: np.ndarray) -> None:
        c = story.centroid
        for t, w in zip(terms.tolist(), weights.tolist()):
            old = c.get(t, 0.0)
            c[t] = old + w
            story.norm2 += (old + w) ** 2 - old ** 2
            self.postings.setdefault(t, {})[story.story_id] = old + w

    def scores(self, terms: np.ndarray, weights: np.ndarray, time_us: Optional[int],
               horizon_us: int) -> List[Tuple[float, str]]:
        """(similarity, story id) of every story within the horizon sharing a term, best
        first; ``time_us`` None (an undated article): every story, undiscounted."""
        dots: Dict[str, float] = {}
        for t, w in zip(terms.tolist(), weights.tolist()):
            for sid, cw in self.postings.get(t, {}).items():
                dots[sid] = dots.get(sid, 0.0) + w * cw
        out = []
        for sid, dot in dots.items():
            s = self.stories[sid]
            if s.norm2 <= 0:
                continue
            decay = 1.0
            if time_us is not None:
                gap = max(0, s.first - time_us, time_us - s.last)
                if gap > horizon_us:
                    continue
                decay = time_decay(gap, time_us - s.first)
            out.append((dot / math.sqrt(s.norm2) * decay, sid))
        out.sort(key=lambda x: (-x[0], x[1]))
        return out

    def similarity(self, a: _Story, b: _Story) -> float:
        small, large = sorted((a, b), key=lambda s: len(s.centroid))
        dot = sum(w * large.centroid.get(t, 0.0) for t, w in small.centroid.items())
        return dot / math.sqrt(max(a.norm2 * b.norm2, 1e-12))

    def merge(self, keep: _Story, gone: _Story) -> None:
        for t, w in gone.centroid.items():
            self.postings[t].pop(gone.story_id, None)
        terms = np.array(list(gone.centroid), dtype=np.uint64)
        weights = np.array(list(gone.centroid.values()), dtype=np.float64)
        self.add(keep, terms, weights)
        keep.extend(gone.first, gone.dated)
        keep.extend(gone.last, gone.dated)
        keep.prior = keep.prior or gone.prior
        del self.stories[gone.story_id]
        self.parent[gone.story_id] = keep.story_id


def assign(new: Sequence[StoryItem], prior: Iterable[StoryItem] = (),
           threshold: float = DEFAULT_THRESHOLD, horizon_days: float = DEFAULT_HORIZON_DAYS,
           merge_threshold: Optional[float] = None
           ) -> Tuple[List[Tuple[str, str]], List[Merge]]:
    """(article id, story id) for every new item, and the merges of committed stories.

    ``prior``: items of earlier runs with their ``story_id`` (the stories to continue).
    Items of one call should share a language; nothing here compares across languages.
    """
    merge_threshold = threshold + MERGE_MARGIN if merge_threshold is None else merge_threshold
    horizon_us = int(horizon_days * DAY_US)
    index = _Index()
    for it in sorted(prior, key=lambda it: (it.time_us, it.article_id)):
        story = index.stories.get(it.story_id)
        if story is None:
            story = index.stories[it.story_id] = _Story(it.story_id, it.time_us, True, it.dated)
        story.extend(it.time_us, it.dated)
        index.add(story, *unpack(it.terms, it.weights))
    joined: List[Tuple[str, str]] = []
    merges: List[Merge] = []
    for it in sorted(new, key=lambda it: (it.time_us, it.article_id)):
        terms, weights = unpack(it.terms, it.weights)
        when = it.time_us if it.dated else None
        ranked = index.scores(terms, weights, when, horizon_us) if terms.size else []
        if not ranked or ranked[0][0] < threshold:
            story = index.stories[it.article_id] = _Story(it.article_id, it.time_us, False,
                                                          it.dated)
        else:
            story = index.stories[ranked[0][1]]
            for sim, sid in ranked[1:]:
                if sim < merge_threshold:
                    break
                other = index.stories.get(sid)
                if other is None or index.similarity(story, other) < threshold:
                    continue
                keep, gone = (story, other) if story.older_than(other) else (other, story)
                if gone.prior:
                    merges.append(Merge(gone.story_id, keep.story_id, it.article_id, float(sim)))
                index.merge(keep, gone)
                story = keep
        story.extend(it.time_us, it.dated)
        index.add(story, terms, weights.astype(np.float64))
        joined.append((it.article_id, story.story_id))
    out = [(aid, index.find(sid)) for aid, sid in joined]
    merges = [m._replace(into_id=index.find(m.into_id)) for m in merges]
    return out, merges
