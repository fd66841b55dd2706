"""The extraction benchmark's target lines: a figure just under a target is not met."""
from benchmarks.extraction import targets


def scores(f1, precision=0.9):
    return {"f1": f1, "precision": precision, "recall": 0.9}


def test_article_extraction_targets_need_both_f1_and_precision():
    results = {("ours", "all"): scores(0.9752, 0.9640)}
    speeds = {"ours": (40.0, 0.05), "trafilatura": (50.0, 0.2)}
    got = {t: met for t, _fig, met in targets("article-extraction", results, speeds)}
    assert got == {"F1 >= 0.975": True, "precision >= 0.965": False,
                   "pages/s >= trafilatura's": False, "no page over 2 s of CPU": True}


def test_wcxb_targets_take_trafilaturas_better_mode_per_half_and_the_metadata_rates():
    results = {("ours", "all"): scores(0.950), ("trafilatura", "all"): scores(0.929),
               ("trafilatura prec.", "all"): scores(0.905),
               ("ours", "odd"): scores(0.945), ("trafilatura", "odd"): scores(0.910),
               ("trafilatura prec.", "odd"): scores(0.932)}
    speeds = {"ours": (30.0, 2.5), "trafilatura": (30.0, 0.4)}
    rates = {"title": (95, 100), "publish date": (89, 100), "author": (80, 100)}
    got = {t: (fig, met) for t, fig, met in targets("wcxb", results, speeds, rates)}
    assert got["F1 >= trafilatura's better mode + 0.02 (all)"] == ("0.950 vs 0.929", True)
    assert got["F1 >= trafilatura's better mode + 0.02 (odd)"] == ("0.945 vs 0.932", False)
    assert got["title >= 0.95"][1] and not got["publish date >= 0.90"][1] and got["author >= 0.80"][1]
    assert got["pages/s >= trafilatura's"][1] and not got["no page over 2 s of CPU"][1]
