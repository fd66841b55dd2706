"""The signature index: sketches of the articles an output folder already holds.

Every run appends the ``DedupItem`` of each article it keeps to
``OUTPUT/_dedup_index/<run_id>-SSSSS-of-NNNNN.parquet``. The next run over new files reads
them back as ``prior`` items of ``Dedup``, where they meet the new articles in the same
shuffles (exact hash groups, LSH buckets, verification joins): a copy of an earlier article
becomes a duplicate pointing to it, and nothing is held in the driver. Files are listed when
the graph is built, so files this run writes are never read back by it.
"""
from __future__ import annotations

import logging
from typing import Dict, List

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet, WriteToParquet
from apache_beam.metrics import Metrics

from schemas.records import DedupItem
from schemas.tables import DEDUP_INDEX, INDEX_DIR

STAGE = "dedup"


def index_dir(output: str) -> str:
    return FileSystems.join(output, INDEX_DIR)


def index_files(output: str) -> List[str]:
    """The index files under ``output`` now (none for a new output folder)."""
    pattern = FileSystems.join(index_dir(output), "*.parquet")
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception as e:  # a new output folder has none; anything else is worth a word
        if FileSystems.exists(index_dir(output)):
            logging.warning("cannot list the dedup index %s (%s): copies of articles of "
                            "earlier runs will not be folded", pattern, e)
        return []


def to_row(it: DedupItem, num_perm: int, shingle: int, run_id: str) -> Dict:
    return {"article_id": it.article_id, "text_hash": it.text_hash, "word_count": it.word_count,
            "published_at_us": it.published_at_us, "signature": it.signature,
            "shingles": it.shingles, "facts": it.facts, "num_perm": num_perm,
            "shingle_words": shingle, "run_id": run_id}


def from_row(row: Dict) -> DedupItem:
    return DedupItem(row["article_id"], row["text_hash"], row["word_count"],
                     row["published_at_us"], True, row["signature"], row["shingles"],
                     row["facts"])


class _Compatible(beam.DoFn):
    """Keeps index rows whose sketches were made with this run's settings. Rows made with
    other settings still fold exact copies (by text hash) but cannot be compared for near
    copies; they are counted, not silently mixed."""

    def __init__(self, num_perm: int, shingle: int):
        self.num_perm, self.shingle = num_perm, shingle
        self.read = Metrics.counter(STAGE, "index_articles_read")
        self.other = Metrics.counter(STAGE, "index_articles_other_settings")

    def process(self, row):
        self.read.inc()
        it = from_row(row)
        if row["num_perm"] != self.num_perm or row["shingle_words"] != self.shingle:
            self.other.inc()
            it = it._replace(signature=b"", shingles=b"", facts=b"")
        yield it


class ReadIndex(beam.PTransform):
    """PBegin -> PCollection[DedupItem] (``prior=True``) of the index under ``output``."""

    def __init__(self, output: str, num_perm: int, shingle: int):
        super().__init__()
        self.files = index_files(output)
        self.num_perm, self.shingle = num_perm, shingle

    def expand(self, pbegin):
        if not self.files:
            return pbegin | "Empty" >> beam.Create([], reshuffle=False).with_output_types(DedupItem)
        return (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "Read" >> ReadAllFromParquet()
            | "ToItems" >> beam.ParDo(_Compatible(self.num_perm, self.shingle)).with_output_types(
                DedupItem)
        )


class WriteIndex(beam.PTransform):
    """PCollection[DedupItem] of kept articles -> index files of this run."""

    def __init__(self, output: str, run_id: str, num_perm: int, shingle: int):
        super().__init__()
        self.output, self.run_id, self.num_perm, self.shingle = output, run_id, num_perm, shingle

    def expand(self, items):
        num_perm, shingle, run_id = self.num_perm, self.shingle, self.run_id
        return (
            items
            | "ToRow" >> beam.Map(lambda it: to_row(it, num_perm, shingle, run_id))
            | "Parquet" >> WriteToParquet(FileSystems.join(index_dir(self.output), run_id),
                                          DEDUP_INDEX, codec="zstd", file_name_suffix=".parquet")
        )
