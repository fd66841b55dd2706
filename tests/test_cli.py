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
    line = error_of(capsys, "--input", SAMPLES, "--output", "gs://b/o")
    assert "cannot hold the lake's SQLite catalog" in line and "--catalog postgresql://" in line


def test_a_catalog_that_is_not_postgresql_or_cannot_be_read(capsys, tmp_path):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"),
                    "--catalog", "mysql://u@h/db")
    assert "--catalog takes a PostgreSQL database" in line
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"),
                    "--catalog", "postgresql://u:pw@h:notaport/db")
    assert "port is not a number" in line and "pw" not in line.replace("postgresql", "")


def test_a_catalog_nobody_answers_at_is_one_line_without_its_password(capsys, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # a port nothing listens on
    port = s.getsockname()[1]
    s.close()
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"),
                    "--catalog", f"postgresql://news:Sup3rSecret@127.0.0.1:{port}/lake")
    assert "cannot reach the catalog" in line and "Sup3rSecret" not in line
    assert "postgresql://news:***@127.0.0.1" in line
    assert not (tmp_path / "o").exists()


def test_an_object_store_output_needs_a_store_that_answers(capsys, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    line = error_of(capsys, "--input", SAMPLES, "--output", "s3://bucket/lake",
                    "--catalog", "postgresql://news@127.0.0.1:1/lake",
                    f"--s3_endpoint_url=http://127.0.0.1:{port}", "--s3_access_key_id=k",
                    "--s3_secret_access_key=TopSecretKey", "--s3_region_name=us-east-1")
    assert "cannot write to --output s3://bucket/lake" in line and "TopSecretKey" not in line


def test_commands_on_a_folder_without_output(capsys, tmp_path):
    assert "holds no ingest output" in error_of(capsys, "runs", str(tmp_path))


def test_output_that_cannot_be_written(capsys, tmp_path):
    # /proc takes no new files, not even from root (whom permission bits do not stop)
    line = error_of(capsys, "--input", SAMPLES, "--output", "/proc/news-ingest-out")
    assert "is not writable" in line and "choose a folder you can write to" in line
    (tmp_path / "f").write_text("x")
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "f" / "o"))
    assert "cannot be created" in line and "is a file" in line


def test_input_that_does_not_exist_says_so(capsys, tmp_path):
    line = error_of(capsys, "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o"))
    assert "no input files match" in line and "does not exist" in line


@pytest.mark.parametrize("path,extra", [("gs://bucket/news", "gcp"), ("s3://bucket/news", "aws")])
def test_a_cloud_input_without_its_extra_names_the_extra(capsys, tmp_path, path, extra):
    from pipeline.checks import CLOUD_EXTRAS, installed
    if installed(CLOUD_EXTRAS[path[:2]][1]):
        pytest.skip(f"the {extra} extra is installed here")
    line = error_of(capsys, "--input", path, "--output", str(tmp_path / "o"))
    assert f"needs the '{extra}' extra" in line and f".[{extra}]" in line
    assert f"NEWS_INGEST_EXTRAS={extra}" in line


def test_an_unknown_filesystem(capsys, tmp_path):
    line = error_of(capsys, "--input", "ftp://example.com/news", "--output", str(tmp_path / "o"))
    assert "no filesystem for ftp://" in line


def test_a_missing_spacy_model(capsys, tmp_path):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"),
                    "--spacy_model", "xx_no_such_model")
    assert "spaCy pipeline 'xx_no_such_model' is not installed" in line


def test_report_of_a_folder_without_output(capsys, tmp_path):
    assert "holds no ingest output" in error_of(capsys, "report", str(tmp_path))


@pytest.mark.parametrize("run_id", ["../escape", "report", "a b"])
def test_a_run_id_that_cannot_name_files(capsys, tmp_path, run_id):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"), "--run_id", run_id)
    assert "--run_id" in line and "letters, digits" in line


def test_watch_and_streaming_errors_before_the_job(capsys, tmp_path):
    out = str(tmp_path / "o")
    assert "no input files match" in error_of(capsys, "--input", str(tmp_path / "none"), "--output", out, "--watch")
    (tmp_path / "empty").mkdir()
    assert "no input files match" in error_of(capsys, "--input", str(tmp_path / "empty"), "--output", out)
    assert "--reprocess" in error_of(capsys, "--input", str(tmp_path / "empty"), "--output", out,
                                     "--watch", "--reprocess")
    assert "use --watch on one machine" in error_of(capsys, "--input", str(tmp_path / "empty"),
                                                    "--output", out, "--streaming")
    assert "catalog every worker reaches" in error_of(
        capsys, "--input", str(tmp_path / "empty"), "--output", out, "--streaming",
        "--runner=DataflowRunner")
    assert "pass one of them" in error_of(capsys, "--input", str(tmp_path / "empty"), "--output", out,
                                          "--streaming", "--watch")


@pytest.mark.parametrize("opt,value", [("--site_template_pages", "-1"), ("--site_template_share", "0"),
                                       ("--site_template_share", "1.5")])
def test_site_template_settings_out_of_range(capsys, tmp_path, opt, value):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"), opt, value)
    assert line.startswith(f"error: {opt} must be") and not (tmp_path / "o").exists()


@pytest.mark.parametrize("opt", ["--helper_processes", "--ner_processes"])
def test_a_negative_count_of_processes_is_refused_before_the_job(capsys, tmp_path, opt):
    line = error_of(capsys, "--input", SAMPLES, "--output", str(tmp_path / "o"), opt, "-1")
    assert line.startswith(f"error: {opt} must be >= 0") and not (tmp_path / "o").exists()


def test_an_unexpected_error_prints_its_traceback_with_every_secret_masked(capsys, monkeypatch):
    import pipeline.__main__ as entry
    monkeypatch.setattr("sys.argv", ["pipeline", "--catalog", "postgresql://news:Sup3rSecret@db/lake",
                                     "--s3_secret_access_key=KeyOfTheStore"])
    monkeypatch.setenv("PGPASSWORD", "FromTheEnvPw")

    def boom(argv=None):
        raise RuntimeError('Unable to connect at "password=Sup3rSecret" with KeyOfTheStore, FromTheEnvPw')
    monkeypatch.setattr(entry, "main", boom)
    assert entry.main_masked() == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: Unable to connect" in err
    for secret in ("Sup3rSecret", "KeyOfTheStore", "FromTheEnvPw"):
        assert secret not in err
