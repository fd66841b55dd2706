"""Entry point: ``python -m pipeline --input PATH [--output DIR] [options, Beam's included]``."""
from __future__ import annotations

import argparse
import logging
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

import apache_beam as beam  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402

from pipeline.build import build, new_run_id  # noqa: E402
from pipeline.options import IngestOptions  # noqa: E402
from transforms.discover import file_patterns  # noqa: E402
from transforms.entities import resolve_model  # noqa: E402
from transforms.sink import clear_tables  # noqa: E402

# Beam's DirectRunner first tries to download the Prism runner binary and falls back to the
# FnApiRunner when it cannot; we go to the FnApiRunner directly, the same runner the
# DirectRunner uses for batch jobs (--direct_running_mode / --direct_num_workers apply).
DEFAULT_RUNNER = "FnApiRunner"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser = argparse.ArgumentParser(
            prog="python -m pipeline",
            description="Ingest news article files into Parquet tables (articles, duplicates, "
                        "rejects). Beam's own options are accepted as well: --runner, "
                        "--direct_running_mode, --direct_num_workers, --project, ...")
        IngestOptions._add_argparse_args(parser)
        parser.print_help()
        return 0
    options = PipelineOptions(argv)
    opts = options.view_as(IngestOptions)
    if not opts.input:
        print("error: --input PATH is required (a folder, a glob or a file)", file=sys.stderr)
        return 2
    for pattern in file_patterns(opts.input):
        try:
            found = FileSystems.match([pattern], limits=[1])[0].metadata_list
        except Exception as e:  # e.g. a missing bucket or no credentials for gs:// / s3://
            print(f"error: cannot list {pattern}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
        if not found:
            print(f"error: no input files match {pattern}", file=sys.stderr)
            return 2
    std = options.view_as(StandardOptions)
    if not std.runner:
        std.runner = DEFAULT_RUNNER
    if not opts.skip_entities:
        try:
            resolve_model(opts.spacy_model)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    ingested_at = datetime.now(timezone.utc)
    run_id = opts.run_id or new_run_id(ingested_at)
    if opts.overwrite:
        clear_tables(opts.output)

    p = beam.Pipeline(options=options)
    build(p, opts, run_id=run_id, ingested_at=ingested_at)
    result = p.run()
    result.wait_until_finish()
    elapsed = (datetime.now(timezone.utc) - ingested_at).total_seconds()
    print(f"done in {elapsed:.1f}s")
    if FileSystems.get_scheme(opts.output) in (None, "file"):
        from pipeline.summary import summarize
        print(summarize(opts.output, run_id))
    else:
        print(f"run {run_id} written to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
