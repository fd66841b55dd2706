"""Opens DuckDB on an output: its tables and views over the last committed state."""
from typing import Optional

import duckdb

from schemas.catalog import Lake, as_lake, open_lake, snapshot_of_run


def memory_lake() -> "duckdb.DuckDBPyConnection":
    """An empty lake in memory, attached as ``lake``, with every table and view of an output:
    to run the views' SQL on records that are not in an output (benchmarks, tests)."""
    from schemas.catalog import LAKE, create_tables
    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {LAKE}")
    create_tables(con)
    return con


def connect(output, catalog: Optional[str] = None,
            run_id: Optional[str] = None) -> "duckdb.DuckDBPyConnection":
    """A read-only DuckDB connection on the output lake (attached as ``lake`` and selected):
    tables ``articles``, ``duplicates``, ``rejects`` (and the pipeline's own: ``runs``,
    ``ingest_files``, ...), views ``entities``, ``entity_counts`` (by the lake-wide names of
    ``entity_names``), ``stories`` and ``story_coverage``.

    ``output``: the output folder, or with ``catalog`` (a PostgreSQL URI or key=value string)
    the data path of a remote lake (``s3://bucket/prefix/``: the store's settings come from
    the standard environment variables), or a ``schemas.catalog.Lake``.

    It sees the last committed state when it is opened, never a run half-way; ``run_id``:
    the state as that run's last commit left it (time travel).
    """
    lake = output if isinstance(output, Lake) else as_lake(str(output), catalog)
    con = open_lake(lake, verify_extensions=True)  # the user's connection
    if run_id is None:
        return con
    snapshot = snapshot_of_run(con, run_id)
    con.close()
    return open_lake(lake, snapshot=snapshot, verify_extensions=True)
