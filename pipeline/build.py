"""Assembles the ingest graph: Discover -> Read+Decode -> Extract -> Dedup -> Enrich -> Sink."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Dict, Optional, Sequence

import apache_beam as beam

from transforms.decode import DEFAULT_MAX_BYTES, ReadAndDecode
from transforms.dedup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, Dedup
from transforms.discover import Discover
from transforms.entities import DEFAULT_BATCH, DEFAULT_MODEL, Enrich
from transforms.extract import Extract
from transforms.rejects import REJECTS
from transforms.signature_index import ReadIndex, WriteIndex
from transforms.sink import WriteTables


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class Ingest(beam.PTransform):
    """PBegin -> {"articles", "duplicates", "rejects", "index"} PCollections (nothing
    written). Every input record ends in exactly one of the first three; ``index`` holds the
    dedup sketches of the kept articles. ``earlier_runs``: the output folder whose signature
    index holds the articles earlier runs wrote (their copies become duplicates), or None.
    """

    def __init__(self, inputs: Sequence[str], *, spacy_model: str = DEFAULT_MODEL,
                 ner_batch_size: int = DEFAULT_BATCH, skip_entities: bool = False,
                 dedup_threshold: float = DEFAULT_THRESHOLD, minhash_perm: int = DEFAULT_NUM_PERM,
                 shingle_words: int = DEFAULT_SHINGLE, max_file_bytes: int = DEFAULT_MAX_BYTES,
                 earlier_runs: Optional[str] = None):
        super().__init__()
        self.inputs = list(inputs)
        self.spacy_model, self.ner_batch_size, self.skip_entities = spacy_model, ner_batch_size, skip_entities
        self.dedup_args = (dedup_threshold, minhash_perm, shingle_words)
        self.max_file_bytes = max_file_bytes
        self.earlier_runs = earlier_runs

    def expand(self, pbegin):
        files = pbegin | "Discover" >> Discover(self.inputs)
        read = files | "ReadAndDecode" >> ReadAndDecode(self.max_file_bytes)
        extracted = read.records | "Extract" >> Extract()
        threshold, num_perm, shingle = self.dedup_args
        prior = None
        if self.earlier_runs is not None:
            prior = pbegin | "EarlierRuns" >> ReadIndex(self.earlier_runs, num_perm, shingle)
        deduped = extracted.articles | "Dedup" >> Dedup(threshold, num_perm, shingle, prior=prior)
        rejects = [read[REJECTS], extracted[REJECTS]]
        articles = deduped.articles
        if not self.skip_entities:
            enriched = articles | "Enrich" >> Enrich(self.spacy_model, self.ner_batch_size)
            articles = enriched.articles
            rejects.append(enriched[REJECTS])
        return {
            "articles": articles,
            "duplicates": deduped.duplicates,
            "rejects": rejects | "AllRejects" >> beam.Flatten(),
            "index": deduped.index,
        }


def build(p: beam.Pipeline, opts, run_id: Optional[str] = None,
          ingested_at: Optional[datetime] = None) -> Dict[str, beam.PCollection]:
    """Adds the whole job to ``p`` from IngestOptions ``opts``; returns the three tables."""
    ingested_at = ingested_at or datetime.now(timezone.utc)
    run_id = run_id or opts.run_id or new_run_id(ingested_at)
    tables = p | "Ingest" >> Ingest(
        opts.input, spacy_model=opts.spacy_model, ner_batch_size=opts.ner_batch_size,
        skip_entities=opts.skip_entities, dedup_threshold=opts.dedup_threshold,
        minhash_perm=opts.minhash_perm, shingle_words=opts.shingle_words,
        max_file_bytes=opts.max_file_bytes,
        earlier_runs=None if opts.no_earlier_runs else opts.output)
    tables | "Sink" >> WriteTables(opts.output, run_id, ingested_at)
    tables["index"] | "SinkIndex" >> WriteIndex(opts.output, run_id, opts.minhash_perm,
                                                opts.shingle_words)
    return tables
