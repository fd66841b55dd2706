"""Entry point: ``python -m pipeline --input PATH [--output DIR] [options, Beam's included]``."""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.build import build, new_run_id
from pipeline.options import IngestOptions
from transforms.entities import resolve_model
from transforms.sink import clear_tables

# Beam's DirectRunner first tries to download the Prism runner binary and falls back to the
# FnApiRunner when it cannot; we go to the FnApiRunner directly, the same runner the
# DirectRunner uses for batch jobs (--direct_running_mode / --direct_num_workers apply).
DEFAULT_RUNNER = "FnApiRunner"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = PipelineOptions(argv)
    opts = options.view_as(IngestOptions)
    if "-h" in argv or "--help" in argv:
        IngestOptions(["--help"])
        return 0
    if not opts.input:
        print("error: --input PATH is required (a folder, a glob or a file)", file=sys.stderr)
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
