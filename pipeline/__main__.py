"""Entry point: ``python -m pipeline --input PATH [--output DIR] [options, Beam's included]``."""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from datetime import datetime, timezone

# Beam warnings that say nothing about this job (optional GCP extras, RunInference's memory
# probe); everything else is shown. Set up before Beam is imported: it warns on import.
_NOISE = ("apitools not found", "Resource module is not available")


def _quiet(record: logging.LogRecord) -> bool:
    return not any(n in record.getMessage() for n in _NOISE)


logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
for _handler in logging.getLogger().handlers:
    _handler.addFilter(_quiet)

from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,  # noqa: E402
                                                  StandardOptions, WorkerOptions)

from pipeline.build import new_run_id  # noqa: E402
from pipeline.checks import catalog_problem, input_problems, output_problem  # noqa: E402
from schemas.lock import Busy, LockLost  # noqa: E402
from pipeline.options import IngestOptions, unknown_option  # noqa: E402
from schemas.catalog import CatalogError  # noqa: E402
from transforms.sink.commit import StagingMissing  # noqa: E402
from transforms.entities import resolve_model  # noqa: E402

# Beam's DirectRunner first tries to download the Prism runner binary and falls back to the
# FnApiRunner when it cannot; we go to the FnApiRunner directly, the same runner the
# DirectRunner uses for batch jobs (--direct_running_mode / --direct_num_workers apply).
DEFAULT_RUNNER = "FnApiRunner"
COMMANDS = ("runs", "compact", "report")


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _commands(argv) -> int:
    """``runs OUTPUT``: the run history; ``compact OUTPUT [--expire_older_than INTERVAL]``;
    ``report OUTPUT [--run RUN_ID] [--to PATH]``."""
    ap = argparse.ArgumentParser(prog=f"python -m pipeline {argv[0]}")
    ap.add_argument("output")
    ap.add_argument("--catalog", default=None,
                    help="the lake's PostgreSQL catalog, as the run was given it (its data "
                         "path is OUTPUT; the store's settings come from the AWS_* variables)")
    if argv[0] == "compact":
        ap.add_argument("--expire_older_than", default=None,
                        help="also expire snapshots older than this DuckDB interval "
                             "(e.g. '30 days') and delete the files only they used")
    if argv[0] == "report":
        ap.add_argument("--run", default=None,
                        help="one run's report (default: every run, OUTPUT/_reports/report.html)")
        ap.add_argument("--to", default=None, help="write the page here instead")
    args = ap.parse_args(argv[1:])
    FileSystems.set_options(PipelineOptions([]))  # s3:// then takes the AWS_* variables
    from schemas.catalog import as_lake, exists
    problem = catalog_problem(args.catalog)
    if problem:
        return fail(problem)
    lake = as_lake(args.output if "://" in args.output else os.path.abspath(args.output),
                   args.catalog)
    try:
        if not exists(lake):
            return fail(f"{args.output} holds no ingest output (no "
                        f"{'lake in ' + lake.shown() if lake.remote else lake.sqlite_path})")
        return _command(argv[0], args, lake)
    except (CatalogError, Busy) as e:
        return fail(str(e))


def _command(name: str, args, lake) -> int:
    from pipeline import faults
    from pipeline.run import list_runs
    from schemas.catalog import open_lake
    from schemas.lock import writer_lock
    from transforms.sink.commit import compact
    if name == "report":
        from pipeline.report import write_report
        if args.run and args.run not in {r[0] for r in list_runs(lake)}:
            return fail(f"{args.output} has no run {args.run}: `python -m pipeline runs "
                        f"{args.output}` lists them")
        print(f"report: {write_report(lake, args.run, args.to)}")
        return 0
    if name == "runs":
        print(f"{'run_id':<26} {'started (UTC)':<19} {'secs':>6} {'batches':>7} {'files':>6} "
              f"{'articles':>8} {'dups':>6} {'rejects':>7} {'replaced':>8}  code")
        for run_id, start, end, batches, files, art, dup, rej, repl, code in list_runs(lake):
            print(f"{run_id:<26} {start:%Y-%m-%d %H:%M:%S} {(end - start).total_seconds():6.1f} "
                  f"{batches:7d} {files:6d} {art:8d} {dup:6d} {rej:7d} {repl:8d}  {code}")
        return 0
    with writer_lock(lake, "compact", wait=True, on_wait=print):
        con = open_lake(lake, read_only=False)
        after = compact(con, args.expire_older_than, fault=faults.point)
    print("data files per table: " + ", ".join(f"{t} {n}" for t, n in sorted(after.items())))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return _commands(argv)
    if "-h" in argv or "--help" in argv:
        parser = argparse.ArgumentParser(
            prog="python -m pipeline",
            description="Ingest news article files into a DuckLake of Parquet tables (articles, "
                        "duplicates, rejects), taking only files no earlier run took. Beam's own "
                        "options are accepted as well: --runner, --direct_running_mode, "
                        "--direct_num_workers, --project, ... Other commands: "
                        "`python -m pipeline runs OUTPUT` (run history), "
                        "`python -m pipeline report OUTPUT [--run RUN_ID]` (HTML report), "
                        "`python -m pipeline compact OUTPUT` (merge small files).")
        IngestOptions._add_argparse_args(parser)
        parser.print_help()
        return 0
    typo = unknown_option(argv)
    if typo:
        return fail(typo)
    options = PipelineOptions(argv)
    opts = options.view_as(IngestOptions)
    if not opts.input:
        return fail("--input PATH is required (a folder, a glob or a file)")
    problem = catalog_problem(opts.catalog) or output_problem(opts.output, opts.catalog)
    if problem:
        return fail(problem)
    if os.path.isdir(os.path.join(opts.output, "articles")) and not opts.overwrite:
        return fail(f"{opts.output} holds output of the earlier folder layout (articles/ ...): "
                    "pass --overwrite to replace it, or choose another --output")
    if opts.batch_files < 0 or opts.batch_bytes <= 0:
        return fail("--batch_files must be >= 0 (0: one batch) and --batch_bytes > 0")
    if opts.run_id is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", opts.run_id)
                                    or opts.run_id == "report"):
        return fail(f"--run_id {opts.run_id!r}: use letters, digits, '.', '_' and '-' (it names "
                    "files), and not 'report'")
    if opts.ner_processes < 0:
        return fail("--ner_processes must be >= 0 (0: one per core, at most 4)")
    if opts.helper_processes is not None and opts.helper_processes < 0:
        return fail("--helper_processes must be >= 0 (0: the driver extracts and sketches)")
    if opts.max_article_words < 0:
        return fail("--max_article_words must be >= 0 (0: no limit)")
    if opts.site_template_pages < 0:
        return fail("--site_template_pages must be >= 0 (0: keep every line)")
    if not 0 < opts.site_template_share <= 1:
        return fail("--site_template_share must be above 0 and at most 1 (a share of a site's pages)")
    if opts.progress_interval <= 0:
        return fail("--progress_interval must be > 0 seconds")
    if opts.watch and (opts.settle_seconds < 0 or opts.poll_seconds <= 0):
        return fail("--settle_seconds must be >= 0 and --poll_seconds > 0")
    if opts.watch and opts.reprocess:
        return fail("--reprocess takes a folder again once: run it without --watch, then watch")
    FileSystems.set_options(options)  # s3:// and azfs:// read their settings from the options
    streams = opts.watch or options.view_as(StandardOptions).streaming
    for problem in input_problems(opts.input, empty_ok=streams):
        return fail(problem)
    from pipeline.run import lake_of
    lake = lake_of(options, opts)
    if opts.catalog:  # the catalog and the store must answer before any job starts
        from pipeline.checks import store_problem
        from schemas.catalog import exists
        problem = store_problem(lake.output)
        if problem:
            return fail(lake.redact(problem))
        try:
            exists(lake)
        except CatalogError as e:
            return fail(str(e))
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = DEFAULT_RUNNER
    harness = options.view_as(WorkerOptions)
    if (harness.default_sdk_harness_log_level is None  # local worker processes: warnings only
            and options.view_as(DirectOptions).direct_running_mode == "multi_processing"):
        harness.default_sdk_harness_log_level = "WARNING"
    if not opts.skip_entities:
        try:
            resolve_model(opts.spacy_model)
        except ValueError as e:
            return fail(str(e))
    run_id = opts.run_id or new_run_id(datetime.now(timezone.utc))
    if std.streaming:
        return _stream(options, opts, run_id, lake)

    from pipeline.progress import Progress
    from pipeline.run import run
    if opts.watch:  # one line per batch, no per-stage progress: batches take seconds
        progress = Progress("quiet" if opts.quiet else "lines", skip_entities=opts.skip_entities)
    else:
        progress = Progress.for_stream(opts.quiet, sys.stdout, interval=opts.progress_interval,
                                       skip_entities=opts.skip_entities)
    watched = None
    try:
        if opts.watch:
            from pipeline.watch import watch
            watched = watch(options, opts, run_id, progress)
            result = watched.run
        else:
            result = run(options, opts, run_id, progress, facts=True)
    except Busy as e:
        return fail(f"{e}; this run took nothing. Try again when it has finished, or pass --wait")
    except CatalogError as e:
        return fail(str(e))
    except (StagingMissing, LockLost) as e:  # while it ran: not caught before the job, status 1
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        progress.close()
    facts = report = None
    if result.batches:
        # What follows only reads: whatever fails here, the run's commits stand.
        try:
            from pipeline.report.facts import gather
            # read once, for the report and the summary
            facts = result.facts or gather(lake, run_id)
            if not opts.no_report:
                from pipeline.report import report_path, write_report
                report = write_report(lake, run_id, report_path(opts.report_dir or lake.output,
                                                                run_id, sub=not opts.report_dir),
                                      facts=facts)
        except Exception as e:  # noqa: BLE001
            print(f"warning: the run committed, but its report was not written "
                  f"({type(e).__name__}: {lake.redact(str(e))}); `python -m pipeline report "
                  f"{opts.output} --run {run_id}` retries", file=sys.stderr)
        _prune(opts)
    if watched is not None:
        from pipeline.watch import latency_summary
        print(f"stopped ({watched.stopped_by}) after {result.seconds:.1f}s: {watched.seen} files "
              f"seen, {result.new} taken in {result.batches} batch(es); latency from landing to "
              f"committed: {latency_summary(watched.latencies)}")
    else:
        print(f"done in {result.seconds:.1f}s")
    from pipeline.summary import summarize
    print(summarize(lake, result, facts, report))
    return 0


def _stream(options, opts, run_id: str, lake) -> int:
    """``--streaming``: the unbounded graph (``pipeline.stream``), until the runner stops it."""
    from pipeline.run import code_version, runner_is_local
    runner = options.view_as(StandardOptions).runner
    if opts.watch:
        return fail("--watch and --streaming are two ways to stream: pass one of them")
    if opts.window_seconds < 1 or opts.window_seconds != int(opts.window_seconds) or opts.allowed_lateness < 0:
        return fail("--window_seconds must be a whole number of seconds >= 1 (it names the "
                    "window's commits) and --allowed_lateness >= 0")
    if runner_is_local(runner):
        return fail("Beam's local runners cannot run an unbounded file source: use --watch on "
                    "one machine, or --streaming with --runner=FlinkRunner (or SparkRunner)")
    if "dataflow" in str(runner).lower() and not opts.catalog:
        return fail("--streaming on Dataflow commits from the workers, which share no disk: "
                    "give the lake a catalog every worker reaches (--catalog postgresql://...) "
                    "and a data path on an object store (--output s3://... or gs://...)")
    import apache_beam as beam
    from pipeline.stream import build_streaming, options_json
    p = beam.Pipeline(options=options)
    build_streaming(p, opts, run_id, options_json=options_json(options), version=code_version(),
                    lake=lake)
    print(f"streaming run {run_id}: {', '.join(opts.input)} -> {opts.output}, one commit per "
          f"{opts.window_seconds:g}s window (and per late pane); stop it through the runner")
    p.run().wait_until_finish()
    return 0


def _prune(opts) -> None:
    """Keeps the newest --keep_reports per-run reports and worker logs."""
    from apache_beam.io.filesystems import FileSystems
    from pipeline.report import REPORTS_DIR, prune
    from pipeline.run import LOGS_DIR, logs_dir
    folders = [(FileSystems.join(opts.report_dir, "*.html") if opts.report_dir
                else FileSystems.join(opts.output, REPORTS_DIR, "*.html")),
               os.path.join(logs_dir(opts.output, opts.report_dir), "*.log")]
    for pattern, folder in zip(folders, (REPORTS_DIR, LOGS_DIR)):
        try:
            prune(pattern, opts.keep_reports)
        except Exception as e:  # noqa: BLE001 (housekeeping: never fails a committed run)
            print(f"warning: old {folder} not pruned ({type(e).__name__}: {e})", file=sys.stderr)


def exit_now(code: int) -> None:
    """Ends the process with ``code`` without the interpreter's teardown of every module
    (0.3-0.4 s after Beam, spaCy and trafilatura are imported, on every run). Everything a
    run writes is committed and closed before ``main`` returns; the exit handlers still run
    and the standard streams are flushed. With another thread still alive, a normal exit."""
    import atexit
    import threading
    if threading.active_count() > 1 or not hasattr(atexit, "_run_exitfuncs"):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing left to tell
                pass
        try:  # what C code buffered in its own stdio
            import ctypes
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError, TypeError):
            pass
    finally:
        os._exit(code)


def secrets_in(argv, env=None) -> list:
    """The secrets a command line and its environment hold (a catalog's password, the
    store's keys), for masking what an unexpected error prints."""
    from schemas.catalog import Lake, is_postgres
    env = os.environ if env is None else env
    found = [env.get(k) for k in ("PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if not value and i + 1 < len(argv):
            value = argv[i + 1]
        if name == "--catalog" and is_postgres(value):
            found += Lake("", value).secrets()
        elif name in ("--s3_secret_access_key", "--s3_session_token"):
            found.append(value)
    return [s for s in found if s]


def main_masked() -> int:
    """``main()``; an unexpected error prints its traceback with every secret masked."""
    try:
        return main()
    except (BrokenPipeError, KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # noqa: BLE001 (a bug or a failing service: its traceback, masked)
        import traceback
        from schemas.catalog import mask
        sys.stderr.write(mask(traceback.format_exc(), secrets_in(sys.argv[1:])))
        return 1


def cli() -> int:
    try:
        return main_masked()
    except BrokenPipeError:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # `... | head`: the reader left; say nothing more (Python's advice)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        raise  # another pipe than ours


def entry() -> None:
    """``python -m pipeline`` and the ``news-ingest`` command."""
    exit_now(cli())


if __name__ == "__main__":
    entry()
