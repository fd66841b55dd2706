"""spaCy NER in a child process of its own, started before the model is needed.

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

``NerProcess`` starts the child (``main``) with the parent's ``sys.path``; this module and
the child import nothing of Beam.
"""
from __future__ import annotations

import builtins
import collections
import json
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import typing
import weakref
from typing import List, Optional, Sequence

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<Q")


class Ent(typing.NamedTuple):
    """An entity span as ``ner.raw_spans`` reads it from a spaCy ``Span``."""
    start_char: int
    end_char: int
    label_: str


class Doc(typing.NamedTuple):
    """What ``annotate`` reads of a spaCy ``Doc``: its entities."""
    ents: List[Ent]


def _send(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream):
    """The next message, or None when the other side closed the stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a message")
    return pickle.loads(data)


# Texts announced before they are asked for (``prefetch``) are annotated while the parent
# does other work and kept until asked for: at most this many characters of them.
PREFETCH_CHARS = 50_000_000


def _spans(doc) -> list:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def serve(model: str, requests, answers) -> int:
    """The child: loads ``model`` (``load_ner``), says ``("ready", lang, max_length)`` (or
    ``("failed", why)``), then takes requests until ``requests`` ends:

    - ``("prefetch", texts, language)``: no answer; the texts (of an article in
      ``language``, skipped where the model is for another one) are annotated as soon as
      nothing is asked, and kept;
    - ``("pipe", texts, batch_size)``: answered with ``("spans", [[(start, end, label), ...]
      per text])``, from what was kept where it can, or ``("error", exception type,
      message)``.

    A thread reads the requests as they come (from before the model loads), so a parent that
    announces texts never waits for the model to take them."""
    from transforms.entities.model import load_ner
    inbox: "queue.Queue" = queue.Queue()

    def read() -> None:
        try:
            while True:
                message = _receive(requests)
                if message is None:
                    break
                inbox.put(message)
        except (OSError, EOFError, pickle.UnpicklingError):
            pass
        inbox.put(None)
    threading.Thread(target=read, daemon=True).start()  # reading while the model loads
    try:
        nlp = load_ner(model)
    except Exception as e:  # noqa: BLE001 (told to the parent, which loads it itself)
        _send(answers, ("failed", f"{type(e).__name__}: {e}"))
        return 1
    _send(answers, ("ready", nlp.lang, nlp.max_length))
    kept: "collections.OrderedDict[str, list]" = collections.OrderedDict()
    kept_chars = 0
    backlog: "collections.deque" = collections.deque()
    while True:
        message = backlog.popleft() if backlog else inbox.get()
        if message is None:
            return 0
        if message[0] == "prefetch":
            # every announcement waiting now goes into one batch
            while True:
                try:
                    backlog.append(inbox.get_nowait())
                except queue.Empty:
                    break
            announced = [message]
            while backlog and backlog[0] is not None and backlog[0][0] == "prefetch":
                announced.append(backlog.popleft())
            texts = list(dict.fromkeys(
                t for _, ts, language in announced
                if nlp.lang == "xx" or language in (None, nlp.lang)
                for t in ts if t not in kept))
            try:
                for text, doc in zip(texts, nlp.pipe(texts, batch_size=64)):
                    kept[text] = _spans(doc)
                    kept_chars += len(text)
            except Exception:  # noqa: BLE001 (asked for later, the text fails there, in its turn)
                pass
            while kept_chars > PREFETCH_CHARS:
                kept_chars -= len(kept.popitem(last=False)[0])
            continue
        _, texts, batch_size = message
        missing = list(dict.fromkeys(t for t in texts if t not in kept))
        try:
            found = dict(zip(missing, (_spans(d) for d in nlp.pipe(missing, batch_size=batch_size))))
        except Exception as e:  # noqa: BLE001 (the parent raises it, as spaCy would have)
            _send(answers, ("error", type(e).__name__, str(e)))
            continue
        _send(answers, ("spans", [kept[t] if t in kept else found[t] for t in texts]))
        for t in texts:  # served: kept no longer
            if t in kept:
                kept_chars -= len(t)
                del kept[t]


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


def _stop(proc: subprocess.Popen) -> None:
    """Closes the child's input (it ends by itself) and waits for it, killing it if slow."""
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout,):
        if stream:
            stream.close()


class NerProcess:
    """spaCy's NER pipeline ``model`` in a child process, started at once.

    To ``annotate`` it looks like the loaded pipeline: ``lang``, ``max_length`` and
    ``pipe(texts, batch_size)``, whose docs carry only ``ents``. The first of these waits for
    the child to have loaded. Safe to call from several threads (one request at a time).
    ``close()`` ends the child; so does losing the last reference, and the process's exit.
    """

    def __init__(self, model: str):
        self.model = model
        self._lock = threading.Lock()
        self._local = None           # the pipeline loaded here, after the child failed
        self._meta: Optional[tuple] = None   # (lang, max_length) from the child
        self.answered = 0            # requests the child answered
        self._failed: Optional[ModelUnavailable] = None
        # -I: no current folder, user site or PYTHON* variables; the child imports from
        # exactly the parent's sys.path
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD, json.dumps(sys.path), model],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._stopper = weakref.finalize(self, _stop, self._proc)

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
            message = _receive(self._proc.stdout)
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

    def pipe(self, texts: Sequence[str], batch_size: int = 64):
        texts = list(texts)
        with self._lock:
            self._ready()
            if self._local is None:
                try:
                    _send(self._proc.stdin, ("pipe", texts, batch_size))
                    answer = _receive(self._proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as e:
                    answer = ("failed", f"{type(e).__name__}: {e}")
                if answer is None or answer[0] == "failed":
                    self._fall_back(answer[1] if answer else f"it exited ({self._proc.poll()})")
                elif answer[0] == "error":
                    raise _error(*answer[1:])
                else:
                    self.answered += 1
                    return [Doc([Ent(*s) for s in spans]) for spans in answer[1]]
            return list(self._local.pipe(texts, batch_size=batch_size))

    def prefetch(self, texts: Sequence[str], language: Optional[str]) -> None:
        """Announces the texts of one article in ``language``: the child annotates them while
        this process does other work, and a later ``pipe`` of the same texts is answered at
        once. Never waits for the child; does nothing once the model runs here."""
        with self._lock:
            if self._local is not None or self._failed is not None:
                return
            try:
                _send(self._proc.stdin, ("prefetch", list(texts), language))
            except (OSError, ValueError):
                pass  # the next pipe() finds the child gone and loads the model here

    def close(self) -> None:
        """Ends the child: at once if it never said it was ready (a run with nothing to
        annotate does not wait for a load it does not need)."""
        if self._meta is None and self._proc.poll() is None:
            self._proc.kill()
        self._stopper()


def main(model: str) -> None:
    """The child's entry point (see ``_CHILD``)."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the parent
    # decides when to stop, and ends the child by closing its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Answers go out on a copy of the standard output; the standard output itself becomes
    # the standard error, so that nothing a library prints can corrupt them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        code = serve(model, sys.stdin.buffer, answers)
        answers.close()
    except BrokenPipeError:  # the parent is gone (killed mid-request): nobody to answer
        code = 0
    sys.stderr.flush()
    os._exit(code)  # without the interpreter's teardown of spaCy (~0.3 s the driver waits)


_CHILD = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
          "from transforms.entities.process import main; main(sys.argv[2])")
