"""Site templates: how much boilerplate ``RemoveSiteTemplates`` takes out of a batch of pages
that share their sites' templates, and how much article text it takes with it.

    .venv/bin/python -m benchmarks.site_templates DATASET_DIR [--sites 40] [--seed 0]

The dev sets hold one page per site, so sites are made from them: a real page is a site's
template (its own markup, menus, bios, prompts and footers, everything but its article), and
its article's paragraphs are replaced by the true bodies of other pages of the set, one site
page each. Site sizes cycle through ``--sizes`` (some below the stage's minimum). Each
generated page's truth is the body put in. Two hazards are built in, since a remover that
never errs on them has only been shown easy cases:

- a running story: one paragraph (from a further page) appears in a share of a site's
  articles (``--running``), as background paragraphs of follow-up stories do: it is article
  text and must stay;
- copies: on every fourth site, half the pages carry the same article (each with its own
  "Updated N minutes ago" line, so that no two are exact copies): their article text must stay (Dedup folds them, not this stage);
  where their lines are most of the site's, they are left whole.

Template pages and donors of even-numbered pages make the "even" sites, odd ones the "odd"
sites: tune on one, report the other. Scores use the dataset's own measure (see
``benchmarks.extraction``): our Extract alone, then Extract and ``RemoveSiteTemplates`` run
by Beam's DirectRunner on each site's pages as one batch. Also printed: template lines
removed, lines of article text removed (false removals), articles left whole.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import tempfile
from typing import List, NamedTuple, Optional, Tuple

import lxml.html

from benchmarks.extraction import bow_scores, load, page_scores
from schemas.records import Article, RawRecord
from transforms.extract import extract_record
from transforms.extract.extract import parse_page
from transforms.extract.line_model import load_line_model
from transforms.templates.lines import DEFAULT_MIN_PAGES, DEFAULT_MIN_SHARE, line_key

_TOKEN = re.compile(r"\w+")
_BLOCKS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre")


def _norm(text: str) -> str:
    return " ".join(t.lower() for t in _TOKEN.findall(text or ""))


def article_elements(tree, body: str):
    """The page's elements that hold its article (outermost block elements of 4+ words that
    lie in the true body), and the share of the body's words they cover."""
    truth = f" {_norm(body)} "
    found = []
    for el in tree.iter(*_BLOCKS):
        words = _norm(el.text_content())
        if len(words.split()) >= 4 and f" {words} " in truth:
            found.append(el)
    chosen = set(found)
    outer = [el for el in found if not any(a in chosen for a in el.iterancestors())]
    covered = sum(len(_norm(el.text_content()).split()) for el in outer)
    return outer, covered / max(len(truth.split()), 1)


def paragraphs(body: str) -> List[str]:
    return [p.strip() for p in re.split(r"\n+", body or "") if p.strip()]


def render(template_html: str, template_body: str, new_paragraphs: List[str]) -> Optional[str]:
    """The template page with its article's elements replaced by ``new_paragraphs`` (one <p>
    each, where its first article element was); None when its article is not separable
    (its elements cover less than 70% of its body)."""
    tree = parse_page(template_html)
    if tree is None:
        return None
    outer, covered = article_elements(tree, template_body)
    if not outer or covered < 0.7:
        return None
    first = outer[0]
    parent, at = first.getparent(), first.getparent().index(first)
    for el in outer:
        el.drop_tree()
    for i, text in enumerate(new_paragraphs):
        p = lxml.html.Element("p")
        p.text = text
        parent.insert(at + i, p)
    return lxml.html.tostring(tree, encoding=str)


def true_body(layout: str, record: dict) -> str:
    return (record["articleBody"] if layout == "article-extraction"
            else record["ground_truth"].get("main_content") or "")


class SitePage(NamedTuple):
    site: str
    half: str
    html: str
    truth: str
    kind: str        # "article", "running" (holds the running paragraph) or "copy"


def make_sites(layout, pages, truth, n_sites: int, sizes: List[int], running: float,
               seed: int) -> List[SitePage]:
    rng = random.Random(seed)
    story_rng = random.Random(seed + 1)  # apart: --running must not change the sites themselves
    bodies = {pid: true_body(layout, truth[pid]) for pid, _ in pages}
    html = dict(pages)
    ids = [pid for pid, _ in pages if len(paragraphs(bodies[pid])) >= 3]
    out: List[SitePage] = []
    for half, group in (("even", ids[0::2]), ("odd", ids[1::2])):
        templates = [pid for pid in group
                     if render(html[pid], bodies[pid], ["x"]) is not None][: n_sites // 2]
        for s, tpl in enumerate(templates):
            size = sizes[s % len(sizes)]
            donors = rng.sample([d for d in group if d != tpl], size + 1)
            story = paragraphs(bodies[donors[-1]])[0]  # the running story's paragraph
            copies = s % 4 == 3
            with_story = set(story_rng.sample(range(size), int(round(running * size))))
            for i in range(size):
                donor = donors[0] if copies and i < size // 2 else donors[i]
                body = paragraphs(bodies[donor])
                kind = "copy" if copies and i < size // 2 else "article"
                if i in with_story and not (copies and i < size // 2):
                    body = body[:1] + [story] + body[1:]
                    kind = "running"
                if kind == "copy":  # a near copy: its text (and hash) differ, its lines not
                    body = body + [f"Updated {i + 1} minutes ago."]
                page = render(html[tpl], bodies[tpl], body)
                out.append(SitePage(f"{half}-{tpl}", half, page, "\n\n".join(body), kind))
    return out


def score(layout: str, text: str, truth: str) -> Tuple[float, float, float]:
    """(precision, recall, F1) of a page by the dataset's measure (article-extraction's F1
    is of the averages, so its per-page F1 is not used)."""
    if layout == "article-extraction":
        p, r = page_scores(text, truth)
        return p, r, 0.0
    return bow_scores(text, truth)


def run_templates(articles: List[Article], min_pages: int, min_share: float):
    """({source uri: article after ``RemoveSiteTemplates`` as a dict}, {counter: value}),
    run by the DirectRunner as one batch."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from transforms.templates import RemoveSiteTemplates
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
        (p | beam.Create(articles)
         | RemoveSiteTemplates(min_pages, min_share)
         | beam.Map(lambda a: json.dumps(a._asdict(), default=list))
         | beam.io.WriteToText(out))
        run = p.run()
        run.wait_until_finish()
        counters = {c.key.metric.name: c.committed for c in run.metrics().query()["counters"]
                    if c.key.metric.namespace == "templates"}
        result = {}
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name), encoding="utf-8") as f:
                for line in f:
                    d = json.loads(line)
                    result[d["source_uri"]] = d
    return result, counters


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset_dir")
    ap.add_argument("--sites", type=int, default=40, help="sites to make (half from each half)")
    ap.add_argument("--sizes", default="3,6,10,16", help="pages per site, cycled")
    ap.add_argument("--running", type=float, default=0.3,
                    help="share of a site's articles that hold the running story's paragraph")
    ap.add_argument("--min_pages", type=int, default=DEFAULT_MIN_PAGES)
    ap.add_argument("--min_share", type=float, default=DEFAULT_MIN_SHARE)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    layout, pages, truth = load(args.dataset_dir)
    sites = make_sites(layout, pages, truth, args.sites, [int(s) for s in args.sizes.split(",")],
                       args.running, args.seed)
    articles, by_uri, line_model = [], {}, load_line_model()  # as the Extract stage runs
    for i, page in enumerate(sites):
        uri = f"site://{page.site}/{i}"
        a = extract_record(RawRecord(uri, "html", page.html, None, None, None, len(page.html)),
                           line_model=line_model)
        if isinstance(a, Article):
            # one site per template page: the generated pages share its canonical URL's host
            a = a._replace(url=f"https://{page.site}.example/{i}", site_name=None)
            articles.append(a)
            by_uri[uri] = (page, a)
    after, counters = run_templates(articles, args.min_pages, args.min_share)
    print(f"{len(sites)} pages on {len({p.site for p in sites})} sites from {layout} "
          f"({len(articles)} extracted); min_pages {args.min_pages}, min_share {args.min_share}")
    print(f"{'half':<5} {'system':<22} {'F1':>6} {'P':>6} {'R':>6}  lines removed  of article text")
    for half in ("even", "odd", "all"):
        rows = {"extract": [], "extract + templates": []}
        removed = lost = 0
        for uri, (page, a) in by_uri.items():
            if half != "all" and page.half != half:
                continue
            b = after[uri]
            rows["extract"].append(score(layout, a.text, page.truth))
            rows["extract + templates"].append(score(layout, b["text"], page.truth))
            before_lines = a.text.split("\n")
            kept = {line_key(l) for l in b["text"].split("\n")}
            gone = [l for l in before_lines if l.strip() and line_key(l) not in kept]
            removed += len(gone)
            truth_keys = {line_key(p) for p in paragraphs(page.truth)}
            lost += sum(line_key(l) in truth_keys for l in gone)
            if os.environ.get("SHOW_LOST"):
                for l in gone:
                    if line_key(l) in truth_keys:
                        print("LOST", page.site, page.kind, repr(l[:100]))
        for system, scores in rows.items():
            P = sum(s[0] for s in scores) / len(scores)
            R = sum(s[1] for s in scores) / len(scores)
            F = (2 * P * R / (P + R) if P + R else 0.0) if layout == "article-extraction" else \
                sum(s[2] for s in scores) / len(scores)
            tail = f"  {removed:13d}  {lost:15d}" if system != "extract" else ""
            print(f"{half:<5} {system:<22} {F:6.3f} {P:6.3f} {R:6.3f}{tail}")
    print("counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
