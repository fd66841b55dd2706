"""The line model: which lines of an extractor's reading are the article's.

A gradient-boosted ensemble of small regression trees, trained by scikit-learn
(``benchmarks/train_lines.py``, which says on what) and shipped as JSON (``line_model.json``
beside this file): the trees' arrays, the learning rate and the starting log-odds. This file
only evaluates them, with numpy, so the pipeline needs no scikit-learn, and a model file reads
the same under every version of it. The evaluation is scikit-learn's own: features as float32,
left when ``x <= threshold``; the training script checks the two agree on every training row.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np

from transforms.extract.lines import FEATURES, line_features

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "line_model.json")
FORMAT = "news-ingest line model 1"


class LineModel:
    """Trees as flat arrays (every tree's nodes one after another)."""

    def __init__(self, spec: dict):
        if spec.get("format") != FORMAT:
            raise ValueError(f"not a line model file (format {spec.get('format')!r}, want {FORMAT!r})")
        if list(spec["features"]) != list(FEATURES):
            raise ValueError("the model's features are not the ones transforms/extract/lines.py "
                             "computes: train it again (benchmarks/train_lines.py)")
        self.spec = spec
        self.threshold = float(spec["threshold"])
        self.rate = float(spec["learning_rate"])
        self.init = float(spec["init"])
        roots, left, right, feature, cut, value = [], [], [], [], [], []
        for tree in spec["trees"]:
            base = len(left)
            roots.append(base)
            left += [c + base if c >= 0 else -1 for c in tree["left"]]
            right += [c + base if c >= 0 else -1 for c in tree["right"]]
            feature += [max(f, 0) for f in tree["feature"]]
            cut += tree["threshold"]
            value += tree["value"]
        self.roots = np.array(roots, dtype=np.int64)
        self.left = np.array(left, dtype=np.int64)
        self.right = np.array(right, dtype=np.int64)
        self.feature = np.array(feature, dtype=np.int64)
        self.cut = np.array(cut, dtype=np.float64)
        self.value = np.array(value, dtype=np.float64)
        self.depth = int(spec["max_depth"])

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that each row's line is the article's."""
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        rows = np.arange(X.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X.shape[0], self.roots.size)).copy()
        for _ in range(self.depth + 1):
            leaf = self.left[node] < 0
            if leaf.all():
                break
            go_left = X[rows, self.feature[node]] <= self.cut[node]
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        return self.init + self.rate * self.value[node].sum(axis=1)

    def keep(self, lines: Sequence[str], title: Optional[str], index, boilerplate) -> np.ndarray:
        """Whether to keep each line (a bool array)."""
        if not lines:
            return np.zeros(0, dtype=bool)
        p = 1.0 / (1.0 + np.exp(-self.decision(line_features(lines, title, index, boilerplate))))
        return p >= self.threshold


def load_line_model(path: str = MODEL_FILE) -> LineModel:
    """The shipped model (or the model file at ``path``)."""
    with open(path, encoding="utf-8") as f:
        return LineModel(json.load(f))

