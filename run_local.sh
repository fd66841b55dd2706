#!/usr/bin/env bash
# Runs the ingest pipeline locally.
#   ./run_local.sh                          bundled samples -> ./output (replaced each time)
#   ./run_local.sh --input PATH --output DIR [pipeline and Beam options]
# Every argument is passed to `python -m pipeline`; see `./run_local.sh --help`.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
if [ "$#" -eq 0 ]; then
  set -- --input samples --output output --overwrite
fi
exec .venv/bin/python -m pipeline "$@"
