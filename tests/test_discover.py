import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.read.discover import Discover, file_pattern


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("top.html", "a/mid.txt", "a/b/deep.json", "a/b/other.html"):
        (tmp_path / rel).write_text("x", encoding="utf-8")
    return tmp_path


def test_patterns(tree):
    assert file_pattern(str(tree)) == str(tree / "**")
    assert file_pattern(str(tree) + "/") == str(tree) + "/**"
    assert file_pattern(str(tree / "top.html")) == str(tree / "top.html")
    assert file_pattern(str(tree / "a" / "*.txt")) == str(tree / "a" / "*.txt")


def test_folder_is_recursive_and_overlaps_read_once(tree):
    with TestPipeline() as p:
        files = p | Discover([str(tree), str(tree / "a" / "b" / "*.html"), str(tree / "top.html")])
        assert_that(files | beam.Map(lambda m: m.path[len(str(tree)) + 1:]),
                    equal_to(["top.html", "a/mid.txt", "a/b/deep.json", "a/b/other.html"]))


def test_missing_input_fails_the_run(tmp_path):
    with pytest.raises(Exception):
        with TestPipeline() as p:
            p | Discover(str(tmp_path / "nothing-here" / "*.html"))
