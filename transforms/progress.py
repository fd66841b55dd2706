"""Progress of a batch's job as the workers see it: per stage, how many items went through
and how many seconds the stage's own work took.

Two channels, written by the same ``Tally``:

- **Beam metrics** (``progress`` namespace: ``<stage>`` and ``<stage>_us`` counters). Every
  runner collects them; the driver reads them after the job for the run's history (where the
  time went), and a runner that serves metrics while the job runs (Dataflow) can show them live.
- **A progress folder** on the driver's machine, for the local runners, whose results answer
  only after the job ended: each Tally keeps its running totals in memory and replaces one
  small JSON file of its own there at most every ``FLUSH_SECONDS``. The driver sums the files.
  It works the same with in-process and ``multi_processing`` workers (they share the disk).
  It is local on purpose (plain ``os``, not ``FileSystems``): the driver passes a folder only
  when the workers run on its machine, and ``None`` otherwise.

Counting is an addition in memory per element; the file is written a few times a second at
most, so the overhead stays far below the work it measures (see ``benchmarks/progress.py``).
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import time
from typing import Dict, Optional

from apache_beam.metrics import Metrics

log = logging.getLogger(__name__)

NAMESPACE = "progress"
# The stages a batch's records go through, in order, and what each counts besides ``n`` (the
# items it took: files for ``read``, records for the others) and ``seconds`` (its own work).
STAGES = {
    "read": ("records", "rejected"),   # records the files held; those rejected while reading
    "extract": ("rejected",),          # records without article text
    "dedup": ("kept",),                # n = articles in, kept = not a copy
    "ner": ("rejected",),
    "stories": ("started",),           # n = articles assigned, started = stories they began
    "write": (),                       # rows of articles, duplicates and rejects
}
FLUSH_SECONDS = 0.5


def empty(stage: str) -> Dict[str, float]:
    return {"n": 0, "seconds": 0.0, **{k: 0 for k in STAGES[stage]}}


# Wall-clock times (epoch seconds) of a stage's first and last item, so that the driver knows
# its rate even when it ran between two polls; summed files take the earliest and the latest.
FIRST, LAST = "first_at", "last_at"


class Tally:
    """Running counts of one stage in one worker (create it in ``setup()``, not in the
    constructor: its file name names the worker process).

    ``add(n, seconds, **counts)`` counts ``n`` items, ``seconds`` of the stage's own work and
    the stage's other counts (``STAGES``); ``flush()`` (from ``finish_bundle``) writes the file.
    """

    def __init__(self, folder: Optional[str], stage: str):
        self.folder, self.stage = folder, stage
        self.counts = empty(stage)
        self._counters = {"n": Metrics.counter(NAMESPACE, stage),
                          **{k: Metrics.counter(NAMESPACE, f"{stage}_{k}") for k in STAGES[stage]}}
        self._us = Metrics.counter(NAMESPACE, f"{stage}_us")
        self._path = (os.path.join(folder, f"{stage}-{os.getpid()}-{secrets.token_hex(4)}.json")
                      if folder else None)
        self._flushed = 0.0
        self._dirty = False

    def add(self, n: int = 1, seconds: float = 0.0, **counts: int) -> None:
        self.counts["n"] += n
        if n:
            self._counters["n"].inc(n)
            now = time.time()
            self.counts.setdefault(FIRST, now)
            self.counts[LAST] = now
        if seconds:
            self.counts["seconds"] += seconds
            self._us.inc(int(seconds * 1e6))
        for k, v in counts.items():
            if v:
                self.counts[k] += v  # KeyError: a count the stage does not declare
                self._counters[k].inc(v)
        self._dirty = True
        if self._path and time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not (self._path and self._dirty):
            return
        self._flushed = time.monotonic()
        self._dirty = False
        tmp = f"{self._path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"stage": self.stage, **self.counts}, f)
            os.replace(tmp, self._path)  # the driver never reads half a file
        except OSError:
            pass  # the folder went away (the driver finished); progress is only for show


def read_folder(folder: str) -> Dict[str, Dict[str, float]]:
    """The sum of every Tally's file in ``folder``: {stage: {"n", "seconds", ...}}."""
    totals = {s: empty(s) for s in STAGES}
    try:
        names = os.listdir(folder)
    except OSError:
        return totals
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                one = json.load(f)
        except (OSError, ValueError):
            continue  # replaced while listing; the next poll sees it
        t = totals.get(one.get("stage"))
        if t is not None:
            for k in t:
                if k not in (FIRST, LAST):
                    t[k] += one.get(k, 0)
            if FIRST in one:
                t[FIRST] = min(t.get(FIRST, one[FIRST]), one[FIRST])
                t[LAST] = max(t.get(LAST, one[LAST]), one[LAST])
    return totals


def counter_value(c) -> int:
    """A Beam counter result's value: committed where the runner commits, else attempted."""
    return (c.committed if c.committed is not None else c.attempted) or 0


def from_metrics(result) -> Optional[Dict[str, Dict[str, float]]]:
    """The same totals from a job's Beam metrics, or None where the runner reports none
    (or fails to: what is only for show must never fail a batch)."""
    from apache_beam.metrics.metric import MetricsFilter
    try:
        if getattr(result, "_metrics", None) is not None:
            # Beam's portable runner keeps the first answer to metrics() for good: one asked
            # while the job ran (the progress display's) would hide the final counts
            result._metrics = None
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception as e:  # noqa: BLE001
        log.info("no progress metrics from this runner (%s: %s)", type(e).__name__, e)
        return None
    if not found:
        return None
    totals = {s: empty(s) for s in STAGES}
    for c in found:
        value = counter_value(c)
        name = c.key.metric.name
        stage, _, key = name.partition("_")
        if stage not in totals:
            continue
        key = key or "n"
        if key == "us":
            totals[stage]["seconds"] += value / 1e6
        elif key in totals[stage]:
            totals[stage][key] += value
    return totals


class TalliedFn:
    """Mixin for a DoFn that tallies its stage: ``self.tally`` exists after ``setup()`` and
    is written at the end of every bundle. Call ``super().setup()`` from an own ``setup``."""

    def __init__(self, progress: Optional[str], stage: str):
        self.progress, self.stage = progress, stage
        self.tally: Optional[Tally] = None

    def setup(self):
        self.tally = Tally(self.progress, self.stage)

    def finish_bundle(self):
        self.tally.flush()
