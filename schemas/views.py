"""Opens DuckDB with the views of ``views.sql`` over an output folder."""
from importlib import resources

import duckdb


def views_sql() -> str:
    return resources.files("schemas").joinpath("views.sql").read_text(encoding="utf-8")


def connect(output_dir: str, database: str = ":memory:") -> "duckdb.DuckDBPyConnection":
    """A DuckDB connection with views ``articles``, ``entities``, ``duplicates``, ``rejects``."""
    con = duckdb.connect(database)
    con.execute("SET VARIABLE ingest_output = ?", [str(output_dir).rstrip("/")])
    con.execute(views_sql())
    return con
