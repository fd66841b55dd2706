"""spaCy NER in child processes of its own, started before the model is needed.

In a run whose Beam workers live in the driver's process (the in-memory runner, the default
on one machine), importing spaCy and loading the model took ~1 s of the one core that also
lists, plans, builds the graph and extracts. Started at the beginning of the run, the child
loads on another core in the meantime; the driver's NER stage then sends it the texts and
gets the entity spans back (the same model, loaded the same way: the same entities).

Workers that live elsewhere (other processes, other machines) load their own model, as
before: only the process that started the child (through ``transforms.warm.Warm``) uses it.

The child reads requests on its standard input and answers on its standard output; it ends
when its input closes, which is also what happens when the driver is killed. If the child
fails or dies, the model is loaded in the driver and used from then on.

``NerProcess`` starts the child (``main``) with the parent's ``sys.path``; ``NerPool`` runs
several, one per core by default, sharing the texts out evenly; this module and the child
import nothing of Beam.
"""
from __future__ import annotations

import builtins
import collections
import logging
import pickle
import threading
import typing
import weakref
from typing import List, Optional, Sequence

from transforms import child

log = logging.getLogger(__name__)


class Ent(typing.NamedTuple):
    """An entity span as ``ner.raw_spans`` reads it from a spaCy ``Span``."""
    start_char: int
    end_char: int
    label_: str


class Doc(typing.NamedTuple):
    """What ``annotate`` reads of a spaCy ``Doc``: its entities."""
    ents: List[Ent]


# Texts announced before they are asked for (``prefetch``) are annotated while the parent
# does other work and kept until asked for or until the next job: at most this many
# characters of them, announced or annotated (later announcements are dropped: asked for,
# they are annotated then).
PREFETCH_CHARS = 50_000_000
BATCH = 64  # texts per nlp.pipe call when annotating ahead (Enrich asks in --ner_batch_size)
# Texts per call for those announced for a later job than the one under way (the next
# batch's, extracted ahead): a request of the job under way waits for the call in progress,
# so a short one lets it through in ~0.5 s instead of ~2 s (these texts cost ~3% more each
# in calls of 16 than of 64; the job's own requests then no longer wait on the next batch).
AHEAD_BATCH = 16


def _spans(doc) -> list:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


class _Inbox:
    """The child's requests as a reader thread takes them off its input: ``pipe`` requests
    first, announced texts in order; ``closed`` once the input ends (the parent closed it, or
    died)."""

    def __init__(self, requests):
        self._cond = threading.Condition()
        self._asks: "collections.deque" = collections.deque()
        self.announced: "collections.deque" = collections.deque()   # (text, language, job)
        self.announced_chars = 0
        self.kept_chars = 0   # of texts annotated ahead and kept (the serving loop says)
        self.closed = False
        threading.Thread(target=self._read, args=(requests,), daemon=True).start()

    def _read(self, requests) -> None:
        try:
            while True:
                message = child.receive(requests)
                if message is None:
                    break
                with self._cond:
                    if message[0] == "prefetch":
                        _, texts, language, job = message
                        for text in texts:
                            size = len(text) if isinstance(text, str) else 0
                            if self.announced_chars + self.kept_chars + size <= PREFETCH_CHARS:
                                self.announced.append((text, language, job))
                                self.announced_chars += size
                    elif message[0] == "forget":
                        job = message[1]
                        left = [a for a in self.announced if a[2] >= job]
                        self.announced = collections.deque(left)
                        self.announced_chars = sum(len(t) for t, _, _ in left if isinstance(t, str))
                        self._asks.append(message)
                    else:
                        self._asks.append(message)
                    self._cond.notify()
        except (OSError, EOFError, pickle.UnpicklingError):
            pass
        with self._cond:
            self.closed = True
            self._cond.notify()

    def next(self, job: int):
        """The next request (``pipe``/``forget``), or ``("prefetch", [(text, language, job),
        ...])`` when none waits and texts are announced (fewer of them when they are for a
        job after ``job``, the one under way), or None once the input ended."""
        with self._cond:
            while not (self.closed or self._asks or self.announced):
                self._cond.wait()
            if self.closed:
                return None  # the parent is gone or done: announced work is dropped
            if self._asks:
                return self._asks.popleft()
            return self._take(BATCH if self.announced[0][2] <= job else AHEAD_BATCH)

    def _take(self, size: int):
        taken = [self.announced.popleft() for _ in range(min(size, len(self.announced)))]
        self.announced_chars -= sum(len(t) for t, _, _ in taken if isinstance(t, str))
        return ("prefetch", taken)

    def announced_batch(self):
        """The next batch of announced texts, without waiting, or None."""
        with self._cond:
            return self._take(BATCH) if self.announced else None

    def kept(self, chars: int) -> None:
        """The serving loop kept (or, negative, let go of) this many characters."""
        with self._cond:
            self.kept_chars += chars


def _annotate_ahead(nlp, announced, kept: dict, jobs: dict, served: dict,
                    inbox: "_Inbox") -> None:
    """Annotates announced (text, language, job) triples into ``kept`` (and the latest job
    each was announced for into ``jobs``): those in the model's language
    (``model.in_model_language``), not kept yet, not asked for already by that job
    (``served``: text -> the job that asked; a text asked for before its turn came is
    annotated once, when asked), and short enough; a text the model refuses is left out."""
    from transforms.entities.model import in_model_language
    announced = [(t, language, job) for t, language, job in announced
                 if isinstance(t, str) and served.get(t, -1) < job]
    for t, _, job in announced:
        if job > jobs.get(t, -1):
            jobs[t] = job
    texts = list(dict.fromkeys(
        t for t, language, _ in announced
        if in_model_language(language, nlp.lang) and t not in kept and len(t) < nlp.max_length))
    try:
        done = dict(zip(texts, (_spans(d) for d in nlp.pipe(texts, batch_size=BATCH))))
    except Exception:  # noqa: BLE001 (one text spoils the batch: each on its own)
        done = {}
        for t in texts:
            try:
                done[t] = _spans(nlp(t))
            except Exception:  # noqa: BLE001 (asked for later, it fails there, in its turn)
                pass
    kept.update(done)
    inbox.kept(sum(map(len, done)))


def serve(requests, answers, model: str) -> int:
    """The child: loads ``model`` (``load_ner``), says ``("ready", lang, max_length)`` (or
    ``("failed", why)``), then takes requests until ``requests`` ends:

    - ``("prefetch", texts, language, job)``: no answer; the texts (of an article in
      ``language``, skipped where the model is for another one, for the parent's job number
      ``job``) are annotated whenever nothing is asked, and kept;
    - ``("pipe", texts, batch_size)``: answered first with ``("spans", [[(start, end,
      label), ...] per text], how many came from what was kept)``, or ``("error", exception
      type, message)``;
    - ``("forget", job)``: job number ``job`` begins; what was announced or kept for
      earlier jobs goes (texts announced ahead, for this job or later ones, stay);
    - ``("settle",)``: answered with ``("settled", how many texts are kept)`` once every
      text announced before it is annotated.

    A thread reads the requests as they come (from before the model loads), so a parent that
    announces texts never waits for the model to take them."""
    from transforms.entities.model import load_ner
    inbox = _Inbox(requests)
    try:
        nlp = load_ner(model)
    except Exception as e:  # noqa: BLE001 (told to the parent, which loads it itself)
        child.send(answers, ("failed", f"{type(e).__name__}: {e}"))
        return 1
    child.send(answers, ("ready", nlp.lang, nlp.max_length))
    kept: "dict[str, list]" = {}
    jobs: "dict[str, int]" = {}    # the latest job each kept (or announced) text is for
    served: "dict[str, int]" = {}  # texts asked for, and the job that asked
    job = 0                        # the parent's job under way
    while True:
        message = inbox.next(job)
        if message is None:
            return 0
        if message[0] == "forget":
            job = message[1]
            old = [t for t in kept if jobs.get(t, -1) < job]
            inbox.kept(-sum(map(len, old)))
            for t in old:
                del kept[t]
            jobs = {t: j for t, j in jobs.items() if j >= job}
            served.clear()
            continue
        if message[0] == "settle":  # everything announced so far annotated first
            while (batch := inbox.announced_batch()) is not None:
                _annotate_ahead(nlp, batch[1], kept, jobs, served, inbox)
            child.send(answers, ("settled", len(kept)))
            continue
        if message[0] == "prefetch":
            _annotate_ahead(nlp, message[1], kept, jobs, served, inbox)
            continue
        _, texts, batch_size = message
        missing = list(dict.fromkeys(t for t in texts if t not in kept))
        try:
            found = dict(zip(missing, (_spans(d) for d in nlp.pipe(missing, batch_size=batch_size))))
        except Exception as e:  # noqa: BLE001 (the parent raises it, as spaCy would have)
            child.send(answers, ("error", type(e).__name__, str(e)))
            continue
        hits = sum(t in kept for t in texts)
        child.send(answers, ("spans", [kept[t] if t in kept else found[t] for t in texts], hits))
        for t in texts:
            if isinstance(t, str):
                served[t] = job
        taken = {t for t in texts if t in kept}
        for t in taken:  # kept no longer
            del kept[t]
            jobs.pop(t, None)
        inbox.kept(-sum(map(len, taken)))


def _error(name: str, message: str) -> Exception:
    """The child's exception as the parent raises it: the same type where it is a built-in
    one (a reject then reads as it would have with the model loaded here)."""
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        return kind(message)
    return RuntimeError(f"{name}: {message}")


class ModelUnavailable(RuntimeError):
    """Neither the child nor this process could load the model: no article can be annotated
    (``Enrich`` fails the job rather than rejecting every article)."""


class NerProcess:
    """spaCy's NER pipeline ``model`` in a child process, started at once.

    To ``annotate`` it looks like the loaded pipeline: ``lang``, ``max_length`` and
    ``pipe(texts, batch_size)``, whose docs carry only ``ents``. The first of these waits for
    the child to have loaded. Safe to call from several threads (one request at a time).
    ``close()`` ends the child; so does losing the last reference, and the process's exit.
    """

    def __init__(self, model: str):
        self.model = model
        self._lock = threading.Lock()    # one request and its answer at a time
        self._writing = threading.Lock() # one message at a time on the child's input
        self._local = None           # the pipeline loaded here, after the child failed
        self._meta: Optional[tuple] = None   # (lang, max_length) from the child
        self.job = 0                 # this job's number (new_job counts them)
        self.answered = 0            # requests the child answered
        self.ahead = 0               # texts of those answers annotated ahead (announced)
        self._failed: Optional[ModelUnavailable] = None
        self._proc = child.start(__name__, model)
        self._stopper = weakref.finalize(self, child.stop, self._proc)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _fall_back(self, why: str) -> None:
        """Under the lock: the model from here on is one loaded in this process."""
        from transforms.entities.model import load_ner
        log.warning("NER process for %s failed (%s); loading the model in this process",
                    self.model, why)
        self._stopper()
        try:
            self._local = load_ner(self.model)
        except Exception as e:
            self._failed = ModelUnavailable(f"spaCy pipeline {self.model!r} could not be "
                                            f"loaded: {type(e).__name__}: {e}")
            raise self._failed from e

    def _ready(self) -> None:
        """Under the lock: waits for the child's first message, once."""
        if self._failed is not None:
            raise self._failed
        if self._meta is not None or self._local is not None:
            return
        try:
            message = child.receive(self._proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            message = ("failed", f"{type(e).__name__}: {e}")
        if not message or message[0] != "ready":
            self._fall_back(message[1] if message else f"it exited ({self._proc.poll()})")
            return
        self._meta = message[1:]

    @property
    def lang(self) -> str:
        with self._lock:
            self._ready()
            return self._local.lang if self._local is not None else self._meta[0]

    @property
    def max_length(self) -> int:
        with self._lock:
            self._ready()
            return self._local.max_length if self._local is not None else self._meta[1]

    def pipe(self, texts: Sequence[str], batch_size: int = BATCH):
        texts = list(texts)
        with self._lock:
            self._ready()
            if self._local is None:
                try:
                    with self._writing:
                        child.send(self._proc.stdin, ("pipe", texts, batch_size))
                    answer = child.receive(self._proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as e:
                    answer = ("failed", f"{type(e).__name__}: {e}")
                if answer is None or answer[0] == "failed":
                    self._fall_back(answer[1] if answer else f"it exited ({self._proc.poll()})")
                elif answer[0] == "error":
                    raise _error(*answer[1:])
                else:
                    self.answered += 1
                    self.ahead += answer[2]
                    return [Doc([Ent(*s) for s in spans]) for spans in answer[1]]
            return list(self._local.pipe(texts, batch_size=batch_size))

    def prefetch(self, texts: Sequence[str], language: Optional[str], ahead: bool = False) -> None:
        """Announces the texts of one article in ``language``: the child annotates them while
        this process does other work, and a later ``pipe`` of the same texts is answered
        from that. ``ahead``: for the next job (they outlive this job's end). Never waits for
        an answer; does nothing once the model runs here."""
        if self._local is not None or self._failed is not None:
            return
        self._tell(("prefetch", list(texts), language, self.job + int(ahead)))

    def settle(self) -> int:
        """Waits until the child has annotated every text announced so far; how many texts
        it keeps (0 once the model runs here)."""
        with self._lock:
            self._ready()
            if self._local is not None:
                return 0
            with self._writing:
                child.send(self._proc.stdin, ("settle",))
            answer = child.receive(self._proc.stdout)
            return answer[1] if answer and answer[0] == "settled" else 0

    def new_job(self) -> None:
        """A new job begins: what was announced for earlier ones is not asked for any more,
        and the child lets it go; what was announced ahead for this one stays
        (``transforms.warm.Warm.before_job`` calls this)."""
        self.job += 1
        if self._local is None and self._failed is None:
            self._tell(("forget", self.job))

    def known_max_length(self) -> Optional[int]:
        """The model's ``max_length`` if the child has said it, without waiting."""
        return self._meta[1] if self._meta is not None else None

    def known_lang(self) -> Optional[str]:
        """The model's language if the child has said it, without waiting."""
        return self._meta[0] if self._meta is not None else None

    def _tell(self, message) -> None:
        with self._writing:
            try:
                child.send(self._proc.stdin, message)
            except (OSError, ValueError):
                pass  # the next pipe() finds the child gone and loads the model here

    def close(self) -> None:
        """Ends the child: at once if it never said it was ready (a run with nothing to
        annotate does not wait for a load it does not need)."""
        if self._meta is None and self._proc.poll() is None:
            self._proc.kill()
        self._stopper()


MAX_PROCESSES = 4


def default_processes() -> int:
    """NER children for a run on this machine: one per core the process may use, at most
    ``MAX_PROCESSES``. The driver's own Beam work (read, extract, dedup, write) takes about a
    fifth of the CPU that NER takes, so it shares the cores with them rather than keep one
    idle for itself; the cores past four extract (``pipeline.run.helper_processes``)."""
    return max(1, min(child.available_cores(), MAX_PROCESSES))


class NerPool:
    """``processes`` ``NerProcess`` children of the same ``model``, seen as one: the same
    interface (``lang``, ``max_length``, ``pipe``, ``prefetch``, ``settle``, ``new_job``,
    ``known_max_length``, ``close``).

    A text announced ahead (``prefetch``) goes to the child with the fewest characters
    announced and not yet asked for, and is asked for from that child, so announced texts
    are annotated on every core at once, in equal shares, and found done (a text already
    announced goes where it went). ``pipe`` sends each child its share (texts nobody
    announced are shared out the same way) and waits for all of them; the answers come back
    in the order asked. Each text is annotated on its own by the same model loaded the same
    way, so the entities do not depend on how many children there are or which one took a
    text."""

    def __init__(self, model: str, processes: int = 1, start: Optional[int] = None):
        if processes < 1:
            raise ValueError(f"NerPool needs at least one process, not {processes}")
        self.model, self.processes = model, processes
        self.children = [NerProcess(model) for _ in range(min(processes, start or processes))]
        self._asking = None  # threads that wait for the children's answers, made on first use
        # text -> (its child, the job it was announced for) until it is asked for or its job
        # is over; and each child's characters announced and not asked for yet
        self._owner: "dict[str, tuple]" = {}
        self._waiting: List[int] = [0] * len(self.children)
        self._job = 0
        self._sharing = threading.Lock()
        # set once this job asks for entities: its articles are all extracted by then (NER
        # comes after Dedup's shuffles), so the driver may extract the next batch's
        self.asked = threading.Event()

    def grow(self) -> None:
        """Starts the rest of the ``processes`` children (a text announced before stays with
        the child it went to). A run starts one and grows once it knows it has enough to
        annotate: on a handful of files a second model load costs the driver more than it
        saves."""
        with self._sharing:
            while len(self.children) < self.processes:
                self.children.append(NerProcess(self.model))
                self._waiting.append(0)

    @property
    def pids(self) -> List[int]:
        return [c.pid for c in self.children]

    @property
    def answered(self) -> int:
        return sum(c.answered for c in self.children)

    @property
    def ahead(self) -> int:
        return sum(c.ahead for c in self.children)

    @staticmethod
    def _least(waiting: List[int]) -> int:
        """The child with the fewest characters in ``waiting``."""
        return min(range(len(waiting)), key=waiting.__getitem__)

    @property
    def lang(self) -> str:
        return self.children[0].lang

    @property
    def max_length(self) -> int:
        return min(c.max_length for c in self.children)

    def known_max_length(self) -> Optional[int]:
        known = [c.known_max_length() for c in self.children]
        return None if None in known else min(known)

    def pipe(self, texts: Sequence[str], batch_size: int = BATCH):
        texts = list(texts)
        self.asked.set()
        shares: "dict[int, list]" = {}
        for i, c in enumerate(self._ask_for(texts)):
            shares.setdefault(c, []).append(i)
        if len(shares) == 1:
            (c, _), = shares.items()
            return self.children[c].pipe(texts, batch_size)
        if self._asking is None:
            from concurrent.futures import ThreadPoolExecutor
            self._asking = ThreadPoolExecutor(len(self.children), thread_name_prefix="ner-ask")
        asked = {c: self._asking.submit(self.children[c].pipe, [texts[i] for i in idx], batch_size)
                 for c, idx in shares.items()}
        docs: list = [None] * len(texts)
        for c, idx in shares.items():
            for i, d in zip(idx, asked[c].result()):  # a child's error is raised here
                docs[i] = d
        return docs

    def _ask_for(self, texts: List) -> List[int]:
        """The child to ask for each text: the one it was announced to (no longer waiting
        there once asked), else, for this call, the one with the least work."""
        with self._sharing:
            extra = list(self._waiting)
            chosen: "dict[str, int]" = {}
            out = []
            for t in texts:
                if not isinstance(t, str):
                    out.append(0)  # the child raises the error for it
                    continue
                c = chosen.get(t)
                if c is None:
                    owner = self._owner.get(t)
                    if owner is not None:
                        c = owner[0]
                        if owner[1] <= self._job:  # else announced for the next job too: kept
                            del self._owner[t]
                            self._waiting[c] -= len(t)
                    else:
                        c = self._least(extra)
                        extra[c] += len(t)
                    chosen[t] = c
                out.append(c)
            return out

    def prefetch(self, texts: Sequence[str], language: Optional[str], ahead: bool = False) -> None:
        from transforms.entities.model import in_model_language
        lang = self.children[0].known_lang()
        if lang is not None and not in_model_language(language, lang):
            return  # the children skip them and nothing asks for them: no share to count
        shares: "dict[int, list]" = {}
        with self._sharing:
            job = self._job + int(ahead)
            for t in texts:
                owner = self._owner.get(t) if isinstance(t, str) else None
                if owner is not None:
                    c = owner[0]
                    self._owner[t] = (c, max(owner[1], job))
                elif isinstance(t, str):
                    c = self._least(self._waiting)
                    self._owner[t] = (c, job)
                    self._waiting[c] += len(t)
                else:
                    c = 0
                shares.setdefault(c, []).append(t)
        for c, share in shares.items():
            self.children[c].prefetch(share, language, ahead)

    def settle(self) -> int:
        return sum(c.settle() for c in self.children)

    def new_job(self) -> None:
        self.asked.clear()
        with self._sharing:
            self._job += 1
            for t, (c, job) in list(self._owner.items()):
                if job < self._job:  # never asked for (a copy Dedup folded): the child forgets it
                    del self._owner[t]
                    self._waiting[c] -= len(t)
        for c in self.children:
            c.new_job()

    def close(self) -> None:
        for c in self.children:
            c.close()
        if self._asking is not None:
            self._asking.shutdown(wait=False)


def main(model: str) -> None:
    """The child's entry point (``child.start(__name__, model)``)."""
    child.serve_on_pipes(serve, model)
