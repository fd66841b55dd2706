"""Enrich stage: named entities from spaCy on each article.

``enrich`` (the Beam transform), ``ner`` (pure NER over articles: ``annotate``), ``model``
(which pipeline to load, and what of it), ``blas`` (its matrix products), ``mentions`` (clean-up
of the model's spans into queryable mentions), ``process`` (the model in a child process
of its own, for runs whose workers live in the driver).

The names below are imported on first use, so that the child process loads spaCy without
importing Beam.
"""
import importlib

_FROM = {
    "ner": ("DEFAULT_BATCH", "DEFAULT_CHUNK_CHARS", "annotate", "chunk_spans", "raw_spans",
            "skip_reason"),
    "enrich": ("STAGE", "AnnounceToNer", "Enrich", "SpacyNerHandler"),
    "model": ("DEFAULT_MODEL", "load_ner", "ner_components", "resolve_model"),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE[name]}"), name)
    globals()[name] = value
    return value
