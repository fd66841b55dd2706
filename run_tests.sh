#!/usr/bin/env bash
# Sets up .venv when needed, then runs the whole test suite (slow end-to-end tests included).
# Extra arguments go to pytest, e.g. ./run_tests.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
