"""Enrich stage: named entities from spaCy on each article.

``enrich`` (the Beam transform), ``annotate`` (pure NER over articles), ``model`` (which
pipeline to load, and what of it), ``blas`` (its matrix products), ``mentions`` (clean-up
of the model's spans into queryable mentions).
"""
from transforms.entities.annotate import (DEFAULT_BATCH, DEFAULT_CHUNK_CHARS, annotate, chunk_spans,
                                          raw_spans, skip_reason)
from transforms.entities.enrich import STAGE, Enrich, SpacyNerHandler
from transforms.entities.model import DEFAULT_MODEL, load_ner, ner_components, resolve_model

__all__ = ["DEFAULT_BATCH", "DEFAULT_CHUNK_CHARS", "DEFAULT_MODEL", "STAGE", "Enrich", "SpacyNerHandler",
           "annotate", "chunk_spans", "load_ner", "ner_components", "raw_spans", "resolve_model",
           "skip_reason"]
