"""Assembles one batch's graph: planned files -> Read+Decode -> Extract -> site templates ->
Dedup -> Enrich -> Stories -> staged Parquet. The driver (``pipeline.run``) plans the batches and commits each one."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Dict, Optional, Sequence

import apache_beam as beam

from schemas.records import FileEntry
from transforms.dedup.dedup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, Dedup
from transforms.dedup.index import LookupPrior, band_rows, index_row
from transforms.entities import DEFAULT_BATCH, DEFAULT_MODEL, AnnounceToNer, Enrich
from transforms.extract import DEFAULT_MAX_WORDS, Extract
from transforms.read.decode import DEFAULT_MAX_BYTES, LEDGER_FILES, LEDGER_RECORDS, ReadAndDecode
from transforms.rejects import REJECTS
from transforms.sink.parquet import WriteTables
from transforms.stories import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD as DEFAULT_STORY_THRESHOLD
from transforms.stories import AssignStories
from transforms.stories.index import index_row as story_row
from transforms.templates import DEFAULT_MIN_PAGES, DEFAULT_MIN_SHARE, RemoveSiteTemplates


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class Ingest(beam.PTransform):
    """PCollection[FileEntry] -> {table name: PCollection} for every staged table
    (``schemas.tables.STAGED``), nothing written. Every input record ends in exactly one of
    articles, duplicates and rejects, and has its ledger row in ``ingest_records``.

    ``earlier``: ``(lake, snapshot, retaken files)`` of a lake whose articles this
    batch's copies fold into (looked up by key, ``transforms.dedup.index``), or None.
    ``progress``: a local folder for the stages' tallies (``transforms.progress``), or None.
    ``dedup_in_memory``: near copies found in one step (for batches known to be small).
    ``spread``: reshuffle the files before reading (False: the input is spread already).
    ``warm``: the ``transforms.warm.Warm`` of a process that keeps its models loaded between
    jobs, or None.
    ``template_min_pages``/``template_min_share``: lines recurring on at least this many and
    this share of a site's pages in the batch are its template and leave its articles
    (``transforms.templates``); ``template_min_pages`` 0: the stage is left out.
    ``ingested_us``: the batch's ingest time (microseconds), the story time of undated articles;
    ``stories_from``: ``(lake, snapshot)`` of a lake whose stories this batch continues, or
    None; ``story_threshold``, ``story_horizon_days``: ``transforms.stories``.
    """

    def __init__(self, *, spacy_model: str = DEFAULT_MODEL, ner_batch_size: int = DEFAULT_BATCH,
                 skip_entities: bool = False, dedup_threshold: float = DEFAULT_THRESHOLD,
                 minhash_perm: int = DEFAULT_NUM_PERM, shingle_words: int = DEFAULT_SHINGLE,
                 max_file_bytes: int = DEFAULT_MAX_BYTES, earlier: Optional[tuple] = None,
                 progress: Optional[str] = None, max_article_words: int = DEFAULT_MAX_WORDS,
                 dedup_in_memory: bool = False, warm=None, spread: bool = True,
                 template_min_pages: int = DEFAULT_MIN_PAGES,
                 template_min_share: float = DEFAULT_MIN_SHARE, ingested_us: int = 0,
                 stories_from: Optional[tuple] = None,
                 story_threshold: float = DEFAULT_STORY_THRESHOLD,
                 story_horizon_days: float = DEFAULT_HORIZON_DAYS):
        super().__init__()
        self.ingested_us, self.stories_from = ingested_us, stories_from
        self.story_threshold, self.story_horizon_days = story_threshold, story_horizon_days
        self.template_min_pages, self.template_min_share = template_min_pages, template_min_share
        self.spread = spread
        self.warm = warm
        self.progress, self.max_article_words = progress, max_article_words
        self.dedup_in_memory = dedup_in_memory
        self.spacy_model, self.ner_batch_size, self.skip_entities = spacy_model, ner_batch_size, skip_entities
        self.threshold, self.num_perm, self.shingle = dedup_threshold, minhash_perm, shingle_words
        self.max_file_bytes = max_file_bytes
        self.earlier = earlier

    def expand(self, files):
        read = files | "ReadAndDecode" >> ReadAndDecode(self.max_file_bytes, self.progress,
                                                            spread=self.spread)
        extracted = read.records | "Extract" >> Extract(self.progress, self.max_article_words,
                                                         self.warm)
        num_perm, shingle = self.num_perm, self.shingle
        dedup = Dedup(self.threshold, num_perm, shingle, progress=self.progress,
                      in_memory=self.dedup_in_memory, warm=self.warm)
        if self.earlier is not None:
            lake, snapshot, retaken = self.earlier
            dedup.lookup = LookupPrior(lake, snapshot, num_perm, shingle, dedup.bands,
                                       dedup.rows, retaken, self.warm)
        articles = extracted.articles
        if not self.skip_entities and self.warm is not None and self.warm.holds("ner"):
            # NER in a child process of this one: it annotates while Dedup runs. Before the
            # templates' barrier (their side input needs every article): a trimmed article is
            # annotated again when asked, but most are untouched and found done (sample run:
            # job 1.4 s announced after the templates, 1.1 s before)
            articles = articles | "AnnounceToNER" >> AnnounceToNer(self.spacy_model, self.warm)
        if self.template_min_pages > 0:
            # before Dedup: copies on two sites then differ by their articles, not templates
            articles = articles | "SiteTemplates" >> RemoveSiteTemplates(
                self.template_min_pages, self.template_min_share, in_memory=self.dedup_in_memory)
        deduped = articles | "Dedup" >> dedup
        rejects = [read[REJECTS], extracted[REJECTS]]
        articles = deduped.articles
        if not self.skip_entities:
            enriched = articles | "Enrich" >> Enrich(self.spacy_model, self.ner_batch_size,
                                                      progress=self.progress, warm=self.warm)
            articles = enriched.articles
            rejects.append(enriched[REJECTS])
        stories = articles | "Stories" >> AssignStories(
            self.ingested_us, self.stories_from, self.story_threshold, self.story_horizon_days,
            progress=self.progress, warm=self.warm)
        articles = stories["articles"]
        bands, rows = dedup.bands, dedup.rows
        return {
            "articles": articles,
            "duplicates": deduped.duplicates,
            "rejects": rejects | "AllRejects" >> beam.Flatten(),
            "dedup_index": deduped.index | "IndexRows" >> beam.Map(index_row, num_perm, shingle),
            "dedup_bands": deduped.index | "BandRows" >> beam.FlatMap(band_rows, bands, rows),
            "story_index": stories["index"] | "StoryRows" >> beam.Map(story_row),
            "story_merges": stories["merges"],
            "ingest_files": read[LEDGER_FILES],
            "ingest_records": read[LEDGER_RECORDS],
        }


def build(p: beam.Pipeline, opts, files: Sequence[FileEntry], *, staging: str, run_id: str,
          ingested_at: datetime, earlier: Optional[tuple] = None,
          stories_from: Optional[tuple] = None,
          progress: Optional[str] = None, warm=None) -> Dict[str, beam.PCollection]:
    """Adds one batch's job to ``p`` from IngestOptions ``opts``: ``files`` in, every staged
    table written under ``staging``; ``earlier``: ``(lake, snapshot)`` of the lake
    to look copies up in, or None; ``stories_from``: ``(lake, snapshot)`` of the lake whose
    stories the batch continues, or None; ``progress``: the stages' tally folder, or None;
    ``warm``: see ``Ingest``. Returns the tables' PCollections."""
    if earlier is not None:
        earlier = (*earlier, [f.path for f in files if f.prior_hash is not None])
    tables = (
        p
        | "Files" >> beam.Create(list(files))
        | "Ingest" >> Ingest(
            spacy_model=opts.spacy_model, ner_batch_size=opts.ner_batch_size,
            skip_entities=opts.skip_entities, dedup_threshold=opts.dedup_threshold,
            minhash_perm=opts.minhash_perm, shingle_words=opts.shingle_words,
            max_file_bytes=opts.max_file_bytes, earlier=earlier, progress=progress,
            max_article_words=opts.max_article_words,
            dedup_in_memory=sum(f.size_bytes for f in files) < opts.dedup_in_memory_below,
            template_min_pages=opts.site_template_pages,
            template_min_share=opts.site_template_share,
            ingested_us=int(ingested_at.timestamp() * 1_000_000), stories_from=stories_from,
            story_threshold=opts.story_threshold, story_horizon_days=opts.story_horizon_days,
            warm=warm, spread=False)  # Create reshuffles more than one element
    )
    tables | "Sink" >> WriteTables(staging, run_id, ingested_at, progress)
    return tables
