"""The next micro-batch's extraction, done while this batch's job does its other work.

In a run whose Beam workers are threads of the driver (the in-memory runner), a batch's job
reads and extracts its files on the driver's core while the NER children annotate them on
the others; once every article is extracted, the driver only waits for NER, and the NER
children then wait for the driver while it assigns stories, writes and commits the batch and
starts the next job. ``ExtractAhead`` fills both gaps: from the moment a job first asks for
entities (``NerPool.asked``), a thread reads and extracts the next batch's files with the same
pure functions the job uses (``read_file``, ``records_from_bytes``, ``extract_record``) and
announces each article's text to the NER children for the next job. That job's Extract
stage then takes each record's result from here instead of computing it again.

With the driver's helper processes (``transforms.pool``), the thread only reads: it sends the
records to them from the moment the job's Extract stage has its every record
(``extracted``, which that stage sets), so that they extract the next batch while the driver
deduplicates, assigns stories, writes and commits this one.

Nothing here decides anything: a record is found only when it is equal, field for field, to
the one extracted ahead, and ``extract_record`` is a pure function of it, so the job's
articles and rejects are the same with or without it. Nothing is written either: a run
killed at any point leaves what it would have left without it. Files the job takes
differently (unchanged ones, records an earlier commit kept) are simply not asked for.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, Iterator, Optional, Sequence, Union

from schemas.records import Article, RawRecord, Reject
from transforms.extract.extract import extract_record, extract_task
from transforms.pool import Chunks
from transforms.read.decode import read_file, records_from_bytes

log = logging.getLogger(__name__)


class ExtractAhead:
    """What the next job's Extract stage would compute, computed early in a thread of this
    process. ``start`` begins on a list of files once ``after`` is set; ``new_job`` (called
    by ``transforms.warm.Warm.before_job``) stops the thread at the next record and keeps what
    it made for the job that begins; ``take`` hands a record's result over once."""

    def __init__(self, line_model=None, pool=None):
        self.line_model = line_model  # the Extract stage's (``line_model.load_line_model()``)
        self.pool = pool  # a ``transforms.pool.HelperPool`` to extract in once usable, or None
        # set by the job's Extract stage once it has its every record; cleared by ``new_job``
        self.extracted = threading.Event()
        self._done: Dict[RawRecord, Union[Article, Reject]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.made = 0    # results made ahead, in all
        self.taken = 0   # of them, taken by a job

    def start(self, paths: Sequence[str], after: threading.Event, *, max_bytes: int,
              max_words: int, identify=None,
              announce: Optional[Callable[[Article], None]] = None) -> None:
        """Extracts the records of ``paths`` in a thread, from when ``after`` is set on;
        ``announce`` is called with each article (to tell NER of it ahead)."""
        self.stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="extract-ahead", daemon=True,
            args=(list(paths), after, self._stop, max_bytes, max_words, identify, announce))
        self._thread.start()

    def _run(self, paths, after, stop, max_bytes, max_words, identify, announce) -> None:
        while not after.wait(0.2):
            if stop.is_set():
                return
        self.forget()  # the job under way has taken its records by now
        made = (self._in_pool(paths, stop, max_bytes, max_words)
                if self.pool is not None and self.pool.usable
                else self._here(paths, stop, max_bytes, max_words, identify))
        for rec, out in made:
            with self._lock:
                self._done[rec] = out
                self.made += 1
            if announce is not None and isinstance(out, Article):
                announce(out)

    def _records(self, paths, stop, max_bytes) -> Iterator[RawRecord]:
        for path in paths:
            if stop.is_set():
                return
            try:
                records = list(records_from_bytes(path, read_file(path, max_bytes)))
            except Exception as e:  # noqa: BLE001 (the job reads it again and says why)
                log.debug("not extracted ahead: %s (%s)", path, e)
                continue
            for rec in records:
                if stop.is_set():
                    return
                if isinstance(rec, RawRecord):
                    yield rec

    def _here(self, paths, stop, max_bytes, max_words, identify):
        for rec in self._records(paths, stop, max_bytes):
            try:
                yield rec, extract_record(rec, identify, max_words, self.line_model)
            except Exception as e:  # noqa: BLE001 (the job extracts it and says why)
                log.debug("not extracted ahead: %s (%s)", rec.source_uri, e)

    def _in_pool(self, paths, stop, max_bytes, max_words):
        """(record, result) of the records the helper processes extracted, as their chunks
        come back; what was sent before a stop still comes. A chunk no child could take is
        left to the job."""
        chunks = Chunks(self.pool, extract_task(max_words), lambda rec: None)
        for rec in self._records(paths, stop, max_bytes):
            # the record rides along as its own "element", to come back with its result
            for out, _, rec, _ in chunks.add(rec, rec):
                if out is not None:
                    yield rec, out
        for out, _, rec, _ in chunks.flush():
            if out is not None:
                yield rec, out

    def stop(self) -> None:
        """Stops the thread (at its next record) and waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait(self) -> None:
        """Waits for the thread to have gone through its files (the run never does)."""
        if self._thread is not None:
            self._thread.join()

    def new_job(self) -> None:
        self.stop()
        self.extracted.clear()

    def forget(self) -> None:
        """Drops whatever was made and not taken (call before making another batch's)."""
        with self._lock:
            self._done.clear()

    def take(self, rec: RawRecord) -> Optional[Union[Article, Reject]]:
        """The result made ahead for a record equal to ``rec``, once; None if there is none."""
        with self._lock:
            out = self._done.pop(rec, None)
            if out is not None:
                self.taken += 1
            return out
