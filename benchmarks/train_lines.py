"""Trains the line model (``transforms/extract/line_model.json``) on labelled pages.

    .venv/bin/pip install scikit-learn        # training only; the pipeline never imports it
    .venv/bin/python -m benchmarks.train_lines DATASET_DIR [DATASET_DIR ...] [--out FILE]

Each dataset is one of the layouts ``benchmarks/extraction.py`` reads (article-extraction or
WCXB). For every page, the Extract stage reads it as today; each line of each reading it
judges becomes one training row (``transforms/extract/lines.FEATURES``), labelled by the
page's true body: a line is the article's when at least half of its word 4-grams (its words,
for a line of fewer than four) are in the true body. Rows are weighted by the line's share of
its reading's words, so every reading counts alike, as both benchmarks' measures average over
pages (a page whose fuller reading is judged too counts twice).

The shipped model was trained on both dev sets the team keeps beside the project (see the file's
``trained_on``): the 91 pages of Scrapinghub's article-extraction benchmark (MIT) and the 711
article pages of WCXB's development split (CC BY 4.0). ``benchmarks/extraction.py --cross``
trains on one and measures on the other, both ways: the figures to judge a change by.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from schemas.records import RawRecord
from transforms.extract import extract_record
from transforms.extract.line_model import FORMAT, MODEL_FILE, LineModel
from transforms.extract.lines import FEATURES, line_features

_TOKEN = re.compile(r"\w+")
# Model settings: small trees, few of them, fixed seed (the same file from the same data).
SETTINGS = {"n_estimators": 150, "max_depth": 3, "learning_rate": 0.1, "subsample": 0.8,
            "random_state": 0}
LABEL_SHARE = 0.5


class Recorder:
    """Stands in for the line model during a page's extraction: records the feature rows of
    every line it is asked about and answers as today's rules would."""

    def __init__(self):
        self.batches: List[Tuple[List[str], np.ndarray]] = []

    def keep(self, lines, title, index, boilerplate):
        self.batches.append((list(lines), line_features(lines, title, index, boilerplate)))
        return np.array([not boilerplate(l) for l in lines], dtype=bool)


def _grams(tokens: Sequence[str], n: int) -> set:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def labels(lines: Sequence[str], truth: str) -> np.ndarray:
    """1 for a line whose word n-grams are at least half in ``truth`` (lower-cased)."""
    true_tokens = [t.lower() for t in _TOKEN.findall(truth or "")]
    sets: Dict[int, set] = {}
    out = np.zeros(len(lines), dtype=np.int8)
    for i, line in enumerate(lines):
        toks = [t.lower() for t in _TOKEN.findall(line)]
        if not toks:
            continue
        n = min(4, len(toks))
        if n not in sets:
            sets[n] = _grams(true_tokens, n)
        mine = [tuple(toks[j:j + n]) for j in range(len(toks) - n + 1)]
        out[i] = sum(g in sets[n] for g in mine) >= LABEL_SHARE * len(mine)
    return out


def rows(pages, truth_text) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, weights, page numbers) of every judged line of ``pages`` [(id, html)];
    ``truth_text``: id -> the page's true body."""
    xs, ys, ws, gs = [], [], [], []
    for number, (pid, html) in enumerate(pages):
        rec = Recorder()
        extract_record(RawRecord("train", "html", html, None, None, None, len(html)), line_model=rec)
        for lines, X in rec.batches:
            words = np.array([max(len(_TOKEN.findall(l)), 1) for l in lines], dtype=np.float64)
            xs.append(X)
            ys.append(labels(lines, truth_text(pid)))
            ws.append(words / words.sum())
            gs.append(np.full(len(lines), number))
    if not xs:
        return (np.zeros((0, len(FEATURES))), np.zeros(0, dtype=np.int8), np.zeros(0),
                np.zeros(0, dtype=np.int64))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(gs)


def page_f1(p: np.ndarray, y: np.ndarray, w: np.ndarray, g: np.ndarray, threshold: float) -> float:
    """The mean over readings of the words' F1 when lines with ``p >= threshold`` are kept
    (``w``: a line's share of its reading's words; ``g``: its reading)."""
    keep = p >= threshold
    pages = np.unique(g, return_inverse=True)[1]
    tp = np.bincount(pages, w * (keep & (y == 1)))
    kept = np.bincount(pages, w * keep)
    true = np.bincount(pages, w * (y == 1))
    precision = np.divide(tp, kept, out=np.zeros_like(tp), where=kept > 0)
    recall = np.divide(tp, true, out=np.ones_like(tp), where=true > 0)
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(tp), where=precision + recall > 0)
    return float(f1.mean())


THRESHOLDS = np.round(np.arange(0.05, 0.71, 0.05), 2)
FOLDS = 5


def choose_threshold(X, y, w, g) -> float:
    """The keep threshold that gives the best mean F1 of the training pages' words, each
    page's lines scored by a model trained on the other pages (``FOLDS`` folds by page)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import GroupKFold
    p = np.zeros(len(y))
    for train, held in GroupKFold(n_splits=FOLDS).split(X, y, g):
        model = GradientBoostingClassifier(**SETTINGS).fit(X[train], y[train], sample_weight=w[train])
        p[held] = model.predict_proba(X[held])[:, 1]
    scores = [page_f1(p, y, w, g, t) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, g: np.ndarray, trained_on: List[dict]) -> dict:
    """A model file's contents (``line_model.FORMAT``), checked against scikit-learn's own
    predictions on every training row; its threshold chosen by ``choose_threshold``."""
    from sklearn.ensemble import GradientBoostingClassifier
    threshold = choose_threshold(X, y, w, g)
    model = GradientBoostingClassifier(**SETTINGS).fit(X, y, sample_weight=w)
    trees = []
    for (est,) in model.estimators_:
        t = est.tree_
        trees.append({"left": t.children_left.tolist(), "right": t.children_right.tolist(),
                      "feature": t.feature.tolist(), "threshold": t.threshold.tolist(),
                      "value": t.value[:, 0, 0].tolist()})
    ours = sum(est.predict(X[:1]) for (est,) in model.estimators_) * SETTINGS["learning_rate"]
    init = float(model.decision_function(X[:1])[0] - ours[0])
    import sklearn
    spec = {"format": FORMAT, "features": list(FEATURES), "threshold": threshold,
            "learning_rate": SETTINGS["learning_rate"], "max_depth": SETTINGS["max_depth"],
            "init": init, "trees": trees, "settings": SETTINGS,
            "trained_with": f"scikit-learn {sklearn.__version__}", "trained_on": trained_on,
            "rows": int(len(y)), "positive_rows": int(y.sum())}
    mine = LineModel(spec).decision(X)
    if not np.allclose(mine, model.decision_function(X), atol=1e-6):
        raise SystemExit("the exported trees do not reproduce scikit-learn's predictions")
    return spec


def train(datasets: Sequence[str]) -> dict:
    """The model trained on the pages of ``datasets`` (folders in either benchmark layout)."""
    from benchmarks.extraction import load, true_body
    xs, ys, ws, gs, trained_on = [], [], [], [], []
    for d in datasets:
        layout, pages, truth = load(d)
        X, y, w, g = rows(pages, lambda pid: true_body(layout, truth, pid))
        xs.append(X)
        ys.append(y)
        ws.append(w)
        gs.append(g + sum(t["pages"] for t in trained_on))  # page numbers unique across sets
        trained_on.append({"dataset": os.path.basename(os.path.normpath(d)), "layout": layout,
                           "pages": len(pages), "lines": int(len(y))})
    return fit(np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(gs), trained_on)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--out", default=MODEL_FILE)
    args = ap.parse_args(argv)
    spec = train(args.datasets)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(spec, f, separators=(",", ":"))
        f.write("\n")
    print(f"{args.out}: {len(spec['trees'])} trees over {spec['rows']} lines "
          f"({spec['positive_rows']} the article's) from " +
          ", ".join(f"{t['dataset']} ({t['pages']} pages)" for t in spec["trained_on"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
