"""datatrove's equivalent of the pipeline without NER: its trafilatura extractor and its
MinHash dedup, on the same pages with the same number of workers. Run by
``benchmarks/throughput.py --skip_entities`` with an interpreter that has datatrove
installed (an optional benchmark dependency, ``pip install datatrove``; it is not imported
anywhere else in the project):

    PYTHON benchmarks/peer_datatrove.py PAGES_JSONL_FOLDER WORK_FOLDER WORKERS

``PAGES_JSONL_FOLDER`` holds the pages as JSON Lines (``{"id": file name, "text": html}``):
datatrove has no reader for a folder of HTML files. Four local executors, as datatrove's
own MinHash example runs them, with ``WORKERS`` processes each: extract, write and sign the
texts (one pass), bucket the signatures, cluster, and filter the written texts.
Prints one JSON line: ``{"seconds": wall seconds of the four executors, "kept": [ids],
"removed": [ids], "clusters": {id: MinHash cluster id, for the documents in a cluster}}``.
"""
import gzip
import json
import os
import sys
import time


def main(pages: str, work: str, workers: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster,
                                          MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    config = MinhashConfig()  # datatrove's defaults: 5-grams, 14 buckets of 8 hashes

    def at(name: str) -> str:
        return os.path.join(work, name)
    extract_and_sign = LocalPipelineExecutor(
        pipeline=[JsonlReader(pages), Trafilatura(favour_precision=True),
                  JsonlWriter(at("texts")), MinhashDedupSignature(at("signatures"), config=config)],
        tasks=workers, workers=workers, logging_dir=at("logs/1"))
    buckets = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(at("signatures"), at("buckets"), config=config)],
        tasks=config.num_buckets, workers=workers, logging_dir=at("logs/2"),
        depends=extract_and_sign)
    cluster = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(at("buckets"), at("remove"), config=config,
                                      save_cluster_id=True)],
        tasks=1, logging_dir=at("logs/3"), depends=buckets)
    filtered = LocalPipelineExecutor(
        pipeline=[JsonlReader(at("texts")),
                  MinhashDedupFilter(at("remove"), exclusion_writer=JsonlWriter(at("removed")),
                                     load_cluster_ids=True),
                  JsonlWriter(at("kept"))],
        tasks=workers, workers=workers, logging_dir=at("logs/4"), depends=cluster)
    start = time.perf_counter()
    filtered.run()
    seconds = time.perf_counter() - start
    kept, removed = ids(at("kept")), ids(at("removed"))
    print(json.dumps({"seconds": seconds, "kept": sorted(kept), "removed": sorted(removed),
                      "clusters": {i: c for i, c in {**kept, **removed}.items() if c != -1}}))


def ids(folder: str):
    """{document id: its MinHash cluster id (-1: in none)} of a writer's folder."""
    out = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with gzip.open(os.path.join(folder, name), "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    doc = json.loads(line)
                    out[doc["id"]] = doc.get("metadata", {}).get("minhash_cluster_id", -1)
    return out


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
