"""Entity quality on Universal NER (English PUD): gold PER/ORG/LOC, exact span match.

    .venv/bin/python -m benchmarks.entities DATASET_DIR [--ewt EWT_DIR] [--model en_core_web_sm]

DATASET_DIR holds ``en_pud-ud-test.iob2`` (IOB2, ``# newdoc id`` / ``# text`` comments).
Sentences of one ``newdoc`` form one article (joined by newlines), as our stage sees news.
Prints precision, recall and F1 on the news half (``n…`` documents) and on all, for:

- ``raw``: the model's spans as they are;
- ``clean-up``: our span clean-up alone (``mentions.clean_span``);
- ``ours``: what the pipeline stores (clean-up, alias resolution, per-article label votes);
- ``ours+lake``: what the lake's ``entities`` view returns for the same articles put in a
  lake (``schemas/views.sql``: one spelling, the label the corpus agrees on, one person),
  the view's own SQL run on an in-memory DuckDB.

``--ewt``: also Universal NER's English Web Treebank test split (``en_ewt-ud-test.iob2``,
CC BY-SA 4.0, github.com/UniversalNER/UNER_English-EWT), another annotation of other text
(answers, email, newsgroups, reviews, weblogs), never looked at while choosing the rules;
"news" there is the newsgroup and weblog documents.

Labels map PERSON->PER, ORG->ORG, GPE/LOC->LOC; other labels are not scored.
"""
from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone
from typing import Dict, List, Tuple

from transforms.entities import load_ner
from transforms.entities.mentions import clean_span, refine

LABEL_MAP = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC"}


def read_iob2(path: str):
    """-> list of documents (doc_id, text, gold set of (start, end, type))."""
    docs, cur = [], None
    sent_text, tokens = None, []

    def flush_sentence():
        nonlocal sent_text, tokens
        if sent_text is None:
            return
        base = len(cur["text"]) + (1 if cur["text"] else 0)
        cur["text"] += ("\n" if cur["text"] else "") + sent_text
        pos, spans, open_span = 0, [], None
        for tok, tag in tokens:
            i = sent_text.find(tok, pos)
            if i < 0:
                raise ValueError(f"token {tok!r} not in {sent_text!r}")
            s, e = i, i + len(tok)
            pos = e
            if tag.startswith("B-") or (tag.startswith("I-") and (open_span is None or open_span[2] != tag[2:])):
                if open_span:
                    spans.append(open_span)
                open_span = [s, e, tag[2:]]
            elif tag.startswith("I-"):
                open_span[1] = e
            else:
                if open_span:
                    spans.append(open_span)
                open_span = None
        if open_span:
            spans.append(open_span)
        cur["gold"] |= {(base + s, base + e, t) for s, e, t in spans}
        sent_text, tokens = None, []

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# newdoc id"):
                flush_sentence()
                cur = {"id": line.split("=", 1)[1].strip(), "text": "", "gold": set()}
                docs.append(cur)
            elif line.startswith("# text"):
                sent_text = line.split("=", 1)[1].strip()
            elif line.startswith("#"):
                continue
            elif not line.strip():
                flush_sentence()
            else:
                cols = line.split("\t")
                tokens.append((cols[1], cols[2]))
        flush_sentence()
    return [(d["id"], d["text"], d["gold"]) for d in docs]


def prf(pred: set, gold: set) -> Tuple[float, float, float]:
    tp = len(pred & gold)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def mapped(doc_id, spans) -> set:
    return {(doc_id, s, e, LABEL_MAP[l]) for s, e, l in spans if l in LABEL_MAP}


def lake_entities(articles: List[Tuple[str, str, list, list]]) -> List[Tuple[str, int, int, str]]:
    """(doc id, text, entities, entity_counts) of each article -> (doc id, start, end, label)
    of every mention as the lake's ``entities`` view returns it: the articles go into an
    in-memory lake (``schemas.views.memory_lake``: the same tables and views)."""
    import pyarrow as pa
    from schemas.catalog import LAKE
    from schemas.records import Article
    from schemas.tables import ARTICLES
    from schemas.views import memory_lake
    from transforms.sink.parquet import article_row
    con = memory_lake()
    now = datetime.now(timezone.utc)
    rows = [{**article_row(Article(doc_id, doc_id, None, None, None, text, 0, "", 0, "en",
                                   entities, counts, None)),
             "ingested_at": now, "run_id": "bench"} for doc_id, text, entities, counts in articles]
    batch = pa.Table.from_pylist(rows, schema=ARTICLES)  # noqa: F841 (read by DuckDB)
    con.execute(f"INSERT INTO {LAKE}.articles BY NAME SELECT * FROM batch")
    return con.execute(f"SELECT article_id, start_char, end_char, label FROM {LAKE}.entities").fetchall()


def score(docs, nlp, news) -> Dict[str, Tuple]:
    """{system: (news P, R, F1, all P, R, F1)} on ``docs`` (``news``: doc id -> bool)."""
    systems: Dict[str, set] = {"raw": set(), "clean-up": set(), "ours": set()}
    gold: set = set()
    stored = []
    for (doc_id, text, g), doc in zip(docs, nlp.pipe([d[1] for d in docs], batch_size=64)):
        gold |= {(doc_id, s, e, t) for s, e, t in g}
        raw = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
        systems["raw"] |= mapped(doc_id, raw)
        cleaned = []
        for s, e, l in raw:
            c = clean_span(text, s, e, l)
            if c:
                cleaned.append((c[0], c[1], l))
        systems["clean-up"] |= mapped(doc_id, cleaned)
        entities, counts = refine(text, raw)
        systems["ours"] |= mapped(doc_id, [(x.start_char, x.end_char, x.label) for x in entities])
        stored.append((doc_id, text, entities, counts))
    t0 = time.perf_counter()
    systems["ours+lake"] = {(d, s, e, LABEL_MAP[l]) for d, s, e, l in lake_entities(stored)
                            if l in LABEL_MAP}
    print(f"  the lake's views over {len(docs)} articles: {time.perf_counter() - t0:.2f}s")
    out = {}
    for name, pred in systems.items():
        out[name] = (prf({x for x in pred if news(x[0])}, {x for x in gold if news(x[0])})
                     + prf(pred, gold))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset_dir")
    ap.add_argument("--ewt", help="folder of UNER English EWT (en_ewt-ud-test.iob2)")
    ap.add_argument("--model", default="en_core_web_sm")
    args = ap.parse_args(argv)
    nlp = load_ner(args.model)
    sets = [("UNER English PUD", os.path.join(args.dataset_dir, "en_pud-ud-test.iob2"),
             lambda d: d.startswith("n"))]
    if args.ewt:
        sets.append(("UNER English EWT test (held out)", os.path.join(args.ewt, "en_ewt-ud-test.iob2"),
                     lambda d: d.startswith(("newsgroup", "weblog"))))
    for title, path, news in sets:
        docs = read_iob2(path)
        t0 = time.perf_counter()
        print(f"{title}: {len(docs)} documents, {sum(len(d[2]) for d in docs)} gold entities; "
              f"model {args.model}")
        results = score(docs, nlp, news)
        print(f"  {time.perf_counter() - t0:.1f}s in all")
        print(f"{'system':<10} {'news P':>7} {'news R':>7} {'news F1':>8} {'all P':>7} {'all R':>7} {'all F1':>7}")
        for name, r in results.items():
            print(f"{name:<10} " + " ".join(f"{x:7.3f}" for x in r[:2]) + f" {r[2]:8.3f} "
                  + " ".join(f"{x:7.3f}" for x in r[3:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
