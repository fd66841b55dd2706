"""Sink for an unbounded stream (``--streaming``): each window's pane -> Parquet files ->
one commit to the lake.

Records are windowed by their timestamps into fixed windows; a window fires when the
watermark passes its end (then every record of the files that landed in it is there: the
watermark waits for them), and again for late records within ``allowed_lateness``
(discarding: a late pane holds only what came late). The records one late file makes (its
ledger rows, its article, its index rows) reach the sink moments apart, so they may commit
in several late panes, each one a consistent transaction. (A processing-time delay would
gather them, but Beam's streaming DirectRunner stalls on processing-time late triggers under
TestStream, so it could not be tested here.) Each pane is one group (all tables
together) handled by one call that writes one file per table, named by window and pane, then
commits them in one catalog transaction, exactly as a batch of a scheduled run (same
``commit_batch``, same ``runs`` row), under the commit id ``RUN-wEND-pPANE``.

The pane's articles get their stories here, under the writer lock, against the lake as the
panes before left it (``transforms.stories.assign_records``: the same assignment as a
batch's): each pane continues the stories of every earlier one, and the only state is the
lake's ``story_index`` within the horizon, so it stays bounded however long the job runs.

This avoids the traps of Beam's file sinks in streaming (a footer-less Parquet file when a
bundle holds several windows; a later pane's file overwriting an earlier one's): no file is
ever open across bundles or windows, and each pane has its own names. A retried pane finds
its commit id in ``runs`` and commits nothing twice; files a failed try left are orphans,
removed by the next batch run's clean-up.

The workers commit, so every worker must reach the catalog and the lock: a remote lake
(PostgreSQL catalog, whose advisory lock is the writer lock; data on an object store) is
built for workers on any machine (tested with TestStream against real servers, not on a
Flink, Spark or Dataflow cluster); the embedded SQLite catalog works only where the workers
share the output's disk (one machine, or a file server with working ``flock``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, List

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window

from transforms.sink.commit import commit_batch, staging_dir
from transforms.sink.parquet import stamps, tag_tables, to_row, write_manifest, write_rows
from transforms.stories import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD as DEFAULT_STORY_THRESHOLD


def pane_commit_id(run_id: str, win, pane) -> str:
    """``RUN-wEND-pPANE``: the window's end (UTC) and the pane's index."""
    end = getattr(win, "end", None)
    when = (f"{datetime.fromtimestamp(float(end), tz=timezone.utc):%Y%m%dT%H%M%S}"
            if end is not None and float(end) < 253402300799 else "global")
    return f"{run_id}-w{when}-p{pane.index if pane is not None else 0}"


class _CommitPaneFn(beam.DoFn):
    """(None, [(table, record)]) of one pane -> its commit's counts, committed."""

    def __init__(self, lake, run_id: str, threshold: float, options: str, version: str,
                 stories: tuple = (DEFAULT_STORY_THRESHOLD, DEFAULT_HORIZON_DAYS)):
        self.lake, self.run_id, self.threshold = lake, run_id, threshold
        self.options, self.version = options, version
        self.story_threshold, self.story_horizon_days = stories
        self.commits = Metrics.counter("sink", "window_commits")
        self.repeated = Metrics.counter("sink", "window_commits_already_done")

    def process(self, element, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        import duckdb
        from schemas.catalog import LAKE, open_lake
        from schemas.lock import writer_lock
        _, tagged = element
        commit_id = pane_commit_id(self.run_id, win, pane)
        started = datetime.now(timezone.utc)
        by_table: Dict[str, List] = {}
        for table, record in tagged:
            by_table.setdefault(table, []).append(record)
        with writer_lock(self.lake, commit_id, wait=True):
            con = open_lake(self.lake, read_only=False)
            try:
                if con.execute(f"SELECT count(*) FROM {LAKE}.runs WHERE commit_id = ?",
                               [commit_id]).fetchone()[0]:
                    self.repeated.inc()  # a retried pane: its commit is in already
                    return
                self._assign_stories(con, by_table, started)
                staging = staging_dir(self.lake.output, commit_id)
                stamp = stamps(self.run_id, started)
                paths = [write_rows(staging, table, [to_row(table, r, stamp) for r in records])
                         for table, records in sorted(by_table.items())]
                write_manifest(paths, staging)
                row = {"run_id": self.run_id, "batch": pane.index if pane is not None else 0,
                       "batches": 0, "commit_id": commit_id, "started_at": started,
                       "finished_at": datetime.now(timezone.utc), "files_found": 0,
                       "files_skipped": 0, "options": self.options, "code_version": self.version,
                       "timings": None}
                try:
                    counts = commit_batch(con, staging, row, f"stream {self.run_id} {commit_id}",
                                          threshold=self.threshold, follow_chains=True)
                except duckdb.Error as e:  # its message may quote the catalog's connection string
                    raise RuntimeError(f"committing {commit_id} into {self.lake!r}: "
                                       f"{self.lake.redact(str(e))}") from None
            finally:
                con.close()
        self.commits.inc()
        yield commit_id, counts

    def _assign_stories(self, con, by_table: Dict[str, List], started: datetime) -> None:
        """The pane's articles with their stories, and the story tables' rows, in ``by_table``."""
        from transforms.stories.index import index_row
        from transforms.stories.stories import assign_records
        if not by_table.get("articles"):
            return
        articles, items, merges = assign_records(
            con, by_table["articles"], int(started.timestamp() * 1_000_000),
            self.story_threshold, self.story_horizon_days)
        by_table["articles"] = articles
        by_table["story_index"] = [index_row(it) for it in items]
        if merges:
            by_table["story_merges"] = merges


class CommitWindows(beam.PTransform):
    """{table name: PCollection} (any of ``STAGED``; unbounded, timestamped) -> the
    PCollection of (commit id, counts) of every pane committed into ``lake`` (a
    ``schemas.catalog.Lake`` or an output folder)."""

    def __init__(self, lake, run_id: str, *, window_seconds: float = 60.0,
                 allowed_lateness: float = 600.0, threshold: float = 0.8, options: str = "{}",
                 version: str = "", story_threshold: float = DEFAULT_STORY_THRESHOLD,
                 story_horizon_days: float = DEFAULT_HORIZON_DAYS):
        super().__init__()
        self.stories = (story_threshold, story_horizon_days)
        from schemas.catalog import as_lake
        self.lake, self.run_id = as_lake(lake), run_id
        self.window_seconds, self.allowed_lateness = window_seconds, allowed_lateness
        self.threshold, self.options, self.version = threshold, options, version

    def expand(self, tables):
        return (
            tag_tables(tables)
            | "Windows" >> beam.WindowInto(
                window.FixedWindows(self.window_seconds),
                trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
                allowed_lateness=self.allowed_lateness)
            | "OnePerPane" >> beam.Map(lambda tr: (None, tr))
            | "Pane" >> beam.GroupByKey()
            | "Commit" >> beam.ParDo(_CommitPaneFn(self.lake, self.run_id, self.threshold,
                                                   self.options, self.version, self.stories))
        )
