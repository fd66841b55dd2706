"""Typed records that travel between the pipeline's stages.

They are NamedTuples registered with Beam's RowCoder, so a shuffle encodes them compactly
and the same way on every runner (no pickling of plain dicts).
"""
from __future__ import annotations

import typing

import apache_beam as beam


class RawRecord(typing.NamedTuple):
    """One input record after reading and decoding, before any parsing of its content.

    ``fmt`` is ``"html"`` (a page or fragment) or ``"text"`` (plain text that may still hold
    inline HTML). ``url``/``title``/``published`` are what the container (a JSON object)
    declared, unparsed; the extractor may find more in the content itself.
    """
    source_uri: str
    fmt: str
    body: str
    url: typing.Optional[str]
    title: typing.Optional[str]
    published: typing.Optional[str]
    size_bytes: int
    modified: typing.Optional[str] = None     # declared time of the last update, unparsed


class Entity(typing.NamedTuple):
    """A named-entity mention; ``text == article.text[start_char:end_char]``. ``canonical`` is
    the name the article uses for the same entity in full ("Biden" -> "Joe Biden")."""
    text: str
    label: str
    start_char: int
    end_char: int
    canonical: str


class EntityCount(typing.NamedTuple):
    """How often an article mentions one entity (by canonical name and voted label)."""
    canonical: str
    label: str
    count: int


class Article(typing.NamedTuple):
    """An extracted article. ``published_at_us`` is microseconds since the epoch, UTC."""
    article_id: str
    source_uri: str
    url: typing.Optional[str]
    title: typing.Optional[str]
    published_at_us: typing.Optional[int]
    text: str
    word_count: int
    text_hash: str
    size_bytes: int
    language: typing.Optional[str]
    entities: typing.List[Entity]
    entity_counts: typing.List[EntityCount]
    ner_skipped: typing.Optional[str]   # why NER did not run on this article; None if it ran
    authors: typing.List[str] = []      # never mutated: records are immutable
    site_name: typing.Optional[str] = None
    story_id: typing.Optional[str] = None  # set by transforms.stories
    modified_at_us: typing.Optional[int] = None  # the update time the page declares


class Duplicate(typing.NamedTuple):
    """An article folded into another one (the canonical article, which is kept, in this run
    or an earlier one). ``matched_id`` is the article it was found to copy (the canonical one,
    or another copy of it), ``measure`` what decided that and ``similarity`` its value."""
    source_uri: str
    article_id: str
    canonical_id: str
    similarity: float
    method: str    # "exact" (same words), "near", or "version" (an older capture of the page)
    measure: str   # "text_hash", "jaccard" or "containment"
    matched_id: str


class DedupItem(typing.NamedTuple):
    """What near-duplicate detection keeps of an article, in a run and in the signature index
    of earlier runs (``prior``): its rank for the canonical choice and its sketches."""
    article_id: str
    text_hash: str
    word_count: int
    published_at_us: typing.Optional[int]
    prior: bool           # from an earlier run's index: already in the articles table
    signature: bytes      # uint32[num_perm] MinHash
    shingles: bytes       # sorted unique uint64 word-shingle hashes
    facts: bytes          # facts.slots(): slot and value hashes
    source_uri: str = ""  # the index row's record (its replacement removes the row)
    page_key: str = ""    # the page it is a capture of (``dedup.page_key``); "" unknown
    version_us: typing.Optional[int] = None  # declared update, else publication time
    # False: an earlier capture of a page that folded (a duplicate). Kept in the index so
    # that an older capture arriving later still meets its page's newer version.
    kept: bool = True
    canonical_id: str = ""    # of a duplicate: the article it folded into, and its page
    canonical_page: str = ""


class StoryItem(typing.NamedTuple):
    """What story assignment keeps of an article. ``story_id`` is set for articles of earlier
    runs (their story as committed); ``time_us`` is the publication time, else (``dated``
    False) the ingest time."""
    article_id: str
    time_us: int
    language: str
    terms: bytes      # sorted uint64 term hashes
    weights: bytes    # float32, L2-normalised
    story_id: typing.Optional[str] = None
    source_uri: str = ""  # the article's record (its replacement removes the index row)
    dated: bool = True


class Merge(typing.NamedTuple):
    """Story ``story_id`` (committed by an earlier run) now belongs to ``into_id``:
    ``article_id`` bridged them with ``similarity`` to the story merged away."""
    story_id: str
    into_id: str
    article_id: str
    similarity: float


class Reject(typing.NamedTuple):
    """An input record that could not become an article, and why."""
    source_uri: str
    reason: str
    detail: str
    size_bytes: typing.Optional[int]


class PriorRecord(typing.NamedTuple):
    """A record an earlier commit took from a file, with the hash of its content then."""
    source_uri: str
    record_hash: str


class FileEntry(typing.NamedTuple):
    """A file the run plans to take (listed by the driver, compared with the ledger).
    ``prior_hash``/``prior_records``: what the ledger holds of an earlier version of the same
    file (None/empty for a new file, and under ``--reprocess``, so that nothing is kept)."""
    path: str
    size_bytes: int
    modified_at_us: typing.Optional[int]
    prior_hash: typing.Optional[str]
    prior_records: typing.List[PriorRecord]


class FileTaken(typing.NamedTuple):
    """Ledger row of a file a batch took: ``state`` new, changed, unchanged (the size or
    time moved, the bytes did not: nothing of it is taken again), or unreadable (tried
    again by every run)."""
    file_uri: str
    size_bytes: int
    modified_at_us: typing.Optional[int]
    content_hash: typing.Optional[str]
    records: int
    state: str


class RecordTaken(typing.NamedTuple):
    """Ledger row of one input record: ``state`` new, changed, or kept (a record of a changed
    file whose content did not change: its rows stay as they are)."""
    source_uri: str
    file_uri: str
    record_hash: str
    state: str


for _cls in (RawRecord, Entity, EntityCount, Article, Duplicate, DedupItem, StoryItem, Merge,
             Reject, PriorRecord, FileEntry, FileTaken, RecordTaken):
    beam.coders.registry.register_coder(_cls, beam.coders.RowCoder)
