"""When a file that lands in a watched folder is complete (``--watch``).

A file is taken only once it is complete, decided in this order:

1. **Closed after writing, or renamed into place.** On Linux, ``watchdog`` reports inotify's
   close-after-write and move events: a writer that closed the file, or renamed a finished
   temporary file inside the watched folder (what ``rsync``, ``curl -o`` with a rename, and
   most downloaders do), has finished with it. Such a file is ready at once. (A file moved
   in from outside the watched folder arrives as "created" and settles as in 2.)
2. **Quiet for ``settle`` seconds.** Everywhere else (object stores, platforms without close
   events, files that were there before the watch started, a writer that keeps the file open
   between writes), a file is ready once its size and modification time have not changed for
   ``settle`` seconds.
3. **Names of files in progress are never taken**: hidden files (``.name``), ``name~`` and
   ``*.tmp``, ``*.part``, ``*.partial``, ``*.crdownload``, ``*.download``, ``*.swp``,
   ``*.filepart``. Their finished file appears under its own name by a rename (rule 1).

A file that changes again after it was taken is taken again as a changed file (the ledger
sees its new size and time), which replaces its earlier rows: the last complete version wins.

``Landing`` is pure bookkeeping (no I/O, no threads): the watcher feeds it events and
listings, with the time, and asks which files are ready.
"""
from __future__ import annotations

import fnmatch
import os
import re
import typing
from typing import Dict, Iterable, List, Optional

IN_PROGRESS = re.compile(
    r"^\.|~$|\.(tmp|temp|part|partial|crdownload|download|swp|filepart)$", re.IGNORECASE)


def in_progress_name(path: str) -> bool:
    return bool(IN_PROGRESS.search(path.rstrip("/").rsplit("/", 1)[-1]))


class Seen(typing.NamedTuple):
    size: Optional[int]      # last known size (None: not listed yet)
    mtime: Optional[float]   # last known modification time, seconds
    changed_at: float        # when size or time last changed (monotonic seconds)
    closed: bool             # closed after writing / moved in since the last change
    landed_at: float         # wall time the file last changed (its landing, for latency)


class Landing:
    """Files seen under the watched inputs and not yet taken, and which of them are ready.

    ``settle``: seconds a file's size and time must stay the same to be ready without a
    close event. Times are passed in (``now``: monotonic, ``wall``: time.time()), so the
    rules are testable without waiting."""

    def __init__(self, settle: float):
        self.settle = settle
        self.files: Dict[str, Seen] = {}

    def __len__(self) -> int:
        return len(self.files)

    def changed(self, path: str, now: float, wall: float) -> None:
        """Created or written to: not ready before it is closed or quiet."""
        self._event(path, now, wall, closed=False)

    def closed(self, path: str, now: float, wall: float) -> None:
        """Closed after writing, or moved into the folder: complete."""
        self._event(path, now, wall, closed=True)

    def _event(self, path: str, now: float, wall: float, closed: bool) -> None:
        if in_progress_name(path):
            return
        old = self.files.get(path)
        self.files[path] = Seen(old.size if old else None, old.mtime if old else None,
                                now, closed, wall)

    def gone(self, path: str) -> None:
        self.files.pop(path, None)

    def listed(self, path: str, size: int, mtime: Optional[float], now: float, wall: float) -> None:
        """A listing saw ``path`` with ``size`` and ``mtime``: a file new to us, or one whose
        size or time moved, starts (again) to settle; one that stayed the same keeps its clock."""
        if in_progress_name(path):
            return
        old = self.files.get(path)
        if old is None:
            # Already quiet for a while when first listed (it landed while we were down):
            # its age counts toward settling.
            age = max(0.0, wall - mtime) if mtime is not None else 0.0
            self.files[path] = Seen(size, mtime, now - age, False,
                                    mtime if mtime is not None else wall)
        elif (old.size, old.mtime) != (size, mtime):
            if old.size is None and old.closed:
                self.files[path] = old._replace(size=size, mtime=mtime)  # first stat after close
            else:
                self.files[path] = Seen(size, mtime, now, False, wall)

    def ready(self, now: float) -> List[str]:
        """Paths complete by the rules above, oldest landing first."""
        done = [(s.landed_at, p) for p, s in self.files.items()
                if s.closed or now - s.changed_at >= self.settle]
        return [p for _, p in sorted(done)]

    def next_settle(self, now: float) -> Optional[float]:
        """Seconds until the next file not yet ready may become ready by settling, or None."""
        waits = [s.changed_at + self.settle - now for s in self.files.values() if not s.closed]
        return max(0.0, min(waits)) if waits else None

    def landed_at(self, path: str) -> Optional[float]:
        s = self.files.get(path)
        return s.landed_at if s else None

    def taken(self, paths: Iterable[str]) -> None:
        for p in paths:
            self.files.pop(p, None)


class Scope:
    """Which paths belong to the watched inputs (as ``list_files`` reads them: a folder
    recursively, a glob, a file), and the local folders to watch for events."""

    def __init__(self, inputs: Iterable[str], exclude: Optional[str] = None):
        # the output folder: an input folder that holds it must not take the pipeline's own files
        self.exclude = os.path.abspath(exclude).rstrip(os.sep) + os.sep if exclude else None
        self.folders: List[str] = []   # local folders watched recursively
        self.globs: List[str] = []     # local absolute glob patterns
        self.files: List[str] = []     # local single files
        self.remote: List[str] = []    # inputs on other filesystems: listed, not watched
        for path in inputs:
            if "://" in path and not path.startswith("file://"):
                self.remote.append(path)
                continue
            path = os.path.abspath(path[len("file://"):] if path.startswith("file://") else path)
            if re.search(r"[*?\[]", path):
                self.globs.append(path)
            elif os.path.isdir(path):
                self.folders.append(path.rstrip(os.sep) + os.sep)
            else:
                self.files.append(path)

    def roots(self) -> List[str]:
        """Local folders to watch (recursively) so that every local input's events are seen."""
        roots = [f.rstrip(os.sep) for f in self.folders]
        for g in self.globs:
            base = re.split(r"[*?\[]", g, 1)[0]
            roots.append(base if base.endswith(os.sep) else os.path.dirname(base))
        roots += [os.path.dirname(f) for f in self.files]
        out: List[str] = []
        for r in sorted(set(roots)):
            if not any(r == o or r.startswith(o.rstrip(os.sep) + os.sep) for o in out):
                out.append(r)
        return out

    def excluded(self, path: str) -> bool:
        return bool(self.exclude) and path.startswith(self.exclude)

    def wants(self, path: str) -> bool:
        return (any(path.startswith(f) for f in self.folders)
                or any(fnmatch.fnmatch(path, g) for g in self.globs)
                or path in self.files)
