"""Run reports: written with every committed run, every section there with the lake's own
numbers, readable offline; and the ``report`` command."""
import json
import shutil

import pytest
from bs4 import BeautifulSoup

from conftest import SAMPLES
from pipeline.__main__ import main
from schemas.views import connect
from transforms.progress import STAGES

pytestmark = pytest.mark.slow

SECTIONS = ("summary", "files", "outcome", "time", "duplicates", "stories", "sources",
            "lengths", "entities", "history")
COPY = """<html><head><title>Second run page</title></head><body><article><h1>Second run page</h1>
<p>The harbour authority in Hamburg said on Tuesday that container traffic fell for a third
month, as shipping lines rerouted vessels around the Cape of Good Hope.</p>
<p>Officials in Rotterdam reported a similar decline and said they expected volumes to recover
in the spring once the backlog at Asian ports had cleared.</p></article></body></html>"""


def table(soup, cls):
    """Rows of the table of class ``cls`` as tuples of cell texts (header left out)."""
    t = soup.find("table", class_=cls)
    assert t is not None, cls
    rows = []
    for tr in t.find_all("tr")[1:]:
        cells = [td.get_text() for td in tr.find_all("td")]
        rows.append(tuple(int(c.replace(",", "")) if c.replace(",", "").isdigit() else c
                          for c in cells))
    return rows


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    inputs, out = root / "in", root / "out"
    shutil.copytree(SAMPLES, inputs)
    assert main(["--input", str(inputs), "--output", str(out), "--run_id", "r1", "--quiet"]) == 0
    (inputs / "later.html").write_text(COPY, encoding="utf-8")
    assert main(["--input", str(inputs), "--output", str(out), "--run_id", "r2", "--quiet"]) == 0
    return out


def soup_of(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_each_committed_run_writes_its_report_with_every_section(two_runs):
    for run_id in ("r1", "r2"):
        soup = soup_of(two_runs / "_reports" / f"{run_id}.html")
        assert soup.title.get_text() == f"News ingest report: run {run_id}"
        for section in SECTIONS:
            assert soup.find("section", id=section) is not None, section


def test_the_run_reports_numbers_are_the_lakes(two_runs):
    soup = soup_of(two_runs / "_reports" / "r1.html")
    con = connect(str(two_runs), run_id="r1")
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    assert table(soup, "reject-reasons") == q(
        "SELECT reason, count(*) AS n FROM rejects WHERE run_id = 'r1' GROUP BY 1 ORDER BY n DESC, 1")
    outcome = dict(table(soup, "outcome"))
    for t in ("articles", "duplicates", "rejects"):
        assert outcome[t] == q(f"SELECT count(*) FROM {t} WHERE run_id = 'r1'")[0][0], t
    files = dict(table(soup, "files"))
    assert files["found (matched the inputs)"] == 14 and files["new"] == 14
    assert files["skipped (taken by an earlier run)"] == 0
    assert [(m, n) for m, n, _ in table(soup, "duplicate-measures")] == [
        (f"{m} ({me})", n) for m, me, n in q(
            "SELECT method, measure, count(*) AS n FROM duplicates GROUP BY 1, 2 ORDER BY n DESC, 1, 2")]
    groups = table(soup, "duplicate-groups")
    assert sum(n for _, n, _ in groups) == outcome["duplicates"]
    titles = {r[0] for r in q("SELECT title FROM articles")}
    assert all(t in titles for t, _, _ in groups)
    assert dict(table(soup, "languages")) == dict(q(
        "SELECT coalesce(language, '(unknown)'), count(*) FROM articles GROUP BY 1"))
    assert sum(n for _, n in table(soup, "sites")) == outcome["articles"]
    lengths = dict(table(soup, "lengths"))
    assert lengths["total words"] == q("SELECT sum(word_count) FROM articles")[0][0]
    persons = table(soup, "entities-PERSON")
    top = q("""SELECT canonical, sum(mentions) AS n FROM entity_counts WHERE label = 'PERSON'
               GROUP BY 1 ORDER BY n DESC, canonical LIMIT 10""")
    assert [(e, n) for e, n, _ in persons] == top
    stages = dict(table(soup, "time-stages"))
    timings = json.loads(q("SELECT timings FROM runs WHERE run_id = 'r1'")[0][0])["stages"]
    labels = {"read": "read and decode", "extract": "extract text", "dedup": "deduplicate",
              "ner": "named entities", "stories": "stories", "write": "rows for Parquet"}
    assert {labels[k]: f"{round(v, 2):,.1f}" for k, v in timings.items()} == \
        {k: str(v) for k, v in stages.items()}


def test_the_top_stories_are_the_lakes_with_a_timeline(two_runs):
    soup = soup_of(two_runs / "_reports" / "r1.html")
    section = soup.find("section", id="stories")
    cards = {c["data-key"]: int(c.b.get_text().replace(",", "")) for c in section.find_all(class_="card")}
    q = connect(str(two_runs), run_id="r1").execute
    assert cards["stories"] == q("SELECT count(*) FROM stories").fetchone()[0]
    assert cards["started"] == cards["stories"] and cards["merged"] == 0
    top = table(soup, "top-stories")
    first = q("""SELECT title, articles, duplicates, sites FROM stories
                 ORDER BY sites DESC, articles DESC, first_published DESC, story_id LIMIT 1""").fetchone()
    assert top[0][:4] == first and top[0][1] >= 4  # the seeds' story
    lanes = section.find("svg")
    assert lanes is not None and len(lanes.find_all("circle")) == sum(r[1] for r in top)
    later = soup_of(two_runs / "_reports" / "r2.html").find("section", id="stories")
    assert {c["data-key"]: c.b.get_text() for c in later.find_all(class_="card")}["stories"] == "1"


def test_a_later_run_reports_only_what_it_took(two_runs):
    soup = soup_of(two_runs / "_reports" / "r2.html")
    files = dict(table(soup, "files"))
    assert files["found (matched the inputs)"] == 15 and files["new"] == 1
    assert files["skipped (taken by an earlier run)"] == 14
    assert dict(table(soup, "outcome")) == {"articles": 1, "duplicates": 0, "rejects": 0}
    assert [r[0] for r in table(soup, "history")] == ["r1", "r2"]


def test_the_report_opens_offline(two_runs):
    soup = soup_of(two_runs / "_reports" / "r1.html")
    assert soup.find("script") is None and soup.find("link") is None
    assert soup.find("img") is None  # charts are inline SVG: nothing to fetch or decode
    charts = soup.find_all("figure", class_="chart")
    assert len(charts) >= 6
    assert all(c.find("svg") is not None and c.find("svg").find(["rect", "polyline", "circle"])
               for c in charts)
    assert {c["aria-label"] for c in charts} >= {"rejects by reason", "articles per site",
                                                 "text length distribution", "runs over time"}


def test_the_report_command_across_runs_and_for_one(two_runs, capsys):
    assert main(["report", str(two_runs)]) == 0
    assert "report: " in capsys.readouterr().out
    soup = soup_of(two_runs / "_reports" / "report.html")
    assert soup.title.get_text() == "News ingest report: all runs"
    con = connect(str(two_runs))
    outcome = dict(table(soup, "outcome"))
    assert outcome["articles"] == con.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert [r[0] for r in table(soup, "history")] == ["r1", "r2"]
    page = two_runs / "one.html"
    assert main(["report", str(two_runs), "--run", "r1", "--to", str(page)]) == 0
    assert table(soup_of(page), "reject-reasons") == table(
        soup_of(two_runs / "_reports" / "r1.html"), "reject-reasons")
    assert main(["report", str(two_runs), "--run", "nope"]) == 2
    assert "has no run nope" in capsys.readouterr().err


def test_timings_are_in_the_run_history(two_runs):
    con = connect(str(two_runs))
    for (raw,) in con.execute("SELECT timings FROM runs").fetchall():
        t = json.loads(raw)
        assert t["job"] > 0 and t["graph"] > 0
        # every stage's seconds; NER's may round to 0.000 when its model had annotated the
        # articles ahead (in-memory runs announce them right after Extract)
        assert set(t["stages"]) == set(STAGES) and all(v >= 0 for v in t["stages"].values())
        assert t["stages"]["extract"] > 0


def test_labels_that_look_like_maths_or_markup_are_drawn_and_escaped(tmp_path):
    from pipeline.report import plots
    from pipeline.report.page import render
    chart = plots.bars([("Tom$ $Jerry", 2), ("a$\\foo$b", 1), ("x$^$y", 1), ("<b>&", 1)])
    assert "Tom$ $Jerry" in chart and "&lt;b&gt;&amp;" in chart and "<b>" not in chart
    page = render({"run_id": "<b>", "output": "<script>alert(1)</script>", "empty": True, "runs": []})
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_no_op_run_writes_no_report(two_runs, capsys):
    before = sorted(p.name for p in (two_runs / "_reports").iterdir())
    inputs = two_runs.parent / "in"
    assert main(["--input", str(inputs), "--output", str(two_runs), "--run_id", "r3"]) == 0
    assert "report:" not in capsys.readouterr().out
    assert sorted(p.name for p in (two_runs / "_reports").iterdir()) == before


def test_charts_are_well_formed_svg_for_every_shape_of_data():
    import datetime as dt
    import xml.etree.ElementTree as ET

    from pipeline.report import plots
    day = dt.date(2024, 1, 1)
    charts = [
        plots.bars([(f"site{i}.example", 100 - i) for i in range(30)], xlabel="articles"),
        plots.bars([("graph", 0.4), ("job", 2.75)], xlabel="seconds", fmt="{:,.1f}"),
        plots.per_day([(day, 3), (day + dt.timedelta(days=2), 1)]),
        plots.per_day([(day, 3), (day + dt.timedelta(days=90), 1)]),           # weeks
        plots.per_day([(day - dt.timedelta(days=3000), 1), (day, 5)]),         # months
        plots.histogram({"bins": [(0, 10, 2), (10, 20, 0), (20, 30, 5)], "median": 21.0, "log": False},
                        xlabel="words"),
        plots.histogram({"bins": [(1, 10, 1), (10, 100, 4), (100, 5000, 2)], "median": 40.0, "log": True},
                        xlabel="words"),
        plots.history([{"articles": 11, "seconds": 3.2, "reject_rate": 0.2}]),
        plots.history([{"articles": a, "seconds": 1.5, "reject_rate": 0.0} for a in (11, 0, 4)]),
        plots.story_timeline([("A <story> & more", [(dt.datetime(2024, 1, 1, 8), "a.example"),
                                                     (dt.datetime(2024, 1, 2, 9), "b&c")]),
                              ("one article", [(dt.datetime(2024, 1, 1, 9), "x")])]),
    ]
    for svg in charts:
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and float(root.get("height")) > 0
    sites = ET.fromstring(charts[0])
    labels = [t.text for t in sites.iter("{http://www.w3.org/2000/svg}text")]
    assert "site0.example" in labels and "(16 others)" in labels and "site20.example" not in labels
    assert plots.bars([]) is None and plots.per_day([]) is None and plots.history([]) is None
    assert plots.story_timeline([]) is None
    assert plots.ticks(7, True) == [0, 2, 4, 6, 8] and plots.ticks(0.3, False)[-1] >= 0.3
