"""``--streaming``: one unbounded Beam graph for runners that stream (Flink, Spark, Dataflow).

    files landing (fileio.MatchContinuously, or any PCollection of FileEntry)
      -> Read+Decode -> Extract                       (as in batch)
      -> StreamDedup: keyed state, global window      (transforms.dedup.stream)
      -> Enrich (spaCy NER through RunInference)      (as in batch)
      -> CommitWindows: fixed windows, late panes, one commit per pane (transforms.sink.window)

Each file is taken once, when the listing first sees it (``MatchContinuously`` keeps the
names it has emitted); a file that changes later is not taken again by this graph (use
scheduled runs or ``--watch`` for folders whose files change). Elements are timestamped
when the listing finds their file, so the windows are windows of landing time.
"""
from __future__ import annotations

import json
from typing import Dict, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.transforms import window

from schemas.records import FileEntry
from transforms.dedup.index import band_rows, index_row
from transforms.dedup.stream import StreamDedup
from transforms.entities import Enrich
from transforms.extract import Extract
from transforms.read.decode import LEDGER_FILES, LEDGER_RECORDS, ReadAndDecode
from transforms.read.discover import file_patterns
from transforms.rejects import REJECTS
from transforms.sink.window import CommitWindows


def to_entry(m) -> FileEntry:
    """A matched file's metadata -> a new FileEntry."""
    t = getattr(m, "last_updated_in_seconds", None)
    return FileEntry(m.path, m.size_in_bytes, None if t is None else int(round(t * 1_000_000)),
                     None, [])


class MatchLanding(beam.PTransform):
    """PBegin -> unbounded PCollection[FileEntry]: every file the inputs match, once, as it
    appears (listed every ``interval`` seconds)."""

    def __init__(self, inputs, interval: float):
        super().__init__()
        self.inputs, self.interval = list(inputs), interval

    def expand(self, pbegin):
        found = [pbegin | f"Match{i}" >> fileio.MatchContinuously(pattern, interval=self.interval)
                 for i, pattern in enumerate(file_patterns(self.inputs))]
        return found | "AllInputs" >> beam.Flatten() | "ToEntry" >> beam.Map(to_entry)


class StreamIngest(beam.PTransform):
    """Unbounded PCollection[FileEntry] -> {table: PCollection} of every staged table,
    committed per window pane into ``output`` (the result is the commits' PCollection)."""

    def __init__(self, opts, run_id: str, options_json: str = "{}", version: str = ""):
        super().__init__()
        self.opts, self.run_id, self.options_json, self.version = opts, run_id, options_json, version

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
            o.output, self.run_id, window_seconds=o.window_seconds,
            allowed_lateness=o.allowed_lateness, threshold=o.dedup_threshold,
            options=self.options_json, version=self.version)


def build_streaming(p: beam.Pipeline, opts, run_id: str, files: Optional[beam.PCollection] = None,
                    options_json: str = "{}", version: str = ""):
    """Adds the streaming graph to ``p``; ``files``: the FileEntry source (default: the
    inputs listed every ``--poll_seconds``). Returns the commits' PCollection."""
    if files is None:
        files = p | "Landing" >> MatchLanding(opts.input, opts.poll_seconds)
    return files | "Ingest" >> StreamIngest(opts, run_id, options_json, version)


def options_json(options) -> str:
    from pipeline.options import settings
    return json.dumps(settings(options), default=str, sort_keys=True)
