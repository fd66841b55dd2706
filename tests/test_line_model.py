"""The line model: its file loads, it predicts what its trees say, the same every time, and a
page it cannot judge falls back to the hand-written rules."""
import json

import numpy as np
import pytest

from schemas.records import Article, RawRecord
from transforms.extract import extract_record, parse_page
from transforms.extract.line_model import FORMAT, MODEL_FILE, LineModel, load_line_model
from transforms.extract.lines import BODY, CHROME, CHROME_TAG, FEATURES, block_index, key, line_features
from transforms.extract.maintext import clean_lines, is_boilerplate, main_text


def tiny_spec(**over):
    """Two trees over features 0 and 1: tree 1 splits feature 0 at 1.5 (left -1, right +1),
    tree 2 is one leaf of 0.5."""
    spec = {"format": FORMAT, "features": list(FEATURES), "threshold": 0.5, "learning_rate": 0.5,
            "max_depth": 1, "init": 0.25,
            "trees": [{"left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, -2, -2],
                       "threshold": [1.5, -2.0, -2.0], "value": [0.0, -1.0, 1.0]},
                      {"left": [-1], "right": [-1], "feature": [-2], "threshold": [-2.0],
                       "value": [0.5]}]}
    spec.update(over)
    return spec


def test_trees_are_evaluated_as_written():
    X = np.zeros((3, len(FEATURES)))
    X[:, 0] = [1.0, 1.5, 2.0]  # 1.5 goes left: x <= threshold
    got = LineModel(tiny_spec()).decision(X)
    assert got.tolist() == [0.25 + 0.5 * (-1 + 0.5), 0.25 + 0.5 * (-1 + 0.5), 0.25 + 0.5 * (1 + 0.5)]


def test_a_file_for_other_features_or_no_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="train it again"):
        LineModel(tiny_spec(features=FEATURES[:-1]))
    with pytest.raises(ValueError, match="not a line model"):
        LineModel(tiny_spec(format="something else"))
    path = tmp_path / "m.json"
    path.write_text(json.dumps(tiny_spec()))
    assert load_line_model(str(path)).rate == 0.5


PAGE = ("<html><head><title>Storm hits the coast | Daily</title></head><body>"
        "<nav class='main-menu'><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        "<main><article class='story-body'><h1>Storm hits the coast</h1>"
        + "".join(f"<p>Paragraph {i}: the storm reached the coast on Tuesday night, cutting power to "
                  "thousands of homes while rescue teams worked through the rain to reach villages "
                  "cut off by the floods.</p>" for i in range(5))
        + "<div class='related-links'><h3>Related stories</h3><ul>"
        + "".join(f"<li><a href='/s{i}'>Another headline about weather number {i}</a></li>" for i in range(4))
        + "</ul></div><p class='share-tools'>Share this article</p></article></main>"
        "<footer>© Daily Media. All rights reserved.</footer></body></html>")


def test_the_markup_of_a_line_is_found():
    index = block_index(parse_page(PAGE))
    para = index.whole[key("Paragraph 0: the storm reached the coast on Tuesday night, cutting power "
                           "to thousands of homes while rescue teams worked through the rain to reach "
                           "villages cut off by the floods.")]
    link = index.whole["Another headline about weather number 1"]
    assert para.link_share == 0.0 and para.flags & BODY and not para.flags & CHROME
    assert link.link_share == 1.0 and link.flags & CHROME  # inside "related-links"
    assert index.whole["Home"].flags & CHROME_TAG  # in <nav>
    assert index.whole["Share this article"].own & CHROME


def test_features_are_one_row_per_line_and_unknown_markup_is_marked():
    lines = ["Paragraph 0: the storm reached the coast on Tuesday night.", "Not on the page at all"]
    X = line_features(lines, "Storm hits the coast", block_index(parse_page(PAGE)), is_boilerplate)
    assert X.shape == (2, len(FEATURES))
    assert X[1, FEATURES.index("found_in_markup")] == 0.0
    assert X[1, FEATURES.index("link_share")] == -1.0


def test_the_shipped_model_loads_and_predicts_the_same_every_time():
    model = load_line_model()
    assert model.spec["trained_on"]  # says what it learned from
    rec = RawRecord("p.html", "html", PAGE, None, None, None, len(PAGE))
    first = extract_record(rec, line_model=model)
    again = extract_record(rec, line_model=load_line_model(MODEL_FILE))
    assert isinstance(first, Article) and first.text == again.text
    assert first.text.startswith("Paragraph 0: the storm")
    assert first.text.count("Paragraph") == 5
    for junk in ("Home", "Another headline", "All rights reserved", "Share this"):
        assert junk not in first.text


class Failing:
    def keep(self, *args):
        raise RuntimeError("cannot judge")


class KeepsNothing:
    def keep(self, lines, *args):
        return np.zeros(len(lines), dtype=bool)


@pytest.mark.parametrize("model", [Failing(), KeepsNothing()])
def test_a_page_the_model_cannot_judge_gets_the_rules(model):
    text = "First paragraph of the story.\nTags: weather, storms\nSecond paragraph of the story."
    assert clean_lines(text, None, model) == clean_lines(text) == (
        "First paragraph of the story.\n\nSecond paragraph of the story.")
    tree = parse_page(PAGE)
    assert main_text(PAGE, "Storm hits the coast", parse_page(PAGE), model) == main_text(
        PAGE, "Storm hits the coast", tree)


def test_a_fragment_or_plain_text_never_meets_the_model():
    frag = "<p>Just a fragment of text, with <b>markup</b>.</p>"
    rec = RawRecord("f.html", "html", frag, None, None, None, len(frag))
    assert extract_record(rec, line_model=Failing()).text == extract_record(rec).text
