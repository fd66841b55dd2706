"""The line model's training script: labels, rows, and a model file that reproduces
scikit-learn's predictions and is the same from the same data."""
import json

import numpy as np

from benchmarks import train_lines
from transforms.extract.line_model import LineModel
from transforms.extract.lines import FEATURES


def test_a_line_is_the_articles_when_half_its_word_grams_are_in_the_truth():
    truth = "The council passed the budget on Tuesday. Two new parks will open next year."
    got = train_lines.labels(["The council passed the budget on Tuesday.", "Share this article",
                              "Two new parks", "Parks", "The council met. Sign up for our newsletter today"],
                             truth)
    assert got.tolist() == [1, 0, 1, 1, 0]


def site_page(i):
    body = "".join(f"<p>Story {i} paragraph {j}: the council voted on the plan for the harbour, "
                   f"and residents spoke for an hour about the cost of item {j}.</p>" for j in range(4))
    related = "".join(f"<li><a href='/r{k}'>Other headline number {k} of page {i}</a></li>" for k in range(3))
    html = (f"<html><head><title>Story {i} | Site</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Story {i}</h1>{body}<p class='credit'>Photo: News Agency number {i}</p>"
            f"<p><a href='/more{i}'>Read more: the harbour plan, the costs and who pays for it</a></p>"
            f"<div class='related'><h3>Related</h3><ul>{related}"
            "</ul></div><p class='share'>Share this article on social media</p></article>"
            "<footer>© Site</footer></body></html>")
    truth = " ".join(f"Story {i} paragraph {j}: the council voted on the plan for the harbour, and "
                     f"residents spoke for an hour about the cost of item {j}." for j in range(4))
    return f"p{i}", html, truth


def test_training_gives_a_model_file_that_reproduces_the_trees_and_repeats(monkeypatch):
    monkeypatch.setattr(train_lines, "FOLDS", 2)
    pages = [site_page(i) for i in range(6)]
    truths = {pid: truth for pid, _html, truth in pages}
    X, y, w, g = train_lines.rows([(pid, html) for pid, html, _t in pages], truths.get)
    assert X.shape[1] == len(FEATURES) and len(y) == len(w) == len(g)
    assert 0 < y.sum() < len(y)  # both kinds of line were seen
    assert np.allclose(np.bincount(g, w), 1.0)  # every page (one reading each here) weighs the same
    spec = train_lines.fit(X, y, w, g, [{"dataset": "synthetic"}])  # checks against scikit-learn
    again = train_lines.fit(X, y, w, g, [{"dataset": "synthetic"}])
    assert json.dumps(spec) == json.dumps(again)
    model = LineModel(json.loads(json.dumps(spec)))  # as read back from the file
    keep = (1 / (1 + np.exp(-model.decision(X)))) >= model.threshold
    assert (keep == (y == 1)).mean() > 0.9
