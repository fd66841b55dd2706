"""Sink, first half: a batch's records -> staged Parquet files, one folder per table.

Every table of ``schemas.tables.STAGED`` goes to ``STAGING/<table>/<table>-SSSSS-of-NNNNN.parquet``
through Beam's ``WriteToParquet`` (temp files, then a rename on finalize; any filesystem),
zstd-compressed, with exactly the table's Arrow schema. Nothing here is visible to readers:
the commit (``transforms.sink.commit``) registers the files in the lake in one transaction
after the job succeeded; the files of a job that did not commit are removed by the next run.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Dict, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

from schemas.records import Article, FileTaken
from schemas.tables import STAGED, TABLES
from transforms.progress import TalliedFn


def _ts(micros: Optional[int]) -> Optional[datetime]:
    if micros is None:
        return None
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


def article_row(a: Article) -> Dict:
    return {
        "article_id": a.article_id, "source_uri": a.source_uri, "url": a.url, "title": a.title,
        "published_at": _ts(a.published_at_us), "text": a.text, "word_count": a.word_count,
        "language": a.language,
        "authors": list(a.authors), "site_name": a.site_name,
        "entities": [e._asdict() for e in a.entities],
        "entity_counts": [c._asdict() for c in a.entity_counts],
        "ner_skipped": a.ner_skipped,
        "text_hash": a.text_hash, "size_bytes": a.size_bytes,
    }


def file_row(f: FileTaken) -> Dict:
    row = f._asdict()
    row["modified_at"] = _ts(row.pop("modified_at_us"))
    return row


# Records -> row dicts without the two columns every row gets from its run.
ROW_FNS = {
    "articles": article_row,
    "duplicates": lambda d: d._asdict(),   # Duplicate
    "rejects": lambda r: r._asdict(),      # Reject
    "ingest_files": file_row,
    "ingest_records": lambda r: r._asdict(),  # RecordTaken
    "dedup_index": dict,                   # rows of transforms.dedup.index
    "dedup_bands": dict,
}
assert set(ROW_FNS) == set(STAGED)


class _RowFn(TalliedFn, beam.DoFn):
    """Record -> its table's row dict, stamped with the run; rows of the tables users query
    (``schemas.tables.TABLES``) count as written in the batch's progress."""

    def __init__(self, row_fn: Callable, stamp: Dict, progress: Optional[str], counted: bool):
        TalliedFn.__init__(self, progress, "write")
        self.row_fn, self.stamp, self.counted = row_fn, stamp, counted

    def process(self, record):
        start = time.perf_counter()
        row = {**self.row_fn(record), **self.stamp}
        if self.counted:
            self.tally.add(1, time.perf_counter() - start)
        yield row


def table_dir(staging: str, table: str) -> str:
    return FileSystems.join(staging, table)


class WriteTable(beam.PTransform):
    """PCollection of one table's records -> its staged Parquet files (at least one, with the
    schema, when there are no rows)."""

    def __init__(self, table: str, staging: str, run_id: str, ingested_at: datetime,
                 progress: Optional[str] = None):
        super().__init__()
        if table not in STAGED:
            raise ValueError(f"unknown table {table!r}")
        self.table, self.staging, self.run_id, self.ingested_at = table, staging, run_id, ingested_at
        self.progress = progress

    def expand(self, records):
        row_fn, schema = ROW_FNS[self.table], STAGED[self.table]
        stamp = {name: value for name, value in (("run_id", self.run_id),
                                                 ("ingested_at", self.ingested_at))
                 if name in schema.names}
        return (
            records
            | "ToRow" >> beam.ParDo(_RowFn(row_fn, stamp, self.progress, self.table in TABLES))
            | "Parquet" >> WriteToParquet(
                FileSystems.join(table_dir(self.staging, self.table), self.table), schema,
                codec="zstd", file_name_suffix=".parquet")
        )


class WriteTables(beam.PTransform):
    """{table name: PCollection} (any of ``STAGED``) -> staged files under ``staging``;
    ``progress``: the folder of ``transforms.progress`` tallies, or None."""

    def __init__(self, staging: str, run_id: str, ingested_at: datetime,
                 progress: Optional[str] = None):
        super().__init__()
        self.staging, self.run_id, self.ingested_at = staging, run_id, ingested_at
        self.progress = progress

    def expand(self, tables):
        return {name: pcoll | f"Write_{name}" >> WriteTable(name, self.staging, self.run_id,
                                                            self.ingested_at, self.progress)
                for name, pcoll in tables.items()}
