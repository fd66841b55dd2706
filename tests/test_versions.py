"""Versions of one page, and one canonical rule for a batch and for any split of it into
scheduled runs: the newest capture of an updated page is the article whichever run takes
it, and one run over a corpus gives the same tables as several runs in any arrival order.
Real pipeline processes on real files, tables read back from the lake."""
import html
import os
import random
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, lake_tables, seed_text
from schemas.views import connect
from transforms.extract.strip import plain_text

pytestmark = pytest.mark.slow

FAST = ("--skip_entities",)


def paragraphs(prefix: str, per: int = 3):
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(plain_text(seed_text(prefix)).split()))
    return [" ".join(sentences[i:i + per]) for i in range(0, len(sentences), per)]


def page(title: str, pars, url: str, published: str, modified: str = None, site: str = "News") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in pars)
    mod = f'<meta property="article:modified_time" content="{modified}">' if modified else ""
    return (f"<!DOCTYPE html><html><head><title>{html.escape(title)} | {site}</title>"
            f'<link rel="canonical" href="{url}">'
            f'<meta property="article:published_time" content="{published}">{mod}</head>'
            f"<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article>"
            f"<h1>{html.escape(title)}</h1><div class='body'>{body}</div></article>"
            f"<footer>© {site}</footer></body></html>")


def corpus():
    """{relative path: content}: every kind of copy, and pages captured as they were updated.
    - x: a page captured three times (an UPDATE paragraph on top, then a closing one), and a
      wire copy of its first capture on another site;
    - y: a page whose update cut its last paragraph (the newest, shorter capture still wins
      over its own older capture), plus a copy-edited export of it in a JSON Lines file;
    - a teaser of another story (containment), an exact text export, a unique record, a
      reject."""
    x, y, t, e = paragraphs("000"), paragraphs("003"), paragraphs("001"), paragraphs("002")
    upd1 = "UPDATE 11:00 GMT: The White House confirmed the call will go ahead as planned on Friday."
    upd2 = "This story has been updated with the White House's confirmation and further reaction."
    x_url, y_url = "https://news.example/world/blinken-xi-warning", "https://daily.example/china/call"
    edited = [p.replace("said", "stated") if i % 2 else p for i, p in enumerate(y)]
    return {
        "pages/x-0900.html": page("Blinken warns China", x, x_url, "2022-03-18T09:00:00Z"),
        "pages/x-1100.html": page("Blinken warns China", [upd1] + x, x_url, "2022-03-18T09:00:00Z",
                                  "2022-03-18T11:00:00Z"),
        "pages/x-1300.html": page("Blinken warns China", [upd1] + x + [upd2], x_url,
                                  "2022-03-18T09:00:00Z", "2022-03-18T13:05:00+00:00"),
        "wire/x-copy.html": page("Blinken warns China", x, "https://wire.example/blinken",
                                 "2022-03-18T09:40:00Z", site="Wire"),
        "pages/y-1.html": page("Call set for Friday", y, y_url, "2022-03-18T10:00:00Z"),
        "pages/y-2.html": page("Call set for Friday", y[:-1], y_url, "2022-03-18T10:00:00Z",
                               "2022-03-18T12:00:00Z"),
        "pages/t-full.html": page("Talks on Ukraine", t, "https://other.example/talks",
                                  "2022-03-17T08:00:00Z", site="Other"),
        "teasers/t-teaser.html": page("Talks on Ukraine", t[:max(2, int(len(t) * 0.8))],
                                      "https://teaser.example/talks", "2022-03-17T09:00:00Z"),
        "pages/e.html": page("Biden and Xi to speak", e, "https://e.example/call", "2022-03-18T07:00:00Z"),
        "exports/e.txt": "Biden and Xi to speak\n\n" + "\n\n".join(e),
        "exports/feed.jsonl": "\n".join([
            '{"url": "https://syndicator.example/y", "title": "Call set for Friday", "text": '
            + _json("\n\n".join(edited)) + "}",
            '{"url": "https://solo.example/1", "title": "A record of its own", "text": '
            + _json("\n\n".join(paragraphs("004"))) + "}"]) + "\n",
        "bad/empty.html": "<html><body><nav>Home</nav></body></html>",
    }


def _json(s: str) -> str:
    import json
    return json.dumps(s)


def land(root, files, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name], encoding="utf-8")
        os.utime(path, (1_700_000_000, 1_700_000_000))  # the same file times in every split


def run(land_dir, out):
    proc = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(land_dir), "--output",
                           str(out), *FAST], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def by_name(out):
    """{file name: ("article",) or ("duplicate", canonical's file name, method)} and rejects."""
    con = connect(str(out))
    name = lambda uri: uri.split("/land/")[1]  # noqa: E731
    ids = dict(con.execute("SELECT article_id, source_uri FROM articles").fetchall())
    got = {name(u): ("article",) for u in ids.values()}
    for uri, canon, method in con.execute("SELECT source_uri, canonical_id, method FROM duplicates").fetchall():
        got[name(uri)] = ("duplicate", name(ids[canon]), method)
    for (uri,) in con.execute("SELECT source_uri FROM rejects").fetchall():
        got[name(uri)] = ("reject",)
    return got


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("versions")
    files = corpus()
    land(base / "land", files, sorted(files))
    run(base / "land", base / "one")
    return base, files, lake_tables(base / "one"), by_name(base / "one")


def test_one_run_keeps_the_newest_capture_and_every_record_once(one_run):
    _, files, tables, got = one_run
    assert set(got) == (set(files) | {"exports/feed.jsonl#1", "exports/feed.jsonl#2"}) - {"exports/feed.jsonl"}
    assert got["pages/x-1300.html"] == ("article",)
    assert got["pages/x-0900.html"] == ("duplicate", "pages/x-1300.html", "version")
    assert got["pages/x-1100.html"] == ("duplicate", "pages/x-1300.html", "version")
    assert got["wire/x-copy.html"][:2] == ("duplicate", "pages/x-1300.html")
    # the newest capture of y wins its page although it is shorter; the fuller copy on
    # another site then wins the group (the rank among pages: most words), and ``version``
    # names captures of the article's own page only
    assert got["pages/y-1.html"] == ("duplicate", "exports/feed.jsonl#1", "near")
    assert got["exports/feed.jsonl#1"] == ("article",)
    assert got["pages/y-2.html"] == ("duplicate", "exports/feed.jsonl#1", "near")
    assert got["teasers/t-teaser.html"] == ("duplicate", "pages/t-full.html", "near")
    assert got["exports/e.txt"][2] == "exact" or got["pages/e.html"][2] == "exact"
    assert got["exports/feed.jsonl#2"] == ("article",) and got["bad/empty.html"] == ("reject",)
    modified = {r[0].split("/land/")[1]: r[1] for r in connect(str(one_run[0] / "one")).execute(
        "SELECT source_uri, strftime(modified_at, '%H:%M') FROM articles").fetchall()}
    assert modified["pages/x-1300.html"] == "13:05"


ORDERS = {
    "captures in order": lambda names: [
        [n for n in names if n in ("pages/x-0900.html", "pages/y-1.html", "teasers/t-teaser.html",
                                   "exports/e.txt")],
        [n for n in names if n in ("pages/x-1100.html", "wire/x-copy.html", "pages/y-2.html")],
        [n for n in names if n not in ("pages/x-0900.html", "pages/y-1.html", "teasers/t-teaser.html",
                                       "exports/e.txt", "pages/x-1100.html", "wire/x-copy.html",
                                       "pages/y-2.html")]],
    "newest first": lambda names: [
        [n for n in names if n in ("pages/x-1300.html", "pages/y-2.html", "pages/t-full.html")],
        [n for n in names if n in ("pages/x-1100.html", "exports/feed.jsonl", "pages/e.html")],
        [n for n in names if n not in ("pages/x-1300.html", "pages/y-2.html", "pages/t-full.html",
                                       "pages/x-1100.html", "exports/feed.jsonl", "pages/e.html")]],
    "shuffled": lambda names: [sorted(names, key=lambda n: random.Random(n + "3").random())[i::3]
                               for i in range(3)],
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_several_runs_in_any_arrival_order_equal_one_run(one_run, order):
    base, files, want, want_names = one_run
    parts = ORDERS[order](sorted(files))
    assert sorted(n for p in parts for n in p) == sorted(files) and all(parts)
    land_dir = base / "land"  # the same paths as the one run: article ids hash the path
    shutil.rmtree(land_dir)
    out = base / f"split-{order.replace(' ', '-')}"
    for names in parts:
        land(land_dir, files, names)
        run(land_dir, out)
    assert by_name(out) == want_names
    got = lake_tables(out, stories=False)
    for table, rows in got.items():
        if table == "duplicates":  # which edge explains a fold depends on what was compared
            rows = [r[:3] + r[4:5] for r in rows]
            expected = [r[:3] + r[4:5] for r in want[table]]
        elif table == "articles":
            expected = lake_tables(base / "one", stories=False)[table]
        else:
            expected = want[table]
        assert rows == expected, table
    con = connect(str(out))
    runs = con.execute("SELECT run_id, superseded, versions_superseded FROM runs ORDER BY started_at").fetchall()
    assert len(runs) == 3
    if order == "captures in order":
        # x-0900 and y-1 superseded by x-1100 and y-2 in run 2, x-1100 by x-1300 in run 3
        assert [r[2] for r in runs] == [0, 2, 1]
        # the second run's report counts them
        from bs4 import BeautifulSoup
        report = BeautifulSoup((out / "_reports" / f"{runs[1][0]}.html").read_text(encoding="utf-8"),
                               "html.parser")
        outcome = {tr.find_all("td")[0].get_text(): tr.find_all("td")[1].get_text()
                   for tr in report.find("table", class_="outcome").find_all("tr")[1:]}
        assert outcome["earlier articles superseded"] == "2"
        assert outcome["… by a newer version of their page"] == "2"
        # time travel: the first run's lake shows the first capture as the article
        old = connect(str(out), run_id=runs[0][0])
        kept = [r[0].split("/land/")[1] for r in old.execute("SELECT source_uri FROM articles").fetchall()]
        assert "pages/x-0900.html" in kept and "pages/x-1300.html" not in kept


@pytest.mark.parametrize("kill_at", ["staged:1", "commit:1"])
def test_kill_9_in_the_run_that_supersedes_then_rerun_equals_one_run(one_run, kill_at):
    """The second run of "captures in order" supersedes two first captures; killed at any
    point of its batch and run again, the tables are still those of one run."""
    base, files, want, want_names = one_run
    parts = ORDERS["captures in order"](sorted(files))
    land_dir = base / "land"
    shutil.rmtree(land_dir)
    out = base / f"killed-{kill_at.replace(':', '-')}"
    for i, names in enumerate(parts):
        land(land_dir, files, names)
        if i == 1:
            proc = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(land_dir),
                                   "--output", str(out), *FAST], cwd=ROOT, capture_output=True,
                                  env={**os.environ, "NEWS_INGEST_KILL_AT": kill_at}, timeout=300)
            assert proc.returncode == -signal.SIGKILL
        run(land_dir, out)
    assert by_name(out) == want_names
    assert sorted(lake_tables(out, stories=False)["articles"]) == sorted(
        lake_tables(base / "one", stories=False)["articles"])
    con = connect(str(out))
    assert con.execute("SELECT sum(versions_superseded) FROM runs").fetchone()[0] == 3
