"""One run over the output: a transaction per micro-batch, one writer at a time.

1. Take the writer lock (``schemas.lock``: a file lock, or PostgreSQL's for a remote lake); a
   second run exits, or waits with ``--wait``.
2. Remove what killed runs left (unregistered files), under the lock.
3. List the inputs and plan: only files the ledger has not taken (``pipeline.plan``).
4. Per batch: run the Beam job, which stages every table's Parquet files, then commit them
   in one catalog transaction (``transforms.sink.commit``). The next batch's dedup looks up
   the lake as that commit left it.

A batch's Beam job holds only that batch, so memory stays flat however large the folder is.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import subprocess
import threading
import time
import typing
from datetime import datetime, timezone
from typing import Dict, List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline import faults
from pipeline.build import build
from pipeline.options import settings
from pipeline.plan import outside, plan_run
from pipeline.progress import Progress, silence_workers
from schemas.catalog import (LAKE, Lake, as_lake, claim_data_path, drop_catalog, open_lake,
                             storage_settings)
from schemas.lock import writer_lock
from transforms.progress import counter_value, from_metrics, read_folder
from transforms.read.discover import list_files
from transforms.sink.commit import (as_folder, commit_batch, compact, needs_compaction,
                                    remove_orphans, staging_dir)

log = logging.getLogger(__name__)


class RunResult(typing.NamedTuple):
    run_id: str
    found: int
    skipped: int
    new: int
    known: int
    batches: int
    counts: Dict[str, int]   # articles, duplicates, rejects, replaced, files_* summed
    seconds: float
    facts: Optional[dict] = None  # pipeline.report.facts of the run, when asked and it committed


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("news-ingest")
    except PackageNotFoundError:
        v = "unknown"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], text=True,
                             capture_output=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+{sha}" if sha else v


# The folders of the layout before the lake (Parquet per table, the signature index).
EARLIER_LAYOUT = ("articles", "duplicates", "rejects", "_dedup_index")

# Beam's S3 options -> the standard variables boto3 reads.
_S3_TO_ENV = (("s3_endpoint_url", ("AWS_ENDPOINT_URL",)),
              ("s3_access_key_id", ("AWS_ACCESS_KEY_ID",)),
              ("s3_secret_access_key", ("AWS_SECRET_ACCESS_KEY",)),
              ("s3_session_token", ("AWS_SESSION_TOKEN",)),
              ("s3_region_name", ("AWS_REGION", "AWS_DEFAULT_REGION")))


def lake_of(options, opts) -> Lake:
    """The lake a run writes to: ``--output`` (made absolute when local) and ``--catalog``
    (its password, when it has none, from this process's ``PGPASSWORD``: workers on other
    machines get it with the lake, as DuckDB secret, never in the job's options), with the
    object-store settings of Beam's ``--s3_*`` options or, where those are not given, of the
    standard environment variables."""
    from apache_beam.options.pipeline_options import S3Options
    output = opts.output if "://" in opts.output else os.path.abspath(opts.output)
    password = os.environ.get("PGPASSWORD") or None
    if "://" not in output:
        return Lake(output, opts.catalog, password=password if opts.catalog else None)
    s3 = options.view_as(S3Options)
    given = {o: getattr(s3, o, None) for o, _ in _S3_TO_ENV}
    given["s3_disable_ssl"] = getattr(s3, "s3_disable_ssl", False)
    return Lake(output, opts.catalog, storage_settings(given), password=password)


@contextlib.contextmanager
def s3_settings_for_worker_processes(options):
    """For the length of a job: Beam's ``--s3_*`` options as the standard variables of this
    process, which the ``multi_processing`` workers it starts inherit. Beam's local runner
    gives those workers none of the job's options, so ``FileSystems`` there knows no S3
    setting and boto3 falls back to the environment; without this, a worker's first
    write to ``s3://`` fails ("Unable to locate credentials")."""
    from apache_beam.options.pipeline_options import S3Options
    s3 = options.view_as(S3Options)
    wanted = {name: str(getattr(s3, option)) for option, names in _S3_TO_ENV
              if getattr(s3, option, None) for name in names}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def clear_output(lake) -> None:
    """``--overwrite``: removes the catalog (a remote catalog's lake tables), every data file,
    the reports and worker logs of earlier runs, and the folders of the earlier layout (call
    under the lock)."""
    from apache_beam.io.filesystems import FileSystems
    from schemas.catalog import CatalogError, exists
    lake = as_lake(lake)
    drop_catalog(lake)
    if exists(lake):  # e.g. the lake's tables in another schema than this role's first one
        raise CatalogError(f"--overwrite could not remove the lake's catalog in "
                           f"{lake.shown()}: nothing was deleted")
    from pipeline.report import REPORTS_DIR
    output = lake.output
    from schemas.catalog import OWNER_FILE
    owner = FileSystems.join(output, OWNER_FILE)
    if lake.remote and FileSystems.exists(owner):
        FileSystems.delete([owner])
    found = [p for p in [lake.data_path.rstrip("/")]
             + [FileSystems.join(output, d) for d in (REPORTS_DIR, LOGS_DIR) + EARLIER_LAYOUT]
             if FileSystems.exists(p)
             or FileSystems.match([as_folder(p).rstrip("/") + "/*"])[0].metadata_list]
    if found:
        FileSystems.delete([as_folder(p) for p in found])


LOGS_DIR = "_logs"
# Runners whose workers run on this machine (they can write the progress folder), by name as
# Beam reads --runner: any case, "Runner" suffix optional, module path allowed.
LOCAL_RUNNERS = ("fnapi", "direct", "switchingdirect", "bundlebaseddirect", "prism")


def runner_is_local(runner) -> bool:
    name = runner if isinstance(runner, str) else type(runner).__name__
    name = (name or "").rsplit(".", 1)[-1].lower()
    return (name[:-len("runner")] if name.endswith("runner") else name) in LOCAL_RUNNERS


def logs_dir(output: str, report_dir: Optional[str] = None) -> str:
    """Where the logs of a run's local worker processes go (``multi_processing`` mode): the
    output folder's ``_logs``, or, for a lake on an object store, ``--report_dir``'s (else
    this user's folder of the temporary folder)."""
    if "://" in output:
        from schemas.catalog import user_temp_folder
        return os.path.join(report_dir or user_temp_folder("news-ingest-logs", 0o700,
                                                           keep_fallback=True), LOGS_DIR)
    return os.path.join(output, LOGS_DIR)


def logs_path(output: str, run_id: str, report_dir: Optional[str] = None) -> str:
    return os.path.join(logs_dir(output, report_dir), f"{run_id}.log")


def _snapshot(con) -> int:
    return con.execute(f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()").fetchone()[0]


class BatchResult(typing.NamedTuple):
    counts: Dict[str, int]          # commit_batch's counts
    line: str                       # what the batch did, for one line of output
    seconds: Dict[str, float]       # graph, job, commit


class Writer:
    """Runs and commits micro-batches into one output, for one run id, under the writer lock
    its caller holds: one Beam job and one catalog transaction per batch (``run`` takes the
    planned batches of a folder; ``pipeline.watch`` takes files as they land).

    ``con``: the lake's read-write connection, which the writer then owns: it is made anew
    after each commit (``con`` is always the current one). ``warm``: a
    ``transforms.warm.Warm`` whose models the caller keeps loaded between jobs (used by
    in-process workers), or None."""

    def __init__(self, con, options, opts, run_id: str, progress: Progress, warm=None,
                 lake: Optional[Lake] = None, lock=None):
        self.con, self.options, self.opts, self.run_id = con, options, opts, run_id
        self.lock = lock
        self.progress, self.warm = progress, warm
        self.lake = lake or lake_of(options, opts)
        self.output = self.lake.output
        self.local = runner_is_local(options.view_as(StandardOptions).runner)
        self.subprocesses = (self.local and options.view_as(DirectOptions).direct_running_mode
                             == "multi_processing")
        self.asked = json.dumps(settings(options), default=str, sort_keys=True)
        self.version = code_version()

    def commit(self, batch: List, index: int, batches: int, found: int, skipped: int,
               following: Optional[List] = None) -> BatchResult:
        """Runs batch ``index`` of ``batches`` (FileEntry list) and commits it; ``found`` and
        ``skipped`` are the files the run's listing found and skipped (its history);
        ``following``: the next batch's files, extracted ahead while this one's job waits
        for NER (``transforms.extract.ahead``), or None."""
        con, opts, run_id = self.con, self.opts, self.run_id
        commit_id = f"{run_id}-{index:05d}-{secrets.token_hex(3)}"
        staging = staging_dir(self.output, commit_id)
        has_index = con.execute(f"SELECT count(*) > 0 FROM {LAKE}.dedup_index").fetchone()[0]
        has_stories = con.execute(f"SELECT count(*) > 0 FROM {LAKE}.story_index").fetchone()[0]
        earlier = None
        if has_index and not opts.no_earlier_runs:
            earlier = (self.lake, _snapshot(con))
        stories_from = (self.lake, _snapshot(con)) if has_stories else None
        batch_started = datetime.now(timezone.utc)
        t_batch = time.monotonic()
        if self.warm is not None:
            self.warm.before_job()
            if following:
                self._extract_ahead(following)
        with self.progress.batch(index, len(batch), self.local) as tallies:
            p = beam.Pipeline(options=self.options)
            build(p, opts, batch, staging=staging, run_id=run_id, ingested_at=batch_started,
                  earlier=earlier, stories_from=stories_from, progress=tallies, warm=self.warm)
            t_built = time.monotonic()
            restore = (silence_workers(logs_path(self.output, run_id, opts.report_dir))
                       if self.subprocesses else None)
            try:
                with (s3_settings_for_worker_processes(self.options) if self.subprocesses
                      else contextlib.nullcontext()):
                    result = p.run()
                    self.progress.watch(result)
                    state = result.wait_until_finish()
            finally:
                if restore:
                    restore()
            if state != PipelineState.DONE:  # a runner that reports failure instead of raising
                raise RuntimeError(f"batch {index}'s Beam job ended {state}: nothing of it was committed")
            stages = from_metrics(result) or (read_folder(tallies) if tallies else None)
        looked_up = _counter(result, "index_articles_read")
        band_hits = _counter(result, "index_band_hits")
        template_lines = _counter(result, "template_lines_removed")
        trimmed = _counter(result, "template_articles_trimmed")
        t_job = time.monotonic()
        faults.point("staged", index)
        if self.lock is not None:
            self.lock.ensure_held()  # a lost lock session: another writer may be in
        row = {"run_id": run_id, "batch": index, "batches": batches,
               "commit_id": commit_id, "started_at": batch_started,
               "finished_at": datetime.now(timezone.utc),
               "files_found": found, "files_skipped": skipped,
               "options": self.asked,
               "code_version": self.version,
               "timings": json.dumps({
                   "graph": round(t_built - t_batch, 3), "job": round(t_job - t_built, 3),
                   "stages": {s: round(v["seconds"], 3) for s, v in (stages or {}).items()}})}
        counts = commit_batch(con, staging, row, f"run {run_id} batch {index}/{batches}",
                              threshold=opts.dedup_threshold,
                              fault=lambda name, i=index: faults.point(name, i))
        faults.point("committed", index)
        self.progress.committed(len(batch))
        done = time.monotonic()
        line = (f"{len(batch)} files, {counts['articles']} articles, {counts['duplicates']} "
                f"duplicates, {counts['rejects']} rejects"
                + (f", {counts['replaced']} records of changed files replaced" if counts["replaced"] else "")
                + (f", {counts['superseded']} earlier articles superseded ({counts['versions_superseded']} "
                   "by a newer version of their page)" if counts.get("superseded") else "")
                + (f"; {looked_up} earlier articles fetched ({band_hits} band hits)"
                   if earlier and looked_up is not None else "")
                + (f"; {template_lines} site template lines taken out of {trimmed} articles"
                   if template_lines else "")
                + f" ({done - t_batch:.1f}s: graph {t_built - t_batch:.1f}, job {t_job - t_built:.1f}, "
                  f"commit {done - t_job:.1f})")
        self._renew_connection()
        return BatchResult(counts, line, {"graph": t_built - t_batch, "job": t_job - t_built,
                                          "commit": done - t_job})

    def _renew_connection(self) -> None:
        """After a commit: the lake's connection made anew, so that a run of many batches,
        or a watcher, stays the size of one batch. DuckLake keeps what each commit loaded of
        the catalog in the DuckDB instance for the connection's life (~0.5 MB a batch in a
        run of 50; duckdb/ducklake#852); a new connection costs ~40 ms on a local lake, ~60
        ms with a PostgreSQL catalog on the same machine. The commit stands whatever happens
        here: a connection that cannot be made leaves the old one in use, and one that
        cannot be closed is left to the garbage collector."""
        try:
            fresh = open_lake(self.lake, read_only=False, prepared=True)
        except Exception as e:  # noqa: BLE001 (the batch is committed: go on with the old one)
            log.warning("the lake's connection was not made anew after the commit (memory "
                        "grows by about 1 MB a batch until it is): %s", self.lake.redact(str(e)))
            return
        old, self.con = self.con, fresh
        try:
            old.close()
        except Exception as e:  # noqa: BLE001
            log.info("the lake's old connection did not close: %s", self.lake.redact(str(e)))

    def _extract_ahead(self, following: List) -> None:
        """Has ``following`` extracted while this batch's job does the rest of its work: by
        the helper processes (``local_models``) once the job's Extract stage has its every
        record, or by the driver once the job waits for the NER children. The NER children
        are told of its articles for the next job: they then never wait for the driver's
        stories, write and commit in between."""
        ahead, ner, pool = self.warm.held("ahead"), self.warm.held("ner"), self.warm.held("pool")
        if ahead is None:
            return
        if pool is not None and pool.usable:
            after = ahead.extracted
        elif hasattr(ner, "asked"):
            after = ner.asked
        else:
            return
        announce = None
        if ner is not None:
            from transforms.entities.enrich import announce as tell
            announce = lambda article: tell(ner, article, ahead=True)  # noqa: E731
        identify = self.warm.held("language")
        ahead.start([f.path for f in following], after, max_bytes=self.opts.max_file_bytes,
                    max_words=self.opts.max_article_words, identify=identify, announce=announce)


def add_counts(totals: Dict[str, int], counts: Dict[str, int]) -> None:
    for k, v in counts.items():
        totals[k] = totals.get(k, 0) + v


def open_output(lake, overwrite: bool, say):
    """Under the writer lock: clears the output (``--overwrite``), opens the lake for writing
    and removes what interrupted runs left."""
    lake = as_lake(lake)
    claim_data_path(lake)  # before anything is deleted: a data path of another catalog is refused
    if overwrite:
        clear_output(lake)
        claim_data_path(lake)
    con = open_lake(lake, read_only=False)
    removed = remove_orphans(con, lake.output)
    if removed:
        say(f"removed {len(removed)} uncommitted batch folder(s) left by an interrupted run")
    return con


def in_process(options) -> bool:
    """Whether the job's workers are threads of this process: the FnApiRunner (also under
    the DirectRunner's names) in its in-memory mode. Prism runs its workers apart."""
    runner = options.view_as(StandardOptions).runner
    return (runner_is_local(runner) and "prism" not in str(runner).lower()
            and options.view_as(DirectOptions).direct_running_mode == "in_memory")


# Files a run plans to take from which in-process runs start every NER child: on the
# bundled samples (14 files) a second child's model load made the run slower (done in 5.5 s
# with one child, 6.5-7.3 s with two, alternating runs).
POOL_FILES = 100


@contextlib.contextmanager
def local_models(options, opts, lake: Optional[Lake] = None):
    """A ``transforms.warm.Warm`` whose models this process keeps for the whole run, when
    the jobs' workers are threads of this process (the in-memory runner); else None (workers
    load their own). The NER model goes to child processes (``--ner_processes``, by default
    one per core; one starts loading at once, the others once there are ``POOL_FILES`` files
    or more to take: ``start_processes_for``, ``transforms.entities.process``); extraction
    and Dedup's sketches go to helper processes on the cores NER leaves
    (``--helper_processes``; started at the same point: ``transforms.pool``); the
    language identifier and a DuckDB with the lake's extensions stay here (the DuckDB made
    anew for each job: ``transforms.lake_reader.RenewedDuckDB``). Every batch's job uses them
    instead of loading its own. The children end with the block; the others load before the
    first job (a run with nothing new loads none of them)."""
    if not in_process(options):
        yield None
        return
    from schemas.catalog import new_duckdb
    from transforms.entities.process import default_processes
    from transforms.extract.ahead import ExtractAhead
    from transforms.extract.language import load_identifier
    from transforms.extract.line_model import load_line_model
    from transforms.lake_reader import RenewedDuckDB
    from transforms.pool import HelperPool
    from transforms.warm import Warm
    warm, ner, ahead, pool = Warm(), None, None, None
    try:
        ner_processes = 0
        if not opts.skip_entities:
            from transforms.entities.process import NerPool
            # one child at once; the others once the plan has enough to annotate
            ner_processes = opts.ner_processes or default_processes()
            ner = NerPool(opts.spacy_model, ner_processes, start=1)
            warm.hold("ner", lambda: ner, opts.spacy_model)
        helpers = (opts.helper_processes if opts.helper_processes is not None
                   else helper_processes(ner_processes))
        if helpers > 0:
            pool = HelperPool(helpers)  # started once the plan has enough to extract
            warm.hold("pool", lambda: pool, "pool")
        if ner is not None or pool is not None:
            # the next batch extracted while this one's job waits for NER or dedups and commits
            ahead = ExtractAhead(load_line_model(), pool)
            warm.hold("ahead", lambda: ahead, "ahead")
        warm.hold_from_first_job("language", load_identifier, "py3langid")
        # the stories' word frequencies (0.5 s) load while the run plans and the job starts
        from transforms.stories.features import preload
        threading.Thread(target=preload, name="wordfreq-preload", daemon=True).start()
        lake = lake or lake_of(options, opts)
        warm.hold_from_first_job("duckdb", lambda: RenewedDuckDB(lambda: new_duckdb(lake=lake)),
                                 "duckdb")
        yield warm
    finally:
        if ahead is not None:
            ahead.stop()
        if pool is not None:
            pool.close()
        if ner is not None:
            ner.close()


def start_processes_for(warm, opts, files: int) -> None:
    """Starts the rest of the NER children and the helper processes that ``warm`` holds once
    there are ``POOL_FILES`` files or more to take (a run's plan, a watcher's waiting
    files); until then a run makes do with one NER child and no helper. Call between jobs
    only."""
    if warm is None or files < POOL_FILES:
        return
    if warm.held("ner"):
        warm.held("ner").grow()
    if warm.held("pool"):
        warm.held("pool").grow(*helper_tasks(opts))


def helper_tasks(opts) -> list:
    """What the helper processes do, loaded as they start: extract, sketch texts for Dedup."""
    from transforms.dedup.dedup import sketch_task
    from transforms.extract.extract import extract_task
    return [extract_task(opts.max_article_words),
            sketch_task(opts.minhash_perm, opts.shingle_words)]


def helper_processes(ner_processes: int) -> int:
    """Helper processes for an in-process run by default: the cores the NER children leave
    (none on one core, where the driver does the work as fast)."""
    from transforms.child import available_cores
    cores = available_cores()
    return 0 if cores < 2 else max(0, cores - ner_processes)


def run(options: beam.options.pipeline_options.PipelineOptions, opts, run_id: str,
        progress: Optional[Progress] = None, facts: bool = False) -> RunResult:
    """Runs every batch of a run; ``opts`` is the IngestOptions view of ``options``;
    ``progress`` shows what it does (default: lines on stdout); ``facts``: also read what
    the run's report says (``pipeline.report.facts``) through the writer's connection, after
    the last commit."""
    t0 = time.monotonic()
    progress = progress or Progress("log", skip_entities=opts.skip_entities)
    say = progress.say
    lake = lake_of(options, opts)
    output = lake.output
    lock = writer_lock(lake, run_id, wait=opts.wait, on_wait=say)
    with lock, local_models(options, opts, lake) as warm:
        con = open_output(lake, opts.overwrite, say)
        files = outside(list_files(opts.input), output)
        plan = plan_run(con, files, reprocess=opts.reprocess, max_files=opts.batch_files,
                        max_bytes=opts.batch_bytes)
        say(f"files: {plan.found} found, {plan.new} new, {plan.known} changed or reprocessed, "
            f"{plan.skipped} already taken; {len(plan.batches)} batch(es)")
        progress.planned(plan.new + plan.known, len(plan.batches))
        start_processes_for(warm, opts, plan.new + plan.known)
        faults.point("planned")
        totals: Dict[str, int] = {}
        writer = Writer(con, options, opts, run_id, progress, warm=warm, lake=lake, lock=lock)
        for i, batch in enumerate(plan.batches, start=1):
            following = plan.batches[i] if i < len(plan.batches) else None
            done = writer.commit(batch, i, len(plan.batches), plan.found, plan.skipped,
                                 following)
            add_counts(totals, done.counts)
            say(f"batch {i}/{len(plan.batches)} committed: {done.line}")
        con = writer.con  # made anew after each commit
        if plan.batches and needs_compaction(con):
            compact(con, fault=faults.point)
            say("compacted small files")
        seconds = time.monotonic() - t0
        gathered = None
        if facts and plan.batches:
            try:  # only reads: whatever fails here, the commits stand
                from pipeline.report.facts import gather
                gathered = gather(lake, run_id, con=con)
            except Exception as e:  # noqa: BLE001 (the caller reads them again on its own)
                log.info("report facts not read through the writer's connection: %s", e)
        con.close()
        progress.close()
    return RunResult(run_id, plan.found, plan.skipped, plan.new, plan.known, len(plan.batches),
                     totals, seconds, gathered)


def _counter(result, name: str) -> Optional[int]:
    """A Beam counter's value summed over steps; None where the runner cannot say."""
    from apache_beam.metrics.metric import MetricsFilter
    try:
        found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
    except Exception as e:  # noqa: BLE001 (a runner without metrics, or failing to give them)
        log.info("no Beam metrics from this runner (%s): lookup counts not shown", e)
        return None
    return sum(counter_value(c) for c in found)


def list_runs(output, catalog: Optional[str] = None) -> List[tuple]:
    con = open_lake(output, catalog)
    return con.execute("""
        SELECT run_id, min(started_at) AS started, max(finished_at) AS finished,
               count(*) AS batches, sum(files_new + files_changed + files_unchanged) AS files,
               sum(articles), sum(duplicates), sum(rejects), sum(replaced), any_value(code_version)
        FROM runs GROUP BY run_id ORDER BY started""").fetchall()
