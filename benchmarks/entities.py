"""Entity quality on Universal NER (English PUD): gold PER/ORG/LOC, exact span match.

    .venv/bin/python -m benchmarks.entities DATASET_DIR [--model en_core_web_sm]

DATASET_DIR holds ``en_pud-ud-test.iob2`` (IOB2, ``# newdoc id`` / ``# text`` comments).
Sentences of one ``newdoc`` form one article (joined by newlines), as our stage sees news.
Prints precision, recall and F1 on the news half (``n…`` documents) and on all, for:

- ``raw``: the model's spans as they are;
- ``clean-up``: our span clean-up alone (``mentions.clean_span``);
- ``ours``: what the pipeline stores (clean-up, alias resolution, per-article label votes).

Labels map PERSON->PER, ORG->ORG, GPE/LOC->LOC; other labels are not scored.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Dict, Tuple

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset_dir")
    ap.add_argument("--model", default="en_core_web_sm")
    args = ap.parse_args(argv)
    docs = read_iob2(os.path.join(args.dataset_dir, "en_pud-ud-test.iob2"))
    nlp = load_ner(args.model)
    t0 = time.perf_counter()
    systems: Dict[str, set] = {"raw": set(), "clean-up": set(), "ours": set()}
    gold: set = set()
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
        entities, _ = refine(text, raw)
        systems["ours"] |= mapped(doc_id, [(x.start_char, x.end_char, x.label) for x in entities])
    elapsed = time.perf_counter() - t0
    print(f"UNER English PUD: {len(docs)} documents, {len(gold)} gold entities; model {args.model}; "
          f"{elapsed:.1f}s")
    print(f"{'system':<10} {'news P':>7} {'news R':>7} {'news F1':>8} {'all P':>7} {'all R':>7} {'all F1':>7}")
    for name, pred in systems.items():
        news = prf({x for x in pred if x[0].startswith("n")}, {x for x in gold if x[0].startswith("n")})
        alls = prf(pred, gold)
        print(f"{name:<10} {news[0]:7.3f} {news[1]:7.3f} {news[2]:8.3f} {alls[0]:7.3f} {alls[1]:7.3f} {alls[2]:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
