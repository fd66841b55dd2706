"""Lists of strings handed to DuckDB queries as Arrow tables, not as list parameters.

Given a Python list as a query parameter, DuckDB 1.5's Python client tries to import pandas
twice for each element; where pandas is not installed each try fails anew (Python keeps only
successful imports), which cost 1.7 s for 8,000 strings and about 7 s for the 32,000 band
keys of one batch's lookup. The same strings as an Arrow table are read in milliseconds.
"""
from __future__ import annotations

import contextlib
import secrets
from typing import Dict, Iterable, Iterator

import pyarrow as pa


@contextlib.contextmanager
def string_tables(con, **lists: Iterable[str]) -> Iterator[Dict[str, str]]:
    """For the block: each keyword's strings as a one-column table (column ``v``) that
    queries on ``con`` can read; yields {keyword: the table's name}. The names are made
    unique, so that blocks on one connection never meet."""
    names = {k: f"strings_{k}_{secrets.token_hex(4)}" for k in lists}
    registered = []
    try:
        for k, values in lists.items():
            con.register(names[k], pa.table({"v": pa.array(list(values), type=pa.string())}))
            registered.append(names[k])
        yield names
    finally:
        for name in registered:
            con.unregister(name)
