"""Near-duplicate detection: quality on a labelled corpus, speed at scale.

    .venv/bin/python -m benchmarks.dedup DATASET_DIR [--seeds samples/seeds] [--keep DIR] [--runs 3]
    .venv/bin/python -m benchmarks.dedup --scale 20000 [--workers 1]

Quality mode builds the labelled corpus of ``benchmarks.dedup_corpus`` from DATASET_DIR
(``ground-truth.json`` of the article-extraction dataset) and the five seeds, runs the whole
pipeline on it (``python -m pipeline --skip_entities``, every stage as a user runs it) and, in
the same run, the baseline: datasketch ``MinHashLSH`` (128 permutations, word 5-shingles,
threshold 0.8) over trafilatura-extracted text, groups as connected components of its
query results. The corpus is also run as ``--runs`` scheduled runs into another output (each
file in a random run, a page's captures in three successive runs). Prints pairwise
precision, recall and F1 for all, whether any two seeds were merged, the share of updated
pages whose newest capture is the kept article, and which corpus kinds the errors fall on.

Scale mode generates N articles (a third of them re-published copies with edits) and times
the Dedup transform alone on Beam (FnApiRunner, in-process) against datasketch's in-memory
LSH over the same texts (insert + query + components, no verification), each in its own
process so that peak memory (max RSS) is its own.

datasketch is a benchmark-only dependency: ``.venv/bin/pip install datasketch``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from benchmarks.dedup_corpus import build_corpus

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- scoring --------------------------------------------------------------------------------

def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(truth: Dict[str, str], pred: Dict[str, str]) -> Dict[str, float]:
    """Pairwise precision/recall of a clustering ``pred`` (record -> cluster) against
    ``truth``; a record missing from ``pred`` is a cluster of its own."""
    cells = collections.Counter((truth[r], pred.get(r, "missing:" + r)) for r in truth)
    t_sizes = collections.Counter(truth.values())
    p_sizes = collections.Counter(pred.get(r, "missing:" + r) for r in truth)
    tp = sum(_pairs(n) for n in cells.values())
    t_pairs = sum(_pairs(n) for n in t_sizes.values())
    p_pairs = sum(_pairs(n) for n in p_sizes.values())
    precision = tp / p_pairs if p_pairs else 1.0
    recall = tp / t_pairs if t_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": t_pairs,
            "found_pairs": p_pairs, "tp": tp}


def kind(uri: str) -> str:
    """The corpus kind of a record, from its file name."""
    if "#" in uri:
        return "json"
    name = os.path.basename(uri)
    if "/seeds/" in uri:
        return "seed"
    m = re.search(r"-(original|wire|edit|teaser|export|followup|analysis|copy|update[12])\.", name)
    if m:
        return {"export": "txt", "copy": "templated-copy", "update1": "version",
                "update2": "version"}.get(m.group(1), m.group(1))
    return "templated"


def error_kinds(truth: Dict[str, str], pred: Dict[str, str]) -> Tuple[collections.Counter, collections.Counter]:
    """(missed pairs, false pairs) counted by the pair of kinds involved."""
    by_truth, by_pred = collections.defaultdict(list), collections.defaultdict(list)
    for r in truth:
        by_truth[truth[r]].append(r)
        by_pred[pred.get(r, "missing:" + r)].append(r)
    missed, false = collections.Counter(), collections.Counter()
    for members in by_truth.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if pred.get(a, "missing:" + a) != pred.get(b, "missing:" + b):
                    missed["~".join(sorted((kind(a), kind(b))))] += 1
    for members in by_pred.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if truth[a] != truth[b]:
                    false["~".join(sorted((kind(a), kind(b))))] += 1
    return missed, false


# ---- the two systems ------------------------------------------------------------------------

def run_pipeline(corpus: str, output: str, runs: int = 1,
                 seed: int = 0) -> Tuple[Dict[str, str], Dict[str, str], float, set]:
    """Runs the pipeline as a user does; returns ({record: cluster}, {record: deciding
    measure of its fold}, seconds, {records kept as articles}). ``runs`` > 1: as scheduled runs over a landing folder
    that grows (``split_runs``), the records named by their place in ``corpus``."""
    from schemas.views import connect
    t0 = time.perf_counter()
    land = output + "-landing" if runs > 1 else corpus
    for names in (split_runs(corpus, runs, seed) if runs > 1 else [None]):
        for name in names or []:
            os.makedirs(os.path.dirname(os.path.join(land, name)), exist_ok=True)
            shutil.copy2(os.path.join(corpus, name), os.path.join(land, name))
        subprocess.run([sys.executable, "-m", "pipeline", "--input", land, "--output", output,
                        "--skip_entities", "--batch_files=0"] + (["--overwrite"] if runs == 1 else []),
                       check=True, cwd=HERE, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    con = connect(output)
    pred, measure = {}, {}
    for uri, aid in con.sql("SELECT source_uri, article_id FROM articles").fetchall():
        pred[uri] = aid
    for uri, canon, m in con.sql("SELECT source_uri, canonical_id, measure FROM duplicates").fetchall():
        pred[uri], measure[uri] = canon, m
    for (uri,) in con.sql("SELECT source_uri FROM rejects").fetchall():
        pred[uri] = "reject:" + uri
    kept = {u for (u,) in con.sql("SELECT source_uri FROM articles").fetchall()}
    if land != corpus:
        pred = {corpus + u[len(land):]: c for u, c in pred.items()}
        measure = {corpus + u[len(land):]: m for u, m in measure.items()}
        kept = {corpus + u[len(land):] for u in kept}
    return pred, measure, seconds, kept


def split_runs(corpus: str, runs: int, seed: int) -> List[List[str]]:
    """The corpus's files (relative paths) in ``runs`` scheduled runs: each file in a random
    run, except that a page's captures arrive in order, one run after another (the first
    capture in the first run, ``-update1`` in the second, ``-update2`` in the last)."""
    import random
    rng = random.Random(seed)
    names = sorted(os.path.relpath(os.path.join(d, f), corpus)
                   for d, _, fs in os.walk(corpus) for f in fs)
    updated = {n.split("-update")[0] for n in names if "-update" in n}
    out: List[List[str]] = [[] for _ in range(runs)]
    for n in names:
        if n.split("-original")[0] in updated and n.endswith("-original.html"):
            out[0].append(n)
        elif "-update1" in n:
            out[min(1, runs - 1)].append(n)
        elif "-update2" in n:
            out[-1].append(n)
        else:
            out[rng.randrange(runs)].append(n)
    return out


def newest_kept(truth: Dict[str, str], kept: set) -> Tuple[int, int]:
    """(updated pages whose newest capture is the kept article, updated pages)."""
    newest = [r for r in truth if r.endswith("-update2.html")]
    return sum(r in kept for r in newest), len(newest)


def corpus_texts(corpus: str, truth: Dict[str, str]) -> Dict[str, str]:
    """Each record's text as the baseline sees it: trafilatura's default extraction of a
    page, a text export as it is, a JSON record's ``text`` field."""
    import trafilatura
    texts, jsonl = {}, {}
    for r in truth:
        if "#" in r:
            path, n = r.rsplit("#", 1)
            if path not in jsonl:
                with open(path, encoding="utf-8") as f:
                    jsonl[path] = f.read().splitlines()
            texts[r] = json.loads(jsonl[path][int(n) - 1]).get("text") or ""
        elif r.endswith(".html"):
            with open(r, encoding="utf-8") as f:
                texts[r] = trafilatura.extract(f.read()) or ""
        else:
            with open(r, encoding="utf-8") as f:
                texts[r] = f.read()
    return texts


def word_shingles(text: str, k: int = 5) -> set:
    """The baseline's shingles, over the same words as ours (``minhash.tokens``)."""
    from transforms.dedup.minhash import tokens
    toks = tokens(text)
    if len(toks) < k:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1)}


def datasketch_groups(texts: Dict[str, str], threshold: float = 0.8,
                      num_perm: int = 128) -> Dict[str, str]:
    """The baseline: MinHash LSH, every record queried, groups = connected components."""
    from datasketch import MinHash, MinHashLSH
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = {}
    for r, text in texts.items():
        m = MinHash(num_perm=num_perm)
        for s in word_shingles(text):
            m.update(s.encode("utf-8"))
        sigs[r] = m
        lsh.insert(r, m)
    from transforms.dedup.dedup import union_find_roots
    roots = union_find_roots((r, o) for r, m in sigs.items() for o in lsh.query(m) if o != r)
    return {r: roots.get(r, r) for r in texts}


def quality(args) -> None:
    with open(os.path.join(args.dataset, "ground-truth.json"), encoding="utf-8") as f:
        gt = json.load(f)
    work = args.keep or tempfile.mkdtemp(prefix="dedup-bench-")
    corpus, output = os.path.join(work, "corpus"), os.path.join(work, "output")
    truth = build_corpus(gt, args.seeds, corpus, seed=args.seed)
    kinds = collections.Counter(kind(r) for r in truth)
    print(f"corpus: {len(truth)} records, {len(set(truth.values()))} articles, "
          f"{sum(_pairs(n) for n in collections.Counter(truth.values()).values())} duplicate pairs")
    print("  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))

    ours, measure, seconds, kept = run_pipeline(corpus, output)
    results = [("ours (pipeline), one run", ours, seconds, kept)]
    if args.runs > 1:
        split = run_pipeline(corpus, output + f"-{args.runs}-runs", args.runs, args.seed)
        results.append((f"ours, {args.runs} scheduled runs", split[0], split[2], split[3]))
    try:
        t0 = time.perf_counter()
        texts = corpus_texts(corpus, truth)
        base = datasketch_groups(texts)
        results.append(("datasketch LSH 0.8 on trafilatura", base, time.perf_counter() - t0, None))
    except ImportError:
        print("datasketch is not installed (.venv/bin/pip install datasketch): no baseline")

    seeds = [r for r in truth if kind(r) == "seed"]
    print(f"\n{'system':36s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'pairs':>6s} "
          f"{'seeds merged':>12s} {'newest kept':>11s} {'seconds':>8s}")
    for name, pred, secs, kept in results:
        s = pairwise(truth, pred)
        merged = len(seeds) - len({pred.get(r) for r in seeds})
        n, total = newest_kept(truth, kept) if kept is not None else (0, 0)
        share = f"{n / total:.2f} ({n}/{total})" if kept is not None and total else "-"
        print(f"{name:36s} {s['precision']:9.4f} {s['recall']:7.4f} {s['f1']:6.4f} "
              f"{s['found_pairs']:6d} {merged:12d} {share:>11s} {secs:8.1f}")
    print("newest kept: updated pages whose newest capture is the kept article (target 1.00 "
          "in one run and in scheduled runs)")
    for name, pred, _, _ in results:
        missed, false = error_kinds(truth, pred)
        print(f"\n{name}: missed pairs by kinds: {dict(missed.most_common()) or 'none'}")
        print(f"{name}: false pairs by kinds:  {dict(false.most_common()) or 'none'}")
    print("\nours: folds by deciding measure: "
          f"{dict(collections.Counter(measure.values()).most_common())}")
    if args.keep:
        print(f"corpus and output kept in {work}")


# ---- scale ----------------------------------------------------------------------------------

def synthetic_articles(n: int, seed: int = 0) -> List:
    """N articles of ~400 words: two thirds distinct stories, one third copies of one of
    them with a word in 40 changed and a sentence dropped."""
    import random
    from schemas.records import Article
    from transforms.extract import article_id, text_hash, word_count
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randrange(2, 10))) for _ in range(20000)]
    # news has names and numbers: about one word in 15
    vocab += [w.capitalize() for w in vocab[:1000]] + [str(n) for n in range(1000)]
    originals, out = [], []
    for i in range(n):
        if originals and i % 3 == 2:
            src = rng.choice(originals).split(" ")
            text = " ".join(rng.choice(vocab) if rng.random() < 0.025 else w
                            for j, w in enumerate(src) if not 100 <= j < 112)
        else:
            text = " ".join(rng.choice(vocab) for _ in range(400))
            originals.append(text)
        uri = f"synthetic/{i}.txt"
        h = text_hash(text)
        out.append(Article(article_id(uri, h), uri, None, None, None, text, word_count(text), h,
                           len(text), "en", [], [], None))
    return out


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scale_ours(n: int, workers: int) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from transforms.dedup.dedup import Dedup
    arts = synthetic_articles(n)
    opts = ["--runner=FnApiRunner"]
    if workers > 1:
        opts = ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={workers}"]
    t0 = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(opts)) as p:
        out = p | beam.Create(arts, reshuffle=False) | Dedup()
        _ = out.duplicates | beam.combiners.Count.Globally() | beam.Map(
            lambda c: print(f"  duplicates found: {c}", file=sys.stderr))
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "rss": _peak_rss_mib()}))


def _scale_datasketch(n: int) -> None:
    arts = synthetic_articles(n)
    t0 = time.perf_counter()
    groups = datasketch_groups({a.article_id: a.text for a in arts})
    secs = time.perf_counter() - t0
    print(f"  datasketch folded: {len(groups) - len(set(groups.values()))}", file=sys.stderr)
    print(json.dumps({"seconds": secs, "rss": _peak_rss_mib()}))


def scale(args) -> None:
    print(f"{args.scale} synthetic articles (a third are edited copies), dedup stage only")
    rows = []
    for name, flag in (("ours (Beam Dedup)", "--_ours"), ("datasketch in-memory LSH", "--_datasketch")):
        cmd = [sys.executable, "-m", "benchmarks.dedup", flag, str(args.scale),
               "--workers", str(args.workers)]
        res = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
        sys.stderr.write(res.stderr[-2000:] if res.returncode else "")
        if res.returncode:
            print(f"{name}: failed")
            continue
        sys.stderr.write("".join(l + "\n" for l in res.stderr.splitlines() if l.startswith("  ")))
        fig = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append((name, fig))
    print(f"\n{'system':28s} {'articles/s':>10s} {'seconds':>8s} {'peak RSS MiB':>12s}")
    for name, fig in rows:
        print(f"{name:28s} {args.scale / fig['seconds']:10.0f} {fig['seconds']:8.1f} {fig['rss']:12.0f}")
    print("(ours verifies every candidate on exact shingle sets and checks facts; "
          "the baseline does neither)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", nargs="?", help="article-extraction dataset folder")
    ap.add_argument("--seeds", default=os.path.join(HERE, "samples", "seeds"))
    ap.add_argument("--seed", type=int, default=0, help="corpus random seed")
    ap.add_argument("--keep", help="build the corpus and output in this folder and keep them")
    ap.add_argument("--runs", type=int, default=3,
                    help="also run the corpus as this many scheduled runs (1: one run only)")
    ap.add_argument("--scale", type=int, help="generate N articles and time the dedup stage")
    ap.add_argument("--workers", type=int, default=1, help="Beam worker processes (scale mode)")
    ap.add_argument("--_ours", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_datasketch", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._ours:
        _scale_ours(args._ours, args.workers)
    elif args._datasketch:
        _scale_datasketch(args._datasketch)
    elif args.scale:
        scale(args)
    elif args.dataset:
        quality(args)
    else:
        ap.error("give DATASET_DIR or --scale N")


if __name__ == "__main__":
    main()
