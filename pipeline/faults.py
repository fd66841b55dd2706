"""Fault injection for the crash tests: ``NEWS_INGEST_KILL_AT=POINT[:BATCH]`` makes the driver
``kill -9`` itself when it reaches ``POINT`` (in batch ``BATCH``, default 1). Unset, it costs
one environment lookup. Points: ``planned`` (lock held, plan made), ``staged`` (a batch's
Beam job done, nothing committed), ``commit`` (inside the commit transaction, files
registered, ledger not yet), ``committed`` (a batch committed, before the next one)."""
import os
import signal

ENV = "NEWS_INGEST_KILL_AT"


def point(name: str, batch: int = 1) -> None:
    want = os.environ.get(ENV)
    if not want:
        return
    target, _, nth = want.partition(":")
    if target == name and int(nth or 1) == batch:
        os.kill(os.getpid(), signal.SIGKILL)
