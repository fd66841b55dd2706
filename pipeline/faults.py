"""Fault injection for the crash and isolation tests, through the environment; unset, each
point costs one environment lookup.

- ``NEWS_INGEST_KILL_AT=POINT[:BATCH]``: the driver ``kill -9``s itself at ``POINT`` of batch
  ``BATCH`` (default 1).
- ``NEWS_INGEST_PAUSE_AT=POINT[:BATCH]``: it creates the file ``NEWS_INGEST_PAUSE_MARK`` and
  sleeps ``NEWS_INGEST_PAUSE_SECONDS`` (default 5) there, so a test can look at the output
  from another process meanwhile.

Points: ``planned`` (lock held, plan made), ``staged`` (a batch's Beam job done, nothing
committed), ``commit`` (inside the commit transaction: files registered, ledger not yet),
``committed`` (a batch committed, before the next one), ``rewrite`` (a compaction writing the
dedup index anew: rows written, not committed).
"""
import os
import signal
import time

KILL = "NEWS_INGEST_KILL_AT"
PAUSE = "NEWS_INGEST_PAUSE_AT"


def _hit(var: str, name: str, batch: int) -> bool:
    want = os.environ.get(var)
    if not want:
        return False
    target, _, nth = want.partition(":")
    return target == name and int(nth or 1) == batch


def point(name: str, batch: int = 1) -> None:
    if _hit(KILL, name, batch):
        os.kill(os.getpid(), signal.SIGKILL)
    if _hit(PAUSE, name, batch):
        mark = os.environ.get("NEWS_INGEST_PAUSE_MARK")
        if mark:
            open(mark, "w").close()
        time.sleep(float(os.environ.get("NEWS_INGEST_PAUSE_SECONDS", "5")))
