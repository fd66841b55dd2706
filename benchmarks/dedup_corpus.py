"""A labelled near-duplicate corpus built from real article bodies.

    build_corpus(ground_truth, seeds_dir, out_dir, seed=0) -> {record uri: cluster id}

Every source article (``ground-truth.json``: {id: {"articleBody", "url"}}) is written as an
original page, and some get re-published copies, each of which is the same article:

- ``wire``: another site's template; a dateline ("WASHINGTON (Reuters) -"), ad slots, "Read
  more:" links and photo captions inside the body, a credit line at the end;
- ``edit``: copy-edited: a word changed here and there, one sentence dropped;
- ``teaser``: stops near 90% of the text with "Read the full story…";
- ``txt``: a plain-text export, hard-wrapped at 72 columns, with curly quotes;
- ``json``: a JSON-lines export record (curly quotes, text in one field);
- ``version``: the original page captured again as it was updated (``-update1``: an "UPDATE"
  paragraph on top; ``-update2``: another on top and a closing paragraph), at the same URL,
  declaring a later modification time where the site's template declares dates at all. The
  newest capture (``-update2``) is the one that should be the kept article.

Things that only look alike are separate articles, each its own cluster:

- ``followup``: keeps the first two paragraphs of an article, the rest is new;
- ``analysis``: new text around a long quoted passage of another article;
- ``templated``: reports of one family (earnings, weather, results) sharing long
  boilerplate and stating different facts (one of each family is also re-published, a
  true copy among look-alikes);
- the five seeds: different outlets on the same event.

"New" text is built from single sentences of many different articles, so it shares no
more than a sentence with any one of them. Everything is a fixed function of ``seed``.
"""
from __future__ import annotations

import html
import json
import os
import random
import re
import textwrap
from typing import Dict, List, Sequence, Tuple

_SENT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’']))\s+(?=[A-Z“\"‘'])")
CITIES = ["WASHINGTON", "LONDON", "PARIS", "BEIJING", "NEW YORK", "BERLIN", "TOKYO", "NAIROBI"]
AGENCIES = ["Reuters", "AP", "AFP", "Bloomberg"]
NAMES = ["Jane Doe", "Omar Haddad", "Li Wei", "Maria Costa", "Tom Becker", "Aiko Sato",
         "Grace Okafor", "Pierre Martin"]
SYNONYMS = {
    "said": "stated", "says": "states", "big": "large", "large": "big", "also": "too",
    "about": "around", "after": "following", "but": "yet", "many": "numerous",
    "help": "assist", "show": "reveal", "start": "begin", "began": "started", "buy": "purchase",
    "people": "individuals", "told": "informed", "new": "fresh", "very": "extremely",
    "important": "key", "because": "as", "however": "but", "before": "prior to",
    "made": "created", "used": "employed", "think": "believe", "get": "obtain",
    "need": "require", "small": "little", "often": "frequently", "first": "initial",
}


def paragraphs(body: str) -> List[str]:
    return [p.strip() for p in body.split("\n") if p.strip()]


def sentences(par: str) -> List[str]:
    return [s for s in _SENT.split(par) if s.strip()]


def curly(text: str) -> str:
    """Typographic quotes and apostrophes, as word processors and CMS exports write them."""
    text = re.sub(r"(?<=\w)'(?=\w)", "’", text)
    text = re.sub(r"(^|[\s(\[])\"", r"\1“", text)
    text = text.replace('"', "”")
    text = re.sub(r"(^|[\s(\[])'", r"\1‘", text)
    return text.replace("'", "’")


def title_of(pars: Sequence[str]) -> str:
    words = re.sub(r"^[A-Z ,.]+\([A-Za-z ]+\)\s*[-–—]\s*", "", pars[0]).split()
    return " ".join(words[:10])[:80].rstrip(",.;:") or "Untitled"


# ---- site templates ---------------------------------------------------------------------------

def _chrome_links(rng: random.Random, titles: Sequence[str], n: int) -> str:
    picks = rng.sample(list(titles), min(n, len(titles)))
    return "".join(f'<li><a href="/story/{rng.randrange(10**6)}">{html.escape(t)}</a></li>'
                   for t in picks)


def render_page(template: int, title: str, body_html: str, url: str, date: str,
                rng: random.Random, titles: Sequence[str], modified: str = "") -> str:
    """A whole page of one of four site templates around ``body_html``; ``modified``: the
    update time it declares (templates 0-2; template 3 declares no date at all)."""
    t = html.escape(title)
    updated = {0: f'<meta property="article:modified_time" content="{modified}">',
               2: f'<meta itemprop="dateModified" content="{modified}">'}.get(template, "") if modified else ""
    nav = "".join(f'<a href="/{s.lower()}">{s}</a>' for s in
                  ("World", "Politics", "Business", "Tech", "Science", "Sport", "Opinion"))
    popular = _chrome_links(rng, titles, 5)
    if template == 0:
        return (f"<!DOCTYPE html><html><head><title>{t} | Daily Planet</title>"
                f'<link rel="canonical" href="{url}"><meta property="og:title" content="{t}">'
                f'<meta property="article:published_time" content="{date}">{updated}</head><body>'
                f'<header><nav>{nav}</nav></header><main><article><h1>{t}</h1>'
                f'<p class="byline">By {rng.choice(NAMES)}</p><time datetime="{date}">{date[:10]}</time>'
                f'<div class="article-body">{body_html}</div></article>'
                f'<aside><h2>Most popular</h2><ul>{popular}</ul></aside></main>'
                f"<footer><p>© 2026 Daily Planet. All rights reserved.</p>"
                f'<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>')
    if template == 1:
        ld = {"@context": "https://schema.org", "@type": "NewsArticle",
              "headline": title, "datePublished": date, "url": url}
        ld = json.dumps({**ld, "dateModified": modified} if modified else ld)
        return (f'<html lang="en"><head><title>{t} - The Courier</title>'
                f'<script type="application/ld+json">{ld}</script></head><body>'
                f'<div class="cookie-banner">We use cookies to improve your experience. '
                f'<button>Accept</button></div><div id="top-nav">{nav}</div>'
                f'<div id="content"><div class="story"><h1 class="headline">{t}</h1>'
                f'<div class="story-text">{body_html}</div>'
                f'<div class="share">Share this article: Facebook Twitter Email</div></div>'
                f'<div class="sidebar"><h3>Trending now</h3><ul>{popular}</ul></div></div>'
                f'<div id="footer">The Courier · Contact us · Advertise with us</div></body></html>')
    if template == 2:
        return (f"<html><head><title>{t}</title>"
                f'<meta name="date" content="{date}">{updated}</head><body><div class="wrapper">'
                f'<div class="masthead"><span class="logo">Metro Wire</span>{nav}</div>'
                f'<div class="main-col"><h2 class="title">{t}</h2><div class="meta">{date[:10]}</div>'
                f'<section class="content">{body_html}</section>'
                f'<div class="related"><h4>Related stories</h4><ul>{popular}</ul></div></div>'
                f'<div class="bottom">Newsletter: sign up for our morning briefing.</div>'
                f"</div></body></html>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{t} — Global Times Online"
            f'</title><meta property="og:url" content="{url}"></head><body>'
            f'<nav class="menu">{nav}</nav><div class="page"><article class="post">'
            f'<header><h1>{t}</h1><span class="author">{rng.choice(NAMES)}</span></header>'
            f'<div class="entry-content">{body_html}</div>'
            f'<footer class="tags">Tags: news, world</footer></article>'
            f'<section class="more"><h3>More from Global Times</h3><ul>{popular}</ul></section>'
            f"</div><footer>Global Times Online © 2026</footer></body></html>")


def body_html(pars: Sequence[str]) -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in pars)


# ---- variants -------------------------------------------------------------------------------

def wire_copy(pars: List[str], rng: random.Random, titles: Sequence[str]) -> str:
    """The body as another site re-publishes a wire story: dateline, ads, "Read more" links
    and captions inside the body, credit line at the end."""
    first = pars[0]
    if not re.match(r"^[A-Z][A-Z .,]+\(", first):
        first = f"{rng.choice(CITIES)} ({rng.choice(AGENCIES)}) - {first}"
    out = [f"<p>{html.escape(first)}</p>"]
    for i, p in enumerate(pars[1:], start=1):
        if i == 2:
            out.append(f'<figure><img src="/img/{rng.randrange(10**6)}.jpg" alt="">'
                       f"<figcaption>{html.escape(rng.choice(titles))}. Photo: "
                       f"{rng.choice(AGENCIES)}/{rng.choice(NAMES)}</figcaption></figure>")
        if i % 4 == 0:
            out.append('<div class="ad-slot">Advertisement</div>')
        if i % 5 == 3:
            out.append(f'<p>Read more: <a href="/story/{rng.randrange(10**6)}">'
                       f"{html.escape(rng.choice(titles))}</a></p>")
        out.append(f"<p>{html.escape(p)}</p>")
    a, b = rng.sample(NAMES, 2)
    out.append(f"<p>Reporting by {a}; Editing by {b}</p>")
    return "".join(out)


def copy_edit(pars: List[str], rng: random.Random) -> List[str]:
    """A word changed here and there (about one in 40) and one sentence dropped."""
    out = []
    for p in pars:
        words = p.split(" ")
        for i, w in enumerate(words):
            core = w.strip(".,;:!?\"'“”’‘()")
            if core.lower() in SYNONYMS and rng.random() < 0.5:
                words[i] = w.replace(core, SYNONYMS[core.lower()], 1)
            elif rng.random() < 0.012 and core.lower() in ("the", "a", "that", "also", "very"):
                words[i] = ""
        out.append(" ".join(w for w in words if w))
    droppable = [(i, j) for i, p in enumerate(out) if i > 0
                 for j, _ in enumerate(sentences(p))]
    if droppable:
        i, j = rng.choice(droppable)
        ss = sentences(out[i])
        out[i] = " ".join(ss[:j] + ss[j + 1:])
    return [p for p in out if p.strip()]


def teaser(pars: List[str], fraction: float = 0.9) -> List[str]:
    """The first ``fraction`` of the words, cut at a sentence end, then a link to the rest."""
    total = sum(len(p.split()) for p in pars)
    out, n = [], 0
    for p in pars:
        kept = []
        for s in sentences(p):
            if n + len(s.split()) > fraction * total:
                break
            kept.append(s)
            n += len(s.split())
        if kept:
            out.append(" ".join(kept))
        if len(kept) < len(sentences(p)):
            break
    return out + ["Read the full story…"]


def text_export(title: str, pars: List[str]) -> str:
    wrapped = ["\n".join(textwrap.wrap(curly(p), 72)) for p in pars]
    return curly(title) + "\n\n" + "\n\n".join(wrapped) + "\n"


# ---- look-alikes ----------------------------------------------------------------------------

def new_paragraphs(pool: Sequence[Tuple[str, str]], avoid: str, rng: random.Random,
                   n_pars: int) -> List[str]:
    """Paragraphs of 3-4 sentences, each sentence from a different source article."""
    used, out = {avoid}, []
    for _ in range(n_pars):
        par = []
        while len(par) < rng.choice((3, 4)):
            src, s = rng.choice(pool)
            if src in used or len(s.split()) < 8:
                continue
            used.add(src)
            par.append(s)
            if len(used) >= len({k for k, _ in pool}):
                used = {avoid}
        out.append(" ".join(par))
    return out


FAMILIES = {
    "earnings": (
        "{co} reported {q} results on {day}, with revenue of ${rev} billion, {dir} {pct} percent "
        "from a year earlier, and earnings per share of ${eps}. Analysts had expected ${exp} a "
        "share. Shares of {co} {move} {mv} percent in after-hours trading.",
        ["This report was generated automatically from the company's regulatory filing and "
         "the consensus estimates compiled by our data partners. It is updated when the company "
         "publishes revised figures or when analysts change their estimates.",
         "Earnings per share are reported on an adjusted basis unless stated otherwise. "
         "Revenue figures include all business segments and are converted at the average "
         "exchange rate of the quarter where the company reports in another currency.",
         "Forward-looking statements in company filings involve risks and uncertainties, and "
         "actual results may differ materially from those projected. Investors should read the "
         "full filing before making decisions and should not rely on this summary alone.",
         "Market data is delayed by at least fifteen minutes. For a full list of the companies "
         "reporting this week, see our earnings calendar, which is updated every morning before "
         "the market opens and again after the close."],
        dict(co=["Acme Corp", "Globex", "Initech", "Umbrella Group", "Stark Industries",
                 "Wayne Enterprises", "Hooli", "Cyberdyne"],
             q=["first-quarter", "second-quarter", "third-quarter", "fourth-quarter"])),
    "weather": (
        "{city} can expect highs of {hi} degrees and lows of {lo} degrees on {day}, with "
        "{sky} skies and winds from the {wind} at {kmh} kilometres per hour. The chance of "
        "rain is {rain} percent, rising to {rain2} percent overnight.",
        ["This forecast is produced automatically from the national weather service's model "
         "runs and is refreshed every three hours. Local conditions can differ, particularly "
         "near the coast and in higher terrain, where temperatures may be several degrees lower.",
         "Residents with respiratory conditions should check the daily air quality index "
         "before spending long periods outdoors. Pollen counts are reported separately in our "
         "health section and are updated each morning during the season.",
         "Weather warnings are issued by the national weather service, not by this newspaper. "
         "In an emergency, follow the advice of the local authorities and the emergency "
         "services, and check official channels for road closures and travel disruption.",
         "Temperatures are given in degrees Celsius and wind speeds in kilometres per hour. "
         "Sunrise and sunset times, tide tables and the ten-day outlook are available on our "
         "weather page, which also carries the latest satellite and radar images."],
        dict(city=["Lisbon", "Oslo", "Warsaw", "Dublin", "Vienna", "Athens", "Prague", "Madrid"],
             sky=["clear", "cloudy", "overcast", "sunny"],
             wind=["north", "south", "east", "west"])),
    "results": (
        "{home} beat {away} {g1}-{g2} at home on {day}, with {player} scoring in the {m}th "
        "minute. The win lifts {home} to {pos}th in the table on {pts} points, while {away} "
        "stay {pos2}th with {pts2} points after {games} games.",
        ["This match report was generated automatically from the official league data feed. "
         "Goal times, scorers and the table are confirmed by the league after each round and "
         "may be corrected later if the disciplinary panel reviews an incident.",
         "Tickets for the next home fixtures go on sale to season ticket holders first and "
         "then to members, with any remaining seats released for general sale in the week "
         "before the match. Prices vary by stand and by category of the match.",
         "Broadcast rights for the league are held by several television partners, and "
         "highlights of every match are available on the league's website from midnight on "
         "the day of the match, subject to the usual territorial restrictions.",
         "The league table is ordered by points, then goal difference, then goals scored. "
         "Clubs level on all three are separated by their head-to-head record, and a play-off "
         "decides the title or relegation if they are still level at the end of the season."],
        dict(home=["Rovers", "United", "Athletic", "City", "Wanderers", "Albion", "Rangers",
                   "Town"], player=["Silva", "Okafor", "Novak", "Jensen", "Moreau", "Kowalski"])),
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def templated_report(family: str, rng: random.Random) -> Tuple[str, List[str]]:
    lead, boiler, choices = FAMILIES[family]
    v = {k: rng.choice(opts) for k, opts in choices.items()}
    v["day"] = rng.choice(DAYS)
    if family == "earnings":
        v.update(rev=f"{rng.uniform(1, 90):.1f}", dir=rng.choice(["up", "down"]),
                 pct=rng.randrange(1, 30), eps=f"{rng.uniform(0.1, 5):.2f}",
                 exp=f"{rng.uniform(0.1, 5):.2f}", move=rng.choice(["rose", "fell"]),
                 mv=f"{rng.uniform(0.5, 12):.1f}")
        title = f"{v['co']} {v['q']} results"
    elif family == "weather":
        hi = rng.randrange(5, 35)
        v.update(hi=hi, lo=hi - rng.randrange(3, 12), kmh=rng.randrange(5, 60),
                 rain=rng.randrange(0, 90), rain2=rng.randrange(0, 100))
        title = f"{v['city']} weather for {v['day']}"
    else:
        v["away"] = rng.choice([t for t in choices["home"] if t != v["home"]])
        v.update(g1=rng.randrange(1, 6), g2=0, m=rng.randrange(10, 90), pos=rng.randrange(1, 20),
                 pts=rng.randrange(10, 80), pos2=rng.randrange(1, 20), pts2=rng.randrange(10, 80),
                 games=rng.randrange(10, 38))
        v["g2"] = rng.randrange(0, v["g1"])
        title = f"{v['home']} beat {v['away']} {v['g1']}-{v['g2']}"
    return title, [lead.format(**v)] + list(boiler)


# ---- the corpus -------------------------------------------------------------------------------

def build_corpus(ground_truth: Dict[str, Dict], seeds_dir: str, out_dir: str,
                 seed: int = 0) -> Dict[str, str]:
    """Writes the corpus under ``out_dir`` (pages/, exports/, seeds/); returns the truth:
    {source uri as the pipeline names it: cluster id}."""
    rng = random.Random(seed)
    for sub in ("pages", "exports", "seeds"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    arts = {k: paragraphs(v["articleBody"]) for k, v in sorted(ground_truth.items())}
    arts = {k: p for k, p in arts.items() if p}
    urls = {k: ground_truth[k].get("url") or f"https://example.com/{k}" for k in arts}
    titles = {k: title_of(p) for k, p in arts.items()}
    all_titles = list(titles.values())
    pool = [(k, s) for k, ps in arts.items() for p in ps for s in sentences(p)]
    truth: Dict[str, str] = {}
    jsonl: List[Tuple[Dict, str]] = []

    originals: Dict[str, Tuple[int, str]] = {}

    def page(name: str, template: int, title: str, body: str, url: str, cluster: str,
             date: str = "", modified: str = "", r: random.Random = rng) -> str:
        date = date or f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}T{rng.randrange(24):02d}:00:00Z"
        path = os.path.join(out_dir, "pages", name + ".html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(render_page(template, title, body, url, date, r, all_titles, modified))
        truth[path] = cluster
        return date

    for k, pars in arts.items():
        short = k[:12]
        home = rng.randrange(4)
        others = [t for t in range(4) if t != home]
        originals[k] = (home, page(f"{short}-original", home, titles[k], body_html(pars), urls[k], k))
        if rng.random() < 0.25:
            continue  # a story nobody re-published
        if rng.random() < 0.6:
            page(f"{short}-wire", rng.choice(others), titles[k],
                 wire_copy(pars, rng, all_titles), f"https://wire.example/{short}", k)
        if rng.random() < 0.5:
            page(f"{short}-edit", rng.choice(others), titles[k],
                 body_html(copy_edit(pars, rng)), f"https://edit.example/{short}", k)
        if rng.random() < 0.4 and sum(len(p.split()) for p in pars) >= 150:
            page(f"{short}-teaser", rng.choice(others), titles[k],
                 body_html(teaser(pars)), f"https://teaser.example/{short}", k)
        if rng.random() < 0.35:
            path = os.path.join(out_dir, "exports", f"{short}-export.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text_export(titles[k], pars))
            truth[path] = k
        if rng.random() < 0.35:
            jsonl.append(({"url": urls[k], "title": curly(titles[k]),
                           "text": curly("\n\n".join(pars))}, k))

    keys = [k for k, p in arts.items() if len(p) >= 4]
    for k in rng.sample(keys, min(15, len(keys))):
        pars = arts[k][:2] + new_paragraphs(pool, k, rng, rng.randrange(4, 8))
        page(f"{k[:12]}-followup", rng.randrange(4), "Update: " + titles[k], body_html(pars),
             f"https://followup.example/{k[:12]}", f"followup-{k}")
    for k in rng.sample(keys, min(10, len(keys))):
        pars = arts[k]
        n = max(2, int(len(pars) * 0.4))
        start = rng.randrange(0, len(pars) - n + 1)
        quote = "".join(f"<p>{html.escape(p)}</p>" for p in pars[start:start + n])
        own = new_paragraphs(pool, k, rng, rng.randrange(4, 7))
        body = (body_html(own[:2]) + f"<blockquote>{quote}</blockquote>" + body_html(own[2:]))
        page(f"{k[:12]}-analysis", rng.randrange(4), "Analysis: " + titles[k], body,
             f"https://analysis.example/{k[:12]}", f"analysis-{k}")
    for family in FAMILIES:
        for i in range(8):
            title, pars = templated_report(family, rng)
            cluster = f"{family}-{i}"
            page(f"{family}-{i}", i % 4, title, body_html(pars),
                 f"https://reports.example/{family}/{i}", cluster)
            if i == 0:
                page(f"{family}-{i}-copy", 1 + i % 3, title,
                     wire_copy(pars, rng, all_titles), f"https://wire.example/{family}", cluster)

    # Pages captured again as they were updated (their own random stream: the corpus above
    # stays what it was). Each update adds a paragraph of sentences from other articles.
    vrng = random.Random(seed * 7919 + 1)
    for k in vrng.sample(sorted(k for k in keys if sum(len(p.split()) for p in arts[k]) >= 250),
                         min(12, len(keys))):
        template, date = originals[k]
        first, second = new_paragraphs(pool, k, vrng, 2)
        pars = ["UPDATE: " + first] + arts[k]
        page(f"{k[:12]}-update1", template, titles[k], body_html(pars), urls[k], k,
             date=date, modified=date[:11] + "23:30:00Z", r=vrng)
        pars = ["UPDATE: " + second] + pars + ["This story has been updated."]
        page(f"{k[:12]}-update2", template, titles[k], body_html(pars), urls[k], k,
             date=date, modified=date[:8] + f"{int(date[8:10]) + 1:02d}T06:00:00Z", r=vrng)

    if jsonl:
        path = os.path.join(out_dir, "exports", "export.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for n, (rec, cluster) in enumerate(jsonl):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                truth[f"{path}#{n + 1}"] = cluster  # JSON-lines records are numbered from 1
    for name in sorted(os.listdir(seeds_dir)):
        src = os.path.join(seeds_dir, name)
        dst = os.path.join(out_dir, "seeds", name)
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        truth[dst] = "seed-" + name
    return truth
