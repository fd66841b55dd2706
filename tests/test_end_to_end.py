"""The whole job on the bundled samples, read back with DuckDB."""
import os
import shutil

import pytest

from pipeline.__main__ import main
from schemas.views import connect

pytestmark = pytest.mark.slow


def sample_records():
    """Input records in samples/: one per file, one per non-blank line of a .jsonl file."""
    n = 0
    for dirpath, _, files in os.walk(SAMPLES_DIR):
        for f in files:
            if f.endswith(".jsonl"):
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    n += sum(1 for line in fh if line.strip())
            else:
                n += 1
    return n


def run(input_dir, out_dir, *extra):
    rc = main(["--input", str(input_dir), "--output", str(out_dir), "--run_id", "test", *extra])
    assert rc == 0
    return connect(str(out_dir))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from conftest import SAMPLES
    out = tmp_path_factory.mktemp("e2e") / "out"
    return run(SAMPLES, out), out


def uris(con, sql):
    return sorted(os.path.relpath(r[0].split("#")[0], SAMPLES_DIR) + ("#" + r[0].split("#")[1] if "#" in r[0] else "")
                  for r in con.execute(sql).fetchall())


from conftest import SAMPLES as SAMPLES_DIR  # noqa: E402


def test_records_are_conserved(sample_run):
    con, _ = sample_run
    counts = con.execute("""SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM duplicates),
                                   (SELECT count(*) FROM rejects)""").fetchone()
    assert counts == (11, 2, 4)
    all_uris = uris(con, """SELECT source_uri FROM articles UNION ALL SELECT source_uri FROM duplicates
                            UNION ALL SELECT source_uri FROM rejects""")
    assert len(all_uris) == len(set(all_uris)) == sample_records() == 17


def test_seed_text_is_clean_and_spaced(sample_run):
    con, _ = sample_run
    (text,) = con.execute("SELECT text FROM articles WHERE source_uri LIKE '%seeds/000_%'").fetchone()
    assert "<" not in text and "href=" not in text
    assert "on Russia-Ukraine US Secretary of State Antony Blinken" in text
    assert "struggle to advance in Ukraine" in text
    (text, published) = con.execute(
        "SELECT text, published_at::DATE::VARCHAR FROM articles WHERE source_uri LIKE '%seeds/001_%'").fetchone()
    assert published == "2022-03-18" and text.startswith("Blinken's remarks") and "\n\n" in text


def test_leaders_found_as_person_with_exact_offsets(sample_run):
    con, _ = sample_run
    persons = {r[0] for r in con.execute("SELECT DISTINCT text FROM entities WHERE label = 'PERSON'").fetchall()}
    assert {"Joe Biden", "Xi Jinping", "Antony Blinken"} <= persons
    # one row per real entity in the README's "top people" and "top places": the article
    # that says only "Putin" and the datelines' "WASHINGTON" take the lake's names
    people = [r[0] for r in con.execute("""SELECT canonical FROM entities WHERE label = 'PERSON'
                                           GROUP BY 1 ORDER BY count(*) DESC LIMIT 10""").fetchall()]
    places = [r[0] for r in con.execute("""SELECT canonical FROM entities WHERE label IN ('GPE', 'LOC')
                                           GROUP BY 1 ORDER BY count(*) DESC LIMIT 10""").fetchall()]
    assert "Vladimir Putin" in people and "Putin" not in people
    assert places[0] == "United States" and "Washington" in places
    assert not {"US", "U.S.", "WASHINGTON", "LONDON"} & set(places)
    bad = con.execute("""SELECT count(*) FROM articles a JOIN entities e USING (article_id)
                         WHERE substring(a.text, e.start_char + 1, e.end_char - e.start_char) <> e.text""").fetchone()[0]
    total = con.execute("SELECT count(*) FROM entities").fetchone()[0]
    assert total > 100 and bad == 0


def test_copies_folded_and_seeds_kept(sample_run):
    con, _ = sample_run
    dups = con.execute("""SELECT d.source_uri, d.method, d.similarity, a.source_uri FROM duplicates d
                          JOIN articles a ON a.article_id = d.canonical_id ORDER BY d.method""").fetchall()
    assert len(dups) == 2
    (ex_copy, _, ex_sim, ex_canon), (near_copy, _, near_sim, near_canon) = dups
    # seed 002 and its JSONL re-export are one article: the dated export is canonical
    assert {ex_copy.split("/")[-1], ex_canon.split("/")[-1]} == {"002_1351631f90ef5070.txt", "export.jsonl#1"}
    assert ex_sim == 1.0
    assert near_copy.endswith("syndicated-afghanistan-helicopter-copy.htm")
    assert near_canon.endswith("aljazeera-afghanistan-helicopter.html") and 0.8 <= near_sim < 1.0
    seeds_kept = con.execute("SELECT count(*) FROM articles WHERE source_uri LIKE '%seeds/%'").fetchone()[0]
    seeds_dup = [r[0] for r in con.execute("SELECT source_uri FROM duplicates WHERE source_uri LIKE '%seeds/%'").fetchall()]
    assert seeds_kept + len(seeds_dup) == 5 and all("002_" in u for u in seeds_dup)


def test_languages_and_ner_skipped_for_other_languages(sample_run):
    con, _ = sample_run
    rows = con.execute("SELECT source_uri, language, ner_skipped, len(entities) FROM articles").fetchall()
    other = [r for r in rows if r[0].endswith("wire-feed.json#0")]
    assert other == [(other[0][0], "de", "language de (model is en)", 0)]
    assert all(lang == "en" and skipped is None and n > 0 for u, lang, skipped, n in rows if u != other[0][0])


def test_aliases_resolved_in_the_table(sample_run):
    con, _ = sample_run
    canon = dict(con.execute("""SELECT e.text, min(e.canonical) FROM entities e JOIN articles a USING (article_id)
                                WHERE a.source_uri LIKE '%seeds/003_%' AND e.label = 'PERSON' GROUP BY 1""").fetchall())
    assert canon["Biden"] == "Joe Biden" and canon["Xi"] == "Xi Jinping"


def test_bad_inputs_rejected_with_reasons(sample_run):
    con, _ = sample_run
    got = {(u.split("/")[-1], r) for u, r in con.execute("SELECT source_uri, reason FROM rejects").fetchall()}
    assert got == {("download-failed.html", "binary"), ("press-kit.pdf", "unsupported"),
                   ("export.jsonl#3", "invalid_json"), ("export.jsonl#4", "no_content")}


def test_metadata_from_pages(sample_run):
    con, _ = sample_run
    rows = con.execute("""SELECT url, title, published_at IS NOT NULL FROM articles
                          WHERE source_uri LIKE '%pages/%' ORDER BY url""").fetchall()
    assert len(rows) == 4
    assert all(url.startswith("http") and title and has_date for url, title, has_date in rows)


def test_two_worker_processes_give_the_same_output(sample_run, tmp_path):
    con, _ = sample_run
    con2 = run(SAMPLES_DIR, tmp_path / "out2", "--direct_running_mode=multi_processing",
               "--direct_num_workers=2")
    for sql in ("SELECT article_id, text, len(entities) FROM articles ORDER BY 1",
                "SELECT article_id, canonical_id, method, similarity FROM duplicates ORDER BY 1",
                "SELECT source_uri, reason FROM rejects ORDER BY 1"):
        assert con2.execute(sql).fetchall() == con.execute(sql).fetchall(), sql


def test_another_folder_nested(tmp_path):
    other = tmp_path / "elsewhere"
    shutil.copytree(os.path.join(SAMPLES_DIR, "seeds"), other / "nested" / "deeper")
    shutil.copy(os.path.join(SAMPLES_DIR, "seeds", "002_1351631f90ef5070.txt"), other / "copy-of-002.txt")
    con = run(other, tmp_path / "out", "--skip_entities")
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    assert con.execute("SELECT method FROM duplicates").fetchall() == [("exact",)]


def test_a_second_run_folds_copies_of_the_first_runs_articles(tmp_path):
    """Scheduled runs into one output folder: run 1 ingests the seeds; run 2 ingests new
    files, among them an exact and a near copy of two seeds, which meet run 1's articles
    through the signature index (joined in Beam's shuffles) and fold as in one run: the
    teaser into its seed, the exact copy by the canonical rule (same words, no dates: the
    smaller article id), superseding the seed's article if it wins."""
    from conftest import SEEDS, seed_text
    out, second = tmp_path / "out", tmp_path / "second"
    second.mkdir()
    run(SEEDS, out, "--skip_entities", "--run_id", "run1")
    shutil.copy(os.path.join(SEEDS, "002_1351631f90ef5070.txt"), second / "mirror-002.txt")
    words = seed_text("003").split(" ")
    (second / "teaser-003.txt").write_text(
        " ".join(words[:int(len(words) * 0.75)]) + "\n\nRead the full story on our site.",
        encoding="utf-8")
    shutil.copy(os.path.join(SAMPLES_DIR, "pages", "spacenews-lunar-landers.html"), second)
    con = run(second, out, "--skip_entities", "--run_id", "run2")

    ids = {os.path.basename(u)[:6]: a for u, a in con.execute(
        "SELECT source_uri, article_id FROM articles UNION ALL SELECT source_uri, article_id "
        "FROM duplicates").fetchall()}
    won, lost = sorted(("002_13", "mirror"), key=lambda n: ids[n])
    dups = sorted(con.execute("""SELECT source_uri, canonical_id, matched_id, method, measure
                                 FROM duplicates WHERE run_id = 'run2'""").fetchall())
    assert sorted((os.path.basename(u)[:6], c, m, how, measure) for u, c, m, how, measure in dups) == sorted([
        (lost, ids[won], ids[won], "exact", "text_hash"),
        ("teaser", ids["003_c1"], ids["003_c1"], "near", "containment")])
    assert sorted(os.path.basename(u) for (u,) in con.execute(
        "SELECT source_uri FROM articles WHERE run_id = 'run2'").fetchall()) == sorted(
        ["spacenews-lunar-landers.html"] + (["mirror-002.txt"] if won == "mirror" else []))
    assert con.execute("SELECT superseded FROM runs WHERE run_id = 'run2'").fetchone()[0] == (won == "mirror")
    # a third run over the same files takes nothing: they are in the ledger
    con = run(second, out, "--skip_entities", "--run_id", "run3")
    for table in ("articles", "duplicates", "rejects", "runs"):
        assert con.execute(f"SELECT count(*) FROM {table} WHERE run_id = 'run3'").fetchone()[0] == 0


def test_reprocess_replaces_and_overwrite_starts_afresh(tmp_path):
    from conftest import SEEDS
    out = tmp_path / "out"
    run(SEEDS, out, "--skip_entities")
    con = run(SEEDS, out, "--skip_entities", "--run_id", "again", "--reprocess")
    # every file taken again: its new rows replace the old ones, nothing doubles
    assert con.execute("SELECT count(*), count(DISTINCT run_id), min(run_id) FROM articles").fetchone() == (5, 1, "again")
    assert con.execute("SELECT count(*) FROM duplicates").fetchone()[0] == 0
    assert con.execute("SELECT sum(replaced) FROM runs WHERE run_id = 'again'").fetchone()[0] == 5
    con = run(SEEDS, out, "--skip_entities", "--overwrite", "--run_id", "fresh")
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    assert con.execute("SELECT DISTINCT run_id FROM runs").fetchall() == [("fresh",)]
    # the reports of the runs the overwrite removed go with them
    assert sorted(p.name for p in (out / "_reports").iterdir()) == ["fresh.html"]
