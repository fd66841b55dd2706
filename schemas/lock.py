"""One writer at a time per lake, whichever machine it runs on.

- A local lake: an exclusive ``flock`` on a file beside the SQLite catalog. The kernel
  releases it when its holder dies, ``kill -9`` included; the holder writes who it is into
  the file, so that a second run can say which run it waits for.
- A remote lake: a PostgreSQL advisory lock held by a session of the driver on the catalog's
  database. The server releases it when that session ends, also when the process is killed
  and its connection drops; the session's ``application_name`` says who holds it.

``writer_lock(lake, ...)`` gives the right one; both raise ``Busy`` naming the holder.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime, timezone
from typing import Optional

from schemas.catalog import Lake, as_lake, postgres_session


class Busy(RuntimeError):
    """Another run holds the lock; the message names it."""


class LockLost(RuntimeError):
    """The run's lock went away while it ran (its catalog session ended)."""


class WriterLock:
    """``with WriterLock(path, run_id, wait=False):`` holds the lock or raises ``Busy``
    (``wait``: blocks until the other run ends, saying so once through ``on_wait``)."""

    def __init__(self, path: str, run_id: str, wait: bool = False, on_wait=None):
        self.path, self.run_id, self.wait, self.on_wait = path, run_id, wait, on_wait
        self.fd: Optional[int] = None

    def holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                info = json.load(f)
            return (f"run {info['run_id']} (pid {info['pid']} on {info['host']}, "
                    f"started {info['started_at']})")
        except (OSError, ValueError, KeyError):
            return "another run"

    def __enter__(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.wait:
                os.close(fd)
                raise Busy(f"{self.holder()} is writing to this output") from None
            if self.on_wait:
                self.on_wait(f"waiting for {self.holder()} to finish writing to this output")
            while True:  # blocking flock cannot be interrupted by Ctrl-C on every platform
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.5)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode(), 0)
        return self

    def ensure_held(self) -> None:
        """A ``flock`` lasts as long as its descriptor: nothing can take it away."""

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


# The advisory lock's key (advisory locks are per database: one lake per catalog database).
PG_LOCK_KEY = 0x6E657773  # "news"
_APP_PREFIX = "news-ingest "


class PostgresLock:
    """``with PostgresLock(lake, run_id, wait=False):`` holds the catalog database's writer
    lock or raises ``Busy`` (``wait``: polls until it is free, saying so once)."""

    def __init__(self, lake: Lake, run_id: str, wait: bool = False, on_wait=None):
        self.lake, self.run_id, self.wait, self.on_wait = lake, run_id, wait, on_wait
        self.conn = None

    def holder(self) -> str:
        row = self.conn.execute(
            "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objid = %s AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())", [PG_LOCK_KEY]).fetchone()
        if not row or not (row[0] or "").startswith(_APP_PREFIX):
            return "another run"  # also a role that may not see other sessions' details
        who = row[0][len(_APP_PREFIX):]
        since = f", since {row[2]:%Y-%m-%d %H:%M:%S %Z}" if row[2] is not None else ""
        return f"{who} (from {row[1] or 'this server'}{since})"

    def ensure_held(self) -> None:
        """Raises ``LockLost`` unless this session still holds the lock (a dropped connection
        or a session the server ended took it away: another writer may have it now)."""
        try:
            held = self.conn is not None and self.conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objid = %s AND pid = pg_backend_pid()", [PG_LOCK_KEY]).fetchone()[0]
        except Exception as e:  # noqa: BLE001 (the session is gone)
            raise LockLost(f"this run lost its writer lock on the catalog {self.lake.shown()} "
                           f"({type(e).__name__}): nothing more is committed") from None
        if not held:
            raise LockLost(f"this run lost its writer lock on the catalog {self.lake.shown()}: "
                           "nothing more is committed")

    def _try(self) -> bool:
        return bool(self.conn.execute("SELECT pg_try_advisory_lock(%s)", [PG_LOCK_KEY]).fetchone()[0])

    def __enter__(self):
        self.conn = postgres_session(self.lake, f"{_APP_PREFIX}run {self.run_id} pid "
                                                f"{os.getpid()} on {socket.gethostname()}")
        try:
            if not self._try():
                if not self.wait:
                    raise Busy(f"{self.holder()} is writing to this lake")
                if self.on_wait:
                    self.on_wait(f"waiting for {self.holder()} to finish writing to this lake")
                while not self._try():
                    time.sleep(0.5)
        except BaseException:
            self.conn.close()
            self.conn = None
            raise
        return self

    def __exit__(self, *exc):
        if self.conn is not None:
            try:
                self.conn.execute("SELECT pg_advisory_unlock(%s)", [PG_LOCK_KEY])
            except Exception:  # noqa: BLE001 (a session already gone holds nothing)
                pass
            finally:  # closing the session releases it in any case
                self.conn.close()
                self.conn = None
        return False


def writer_lock(output, run_id: str, wait: bool = False, on_wait=None):
    """The writer lock of a lake (a ``Lake`` or an output folder)."""
    lake = as_lake(output)
    if lake.remote:
        return PostgresLock(lake, run_id, wait=wait, on_wait=on_wait)
    return WriterLock(lake.sqlite_path + ".lock", run_id, wait=wait, on_wait=on_wait)
