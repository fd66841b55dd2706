"""What the terminal shows while a run works.

Three modes (``Progress.for_stream``):

- ``bar``: stdout is a terminal: rich progress bars, one for the run (files committed) and
  one per stage of the running batch (read, extract, dedup, NER, write), with rate and ETA;
  the run's own lines print above them.
- ``log``: stdout is a file or a pipe (cron, CI): the same figures as one line every
  ``--progress_interval`` seconds and one when each batch's job ends, and the run's own lines.
- ``quiet`` (``--quiet``): nothing until the final summary; no tally folder, no polling (the
  stages still count in memory and in Beam metrics, for the run history's timings).

The counts come from the workers' tallies (``transforms.progress``): a folder of small files
for the local runners, Beam metrics for runners that serve them while the job runs.
"""
from __future__ import annotations

import contextlib
import fcntl  # POSIX, as schemas.lock
import glob
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, TextIO

from transforms.progress import FIRST, LAST, STAGES, empty, from_metrics, read_folder

log = logging.getLogger(__name__)

TALLY_PREFIX = "news-ingest-progress-"
ALIVE = ".run"  # in a tally folder: locked by the run that owns it for as long as it lives


def _hold_folder(folder: str):
    """Locks the folder's ``ALIVE`` file for this process (released when it exits, however
    it exits); the open file."""
    f = open(os.path.join(folder, ALIVE), "w")
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    return f


def remove_stale_tally_folders(root: Optional[str] = None) -> List[str]:
    """Removes the tally folders of runs that ended without removing them (killed): those
    whose ``ALIVE`` file nobody holds locked. A lock tells a live run from a dead one also
    across process namespaces, and a reused process id fools it not. Returns them.
    ``root``: default the temporary folder."""
    gone = []
    for path in glob.glob(os.path.join(root or tempfile.gettempdir(), TALLY_PREFIX + "*")):
        try:
            with open(os.path.join(path, ALIVE), "r+") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held (a live run), someone else's, or no such file: left alone
            continue
        shutil.rmtree(path, ignore_errors=True)
        gone.append(path)
    return gone


# How each stage's bar is labelled, and what its total is (from the counts of earlier stages).
LABELS = {"read": "read files", "extract": "extracted", "dedup": "deduplicated",
          "ner": "NER", "stories": "stories", "write": "written"}


def stage_totals(counts: Dict[str, Dict[str, float]], batch_files: int) -> Dict[str, Optional[int]]:
    """What each stage will have taken when the batch is done, as far as is known yet: the
    read stage takes the batch's files; each other stage what the stage before it let
    through, known once that stage is done (None: not known yet)."""
    read, extract, dedup = counts["read"], counts["extract"], counts["dedup"]
    totals: Dict[str, Optional[int]] = {"read": batch_files}
    read_done = read["n"] >= batch_files
    records = int(read["records"]) if read_done else None
    totals["extract"] = None if records is None else records - int(read["rejected"])
    extract_done = totals["extract"] is not None and extract["n"] >= totals["extract"]
    totals["dedup"] = int(extract["n"] - extract["rejected"]) if extract_done else None
    dedup_done = totals["dedup"] is not None and dedup["n"] >= totals["dedup"]
    totals["ner"] = int(dedup["kept"]) if dedup_done else None
    # less the articles NER rejects (none when it is skipped), known as it goes
    totals["stories"] = int(dedup["kept"] - counts["ner"]["rejected"]) if dedup_done else None
    totals["write"] = records
    return totals


def fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """The run's voice. ``say(line)`` prints a line of the run (not in quiet mode);
    ``batch(...)`` is the context of one batch's job, whose stage counts it shows. Modes:
    ``bar`` (a terminal), ``log`` (lines every ``interval`` seconds), ``lines`` (the run's
    lines only, no stage counts: ``--watch``, whose batches take seconds), ``quiet``."""

    def __init__(self, mode: str, *, interval: float = 10.0, out: TextIO = sys.stdout,
                 skip_entities: bool = False):
        if mode not in ("bar", "log", "lines", "quiet"):
            raise ValueError(mode)
        self.mode, self.interval, self.out = mode, interval, out
        self.stages = [s for s in STAGES if not (skip_entities and s == "ner")]
        self.total_files = 0
        self.batches = 0
        self.committed_files = 0
        self.started = time.monotonic()
        self._bars = None
        self._tasks: Dict[str, int] = {}
        self._result = None  # a running job's result, for runners without a tally folder
        self._weights: Optional[Dict[str, float]] = None  # stage seconds of the last batch
        self._lock = threading.Lock()

    @classmethod
    def for_stream(cls, quiet: bool, stream: TextIO = sys.stdout, **kw) -> "Progress":
        mode = "quiet" if quiet else "bar" if stream.isatty() else "log"
        return cls(mode, out=stream, **kw)

    # -- lines -------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        if self.mode == "quiet":
            return
        if self._bars is not None:
            self._bars.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.out, flush=True)

    # -- the run -----------------------------------------------------------------------------
    def planned(self, total_files: int, batches: int) -> None:
        self.total_files, self.batches = total_files, batches
        self.started = time.monotonic()
        if self.mode == "bar" and batches:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)
            self._bars = Bars(TextColumn("{task.description:<14}"), BarColumn(),
                              MofNCompleteColumn(), TextColumn("{task.fields[rate]:>9}"),
                              TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                              console=Console(file=self.out), refresh_per_second=4)
            self._tasks["run"] = self._bars.add_task("run: files", total=total_files, rate="")
            for s in self.stages:
                self._tasks[s] = self._bars.add_task(LABELS[s], total=None, rate="")
            self._bars.start()

    def committed(self, files: int) -> None:
        self.committed_files += files
        if self._bars is not None:
            self._bars.update(self._tasks["run"], completed=self.committed_files,
                              rate=self._rate(self.committed_files, time.monotonic() - self.started))

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    # -- one batch ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self, index: int, files: int, local: bool) -> Iterator[Optional[str]]:
        """The context of batch ``index``'s job over ``files`` files. Yields the folder the
        workers tally into (``local``: the runner's workers share this machine's disk), or
        None (quiet mode, or remote workers: then ``watch(result)`` reads Beam metrics)."""
        if self.mode in ("quiet", "lines"):
            yield None
            return
        folder = alive = None
        if local:
            remove_stale_tally_folders()
            folder = tempfile.mkdtemp(prefix=f"{TALLY_PREFIX}{os.getpid()}-")
            alive = _hold_folder(folder)
        self._result = None
        stop = threading.Event()
        started = time.monotonic()
        # per stage: (when it started: the poll before its first count, when its count last
        # grew, that count) -> its rate while it ran, frozen once it stops growing
        seen: Dict[str, list] = {}
        polled = [started]
        if self._bars is not None:
            for s in self.stages:
                self._bars.reset(self._tasks[s], total=files if s == "read" else None, rate="")

        def counts() -> Dict[str, Dict[str, float]]:
            if folder:
                return read_folder(folder)
            with self._lock:
                result = self._result
            return (from_metrics(result) if result is not None else None) or {s: empty(s) for s in STAGES}

        def show() -> Dict[str, Dict[str, float]]:
            c = counts()
            now = time.monotonic()
            for s in self.stages:
                n = c[s]["n"]
                if n and s not in seen:
                    seen[s] = [polled[0], now, n]
                elif s in seen and n > seen[s][2]:
                    seen[s][1:] = [now, n]
            polled[0] = now
            rates = {s: self._rate(n, last - first) for s, (first, last, n) in seen.items()}
            for s in self.stages:  # the workers' own clock, where they tell it, is exact
                if LAST in c[s] and c[s]["n"] > 1 and c[s][LAST] > c[s][FIRST]:
                    rates[s] = self._rate(c[s]["n"], c[s][LAST] - c[s][FIRST])
            totals = stage_totals(c, files)
            if self._bars is not None:
                for s in self.stages:
                    self._bars.update(self._tasks[s], completed=c[s]["n"], total=totals[s],
                                      rate=rates.get(s, ""))
            elif self.mode == "log":
                self.say(self._line(index, c, totals, now - started, rates))
            return c

        def poll() -> None:
            period = 0.25 if self._bars is not None else self.interval
            if not folder:  # a remote runner's metrics are an API call: not 4 times a second
                period = max(period, 5.0)
            failed = False
            while not stop.wait(period):
                try:
                    show()
                except Exception as e:  # progress must never take a run down: say it once
                    if not failed:
                        log.warning("progress display failed (the run goes on): %s: %s",
                                    type(e).__name__, e)
                    failed = True

        thread = threading.Thread(target=poll, name="progress", daemon=True)
        thread.start()
        try:
            yield folder
        finally:
            stop.set()
            thread.join()
            try:
                final = show()
                if all(final[s]["seconds"] > 0 for s in self.stages):
                    self._weights = {s: final[s]["seconds"] for s in self.stages}
            except Exception as e:  # only the display's last line is lost
                log.warning("progress display failed (the run goes on): %s: %s", type(e).__name__, e)
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
                alive.close()

    def watch(self, result) -> None:
        """A job's result as soon as the runner returns it (remote runners return while the
        job runs; their Beam metrics then feed the display)."""
        with self._lock:
            self._result = result

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _rate(n: float, seconds: float) -> str:
        return f"{n / seconds:,.1f}/s" if seconds > 0 and n else ""

    def _line(self, index: int, c, totals, elapsed: float, rates: Dict[str, str]) -> str:
        head = f"progress: batch {index}/{self.batches} ({fmt_seconds(elapsed)}): "
        if not any(c[s]["n"] for s in self.stages):
            return head + "starting the job (graph, workers, models)"
        parts = []
        for s in self.stages:
            n, total = int(c[s]["n"]), totals[s]
            part = f"{LABELS[s]} {n}" + (f"/{total}" if total is not None else "")
            if rates.get(s):
                part += f" ({rates[s]})"
            parts.append(part)
        eta = self.eta(c, totals)
        return (head + ", ".join(parts)
                + f"; run {self.committed_files}/{self.total_files} files committed"
                + (f", ETA {fmt_seconds(eta)}" if eta is not None else ""))

    def eta(self, c, totals) -> Optional[float]:
        """Seconds left in the run: its elapsed time scaled by the share of files not done.
        A batch is done in the share of its stages' items that went through, each stage
        weighed by the seconds it took in the batch before (equal weights in the first)."""
        weights = self._weights or {s: 1.0 for s in self.stages}
        total_weight = sum(weights.get(s, 0.0) for s in self.stages) or 1.0
        in_batch = sum(weights.get(s, 0.0) * min(1.0, c[s]["n"] / totals[s])
                       for s in self.stages if totals[s]) / total_weight
        batch_files = totals["read"] or 0
        done = (self.committed_files + in_batch * batch_files) / max(1, self.total_files)
        if done <= 0:
            return None
        return (time.monotonic() - self.started) * (1 - done) / done


def silence_workers(log_path: str) -> Callable[[], None]:
    """Sends this process's standard error (file descriptor 2), and so that of worker
    processes started from now on, to ``log_path``; returns the function that restores it.
    Beam's ``multi_processing`` workers log at INFO to the standard error they inherit before
    they read any option; the log keeps it for when something goes wrong."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
    return restore
