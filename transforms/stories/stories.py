"""Stories stage: kept articles (with their entities) -> the same articles with their
``story_id``, the ``story_index`` rows of this batch, and the merges of earlier stories.

    articles -> StoryItem (term vector, time, language)       features.py
      -> by language: one group per language                  (stories never cross languages)
      -> assign: earlier stories within the horizon (lake,    index.py, assign.py
         at the planned snapshot) + this batch, in time order
      -> (article id, story id) joined back to the articles

A language's articles of one batch are assigned in one place, in time order: the single
pass is sequential by nature, and it is what lets one run and several scheduled runs
agree. Its state is each article's vector (about 1 KB serialised, a few KB in memory: a
batch of 1,000 articles holds a few MB). ``assign_records`` is the same assignment for a streaming pane's commit.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.records import Article
from transforms.progress import TalliedFn
from schemas.records import Merge, StoryItem
from transforms.stories.assign import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD, assign
from transforms.stories.features import preload, sketch, weights

STAGE = "stories"
# Articles whose language is unknown are stories among themselves.
UNKNOWN_LANGUAGE = "und"
MERGES = "merges"
INDEX = "index"


def item_of(a: Article, ingested_us: int) -> StoryItem:
    """An article's StoryItem: its time is when it was published, else when it was ingested."""
    terms = weights(a.title, a.text, [(c.canonical, c.label, c.count) for c in a.entity_counts],
                    a.language)
    hashes, values = sketch(terms)
    when = a.published_at_us if a.published_at_us is not None else ingested_us
    return StoryItem(a.article_id, when, a.language or UNKNOWN_LANGUAGE, hashes, values, None,
                     a.source_uri, a.published_at_us is not None)


def assign_items(items: Sequence[StoryItem],
                 prior: Callable[[str, List[StoryItem]], Tuple[List[StoryItem], Dict[str, int]]],
                 threshold: float, horizon_days: float
                 ) -> Tuple[List[StoryItem], List[Merge]]:
    """Items with their ``story_id`` set, and merges of earlier stories; ``prior(language,
    items)`` gives the earlier items of a language around those items' times and their
    stories' start times (``index.prior_items``)."""
    by_language: Dict[str, List[StoryItem]] = {}
    for it in items:
        by_language.setdefault(it.language, []).append(it)
    out: List[StoryItem] = []
    merges: List[Merge] = []
    for language in sorted(by_language):
        group = by_language[language]
        earlier, starts = prior(language, group)
        joined, merged = assign(group, earlier, threshold, horizon_days, starts=starts)
        story = dict(joined)
        out.extend(it._replace(story_id=story[it.article_id]) for it in group)
        merges.extend(merged)
    return out, merges


def assign_records(con, articles: Sequence[Article], ingested_us: int, threshold: float,
                   horizon_days: float) -> Tuple[List[Article], List[StoryItem], List[Merge]]:
    """For a commit that holds the writer lock (a streaming pane): ``articles`` with their
    stories, against the lake ``con`` has selected as it stands."""
    from transforms.stories.index import prior_items
    items, merges = assign_items([item_of(a, ingested_us) for a in articles],
                                 lambda lang, new: prior_items(con, lang, new, threshold,
                                                               horizon_days),
                                 threshold, horizon_days)
    story = {it.article_id: it.story_id for it in items}
    return [a._replace(story_id=story[a.article_id]) for a in articles], items, merges


class _ItemFn(TalliedFn, beam.DoFn):
    def __init__(self, ingested_us: int, progress: Optional[str]):
        TalliedFn.__init__(self, progress, STAGE)
        self.ingested_us = ingested_us
        self.failed = Metrics.counter(STAGE, "articles_without_vector")

    def setup(self):
        super().setup()
        # word frequencies load while the stages before this one work (1.5 s a process)
        threading.Thread(target=preload, name="wordfreq-preload", daemon=True).start()

    def process(self, a: Article):
        start = time.perf_counter()
        try:
            it = item_of(a, self.ingested_us)
        except Exception as e:  # noqa: BLE001 (an article no vector can be made of: a story of its own)
            self.failed.inc()
            logging.getLogger(__name__).warning("no story vector for %s: %s", a.source_uri, e)
            it = item_of(a._replace(title=None, text="", entity_counts=[]), self.ingested_us)
        self.tally.add(0, time.perf_counter() - start)
        yield it.language, it


class _AssignFn(TalliedFn, beam.DoFn):
    """(language, [StoryItem]) -> (article id, story id); tagged ``index`` (the items with
    their story) and ``merges``. ``earlier``: ``(lake, snapshot)``, or None for a lake with
    no stories yet."""

    def __init__(self, earlier: Optional[tuple], threshold: float, horizon_days: float,
                 progress: Optional[str], warm=None):
        TalliedFn.__init__(self, progress, STAGE)
        self.earlier, self.threshold, self.horizon_days = earlier, threshold, horizon_days
        self.warm = warm
        self.reader = None
        self.read = Metrics.counter(STAGE, "earlier_articles_read")
        self.merged = Metrics.counter(STAGE, "stories_merged")

    def setup(self):
        super().setup()
        if self.earlier is not None:
            from transforms.lake_reader import LakeReader
            lake, snapshot = self.earlier
            self.reader = LakeReader(lake, snapshot, self.warm)

    def _prior(self, language: str, new: List[StoryItem]) -> Tuple[List[StoryItem], Dict[str, int]]:
        if self.reader is None:
            return [], {}
        import duckdb
        from transforms.stories.index import prior_items
        try:
            found, starts = prior_items(self.reader.open(), language, new, self.threshold,
                                        self.horizon_days)
        except duckdb.Error as e:
            raise self.reader.error("looking up earlier stories", e) from None
        self.read.inc(len(found))
        return found, starts

    def process(self, element):
        _, items = element
        items = list(items)
        start = time.perf_counter()
        assigned, merges = assign_items(items, self._prior, self.threshold, self.horizon_days)
        started = sum(1 for it in assigned if it.story_id == it.article_id)
        self.tally.add(len(assigned), time.perf_counter() - start, started=started)
        self.merged.inc(len(merges))
        for it in assigned:
            yield it.article_id, it.story_id
            yield beam.pvalue.TaggedOutput(INDEX, it)
        for m in merges:
            yield beam.pvalue.TaggedOutput(MERGES, m)

    def teardown(self):
        if self.reader is not None:
            self.reader.close()


def _with_story(article_id: str, grouped) -> Iterable[Article]:
    stories = list(grouped["story"])
    for a in grouped["article"]:
        yield a._replace(story_id=stories[0] if stories else None)


class AssignStories(beam.PTransform):
    """PCollection[Article] (kept, with entities) -> {``articles``: the same articles,
    each with its ``story_id``; ``index``: StoryItem with its story, for later batches;
    ``merges``: Merge of stories earlier runs committed}.

    ``ingested_us``: the batch's ingest time, the time of articles without a date;
    ``earlier``: ``(lake, snapshot)`` of a lake whose stories this batch may continue, or
    None; ``threshold``, ``horizon_days``: see ``transforms.stories.assign``;
    ``progress``, ``warm``: as for the other stages."""

    def __init__(self, ingested_us: int, earlier: Optional[tuple] = None,
                 threshold: float = DEFAULT_THRESHOLD,
                 horizon_days: float = DEFAULT_HORIZON_DAYS,
                 progress: Optional[str] = None, warm=None):
        super().__init__()
        self.ingested_us, self.earlier = ingested_us, earlier
        self.threshold, self.horizon_days = threshold, horizon_days
        self.progress, self.warm = progress, warm

    def expand(self, articles):
        assigned = (
            articles
            | "Items" >> beam.ParDo(_ItemFn(self.ingested_us, self.progress))
            | "ByLanguage" >> beam.GroupByKey()
            | "Assign" >> beam.ParDo(_AssignFn(self.earlier, self.threshold, self.horizon_days,
                                               self.progress, self.warm)
                                     ).with_outputs(INDEX, MERGES, main="stories")
        )
        joined = (
            {"article": articles | "ById" >> beam.Map(lambda a: (a.article_id, a)),
             "story": assigned.stories}
            | "JoinStories" >> beam.CoGroupByKey()
            | "WithStory" >> beam.FlatMapTuple(_with_story).with_output_types(Article)
        )
        return {"articles": joined, INDEX: assigned[INDEX], MERGES: assigned[MERGES]}
