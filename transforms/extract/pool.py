"""Extraction in child processes, for runs whose Beam workers are threads of the driver.

The in-memory runner runs a job's DoFns on one thread of the driver: without NER, that one
core parses and extracts every page while the machine's other cores idle (3,000 pages: the
driver at 100% of a core, the run at 0.54x datatrove's pages/s on 2 cores). An
``ExtractPool`` runs ``extract_record`` -- the same pure function, with the same line model
and language identifier loaded the same way -- in ``processes`` children, each loading them
once for the whole run; ``ExtractFn`` sends it chunks of records and emits what comes back.

A record's result does not depend on which process extracted it, so the job's articles and
rejects are the same with or without the pool. A child that fails or dies is dropped and the
records it had are extracted in the driver, as without a pool; the children end with their
input, so a killed run leaves none behind.
"""
from __future__ import annotations

import logging
import pickle
import queue
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

from transforms import child

log = logging.getLogger(__name__)

CHUNK = 8  # records a request: few enough to spread a small batch, many enough to amortise


class ChildGone(RuntimeError):
    """The child could not extract the chunk (it failed to load, died or broke the protocol):
    the caller extracts those records itself."""


class ExtractProcess:
    """One child running ``serve``, started at once; ``extract`` sends it a chunk and waits.
    One request at a time (callers hold their own child: ``ExtractPool``)."""

    def __init__(self):
        self._proc = child.start(__name__)
        self._stopper = weakref.finalize(self, child.stop, self._proc)
        self.ready = False
        self.gone: Optional[str] = None  # why this child is no longer used

    @property
    def pid(self) -> int:
        return self._proc.pid

    def extract(self, records: Sequence, max_words: int) -> List[Tuple[object, float]]:
        """``(extract_record's result, seconds it took)`` for each record, in order."""
        if self.gone:
            raise ChildGone(self.gone)
        try:
            if not self.ready:
                message = child.receive(self._proc.stdout)
                if not message or message[0] != "ready":
                    raise ChildGone(message[1] if message else f"it exited ({self._proc.poll()})")
                self.ready = True
            child.send(self._proc.stdin, ("extract", list(records), max_words))
            answer = child.receive(self._proc.stdout)
        except (OSError, EOFError, ValueError, pickle.PickleError) as e:
            answer = ("failed", f"{type(e).__name__}: {e}")
        except ChildGone as e:
            answer = ("failed", str(e))
        if answer and answer[0] == "error":  # this chunk raised there: it will here too
            raise ChildGone(answer[1])
        if not answer or answer[0] != "done" or len(answer[1]) != len(records):
            self.gone = (answer[1] if answer and answer[0] == "failed"
                         else f"it exited ({self._proc.poll()})")
            self._stopper()
            raise ChildGone(self.gone)
        return answer[1]

    def close(self) -> None:
        self._stopper()


class ExtractPool:
    """``processes`` extraction children, none started before ``grow()`` (a run of a
    handful of files extracts them sooner than a child loads). ``submit`` hands a chunk of
    records to the first idle child and returns a ``Future`` of ``ExtractProcess.extract``'s
    list; it raises ``ChildGone`` in the future when no child could take it."""

    def __init__(self, processes: int):
        if processes < 1:
            raise ValueError(f"ExtractPool needs at least one process, not {processes}")
        self.processes = processes
        self.children: List[ExtractProcess] = []
        self._idle: "queue.Queue[Optional[ExtractProcess]]" = queue.Queue()
        self._asking: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self.chunks = 0      # chunks the children extracted
        self.fell_back = 0   # chunks handed back to the caller (no child could take them)
        # set once this job's Extract stage has its every record (``ExtractFn``): from then
        # on the children are free for the next batch's (``transforms.extract.ahead``)
        self.extracted = threading.Event()

    def grow(self) -> None:
        """Starts the children (they load the models while the run plans and reads)."""
        with self._lock:
            while len(self.children) < self.processes:
                c = ExtractProcess()
                self.children.append(c)
                self._idle.put(c)
            if self._asking is None:
                self._asking = ThreadPoolExecutor(self.processes, thread_name_prefix="extract-ask")

    @property
    def usable(self) -> bool:
        """Whether chunks go to children: started, and at least one of them still working."""
        return any(not c.gone for c in self.children)

    @property
    def pids(self) -> List[int]:
        return [c.pid for c in self.children]

    def submit(self, records: Sequence, max_words: int) -> "Future":
        return self._asking.submit(self._extract, list(records), max_words)

    def _extract(self, records: list, max_words: int):
        c = self._idle.get()
        if c is None:  # every child is gone: the sentinel stays for the next caller
            self._idle.put(None)
            self.fell_back += 1
            raise ChildGone("no extraction process is left")
        try:
            done = c.extract(records, max_words)
        except ChildGone as e:
            if not c.gone:
                self._idle.put(c)
                self.fell_back += 1
                raise
            log.warning("extraction process %d dropped (%s); its records are extracted in "
                        "the driver", c.pid, e)
            if not self.usable:
                self._idle.put(None)
            self.fell_back += 1
            raise
        self.chunks += 1
        self._idle.put(c)
        return done

    def new_job(self) -> None:
        """A new job begins (``transforms.warm.Warm.before_job`` calls this)."""
        self.extracted.clear()

    def close(self) -> None:
        if self._asking is not None:
            self._asking.shutdown(wait=True)
        for c in self.children:
            c.close()


def serve(requests, answers) -> int:
    """The child: loads the line model and the language identifier, says ``("ready",)`` (or
    ``("failed", why)``), then answers each ``("extract", records, max_words)`` with
    ``("done", [(result, seconds), ...])`` until ``requests`` ends. ``extract_record`` turns a
    bad record into a reject; anything it still raises is told as ``("error", why)``."""
    try:
        from transforms.extract.extract import extract_record
        from transforms.extract.language import load_identifier
        from transforms.extract.line_model import load_line_model
        line_model, identify = load_line_model(), load_identifier()
    except Exception as e:  # noqa: BLE001 (told to the parent, which extracts itself)
        child.send(answers, ("failed", f"{type(e).__name__}: {e}"))
        return 1
    child.send(answers, ("ready",))
    while True:
        message = child.receive(requests)
        if message is None:
            return 0
        _, records, max_words = message
        done = []
        try:
            for rec in records:
                t = time.perf_counter()
                out = extract_record(rec, identify, max_words, line_model)
                done.append((out, time.perf_counter() - t))
        except Exception as e:  # noqa: BLE001 (the parent extracts the chunk and raises it)
            child.send(answers, ("error", f"{type(e).__name__}: {e}"))
            continue
        child.send(answers, ("done", done))


def main() -> None:
    """The child's entry point (``child.start(__name__)``)."""
    child.serve_on_pipes(serve)
