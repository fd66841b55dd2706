"""Helper processes of the driver that run a stage's pure per-element function, for runs whose
Beam workers are threads of the driver.

The in-memory runner runs a job's DoFns on one thread of the driver: without NER, that one
core parsed every page and sketched every text while the machine's other cores idled (3,000
pages: the run at 0.54-0.58x datatrove's pages/s on 2 cores). A ``HelperPool`` runs such
functions in ``processes`` children started once for the whole run; a DoFn sends its elements
in chunks (``Chunks``) and emits what comes back.

What a child runs is a ``Task``: a factory, named ``"module:function"``, and its arguments.
The child calls the factory once (loading what it needs, as a DoFn's ``setup`` would) and
then the function it returns on each element. Elements, arguments and results are pickled.
A result does not depend on which process computed it, so a job's outputs are the same with
or without the pool. A child that fails or dies is dropped and its chunk handed back to the
DoFn, which computes it itself, as without a pool; children end with their input, so a killed
run leaves none behind.
"""
from __future__ import annotations

import collections
import importlib
import logging
import pickle
import queue
import threading
import time
import typing
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from transforms import child

log = logging.getLogger(__name__)

CHUNK = 8  # elements a request: few enough to spread a small batch, many enough to amortise


class Task(typing.NamedTuple):
    """``factory`` ("module:function"), called once per child with ``args``, returns the
    function applied to each element."""
    factory: str
    args: tuple = ()


class ChildGone(RuntimeError):
    """No child computed the chunk (it failed to load, died, or the function raised there):
    the caller computes those elements itself."""


class HelperProcess:
    """One child running ``serve``, started at once; ``run`` sends it a chunk and waits for
    the answer. One request at a time (``HelperPool`` hands each child to one caller)."""

    def __init__(self):
        self._proc = child.start(__name__)
        self._stopper = weakref.finalize(self, child.stop, self._proc)
        self.gone: Optional[str] = None  # why this child is no longer used

    @property
    def pid(self) -> int:
        return self._proc.pid

    def load(self, task: Task) -> None:
        """Has the child call ``task``'s factory now, without waiting for it."""
        try:
            child.send(self._proc.stdin, ("load", task))
        except (OSError, ValueError):
            pass  # the next ``run`` finds the child gone

    def run(self, task: Task, items: Sequence) -> List[Tuple[Any, float]]:
        """``(result, seconds it took)`` for each item, in order."""
        if self.gone:
            raise ChildGone(self.gone)
        try:
            child.send(self._proc.stdin, ("run", task, list(items)))
            answer = child.receive(self._proc.stdout)
        except (OSError, EOFError, ValueError, pickle.PickleError) as e:
            answer = ("failed", f"{type(e).__name__}: {e}")
        if answer and answer[0] == "error":  # the function raised there: it will here too
            raise ChildGone(answer[1])
        if not answer or answer[0] != "done" or len(answer[1]) != len(items):
            self.gone = (answer[1] if answer and answer[0] == "failed"
                         else f"it exited ({self._proc.poll()})")
            self._stopper()
            raise ChildGone(self.gone)
        return answer[1]

    def close(self) -> None:
        self._stopper()


class HelperPool:
    """``processes`` helper children, none started before ``grow()`` (a run of a handful of
    files is done sooner than a child starts). ``submit`` hands a chunk to the first idle
    child and returns a ``Future`` of ``HelperProcess.run``'s list, which raises
    ``ChildGone`` when no child could compute it."""

    def __init__(self, processes: int):
        if processes < 1:
            raise ValueError(f"HelperPool needs at least one process, not {processes}")
        self.processes = processes
        self.children: List[HelperProcess] = []
        self._idle: "queue.Queue[Optional[HelperProcess]]" = queue.Queue()
        self._asking: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self.chunks = 0  # chunks the children computed

    def grow(self, *load: Task) -> None:
        """Starts the children, each calling the factories of ``load`` at once (they load
        their models while the run plans and reads)."""
        with self._lock:
            while len(self.children) < self.processes:
                c = HelperProcess()
                for task in load:
                    c.load(task)
                self.children.append(c)
                self._idle.put(c)
            if self._asking is None:
                self._asking = ThreadPoolExecutor(self.processes, thread_name_prefix="helper-ask")

    @property
    def usable(self) -> bool:
        """Whether chunks go to children: started, and at least one of them still working."""
        return any(not c.gone for c in self.children)

    @property
    def pids(self) -> List[int]:
        return [c.pid for c in self.children]

    def submit(self, task: Task, items: Sequence) -> "Future":
        return self._asking.submit(self._run, task, list(items))

    def _run(self, task: Task, items: list):
        c = self._idle.get()
        if c is None:  # every child is gone: the sentinel stays for the next caller
            self._idle.put(None)
            raise ChildGone("no helper process is left")
        try:
            done = c.run(task, items)
        except ChildGone as e:
            if not c.gone:
                self._idle.put(c)
                raise
            log.warning("helper process %d dropped (%s); its work is done in the driver",
                        c.pid, e)
            if not self.usable:
                self._idle.put(None)
            raise
        self.chunks += 1
        self._idle.put(c)
        return done

    def close(self) -> None:
        """Ends the children (each once its chunk is done), then the threads that asked them."""
        for c in self.children:
            c.close()
        if self._asking is not None:
            self._asking.shutdown(wait=True)


class Chunks:
    """A DoFn's side of the pool, for one bundle: ``add`` an element's value with the
    ``WindowedValue`` it came in, and get back ``(result, seconds, element, computed
    elsewhere)`` for the chunks that came back, oldest first; ``flush`` at the end of the
    bundle waits for the rest. At most two chunks wait per child (the DoFn reads on
    meanwhile). A chunk no child computed is computed here with ``local``."""

    def __init__(self, pool: HelperPool, task: Task, local: Callable[[Any], Any],
                 size: int = CHUNK):
        self.pool, self.task, self.local, self.size = pool, task, local, size
        self._chunk: List[tuple] = []
        self._asked: Deque[tuple] = collections.deque()

    def add(self, value, element) -> Iterator[tuple]:
        self._chunk.append((value, element))
        if len(self._chunk) >= self.size:
            self._send()
        return self._back(wait=len(self._asked) > 2 * self.pool.processes)

    def flush(self) -> Iterator[tuple]:
        self._send()
        while self._asked:
            yield from self._back(wait=True)

    def _send(self) -> None:
        if self._chunk:
            self._asked.append((self.pool.submit(self.task, [v for v, _ in self._chunk]),
                                self._chunk))
            self._chunk = []

    def _back(self, wait: bool) -> Iterator[tuple]:
        while self._asked and (wait or self._asked[0][0].done()):
            asked, chunk = self._asked.popleft()
            wait = False
            try:
                done = [(out, seconds, True) for out, seconds in asked.result()]
            except ChildGone:  # computed here instead, as without the pool
                done = []
                for value, _ in chunk:
                    start = time.perf_counter()
                    out = self.local(value)
                    done.append((out, time.perf_counter() - start, False))
            for (out, seconds, elsewhere), (_, element) in zip(done, chunk):
                yield out, seconds, element, elsewhere


def _function(task: Task) -> Callable[[Any], Any]:
    module, name = task.factory.split(":")
    return getattr(importlib.import_module(module), name)(*task.args)


def serve(requests, answers) -> int:
    """The child: until ``requests`` ends, takes ``("load", task)`` (calls the task's factory
    now; no answer) and ``("run", task, items)``, answered with ``("done", [(result,
    seconds), ...])``, or ``("error", why)`` when the factory or the function raised."""
    functions: Dict[Task, Callable[[Any], Any]] = {}
    failed: Dict[Task, str] = {}

    def function(task: Task) -> Callable[[Any], Any]:
        if task in failed:
            raise RuntimeError(failed[task])
        if task not in functions:
            try:
                functions[task] = _function(task)
            except Exception as e:
                failed[task] = f"{task.factory}{task.args}: {type(e).__name__}: {e}"
                raise
        return functions[task]

    while True:
        message = child.receive(requests)
        if message is None:
            return 0
        if message[0] == "load":
            try:
                function(message[1])
            except Exception:  # noqa: BLE001 (each "run" of it answers why)
                pass
            continue
        _, task, items = message
        done = []
        try:
            fn = function(task)
            for item in items:
                start = time.perf_counter()
                out = fn(item)
                done.append((out, time.perf_counter() - start))
        except Exception as e:  # noqa: BLE001 (the parent computes the chunk and raises it)
            child.send(answers, ("error", f"{type(e).__name__}: {e}"))
            continue
        child.send(answers, ("done", done))


def main() -> None:
    """The child's entry point (``child.start(__name__)``)."""
    child.serve_on_pipes(serve)
