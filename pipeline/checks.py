"""Everything about a run that can be wrong before its Beam job starts, each as one line that
says what to do (the entry point prints it and exits with status 2)."""
from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from typing import Iterator, Optional

from apache_beam.io.filesystems import FileSystems

from transforms.read.discover import file_patterns

# Filesystem scheme -> (the project's extra that installs it, a module it needs).
CLOUD_EXTRAS = {
    "gs": ("gcp", "google.cloud.storage"),
    "s3": ("aws", "boto3"),
    "azfs": ("azure", "azure.storage.blob"),
    "hdfs": ("hadoop", "hdfs"),
}


def install_hint(extra: str) -> str:
    return (f"NEWS_INGEST_EXTRAS={extra} ./run_local.sh ... installs it "
            f"(or: .venv/bin/pip install -e '.[{extra}]')")


def scheme(path: str) -> Optional[str]:
    return path.split("://", 1)[0].lower() if "://" in path else None


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package of a dotted name
        return False


def missing_extra(path: str) -> Optional[str]:
    """The error line for a path whose filesystem's packages are not installed, else None."""
    s = scheme(path)
    if s is None or s == "file":
        return None
    if s not in CLOUD_EXTRAS:
        known = ", ".join(f"{k}://" for k in CLOUD_EXTRAS)
        return f"{path}: no filesystem for {s}:// (local paths and {known} are supported)"
    extra, module = CLOUD_EXTRAS[s]
    if not installed(module):
        return f"reading {s}:// needs the '{extra}' extra, which is not installed: {install_hint(extra)}"
    return None


# Data paths on object stores a remote lake can have: both Beam and DuckDB reach them.
LAKE_STORES = ("s3", "gs")


def catalog_problem(catalog: Optional[str]) -> Optional[str]:
    """Why ``--catalog`` cannot be used, or None (None when it is not given)."""
    if catalog is None:
        return None
    from schemas.catalog import CatalogError, Lake, is_postgres, remote_hint
    if not is_postgres(catalog):
        return ("--catalog takes a PostgreSQL database: postgresql://USER[:PASSWORD]@HOST[:PORT]/"
                "DBNAME or a libpq string such as 'host=HOST dbname=DBNAME user=USER' (without "
                "--catalog the lake's catalog is a SQLite file in --output)")
    try:
        Lake("", catalog).postgres()
    except CatalogError as e:
        return str(e)
    if not (installed("psycopg") and installed("duckdb_extension_postgres_scanner")):
        return f"a PostgreSQL catalog needs the 'remote' extra, which is not installed: {remote_hint()}"
    return None


def output_problem(output: str, catalog: Optional[str] = None) -> Optional[str]:
    """Why ``output`` cannot hold the lake, or None. Tries a real write: permission bits say
    nothing for root, read-only mounts or full disks."""
    if "://" in output:
        s = scheme(output)
        if not catalog:
            return (f"--output {output} is on an object store, which cannot hold the lake's "
                    "SQLite catalog: add --catalog postgresql://USER@HOST/DBNAME (a catalog "
                    "every machine reaches), or write to a local folder")
        if s not in LAKE_STORES:
            return (f"--output {output}: a remote lake's data path is a local or shared "
                    "folder, s3://bucket/prefix/ or gs://bucket/prefix/")
        from schemas.catalog import remote_hint
        if not installed("duckdb_extension_httpfs"):
            return f"a data path on {s}:// needs the 'remote' extra, which is not installed: {remote_hint()}"
        return missing_extra(output)
    if os.path.exists(output) and not os.path.isdir(output):
        return f"--output {output} is a file: name a folder (it is created when missing)"
    parent = output
    while not os.path.exists(parent):  # the nearest folder that exists must take a new one
        up = os.path.dirname(os.path.abspath(parent))
        if up == os.path.abspath(parent):
            break
        parent = up
    if not os.path.isdir(parent):
        return f"--output {output} cannot be created: {parent} is a file"
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return (f"--output {output} is not writable ({e.strerror or e}): choose a folder you "
                "can write to, or fix its permissions")
    return None


def _cause(e: Exception) -> Exception:
    """The error under Beam's per-path wrapping (``BeamIOError.exception_details``)."""
    while getattr(e, "exception_details", None):
        e = next(iter(e.exception_details.values()))
    return e


def store_problem(output: str) -> Optional[str]:
    """Why the object-store data path ``output`` cannot be written, or None: writes and
    deletes a small object there (a missing bucket or wrong keys fail here, in one line,
    not in the middle of a job). Call after ``FileSystems.set_options``."""
    if "://" not in output:
        return None
    probe = FileSystems.join(output, f".write-check-{os.getpid()}")
    try:
        with FileSystems.create(probe) as f:
            f.write(b"news-ingest")
        FileSystems.delete([probe])
    except Exception as e:  # noqa: BLE001 (any failure of the store is the user's to fix)
        cause = _cause(e)
        text = str(cause).strip().splitlines()
        return (f"cannot write to --output {output} ({type(cause).__name__}: "
                f"{text[0] if text else ''}): check the bucket exists and the store's settings "
                "(--s3_endpoint_url, --s3_access_key_id, ... or AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)")
    return None


def input_problems(inputs, empty_ok: bool = False) -> Iterator[str]:
    """Error lines for inputs that cannot be read or match nothing (stops at the first
    kind of problem per input). ``empty_ok`` (``--watch``): a local folder that exists, or a
    glob whose folder exists, may hold nothing yet."""
    for path in inputs:
        problem = missing_extra(path)
        if problem:
            yield problem
            continue
        for pattern in file_patterns([path]):
            try:
                found = FileSystems.match([pattern], limits=[1])[0].metadata_list
            except Exception as e:  # e.g. a missing bucket or no credentials
                cause = _cause(e)
                yield f"cannot list {pattern}: {type(cause).__name__}: {cause}"
                break
            if not found and empty_ok and _watchable(path):
                break
            if not found:
                yield (f"no input files match {pattern}"
                       + ("" if scheme(pattern) or os.path.exists(path) else f" ({path} does not exist)"))
                break


def _watchable(path: str) -> bool:
    """A path a watcher can wait on while it is empty: a folder on an object store, a local
    folder that exists, or a local glob whose folder exists."""
    if scheme(path):
        return True
    if not re.search(r"[*?\[]", path):
        return os.path.isdir(path)
    base = re.split(r"[*?\[]", path, 1)[0]
    return os.path.isdir(base if base.endswith(os.sep) else os.path.dirname(base) or ".")
