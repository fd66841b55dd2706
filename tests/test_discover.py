import pytest

from transforms.read.discover import file_pattern, list_files


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


def test_folder_is_recursive_overlaps_listed_once_sorted(tree):
    found = list_files([str(tree), str(tree / "a" / "b" / "*.html"), str(tree / "top.html")])
    assert [m.path[len(str(tree)) + 1:] for m in found] == [
        "a/b/deep.json", "a/b/other.html", "a/mid.txt", "top.html"]
    assert all(m.size_in_bytes == 1 and m.last_updated_in_seconds > 0 for m in found)


def test_missing_input_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        list_files(str(tmp_path / "nothing-here" / "*.html"))


def test_an_empty_folder_matches_nothing_not_itself(tmp_path):
    (tmp_path / "empty").mkdir()
    assert file_pattern(str(tmp_path / "empty")) == str(tmp_path / "empty" / "**")
    with pytest.raises(FileNotFoundError, match="empty"):
        list_files(str(tmp_path / "empty"))
