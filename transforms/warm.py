"""Heavy per-process state (the NER model, the language identifier, a DuckDB instance with
its extensions loaded, the next batch's extraction made ahead, helper processes) kept alive
between the Beam jobs of one run (one job per micro-batch, also under ``--watch``) when the
jobs' workers are threads of the run's own process (``pipeline.run.local_models``).

A ``Warm`` travels inside the DoFns that need it (pickled: only its ``shared.Shared``
handles, i.e. keys). Workers in the process that made it acquire the objects that process
holds (``hold``) instead of loading their own; workers anywhere else load their own once,
as without it. ``shared.Shared`` keeps weak references only, so the holding process's
strong reference is what makes the objects outlive each job.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Tuple

from apache_beam.utils import shared

KINDS = ("ner", "language", "duckdb", "ahead", "pool")


class Warm:
    def __init__(self):
        self.pid = os.getpid()
        self.handles = {kind: shared.Shared() for kind in KINDS}
        self._held: Dict[str, Any] = {}
        self._later: List[Tuple[str, Callable[[], Any], str]] = []

    def get(self, kind: str, load: Callable[[], Any], tag: str) -> Any:
        """The object of ``kind`` (made by ``load`` if this process has none with ``tag``)."""
        return self.handles[kind].acquire(load, tag=tag)

    def hold(self, kind: str, load: Callable[[], Any], tag: str) -> Any:
        """Like ``get``, and keeps the object alive for as long as this ``Warm`` lives here."""
        self._held[kind] = self.get(kind, load, tag)
        return self._held[kind]

    def holds(self, kind: str) -> bool:
        return kind in self._held

    def held(self, kind: str) -> Any:
        """The object this process holds of ``kind``, or None."""
        return self._held.get(kind)

    def here(self) -> bool:
        """Whether this is the process that made this ``Warm`` (and holds its objects)."""
        return os.getpid() == self.pid

    def hold_from_first_job(self, kind: str, load: Callable[[], Any], tag: str) -> None:
        """Like ``hold``, from the first ``before_job`` on: a run with no job loads nothing."""
        self._later.append((kind, load, tag))

    def before_job(self) -> None:
        """Call in the process that made this ``Warm`` before each job it runs: loads what is
        held from the first job on, and tells the held objects a new job begins."""
        while self._later:
            self.hold(*self._later[0])  # a load that fails is tried again before the next job
            self._later.pop(0)
        for obj in self._held.values():
            if hasattr(obj, "new_job"):
                obj.new_job()

    def __getstate__(self):
        return {"pid": self.pid, "handles": self.handles, "_held": {}, "_later": []}
