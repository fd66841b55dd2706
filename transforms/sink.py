"""Sink: records -> the three Parquet tables of the output contract (``schemas.tables``).

Each table goes to ``OUTPUT/<table>/dt=<UTC ingest date>/<run_id>-SSSSS-of-NNNNN.parquet``,
zstd-compressed. A table with no rows still gets one file holding the schema, so DuckDB
queries over the folder never fail on a missing table. Writes go through Beam's
``WriteToParquet`` (FileBasedSink: temp files, then a rename on finalize), which creates the
partition directory on any filesystem.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

from schemas.records import Article, Duplicate, Reject
from schemas.tables import INDEX_DIR, TABLES

TABLE_NAMES = tuple(TABLES)


def _ts(micros: Optional[int]) -> Optional[datetime]:
    if micros is None:
        return None
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


def article_row(a: Article, run_id: str, ingested_at: datetime) -> Dict:
    return {
        "article_id": a.article_id, "source_uri": a.source_uri, "url": a.url, "title": a.title,
        "published_at": _ts(a.published_at_us), "text": a.text, "word_count": a.word_count,
        "language": a.language,
        "authors": list(a.authors), "site_name": a.site_name,
        "entities": [e._asdict() for e in a.entities],
        "entity_counts": [c._asdict() for c in a.entity_counts],
        "ner_skipped": a.ner_skipped,
        "text_hash": a.text_hash, "size_bytes": a.size_bytes,
        "ingested_at": ingested_at, "run_id": run_id,
    }


def duplicate_row(d: Duplicate, run_id: str, ingested_at: datetime) -> Dict:
    return {"source_uri": d.source_uri, "article_id": d.article_id, "canonical_id": d.canonical_id,
            "similarity": d.similarity, "method": d.method, "measure": d.measure,
            "matched_id": d.matched_id, "ingested_at": ingested_at, "run_id": run_id}


def reject_row(r: Reject, run_id: str, ingested_at: datetime) -> Dict:
    return {"source_uri": r.source_uri, "reason": r.reason, "detail": r.detail,
            "size_bytes": r.size_bytes, "ingested_at": ingested_at, "run_id": run_id}


ROW_FNS = {"articles": article_row, "duplicates": duplicate_row, "rejects": reject_row}


def partition_dir(output: str, table: str, ingested_at: datetime) -> str:
    return FileSystems.join(output, table, f"dt={ingested_at.astimezone(timezone.utc):%Y-%m-%d}")


def clear_tables(output: str) -> None:
    """Deletes the three table folders and the signature index under ``output``
    (``--overwrite``)."""
    existing = [FileSystems.join(output, t) for t in TABLE_NAMES + (INDEX_DIR,)
                if FileSystems.exists(FileSystems.join(output, t))]
    if existing:
        FileSystems.delete(existing)


class WriteTable(beam.PTransform):
    """PCollection[Article|Duplicate|Reject] -> one table's Parquet files."""

    def __init__(self, table: str, output: str, run_id: str, ingested_at: datetime):
        super().__init__()
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self.table, self.output, self.run_id, self.ingested_at = table, output, run_id, ingested_at

    def expand(self, records):
        row_fn, run_id, ingested_at = ROW_FNS[self.table], self.run_id, self.ingested_at
        prefix = FileSystems.join(partition_dir(self.output, self.table, ingested_at), run_id)
        return (
            records
            | "ToRow" >> beam.Map(row_fn, run_id, ingested_at)
            | "Parquet" >> WriteToParquet(prefix, TABLES[self.table], codec="zstd",
                                          file_name_suffix=".parquet")
        )


class WriteTables(beam.PTransform):
    """{"articles": pcoll, "duplicates": pcoll, "rejects": pcoll} -> the written file names."""

    def __init__(self, output: str, run_id: str, ingested_at: datetime):
        super().__init__()
        self.output, self.run_id, self.ingested_at = output, run_id, ingested_at

    def expand(self, tables):
        return {name: tables[name] | f"Write_{name}" >> WriteTable(name, self.output, self.run_id,
                                                                   self.ingested_at)
                for name in TABLE_NAMES}
