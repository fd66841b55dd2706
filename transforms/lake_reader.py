"""A worker's read-only view of the lake at one snapshot, for the lookups of earlier
articles (dedup candidates, story candidates).

Opened in a DoFn's ``setup()``: workers open the lake themselves (a remote lake's catalog
is a database they reach), read-only, at the snapshot the run planned against, never a later
commit's state. A process that runs many jobs (``transforms.warm``) keeps one DuckDB with
its extensions loaded (loading them is most of the cost of opening the lake): each reader
takes its own cursor and its own attachment of the lake at its batch's snapshot.
"""
from __future__ import annotations

import uuid


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
