"""``--watch``: keeps running, and ingests files as they land, seconds after they land.

One process holds the writer lock for as long as it watches. It learns of files from
``watchdog`` (inotify on Linux: created, written, closed after writing, moved in) for local
inputs, and from a listing every ``--poll_seconds`` for inputs on object stores (and every
``LOCAL_RELIST`` seconds locally, in case the kernel dropped events). ``pipeline.landing``
decides when a file is complete. Complete files go in micro-batches through the same Beam
job and the same one-transaction commit as a scheduled run (``pipeline.run.Writer``), so
the exactly-once guarantees are the same: a ``kill -9`` loses nothing, and a restart takes
every file not committed, including those that landed while it was down.

Latency: what a small batch costs is kept low by keeping the expensive parts alive between
batches: the NER model stays loaded in this process (``shared.Shared``, for the in-process
runner) and the lake stays open; small batches dedup in one step. A batch takes what is
ready when the previous one ends, up to ``--batch_files``/``--batch_bytes``: a trickle gives
batches of one file, a burst gives large batches, whose fixed cost is spread thin.

SIGINT/SIGTERM: the batch under way finishes and commits, then the watcher exits 0 with a
summary; a second one abandons the batch (nothing of it is committed; its files are taken
again at the next start).
"""
from __future__ import annotations

import os
import queue
import signal
import statistics
import threading
import time
import typing
from typing import Dict, List, Optional

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from pipeline.landing import Landing, Scope
from pipeline.plan import attach_prior_records, cut, outside, read_ledger, select
from pipeline.progress import Progress
from pipeline.run import (RunResult, Writer, add_counts, lake_of, local_models, open_output,
                          start_processes_for)
from schemas.lock import LockLost, writer_lock
from transforms.read.discover import list_files
from transforms.sink.commit import compact, needs_compaction

# Local folders are listed this often as well, in case inotify dropped events (queue overflow).
LOCAL_RELIST = 60.0
# A batch that fails this many times in a row (waiting 5, 10, 20, 40 s between) stops the
# watcher with its error: something outside the data is wrong (bad input never fails a batch).
MAX_FAILURES = 5
# After the first ready file of an idle spell, wait this long for others landing with it.
GATHER = 0.05


class Stop:
    """SIGINT/SIGTERM: the first asks to stop after the batch under way, the second abandons
    it (``KeyboardInterrupt`` in the main thread)."""

    def __init__(self):
        self.event = threading.Event()
        self.signal: Optional[str] = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum, _frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        self.event.set()


class _Events:
    """watchdog handler: puts (kind, path, monotonic, wall) on a queue for the main loop."""

    def __init__(self, q: "queue.Queue", scope: Scope):
        from watchdog.events import FileSystemEventHandler

        outer = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.is_directory:
                    return
                kind = event.event_type
                now, wall = time.monotonic(), time.time()
                if kind == "moved":
                    outer.put("gone", event.src_path, now, wall)
                    outer.put("closed", event.dest_path, now, wall)
                elif kind == "closed":
                    outer.put("closed", event.src_path, now, wall)
                elif kind in ("created", "modified"):
                    outer.put("changed", event.src_path, now, wall)
                elif kind == "deleted":
                    outer.put("gone", event.src_path, now, wall)

        self.q, self.scope, self.handler = q, scope, Handler()

    def put(self, kind, path, now, wall):
        path = os.fsdecode(path)
        if self.scope.wants(path) and not self.scope.excluded(path):
            self.q.put((kind, path, now, wall))


class WatchResult(typing.NamedTuple):
    run: RunResult
    seen: int
    latencies: List[float]   # landing (last write) -> committed, seconds, per file
    stopped_by: str


def watch(options, opts, run_id: str, progress: Progress, out=print) -> WatchResult:
    """Watches ``opts.input`` until SIGINT/SIGTERM; commits micro-batches into ``opts.output``."""
    t0 = time.monotonic()
    say = progress.say
    lake = lake_of(options, opts)
    output = lake.output
    scope = Scope(opts.input, exclude=output)
    landing = Landing(opts.settle_seconds)
    events: "queue.Queue" = queue.Queue()
    totals: Dict[str, int] = {}
    latencies: List[float] = []
    seen: set = set()
    batches = taken = failures = 0
    known: Dict[str, tuple] = {}  # path -> (size, mtime) as taken: a relisting skips them
    lock = writer_lock(lake, run_id, wait=opts.wait, on_wait=say)
    with Stop() as stop, lock, local_models(options, opts, lake) as warm:
        writer = Writer(open_output(lake, opts.overwrite, say), options, opts, run_id, progress,
                        warm=warm, lake=lake, lock=lock)
        if warm is not None:
            warm.before_job()  # the models loaded before the first file lands
        observer = _observe(scope, events)
        roots = scope.roots()
        say(f"watching {', '.join(roots + scope.remote)} "
            f"({'inotify' if observer is not None else 'listing'}"
            f"{f', listing every {opts.poll_seconds:g}s' if scope.remote else ''}); "
            f"Ctrl-C stops after the batch under way")
        next_list = 0.0   # list at once: files that landed while no watcher ran
        try:
            while not stop.event.is_set():
                now = time.monotonic()
                if now >= next_list:
                    _list(opts.input, output, landing, seen, known)
                    next_list = now + (opts.poll_seconds if scope.remote or observer is None
                                       else LOCAL_RELIST)
                # a burst: every core from now on, the models loading while its files settle
                start_processes_for(warm, opts, len(landing))
                ready = landing.ready(time.monotonic())
                if not ready:
                    wait = min(x for x in (landing.next_settle(time.monotonic()),
                                           next_list - time.monotonic(), 0.5) if x is not None)
                    _drain(events, landing, seen, max(wait, 0.0), stop.event)
                    continue
                # a burst lands together: give its other files a moment to close
                _drain(events, landing, seen, GATHER, stop.event)
                ready = landing.ready(time.monotonic())
                batch, done, listed = _plan(writer.con, ready, landing, opts, known)
                landing.taken(done)  # unchanged since taken, or gone: nothing to do
                if not batch:
                    continue
                landed = {e.path: landing.landed_at(e.path) for e in batch}
                try:
                    result = writer.commit(batch, batches + 1, batches + 1, len(seen), len(done))
                except LockLost:
                    raise  # another writer may hold the lake now: no retry can commit
                except Exception as e:  # noqa: BLE001 (e.g. a full disk: the files stay pending)
                    failures += 1
                    if failures >= MAX_FAILURES:
                        raise
                    pause = min(60.0, 5.0 * 2 ** (failures - 1))
                    say(f"batch {batches + 1} failed ({type(e).__name__}: {lake.redact(str(e))}); nothing of it "
                        f"was committed; trying again in {pause:g}s ({failures}/{MAX_FAILURES})")
                    stop.event.wait(pause)
                    continue
                failures = 0
                batches += 1
                known.update({e.path: listed[e.path] for e in batch})
                committed = time.time()
                lat = [committed - t for t in landed.values() if t is not None]
                latencies += lat
                landing.taken(landed)
                taken += len(batch)
                add_counts(totals, result.counts)
                say(f"batch {batches} committed: {result.line}; latency "
                    f"{_fmt(lat)}; seen {len(seen)}, taken {taken}, waiting {len(landing)}")
                if not landing.ready(time.monotonic()) and needs_compaction(writer.con):
                    compact(writer.con)
                    say("compacted small files")
        except KeyboardInterrupt:
            say("stopped: the batch under way was abandoned (unless its commit had finished, "
                "its files are taken at the next start)")
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            writer.con.close()  # made anew after each commit
            progress.close()
    result = RunResult(run_id, len(seen), 0, taken, 0, batches, totals, time.monotonic() - t0)
    return WatchResult(result, len(seen), latencies, stop.signal or "interrupt")


def _fmt(lat: List[float]) -> str:
    if not lat:
        return "-"
    if len(lat) == 1:
        return f"{lat[0]:.1f}s"
    return f"{min(lat):.1f}-{max(lat):.1f}s"


def latency_summary(lat: List[float]) -> str:
    if not lat:
        return "no files committed"
    q = sorted(lat)
    p95 = q[min(len(q) - 1, int(round(0.95 * (len(q) - 1))))]
    return f"p50 {statistics.median(q):.1f}s, p95 {p95:.1f}s, max {q[-1]:.1f}s over {len(q)} files"


def _observe(scope: Scope, q: "queue.Queue"):
    """A running watchdog observer over the local inputs' folders, or None (no local input,
    or no observer can start: then listing does it all)."""
    roots = [r for r in scope.roots() if os.path.isdir(r)]
    if not roots:
        return None
    try:
        from watchdog.observers import Observer
        observer = Observer()
        handler = _Events(q, scope).handler
        for r in roots:
            observer.schedule(handler, r, recursive=True)
        observer.start()
        return observer
    except Exception as e:  # noqa: BLE001 (e.g. the inotify watch limit): listing still works
        print(f"warning: file events unavailable ({type(e).__name__}: {e}); listing instead")
        return None


def _drain(events: "queue.Queue", landing: Landing, seen: set, timeout: float,
           stop: threading.Event) -> None:
    """Applies the events that arrive within ``timeout`` seconds (returns at the first
    quiet moment after one arrived)."""
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        try:
            kind, path, now, wall = events.get(timeout=max(0.0, min(deadline - time.monotonic(), 0.1)))
        except queue.Empty:
            if time.monotonic() >= deadline:
                return
            continue
        if kind == "gone":
            landing.gone(path)
        elif kind == "closed":
            seen.add(path)
            landing.closed(path, now, wall)
        else:
            seen.add(path)
            landing.changed(path, now, wall)
        deadline = min(deadline, time.monotonic() + 0.01)


def _list(inputs, output: str, landing: Landing, seen: set, known: Dict[str, tuple]) -> None:
    """Lists each input; every file listed counts as seen, and one not ``known`` as taken
    with this size and time starts or goes on settling. An input that matches nothing yet,
    or cannot be listed this time, is skipped (said once per listing) and listed again later."""
    now, wall = time.monotonic(), time.time()
    for path in inputs:
        try:
            files = outside(list_files([path]), output)
        except FileNotFoundError:
            continue  # nothing there yet
        except Exception as e:  # noqa: BLE001 (an object store's hiccup must not stop the watch)
            print(f"warning: cannot list {path} ({type(e).__name__}: {e}); trying again later")
            continue
        for m in files:
            seen.add(m.path)
            if known.get(m.path) == (m.size_in_bytes, m.last_updated_in_seconds):
                continue
            landing.listed(m.path, m.size_in_bytes, m.last_updated_in_seconds, now, wall)


def _plan(con, ready: List[str], landing: Landing, opts, known: Dict[str, tuple]):
    """(the next batch of FileEntry, paths that need nothing: unchanged since taken, or gone,
    path -> (size, mtime) of the files stat'd)."""
    metas, gone = [], []
    for path in ready:
        m = _stat(path)
        if m is None:
            gone.append(path)
        else:
            metas.append(m)
    ledger = read_ledger(con, [m.path for m in metas])
    take, _ = select(metas, ledger)
    wanted = {e.path for e in take}
    unchanged = [m.path for m in metas if m.path not in wanted]
    known.update({m.path: (m.size_in_bytes, m.last_updated_in_seconds) for m in metas
                  if m.path not in wanted})
    take = attach_prior_records(con, take)
    batches = cut(take, opts.batch_files, opts.batch_bytes)
    listed = {m.path: (m.size_in_bytes, m.last_updated_in_seconds) for m in metas}
    return (batches[0] if batches else []), gone + unchanged, listed


def _stat(path: str) -> Optional[FileMetadata]:
    """The file's metadata now, as ``list_files`` gives it, or None when it is gone."""
    if FileSystems.get_scheme(path) in (None, "file"):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return FileMetadata(os.path.abspath(path), st.st_size, st.st_mtime)
    try:
        found = FileSystems.match([path])[0].metadata_list
    except Exception:  # noqa: BLE001 (deleted meanwhile)
        return None
    return found[0] if found else None
