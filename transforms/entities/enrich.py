"""Enrich: Articles -> Articles with named entities (spaCy NER through Beam's RunInference).

The model is loaded once per worker process by RunInference (or taken from the process's
``Warm``), articles are batched, and an article the model fails on becomes a reject
(``ner_error``) without taking its batch down. The logic is ``ner.annotate``.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from schemas.records import Article, Reject
from transforms.entities.model import DEFAULT_MODEL, load_ner
from transforms.entities.ner import DEFAULT_BATCH, DEFAULT_CHUNK_CHARS, annotate, chunk_spans
from transforms.entities.process import ModelUnavailable
from transforms.progress import Tally, TalliedFn
from transforms.rejects import REJECTS, reject
from transforms.warm import Warm

STAGE = "entities"


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
        model = self.warm.get("ner", lambda: load_ner(self.model), self.model)
        model.lang  # a model held in a child process: loaded (or failed) before any article
        return model

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
        except ModelUnavailable:
            raise  # no article is to blame: the job fails and nothing of it commits
        except Exception:
            pass  # retry one by one so one bad article does not take its batch down
        out = []
        for a in batch:
            try:
                out.extend(annotate(model, [a], self.max_chars, self.batch_size))
            except ModelUnavailable:
                raise
            except Exception as e:
                out.append(reject(STAGE, a.source_uri, "ner_error", f"{type(e).__name__}: {e}", a.size_bytes))
        return out

    def batch_elements_kwargs(self):
        # Fixed batches (a bundle's last one smaller): BatchElements' adaptive sizing starts at
        # one article and grows, and spaCy runs small batches less efficiently; fixed batches
        # of 64 took NER from 45.5 to 39.3 CPU-seconds on the throughput benchmark's 1,000
        # pages. A batch never waits for more input: BatchElements flushes at bundle end.
        return {"min_batch_size": self.batch_size, "max_batch_size": self.batch_size}

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


class _AnnounceFn(beam.DoFn):
    def __init__(self, model: str, warm: Warm, max_chars: int):
        self.model, self.warm, self.max_chars = model, warm, max_chars
        self.ner = None

    def setup(self):
        if not self.warm.here():  # a worker elsewhere: nothing held here to announce to
            self.ner = None
            return
        held = self.warm.get("ner", lambda: load_ner(self.model), self.model)
        self.ner = held if hasattr(held, "prefetch") else None

    def process(self, article: Article):
        if self.ner is not None:
            announce(self.ner, article, self.max_chars)
        yield article


def announce(ner, article: Article, max_chars: int = DEFAULT_CHUNK_CHARS,
             ahead: bool = False) -> None:
    """Tells a model held in child processes (``process.NerProcess``/``NerPool``) of the
    pieces ``annotate`` will send for ``article`` (it cuts them below the model's
    ``max_length`` too); ``ahead``: for the next job."""
    longest = ner.known_max_length()
    cut = min(max_chars, longest - 1) if longest else max_chars
    spans = chunk_spans(article.text, cut)
    ner.prefetch([article.text[s:e] for s, e in spans], article.language, ahead)


class AnnounceToNer(beam.PTransform):
    """PCollection[Article] -> the same, unchanged, each article's text announced on the way
    to the NER model that the ``warm`` of this process holds in a child process
    (``process.NerProcess.prefetch``): put right after Extract, the child annotates the
    articles while they go through Dedup, and Enrich finds them done. Only for a ``warm``
    that holds such a model (``pipeline.run.local_models``); the entities are the same."""

    def __init__(self, model: str, warm: Warm, max_chars: int = DEFAULT_CHUNK_CHARS):
        super().__init__()
        self.model, self.warm, self.max_chars = model, warm, max_chars

    def expand(self, articles):
        return articles | "Announce" >> beam.ParDo(_AnnounceFn(self.model, self.warm, self.max_chars))


class Enrich(beam.PTransform):
    """PCollection[Article] -> DoOutputsTuple: ``articles`` (with entities), ``rejects``.
    ``progress``: the folder of ``transforms.progress`` tallies, or None. ``warm``: the
    ``transforms.warm.Warm`` of the run's process (``pipeline.run.local_models``): its
    workers use the model that process holds (in a child process of its own) instead of
    loading their own; None: each job's workers load it once."""

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
