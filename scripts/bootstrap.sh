#!/usr/bin/env bash
# Creates ./.venv (Python >= 3.10, 3.11 preferred) and installs the project into it.
# Re-installs only when pyproject.toml (or the extras asked for) changed since the last
# install, so it is cheap to call before every run. Sourced by run_local.sh and run_tests.sh.
# NEWS_INGEST_EXTRAS=gcp,aws also installs those extras (cloud filesystems for --input).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
extras="test${NEWS_INGEST_EXTRAS:+,$NEWS_INGEST_EXTRAS}"
stamp="$venv/.installed-$( (cat "$root/pyproject.toml"; echo "$extras") | sha1sum | cut -c1-12)"

if [ ! -x "$venv/bin/python" ]; then
  py=""
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      py="$cand"; break
    fi
  done
  [ -n "$py" ] || { echo "bootstrap: need Python >= 3.10 (3.11 preferred)" >&2; exit 1; }
  echo "bootstrap: creating .venv with $("$py" --version)" >&2
  "$py" -m venv "$venv"
fi

if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the project and its dependencies into .venv" >&2
  log="$venv/pip-install.log"
  if ! { "$venv/bin/python" -m pip install --upgrade pip &&
         "$venv/bin/python" -m pip install -e "$root[$extras]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: pip install failed (full log: $log)" >&2
    exit 1
  fi
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
