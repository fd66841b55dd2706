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


def output_problem(output: str) -> Optional[str]:
    """Why ``output`` cannot hold the lake, or None. Tries a real write: permission bits say
    nothing for root, read-only mounts or full disks."""
    if "://" in output:
        return (f"--output must be a local folder for now ({output} is not): the commit reads "
                "the staged files through DuckDB, whose gs:// and s3:// support is not "
                "installed; inputs may be remote")
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
                cause = e
                while getattr(cause, "exception_details", None):  # Beam wraps per-path errors
                    cause = next(iter(cause.exception_details.values()))
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
