"""Sink, first half: a batch's records -> staged Parquet files, one folder per table.

Every table of ``schemas.tables.STAGED`` goes to ``STAGING/<table>/<table>-<unique>.parquet``,
zstd-compressed, with exactly the table's Arrow schema, through ``FileSystems`` (any
filesystem). One DoFn writes every table: each bundle buffers its rows per table and writes
one file per table at its end (more when a table's rows pass ``max_bytes``), so the sink adds
one fused step and one small gather instead of a write-and-finalize chain per table (seven
chains were two thirds of a small batch's stages, and of its graph-building time).

A bundle's files count only if the bundle succeeded: the runner keeps the output (the file
names) of successful bundles only, and a last step writes them to ``STAGING/_manifest.json``.
The commit (``transforms.sink.commit``) registers exactly the manifest's files, in one
transaction, after the job succeeded; files of a retried bundle or of a job that did not
commit are never registered and are removed (by the commit, or by the next run).
"""
from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Dict, List, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from schemas.records import Article, FileTaken
from schemas.tables import STAGED, TABLES
from transforms.progress import TalliedFn

MANIFEST = "_manifest.json"
# Buffered row bytes (roughly: text plus a fixed cost per row) at which a table's rows of a
# bundle go to a file before the bundle ends, so a worker's memory stays bounded.
DEFAULT_MAX_BYTES = 64 << 20
_ROW_COST = 200


def _ts(micros: Optional[int]) -> Optional[datetime]:
    if micros is None:
        return None
    return datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)


def article_row(a: Article) -> Dict:
    return {
        "article_id": a.article_id, "source_uri": a.source_uri, "url": a.url, "title": a.title,
        "published_at": _ts(a.published_at_us),
        "modified_at": _ts(a.modified_at_us), "text": a.text, "word_count": a.word_count,
        "language": a.language,
        "authors": list(a.authors), "site_name": a.site_name, "story_id": a.story_id,
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
    "story_index": dict,                   # rows of transforms.stories.index
    "story_merges": lambda m: m._asdict(),  # Merge
}
assert set(ROW_FNS) == set(STAGED)


def stamps(run_id: str, ingested_at: datetime) -> Dict[str, Dict]:
    """table -> the run columns its rows get (those of its schema)."""
    stamp = {"run_id": run_id, "ingested_at": ingested_at}
    return {t: {k: v for k, v in stamp.items() if k in s.names} for t, s in STAGED.items()}


def to_row(table: str, record, stamp: Dict[str, Dict]) -> Dict:
    """A record of ``table`` -> its row dict, with the run columns of ``stamps``."""
    return {**ROW_FNS[table](record), **stamp[table]}


def tag_tables(tables: Dict[str, beam.PCollection]) -> beam.PCollection:
    """{table name: PCollection} -> one PCollection of (table name, record)."""
    unknown = set(tables) - set(STAGED)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}")
    return ([pcoll | f"Tag_{name}" >> beam.Map(lambda r, t=name: (t, r))
             for name, pcoll in sorted(tables.items())]
            | "AllRows" >> beam.Flatten())


def table_dir(staging: str, table: str) -> str:
    return FileSystems.join(staging, table)


def manifest_path(staging: str) -> str:
    return FileSystems.join(staging, MANIFEST)


# Rows per Parquet row group of the dedup index's files. A reader holds a column of a row
# group whole, and the index's sketches are about 4 KB an article: in one row group per file
# (pyarrow's default holds up to a million rows; DuckDB's 122,880), each lookup of a
# 50,000-article lake read 190 MB of them at once. 2,048 is DuckDB's smallest.
INDEX_ROW_GROUP = 2048
ROW_GROUP_ROWS = {"dedup_index": INDEX_ROW_GROUP}


def write_rows(staging: str, table: str, rows: List[Dict]) -> str:
    """Writes ``rows`` (row dicts of ``table``) to a new file under ``staging``; its path."""
    path = FileSystems.join(table_dir(staging, table), f"{table}-{secrets.token_hex(8)}.parquet")
    data = pa.Table.from_pylist(rows, schema=STAGED[table])
    with FileSystems.create(path) as f:
        pq.write_table(data, f, compression="zstd", row_group_size=ROW_GROUP_ROWS.get(table))
    return path


def write_manifest(paths: List[str], staging: str) -> str:
    """The list of the job's files, written last (its presence says the job's writes ended)."""
    path = manifest_path(staging)
    with FileSystems.create(path) as f:
        f.write(json.dumps(sorted(paths)).encode())
    return path


def read_manifest(staging: str) -> List[str]:
    """The files a finished job staged under ``staging`` (``FileNotFoundError``-like
    ``IOError`` when the job did not finish)."""
    with FileSystems.open(manifest_path(staging)) as f:
        return json.loads(f.read().decode())


class _WriteFn(TalliedFn, beam.DoFn):
    """(table, record) -> the paths of the Parquet files it wrote: per bundle one file per
    table that had rows, more when a table's rows pass ``max_bytes``. Rows of the tables
    users query (``schemas.tables.TABLES``) count as written in the batch's progress."""

    def __init__(self, staging: str, run_id: str, ingested_at: datetime,
                 progress: Optional[str] = None, max_bytes: int = DEFAULT_MAX_BYTES):
        TalliedFn.__init__(self, progress, "write")
        self.staging, self.max_bytes = staging, max_bytes
        self.stamps = stamps(run_id, ingested_at)

    def start_bundle(self):
        self.rows: Dict[str, List[Dict]] = defaultdict(list)
        self.bytes: Dict[str, int] = defaultdict(int)

    def process(self, item):
        table, record = item
        start = time.perf_counter()
        row = to_row(table, record, self.stamps)
        self.rows[table].append(row)
        self.bytes[table] += _ROW_COST + len(row.get("text") or "")
        if table in TABLES:
            self.tally.add(1, time.perf_counter() - start)
        if self.bytes[table] >= self.max_bytes:
            yield self._flush(table)

    def _flush(self, table: str) -> str:
        rows, self.rows[table], self.bytes[table] = self.rows[table], [], 0
        start = time.perf_counter()
        path = write_rows(self.staging, table, rows)
        self.tally.add(0, time.perf_counter() - start)  # the file's writing (an upload) is the stage's work too
        return path

    def finish_bundle(self):
        written = [self._flush(t) for t, rows in list(self.rows.items()) if rows]
        super().finish_bundle()
        for path in written:
            yield WindowedValue(path, MIN_TIMESTAMP, [GlobalWindow()])


class WriteTables(beam.PTransform):
    """{table name: PCollection} (any of ``STAGED``) -> staged files under ``staging`` and
    their manifest; returns the PCollection of the manifest's path (one element).
    ``progress``: the folder of ``transforms.progress`` tallies, or None."""

    def __init__(self, staging: str, run_id: str, ingested_at: datetime,
                 progress: Optional[str] = None, max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__()
        self.staging, self.run_id, self.ingested_at = staging, run_id, ingested_at
        self.progress, self.max_bytes = progress, max_bytes

    def expand(self, tables):
        return (
            tag_tables(tables)
            | "Write" >> beam.ParDo(_WriteFn(self.staging, self.run_id, self.ingested_at,
                                             self.progress, self.max_bytes))
            | "Gather" >> beam.combiners.ToList()
            | "Manifest" >> beam.Map(write_manifest, self.staging)
        )
