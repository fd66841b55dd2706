"""Heavy per-process state (the NER model, the language identifier, a DuckDB instance with
its extensions loaded) kept alive between the Beam jobs of one run (one job per
micro-batch, also under ``--watch``) when the jobs' workers are threads of the run's own
process (``pipeline.run.local_models``).

A ``Warm`` travels inside the DoFns that need it (pickled: only its ``shared.Shared``
handles, i.e. keys). Workers in the process that made it acquire the objects that process
holds (``hold``) instead of loading their own; workers anywhere else load their own once,
as without it. ``shared.Shared`` keeps weak references only, so the holding process's
strong reference is what makes the objects outlive each job.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from apache_beam.utils import shared

KINDS = ("ner", "language", "duckdb")


class Warm:
    def __init__(self):
        self.handles = {kind: shared.Shared() for kind in KINDS}
        self._held: Dict[str, Any] = {}

    def get(self, kind: str, load: Callable[[], Any], tag: str) -> Any:
        """The object of ``kind`` (made by ``load`` if this process has none with ``tag``)."""
        return self.handles[kind].acquire(load, tag=tag)

    def hold(self, kind: str, load: Callable[[], Any], tag: str) -> Any:
        """Like ``get``, and keeps the object alive for as long as this ``Warm`` lives here."""
        self._held[kind] = self.get(kind, load, tag)
        return self._held[kind]

    def __getstate__(self):
        return {"handles": self.handles, "_held": {}}
