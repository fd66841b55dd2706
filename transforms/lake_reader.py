"""A worker's read-only view of the lake at one snapshot, for the lookups of earlier
articles (dedup candidates, story candidates).

Opened in a DoFn's ``setup()``: workers open the lake themselves (a remote lake's catalog
is a database they reach), read-only, at the snapshot the run planned against, never a later
commit's state. A process that runs many jobs (``transforms.warm``) keeps a DuckDB with its
extensions loaded for each job (``RenewedDuckDB``): each reader takes its own cursor and
its own attachment of the lake at its batch's snapshot.
"""
from __future__ import annotations

import threading
import uuid


class RenewedDuckDB:
    """The DuckDB a run's process keeps for its lookup readers (``pipeline.run``'s
    ``local_models``), made anew before each job (``new_job``, from
    ``transforms.warm.Warm.before_job``): DuckLake keeps what it loaded of an attached lake's
    catalog in the DuckDB instance after DETACH (duckdb/ducklake#852, #1146), ~160 KB per
    reader whatever the lake's size, so one instance kept for a whole run or a watcher grows
    without end. A new one costs ~10 ms on a local lake. Closing the old one closes every
    cursor taken from it, which is safe because the in-memory runner tears a job's DoFns (and
    their readers) down before it returns, before the next job begins. ``make``: the function
    that makes one (called when a job's first reader asks)."""

    def __init__(self, make):
        self._make = make
        self._db = None
        self._lock = threading.Lock()  # a job's readers may open from several threads

    def cursor(self):
        with self._lock:
            if self._db is None:
                self._db = self._make()
            return self._db.cursor()

    def new_job(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class LakeReader:
    def __init__(self, lake, snapshot: int, warm=None):
        from schemas.catalog import as_lake
        self.lake, self.snapshot, self.warm = as_lake(lake), snapshot, warm
        self.con = None
        self.alias = None

    def open(self):
        """The connection, with the lake attached at the snapshot and selected."""
        from schemas.catalog import attach, new_duckdb, open_lake
        if self.con is not None:
            return self.con
        if self.warm is None:
            self.con = open_lake(self.lake, snapshot=self.snapshot)
            return self.con
        self.con = self.warm.get("duckdb", lambda: new_duckdb(lake=self.lake), "duckdb").cursor()
        self.alias = f"lookup_{uuid.uuid4().hex[:12]}"
        attach(self.con, self.lake, snapshot=self.snapshot, alias=self.alias)
        self.con.execute(f"USE {self.alias}")
        return self.con

    def error(self, what: str, e: Exception) -> RuntimeError:
        """A DuckDB error as one a log may show: its message may quote the catalog's
        connection string, whose password is masked."""
        return RuntimeError(f"{what} in {self.lake!r}: {self.lake.redact(str(e))}")

    def close(self) -> None:
        if self.con is not None:
            if self.alias:
                self.con.execute("USE memory")
                self.con.execute(f"DETACH {self.alias}")
            self.con.close()
            self.con = None
