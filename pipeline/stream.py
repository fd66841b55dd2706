"""``--streaming``: one unbounded Beam graph for runners that stream (Flink, Spark, Dataflow).

    files landing (fileio.MatchContinuously, or any PCollection of FileEntry)
      -> Read+Decode -> Extract                       (as in batch)
      -> StreamDedup: keyed state, global window      (transforms.dedup.stream)
      -> Enrich (spaCy NER through RunInference)      (as in batch)
      -> CommitWindows: fixed windows, late panes, one commit per pane (transforms.sink.window),
         whose articles get their stories against the lake as earlier panes left it

Files are listed every ``--poll_seconds``; a file is taken when first listed and again
when its size or time changes (``match_updated_files``), and is checked against the lake's
ledger first, as a scheduled run does: a file an earlier run (or this job before a restart)
took unchanged is skipped, a changed one replaces its earlier rows. Names of files in
progress (``pipeline.landing``) are never taken. A file still being written when it is
listed may be taken, then taken again once it changes: its last version wins (land files by
renaming them into the folder to avoid the interim). Elements are timestamped when the
listing finds their file, so the windows are windows of landing time.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from pipeline.plan import modified_us
from schemas.records import FileEntry
from transforms.dedup.index import band_rows, index_row
from transforms.dedup.stream import StreamDedup
from transforms.entities import Enrich
from transforms.extract import Extract
from transforms.read.decode import LEDGER_FILES, LEDGER_RECORDS, ReadAndDecode
from transforms.read.discover import file_patterns
from transforms.rejects import REJECTS
from transforms.sink.window import CommitWindows


class _NotTakenFn(beam.DoFn):
    """FileMetadata -> FileEntry of each file to take: not a name in progress, and not in the
    lake's ledger with the same size and time (a changed one carries what the ledger holds of
    its earlier version, so that its commit replaces it)."""

    def __init__(self, lake):
        self.lake = lake
        self.in_progress = Metrics.counter("read", "files_in_progress_skipped")
        self.taken_before = Metrics.counter("read", "files_taken_before_skipped")

    def setup(self):
        self.con = None

    def process(self, m):
        from apache_beam.io.filesystem import FileMetadata
        from apache_beam.io.filesystems import FileSystems
        from pipeline.landing import in_progress_name
        from pipeline.plan import attach_prior_records, read_ledger, select
        from schemas.catalog import exists, open_lake
        if in_progress_name(m.path):
            self.in_progress.inc()
            return
        path = m.path
        if FileSystems.get_scheme(path) in (None, "file"):
            path = os.path.abspath(path)  # the ledger's name for a local file
        meta = FileMetadata(path, m.size_in_bytes, getattr(m, "last_updated_in_seconds", None))
        if self.con is None and exists(self.lake):
            self.con = open_lake(self.lake)
        if self.con is None:
            yield FileEntry(path, meta.size_in_bytes, modified_us(meta), None, [])
            return
        take, _ = select([meta], read_ledger(self.con, [path]))
        if not take:
            self.taken_before.inc()
            return
        yield from attach_prior_records(self.con, take)

    def teardown(self):
        if self.con is not None:
            self.con.close()


class MatchLanding(beam.PTransform):
    """PBegin -> unbounded PCollection[FileEntry]: every file the inputs match, as it
    appears or changes (listed every ``interval`` seconds), unless the ledger of the lake
    at ``output`` has it as it is."""

    def __init__(self, inputs, interval: float, lake):
        super().__init__()
        self.inputs, self.interval, self.lake = list(inputs), interval, lake

    def expand(self, pbegin):
        found = [pbegin | f"Match{i}" >> fileio.MatchContinuously(
                     pattern, interval=self.interval, match_updated_files=True)
                 for i, pattern in enumerate(file_patterns(self.inputs))]
        return (found | "AllInputs" >> beam.Flatten()
                | "NotTaken" >> beam.ParDo(_NotTakenFn(self.lake)))


class StreamIngest(beam.PTransform):
    """Unbounded PCollection[FileEntry] -> {table: PCollection} of every staged table,
    committed per window pane into ``lake`` (default: ``opts.output``'s local lake; the
    result is the commits' PCollection)."""

    def __init__(self, opts, run_id: str, options_json: str = "{}", version: str = "",
                 lake=None):
        super().__init__()
        self.opts, self.run_id, self.options_json, self.version = opts, run_id, options_json, version
        self.lake = lake

    def expand(self, files):
        o = self.opts
        read = files | "ReadAndDecode" >> ReadAndDecode(o.max_file_bytes)
        extracted = read.records | "Extract" >> Extract(max_words=o.max_article_words)
        dedup = StreamDedup(o.dedup_threshold, o.minhash_perm, o.shingle_words)
        deduped = extracted.articles | "Dedup" >> dedup
        articles = deduped["articles"]
        rejects = [read[REJECTS], extracted[REJECTS]]
        if not o.skip_entities:
            # Back into landing-time windows first: RunInference batches per window and stamps
            # a batch's results with its window's end, which in the global window (where the
            # dedup state lives) is the end of time: no window would ever commit them.
            articles = articles | "Rewindow" >> beam.WindowInto(window.FixedWindows(o.window_seconds))
            enriched = articles | "Enrich" >> Enrich(o.spacy_model, o.ner_batch_size)
            articles = enriched.articles
            rejects.append(enriched[REJECTS])
        num_perm, shingle, bands, rows = o.minhash_perm, o.shingle_words, dedup.bands, dedup.rows
        tables: Dict[str, beam.PCollection] = {
            "articles": articles,
            "duplicates": deduped["duplicates"],
            "rejects": rejects | "AllRejects" >> beam.Flatten(),
            "dedup_index": deduped["index"] | "IndexRows" >> beam.Map(index_row, num_perm, shingle),
            "dedup_bands": deduped["index"] | "BandRows" >> beam.FlatMap(band_rows, bands, rows),
            "ingest_files": read[LEDGER_FILES],
            "ingest_records": read[LEDGER_RECORDS],
        }
        return tables | "Commit" >> CommitWindows(
            self.lake or o.output, self.run_id, window_seconds=o.window_seconds,
            allowed_lateness=o.allowed_lateness, threshold=o.dedup_threshold,
            options=self.options_json, version=self.version,
            story_threshold=o.story_threshold, story_horizon_days=o.story_horizon_days)


def build_streaming(p: beam.Pipeline, opts, run_id: str, files: Optional[beam.PCollection] = None,
                    options_json: str = "{}", version: str = "", lake=None):
    """Adds the streaming graph to ``p``; ``files``: the FileEntry source (default: the
    inputs listed every ``--poll_seconds``); ``lake``: a ``schemas.catalog.Lake`` (default:
    the local lake at ``opts.output``). Returns the commits' PCollection."""
    from schemas.catalog import as_lake
    lake = lake or as_lake(opts.output if "://" in opts.output else os.path.abspath(opts.output),
                           getattr(opts, "catalog", None))
    if files is None:
        files = p | "Landing" >> MatchLanding(opts.input, opts.poll_seconds, lake)
    return files | "Ingest" >> StreamIngest(opts, run_id, options_json, version, lake)


def options_json(options) -> str:
    from pipeline.options import settings
    return json.dumps(settings(options), default=str, sort_keys=True)
