"""The output as a DuckLake: a SQLite catalog beside Parquet data files.

Layout of an output folder ``OUTPUT``::

    OUTPUT/catalog.sqlite            the DuckLake catalog (tables, snapshots, file lists)
    OUTPUT/catalog.sqlite.lock       held by the one run that writes (``pipeline.lock``)
    OUTPUT/data/batches/<commit_id>/<table>/*.parquet   files Beam wrote for one commit
    OUTPUT/data/main/<table>/*.parquet                  files DuckLake wrote (compaction)

A commit registers a batch's files and changes the ledger in one catalog transaction, so a
reader sees a batch entirely or not at all. SQLite is the catalog because it lets other
processes read while a run holds a write transaction (a DuckDB-file catalog is locked by the
process that opens it). The catalog runs in SQLite's WAL mode, so that an open reader never blocks a commit. Both
extensions load from their PyPI packages: nothing is downloaded.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import getpass
import glob
import json
import os
import shutil
import stat
import sys
import tempfile
from typing import Dict, Optional

import duckdb
import pyarrow as pa

from schemas.tables import ALL

LAKE = "lake"
CATALOG_FILE = "catalog.sqlite"
DATA_DIR = "data"


class CatalogError(RuntimeError):
    """The output has no usable catalog; the message says what to do."""


def catalog_path(output: str, catalog: Optional[str] = None) -> str:
    return catalog or os.path.join(output, CATALOG_FILE)


def data_path(output: str) -> str:
    return output.rstrip("/") + "/" + DATA_DIR + "/"


def _extension_file(package: str, name: str) -> str:
    found = [p for d in sys.path
             for p in glob.glob(os.path.join(d, package, "extensions", "v*", name))]
    if not found:
        raise CatalogError(f"the DuckDB extension package {package} is not installed: "
                           f"pip install {package.replace('_', '-')}=={duckdb.__version__}")
    return found[0]


@functools.lru_cache(maxsize=None)  # one decision (and at most one private folder) per process
def _copy_folder() -> str:
    """Where this user keeps the renamed SQLite extension: a folder of the temporary folder
    named after DuckDB's version and the user, or, where someone else took that name, a new
    private folder for this process (removed at its exit)."""
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    folder = os.path.join(tempfile.gettempdir(), f"news-ingest-duckdb-{duckdb.__version__}-{user}")
    with contextlib.suppress(OSError):  # there already, or not makeable: checked below
        os.mkdir(folder, 0o755)
    if os.path.isdir(folder) and only_we_can_change(folder):
        return folder
    folder = tempfile.mkdtemp(prefix="news-ingest-duckdb-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _sqlite_extension() -> str:
    """The SQLite extension under the name DuckDB expects: its package ships it as
    ``sqlite.duckdb_extension``, whose entry point is ``sqlite_scanner_init``."""
    src = _extension_file("duckdb_extension_sqlite", "sqlite.duckdb_extension")
    folder = _copy_folder()
    dst = os.path.join(folder, "sqlite_scanner.duckdb_extension")
    if not os.path.isfile(dst) or os.path.getsize(dst) != os.path.getsize(src):
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")  # a new file, never a planted link
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                shutil.copyfileobj(f, out)
            os.replace(tmp, dst)  # atomic: concurrent workers never load half a file
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
    return dst


def _lake_extensions() -> tuple:
    return (os.path.realpath(_extension_file("duckdb_extension_ducklake", "ducklake.duckdb_extension")),
            os.path.realpath(_sqlite_extension()))


def load_extensions(con: "duckdb.DuckDBPyConnection") -> None:
    for path in _lake_extensions():
        con.execute(f"LOAD '{path}'")


def only_we_can_change(path: str) -> bool:
    """True when nobody but this user or root can change the file at ``path`` (a real path,
    no links): the file and every folder above it belong to this user or root, and nobody
    else may write them, except folders like /tmp whose sticky bit keeps others from
    replacing what is not theirs. Where the system cannot tell, False."""
    if not hasattr(os, "getuid"):
        return False
    me = os.getuid()
    current = path
    while True:
        try:
            st = os.lstat(current)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode) or st.st_uid not in (me, 0):
            return False
        if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def attach_sql(output: str, catalog: Optional[str] = None, *, read_only: bool = True,
               snapshot: Optional[int] = None, alias: str = LAKE) -> str:
    """The ATTACH statement for the output's lake (what a user pastes into DuckDB)."""
    def quoted(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    opts = []
    if read_only:
        opts.append("READ_ONLY")
    else:
        opts.append(f"DATA_PATH {quoted(data_path(output))}")
    if snapshot is not None:
        opts.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    return f"ATTACH {quoted('ducklake:sqlite:' + catalog_path(output, catalog))} AS {alias} ({', '.join(opts)})"


def exists(output: str, catalog: Optional[str] = None) -> bool:
    return os.path.exists(catalog_path(output, catalog))


def new_duckdb(verify_extensions: bool = False) -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB with the lake's extensions loaded (no lake attached).

    DuckDB checks an extension's signature on every load by hashing the whole file (two files
    of ~35 MB: 0.16 s of every connection, so of every run, worker lookup and report). These
    are the files pip installed from the extensions' packages; when nobody but this user or
    root can change them, the check repeats what the install established, and the pipeline's
    own connections skip it. ``verify_extensions``: check anyway (connections handed to users,
    which may load other extensions)."""
    paths = _lake_extensions()
    trusted = not verify_extensions and all(only_we_can_change(p) for p in paths)
    # nothing is ever downloaded into a connection that takes unsigned extensions
    config = {"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"}
    con = duckdb.connect(config=config if trusted else {})
    for path in paths:
        con.execute(f"LOAD '{path}'")
    return con


def open_lake(output: str, catalog: Optional[str] = None, *, read_only: bool = True,
              snapshot: Optional[int] = None,
              verify_extensions: bool = False) -> "duckdb.DuckDBPyConnection":
    """A DuckDB connection with the lake attached as ``lake`` and selected (``USE lake``).

    Read-only connections see the last committed state (or ``snapshot``); a read-write one
    creates the lake, its tables and views when the output has none yet.
    ``verify_extensions``: see ``new_duckdb``.
    """
    if read_only and not exists(output, catalog):
        raise CatalogError(f"{output} holds no ingest output ({catalog_path(output, catalog)} "
                           "is missing): run the pipeline with --output pointing there first")
    if not read_only:
        use_wal(catalog_path(output, catalog))
    con = new_duckdb(verify_extensions)
    con.execute(attach_sql(output, catalog, read_only=read_only, snapshot=snapshot))
    con.execute(f"USE {LAKE}")
    if not read_only:
        create_tables(con)
    return con


def use_wal(path: str) -> None:
    """Puts the SQLite catalog in write-ahead-log mode (it stays so in the file). In SQLite's
    default mode a reader's open connection holds a lock that makes a writer's commit wait,
    then fail with "database is locked"; with the log, readers never block the writer and
    each keeps a consistent snapshot."""
    import sqlite3
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
    db.close()


def create_tables(con: "duckdb.DuckDBPyConnection") -> None:
    """Every table of ``schemas.tables`` (columns from the Arrow schemas) and the views; in a
    lake made by an earlier version, the nullable columns added since (older rows: null)."""
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [LAKE]).fetchall()}
    missing = [name for name in ALL if name not in existing]
    have: Dict[str, set] = {}
    for table, column in con.execute(  # one query for every table's columns (not one each)
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?",
            [LAKE]).fetchall():
        have.setdefault(table, set()).add(column)
    added = [(name, f) for name in sorted(existing & set(ALL)) for f in ALL[name]
             if f.name not in have.get(name, set()) and f.nullable]
    if not missing and not added:
        return
    con.execute("BEGIN")
    for name in missing:
        empty = pa.Table.from_batches([], schema=ALL[name])  # noqa: F841 (read by DuckDB)
        con.execute(f"CREATE TABLE {LAKE}.{name} AS SELECT * FROM empty")
    for name, field in added:
        one_column = pa.Table.from_batches([], schema=pa.schema([field]))  # noqa: F841
        sql_type = con.execute("SELECT column_type FROM (DESCRIBE SELECT * FROM one_column)").fetchone()[0]
        con.execute(f'ALTER TABLE {LAKE}.{name} ADD COLUMN "{field.name}" {sql_type}')
    if missing:
        con.execute(views_sql())
    con.execute("COMMIT")


def views_sql() -> str:
    from importlib import resources
    return resources.files("schemas").joinpath("views.sql").read_text(encoding="utf-8")


def snapshot_of_run(con: "duckdb.DuckDBPyConnection", run_id: str) -> int:
    """The snapshot of the last commit of ``run_id`` (each commit names its run)."""
    rows = con.execute(f"SELECT snapshot_id, commit_extra_info FROM {LAKE}.snapshots() "
                       "WHERE commit_extra_info IS NOT NULL ORDER BY snapshot_id").fetchall()
    found = [sid for sid, info in rows if json.loads(info).get("run_id") == run_id]
    if not found:
        raise CatalogError(f"no committed run {run_id!r} in this output: "
                           "`python -m pipeline runs OUTPUT` lists them")
    return found[-1]
