"""Mistakes caught before the Beam job starts: one line saying what to do, exit status 2."""
import pytest

from conftest import SAMPLES
from pipeline.__main__ import main


def error_of(capsys, *argv):
    rc = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("typo,meant", [("--skip_entites", "--skip_entities"),
                                        ("--batch-files=3", "--batch_files"),
                                        ("--direct_num_worker=2", "--direct_num_workers")])
def test_a_mistyped_option_names_the_closest_valid_one(capsys, tmp_path, typo, meant):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"), typo)
    assert f"unknown option {typo.split('=')[0]}: did you mean {meant}?" in line
    assert not (tmp_path / "o").exists()


def test_output_that_is_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    assert "is a file" in error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "f"))


def test_output_of_the_earlier_layout_is_not_mixed_in(capsys, tmp_path):
    (tmp_path / "o" / "articles").mkdir(parents=True)
    assert "--overwrite" in error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"))


def test_missing_input_and_remote_output(capsys, tmp_path):
    assert "no input files match" in error_of(capsys, "--input", str(tmp_path / "none"),
                                              "--output", str(tmp_path / "o"))
    assert "must be a local folder" in error_of(capsys, "--input", SAMPLES, "--output", "gs://b/o")


def test_commands_on_a_folder_without_output(capsys, tmp_path):
    assert "holds no ingest output" in error_of(capsys, "runs", str(tmp_path))
