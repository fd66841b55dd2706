"""Run reports: one self-contained HTML page per committed run, and one across runs.

    OUTPUT/_reports/<run_id>.html   written after every run that committed something
    OUTPUT/_reports/report.html     ``python -m pipeline report OUTPUT`` (every run)

``facts`` reads the lake, ``plots`` draws, ``page`` lays it out.
"""
from __future__ import annotations

import os
from typing import List, Optional

from apache_beam.io.filesystems import FileSystems

REPORTS_DIR = "_reports"
ACROSS_RUNS = "report"
# Reports kept beside the output; older ones are regenerated on demand (`report --run`).
DEFAULT_KEEP = 200


def report_path(output: str, run_id: Optional[str] = None) -> str:
    return FileSystems.join(output, REPORTS_DIR, f"{run_id or ACROSS_RUNS}.html")


def write_report(output: str, run_id: Optional[str] = None, path: Optional[str] = None,
                 facts: Optional[dict] = None) -> str:
    """Writes the report of ``run_id`` (None: of every run) to ``path`` (default:
    ``report_path``), replacing it whole; returns the path. ``facts``: what ``facts.gather``
    read for it already, if anything."""
    from pipeline.report.facts import gather
    from pipeline.report.page import render
    path = path or report_path(output, run_id)
    page = render(facts if facts is not None else gather(output, run_id)).encode("utf-8")
    parent = os.path.dirname(path)
    if parent and not FileSystems.exists(parent):
        FileSystems.mkdirs(parent)
    tmp = f"{path}.tmp-{os.getpid()}"
    with FileSystems.create(tmp, mime_type="text/html") as f:
        f.write(page)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])  # a reader never opens half a page
    return path


def prune(pattern: str, keep: int = DEFAULT_KEEP, spare: str = f"{ACROSS_RUNS}.html") -> List[str]:
    """Deletes the oldest files matching ``pattern`` (per-run reports, worker logs) beyond the
    newest ``keep`` (0: keep all), by when they were written; never one named ``spare``.
    Returns what it deleted."""
    if keep <= 0:
        return []
    found = sorted((m.last_updated_in_seconds, m.path)
                   for m in FileSystems.match([pattern])[0].metadata_list
                   if os.path.basename(m.path) != spare)
    old = [path for _, path in found[:-keep]]
    if old:
        FileSystems.delete(old)
    return old
