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


def report_path(output: str, run_id: Optional[str] = None, sub: bool = True) -> str:
    """``OUTPUT/_reports/RUN.html`` (``sub`` False: ``OUTPUT/RUN.html``, for --report_dir)."""
    folder = FileSystems.join(output, REPORTS_DIR) if sub else output
    return FileSystems.join(folder, f"{run_id or ACROSS_RUNS}.html")


def write_report(output, run_id: Optional[str] = None, path: Optional[str] = None,
                 facts: Optional[dict] = None) -> str:
    """Writes the report of ``run_id`` (None: of every run) to ``path`` (default:
    ``report_path``), replacing it whole; returns the path. ``output``: a
    ``schemas.catalog.Lake`` or an output folder. ``facts``: what ``facts.gather`` read for
    it already, if anything."""
    from pipeline.report.facts import gather
    from pipeline.report.page import render
    from schemas.catalog import as_lake
    lake = as_lake(output)
    path = path or report_path(lake.output, run_id)
    page = render(facts if facts is not None else gather(lake, run_id)).encode("utf-8")
    if "://" in path:  # an object store writes an object whole: no half page to hide
        with FileSystems.create(path, mime_type="text/html") as f:
            f.write(page)
        return path
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
