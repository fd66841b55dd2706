"""Opens DuckDB on an output: its tables and views over the last committed state."""
from typing import Optional

import duckdb

from schemas.catalog import open_lake, snapshot_of_run


def connect(output_dir: str, run_id: Optional[str] = None,
            catalog: Optional[str] = None) -> "duckdb.DuckDBPyConnection":
    """A read-only DuckDB connection on the output lake (attached as ``lake`` and selected):
    tables ``articles``, ``duplicates``, ``rejects`` (and the pipeline's own: ``runs``,
    ``ingest_files``, ...), views ``entities`` and ``entity_counts``.

    It sees the last committed state when it is opened, never a run half-way; ``run_id``:
    the state as that run's last commit left it (time travel).
    """
    output_dir = str(output_dir).rstrip("/")
    con = open_lake(output_dir, catalog, verify_extensions=True)  # the user's connection
    if run_id is None:
        return con
    snapshot = snapshot_of_run(con, run_id)
    con.close()
    return open_lake(output_dir, catalog, snapshot=snapshot, verify_extensions=True)
