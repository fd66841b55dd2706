"""Language identification of article text (py3langid: a small n-gram model shipped inside
the package, no download)."""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Callable, Optional, Tuple

log = logging.getLogger(__name__)

# Below this probability (or this many words) the guess is not stored.
MIN_PROBABILITY = 0.80
MIN_WORDS = 5
SAMPLE_CHARS = 1200  # a paragraph or two decides; the cost grows with the sample


def cache_folder() -> Optional[str]:
    """Where this machine keeps the uncompressed model: ``$NEWS_INGEST_CACHE``, else
    ``$XDG_CACHE_HOME/news-ingest``, else ``~/.cache/news-ingest``; None when
    ``NEWS_INGEST_CACHE=off``."""
    chosen = os.environ.get("NEWS_INGEST_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return chosen
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "news-ingest")


def _cache_file(folder: str) -> str:
    """The cache file for the installed model: its name changes with py3langid's version and
    the model file's size and time, so an upgrade never reads a stale copy."""
    from importlib.metadata import version

    from py3langid.langid import MODEL_DIR, MODEL_FILE
    st = os.stat(MODEL_DIR / MODEL_FILE)
    return os.path.join(folder, f"py3langid-{version('py3langid')}-{st.st_size}-{int(st.st_mtime)}.npz")


def _model_parts(folder: Optional[str]):
    """The model's parts as py3langid's loader returns them. py3langid ships its model LZMA
    compressed: decompressing takes ~0.45 s in every worker of every job. The first load on
    a machine keeps an uncompressed copy (~70 MB) in ``folder``; later loads read it in
    ~0.15 s. Any failure to read or write the copy falls back to the shipped model."""
    from array import array

    import numpy
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model
    path = None
    if folder:
        try:
            path = _cache_file(folder)
            with numpy.load(path, allow_pickle=False) as d:
                return (d["ptc"], d["pc"], d["classes"].tolist(),
                        array(str(d["nextmove_code"]), d["nextmove"].tobytes()),
                        array(str(d["row_code"]), d["row"].tobytes()), d["output"].tolist())
        except FileNotFoundError:
            pass
        except Exception as e:  # noqa: BLE001 (a damaged copy: use the shipped model, rewrite it)
            log.info("language model copy %s unreadable (%s): loading the shipped one", path, e)
    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    if path:
        tmp = None
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                numpy.savez(f, ptc=ptc, pc=pc, classes=numpy.array(classes),
                            nextmove=numpy.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"),
                            nextmove_code=numpy.array(nextmove.typecode),
                            row=numpy.frombuffer(row, dtype=f"u{row.itemsize}"),
                            row_code=numpy.array(row.typecode),
                            output=numpy.array(output, dtype=numpy.int64))
            os.replace(tmp, path)  # whole or not at all, also with workers racing
        except OSError as e:
            log.info("language model copy not kept in %s (%s)", folder, e)
            if tmp:
                with contextlib.suppress(OSError):
                    os.remove(tmp)  # a disk that filled up mid-write keeps no half copy
    return ptc, pc, classes, nextmove, row, output


def load_identifier(cache: Optional[str] = "default") -> Callable[[str], Tuple[str, float]]:
    """A callable text -> (ISO 639-1 code, probability): call it in setup(). ``cache``: the
    folder of the uncompressed model copy ("default": ``cache_folder()``; None: none)."""
    from py3langid.langid import LanguageIdentifier
    ptc, pc, classes, nextmove, row, output = _model_parts(cache_folder() if cache == "default" else cache)
    ident = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
    return lambda text: ident.classify(text)


def detect_language(identify: Callable[[str], Tuple[str, float]], text: str) -> Optional[str]:
    """The language of ``text``, or None when too short or too uncertain to say."""
    if len(text.split(None, MIN_WORDS)) < MIN_WORDS:
        return None
    lang, prob = identify(text[:SAMPLE_CHARS])
    return lang if prob >= MIN_PROBABILITY else None
