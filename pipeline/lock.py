"""One writer at a time: an exclusive lock on a file beside the catalog.

``flock`` is released by the kernel when its holder dies, ``kill -9`` included, so a crashed
run never leaves a stale lock behind. The holder writes who it is into the file, so that a
second run can say which run it waits for.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime, timezone
from typing import Optional


class Busy(RuntimeError):
    """Another run holds the lock; the message names it."""


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

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False
