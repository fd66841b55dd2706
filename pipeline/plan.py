"""Plans a run: which input files to take, cut into micro-batches.

A file is looked at again only when the ledger (``ingest_files``) has no row for it or its
size or modification time differs from that row: listing gives both without reading a byte,
so a run over an unchanged folder reads nothing. A looked-at file is taken again only when
its bytes' hash differs from the ledger's (decided on the workers: ``ReadRecordsFn``); a
touched file with the same bytes only updates its ledger row.

Batches are cut greedily over the files sorted by path, by file count and bytes: a run that
resumes after a crash starts at a batch boundary of the interrupted run (the files committed
before it are exactly the first batches), so it forms the same batches as an uninterrupted run.
"""
from __future__ import annotations

import os
import typing
from typing import Dict, List, Optional, Sequence, Tuple

from apache_beam.io.filesystem import FileMetadata

from schemas.records import FileEntry, PriorRecord
from schemas.strings import string_tables

DEFAULT_BATCH_FILES = 1000
DEFAULT_BATCH_BYTES = 256 * 1024 * 1024


class Plan(typing.NamedTuple):
    batches: List[List[FileEntry]]
    found: int      # files the inputs match
    skipped: int    # already taken, same size and time
    new: int        # never taken
    known: int      # taken before, size or time differs (or --reprocess)


def modified_us(m: FileMetadata) -> Optional[int]:
    t = getattr(m, "last_updated_in_seconds", None)
    return None if t is None else int(round(t * 1_000_000))


def outside(files: Sequence[FileMetadata], output: str) -> List[FileMetadata]:
    """The listed files less those inside the output folder (an input folder that holds the
    output must not ingest the pipeline's own Parquet files)."""
    if "://" in output:
        root = output.rstrip("/") + "/"
        return [m for m in files if not m.path.startswith(root)]
    root = os.path.abspath(output) + os.sep
    return [m for m in files if not os.path.abspath(m.path).startswith(root)]


Ledger = Dict[str, Tuple[int, Optional[int], Optional[str], str]]


def select(files: Sequence[FileMetadata], ledger: Ledger,
           reprocess: bool = False) -> Tuple[List[FileEntry], int]:
    """(files to take, number skipped). ``ledger``: file -> (size, mtime us, content hash,
    state). A file that could not be read last time is tried again whatever its times say."""
    take, skipped = [], 0
    for m in files:
        mtime = modified_us(m)
        old = ledger.get(m.path)
        if old is None:
            take.append(FileEntry(m.path, m.size_in_bytes, mtime, None, []))
        elif reprocess or old[3] == "unreadable" or (old[0], old[1]) != (m.size_in_bytes, mtime):
            # "" matches no hash: the file is read and taken again unless its bytes are the same
            take.append(FileEntry(m.path, m.size_in_bytes, mtime,
                                  "" if reprocess else old[2] or "", []))
        else:
            skipped += 1
    return take, skipped


def cut(entries: Sequence[FileEntry], max_files: int, max_bytes: int) -> List[List[FileEntry]]:
    """Greedy micro-batches in order: a batch closes before the file that would take it past
    ``max_files`` files or ``max_bytes`` bytes (a file larger than ``max_bytes`` is a batch of
    its own). ``max_files`` 0: one batch of everything."""
    if max_files <= 0:
        return [list(entries)] if entries else []
    batches, cur, size = [], [], 0
    for e in entries:
        if cur and (len(cur) >= max_files or size + e.size_bytes > max_bytes):
            batches.append(cur)
            cur, size = [], 0
        cur.append(e)
        size += e.size_bytes
    if cur:
        batches.append(cur)
    return batches


def read_ledger(con, paths: Optional[Sequence[str]] = None) -> Ledger:
    """file -> (size, mtime us, content hash, state) of every file the lake has taken, or of
    ``paths`` only (a watcher's few files; the whole ledger grows with every run)."""
    sql = "SELECT file_uri, size_bytes, epoch_us(modified_at), content_hash, state FROM ingest_files"
    if paths is None:
        rows = con.execute(sql).fetchall()
    else:
        rows = []
        if paths:
            with string_tables(con, paths=paths) as t:
                rows = con.execute(sql + f" WHERE file_uri IN (SELECT v FROM {t['paths']})").fetchall()
    return {uri: (size, mtime, digest, state) for uri, size, mtime, digest, state in rows}


def attach_prior_records(con, entries: List[FileEntry]) -> List[FileEntry]:
    """Adds to each file taken again the records an earlier commit took from it (so that its
    unchanged JSON Lines records are kept, not taken again)."""
    changed = [e.path for e in entries if e.prior_hash is not None]
    if not changed:
        return entries
    prior: Dict[str, List[PriorRecord]] = {}
    with string_tables(con, changed=changed) as t:
        rows = con.execute("SELECT source_uri, file_uri, record_hash FROM ingest_records "
                           f"WHERE file_uri IN (SELECT v FROM {t['changed']}) "
                           "ORDER BY source_uri").fetchall()
    for uri, file_uri, digest in rows:
        prior.setdefault(file_uri, []).append(PriorRecord(uri, digest))
    return [e._replace(prior_records=prior.get(e.path, [])) for e in entries]


def plan_run(con, files: Sequence[FileMetadata], *, reprocess: bool = False,
             max_files: int = DEFAULT_BATCH_FILES, max_bytes: int = DEFAULT_BATCH_BYTES) -> Plan:
    take, skipped = select(files, read_ledger(con), reprocess)
    if not reprocess:  # --reprocess keeps nothing: every record is taken again
        take = attach_prior_records(con, take)
    new = sum(1 for e in take if e.prior_hash is None)
    return Plan(cut(take, max_files, max_bytes), len(files), skipped, new, len(take) - new)
