"""A child process of the driver's that speaks pickled messages over its standard input
and output (the NER children of ``transforms.entities.process``, the helper processes of
``transforms.pool``).

The child imports exactly the parent's ``sys.path`` and nothing of the parent's state; it
ends when its input closes, which is also what happens when the parent is killed, so no
child outlives a ``kill -9`` of the run. Ctrl-C and a service manager's SIGTERM reach the
whole process group: the parent decides when its children stop.
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import Callable

_HEADER = struct.Struct("<Q")

# -I: no current folder, user site or PYTHON* variables; the child imports from exactly the
# parent's sys.path, then calls ``main(*args)`` of the module it is given
_CHILD = ("import json, sys, importlib; sys.path[:] = json.loads(sys.argv[1]); "
          "importlib.import_module(sys.argv[2]).main(*sys.argv[3:])")


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def send(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive(stream):
    """The next message, or None when the other side closed the stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a message")
    return pickle.loads(data)


def start(module: str, *args: str) -> subprocess.Popen:
    """Starts ``module.main(*args)`` in a child process, its input and output piped here."""
    return subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, json.dumps(sys.path), module, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
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
    if proc.stdout:
        proc.stdout.close()


def serve_on_pipes(serve: Callable[..., int], *args) -> None:
    """The child's side: runs ``serve(requests, answers, *args)`` on its standard input and
    a copy of its standard output, then exits with what it returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Answers go out on a copy of the standard output; the standard output itself becomes
    # the standard error, so that nothing a library prints can corrupt them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        code = serve(sys.stdin.buffer, answers, *args)
        answers.close()
    except BrokenPipeError:  # the parent is gone (killed mid-request): nobody to answer
        code = 0
    sys.stderr.flush()
    os._exit(code)  # without the interpreter's teardown of its libraries (the parent waits)
