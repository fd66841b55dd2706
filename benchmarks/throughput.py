"""Whole-pipeline throughput against the NER-only ceiling, in one run.

    .venv/bin/python -m benchmarks.throughput [--n 1000] [--workers 2] [--batch 64] [--breakdown]

Generates N distinct ~500-word HTML news pages, then

1. runs the whole pipeline on them (``python -m pipeline``, multi_processing with
   ``--workers`` worker processes, all pages in one batch: ``--batch_files=0``), timing it
   from start to exit;
2. times spaCy alone, as it comes, on the texts the pipeline wrote: NER-only pipeline
   load plus ``nlp.pipe(texts, n_process=workers)`` -- the ceiling for a pipeline whose
   slowest stage is NER;
3. checks that the pipeline's entities are the ceiling's spans after the same clean-up
   (``transforms.entities.mentions.refine``), article by article;

and prints pages per second of both, their ratio, and the peak resident memory of each
process of the pipeline run (driver and SDK workers), sampled from /proc.

Before all that it times the small run a new user makes first: ``./run_local.sh`` on the
bundled ``samples/`` (``--sample_runs`` times, the virtual environment already installed),
wall time from start to exit beside the pipeline's own ``done in`` figure.

``--breakdown`` also runs the pipeline with ``--skip_entities`` on the same pages (start-up,
read+extract, dedup and Parquet output: everything but NER) and times the ceiling's model load
on its own, to show where the gap between the two lies.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple

FIRST = "James Maria Ahmed Olga Chen Priya Lucas Amara Kenji Sofia Diego Fatima Ivan Grace Omar Lena".split()
LAST = "Walker Novak Haddad Petrova Wei Sharma Moreau Okafor Tanaka Rossi Alvarez Rahman Sokolov Kim Nasser Berg".split()
PLACES = "Lisbon Nairobi Osaka Toronto Krakow Lima Hanoi Tunis Oslo Quito Dhaka Perth Accra Bergen Seville Tbilisi".split()
ORGS = ["the World Bank", "Siemens", "the United Nations", "Reuters", "Toyota", "the European Commission",
        "Oxfam", "Unilever", "the IMF", "Airbus", "Amnesty International", "Petrobras"]
VERBS = "said announced warned argued confirmed denied suggested reported insisted noted".split()
NOUNS = ("budget deal strike election report merger plan inquiry shortage project protest forecast "
         "agreement lawsuit programme reform").split()


def sentence(rnd: random.Random) -> str:
    p = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
    return rnd.choice([
        f"{p} {rnd.choice(VERBS)} on {rnd.choice(['Monday', 'Tuesday', 'Friday'])} that the {rnd.choice(NOUNS)} in {rnd.choice(PLACES)} would cost about {rnd.randrange(2, 900)} million dollars.",
        f"Officials at {rnd.choice(ORGS)} {rnd.choice(VERBS)} the {rnd.choice(NOUNS)} had been discussed with {p} for {rnd.randrange(2, 30)} weeks.",
        f"In {rnd.choice(PLACES)}, {rnd.randrange(100, 99999)} people joined the {rnd.choice(NOUNS)}, according to {rnd.choice(ORGS)}.",
        f"\u201cWe will not accept a {rnd.choice(NOUNS)} that ignores {rnd.choice(PLACES)},\u201d {p} {rnd.choice(VERBS)}.",
        f"The {rnd.choice(NOUNS)} follows a {rnd.choice(NOUNS)} that {rnd.choice(ORGS)} {rnd.choice(VERBS)} last year in {rnd.choice(PLACES)}.",
    ])


def make_page(i: int, words: int = 500):
    rnd = random.Random(i)
    paras, n = [], 0
    while n < words:
        para = " ".join(sentence(rnd) for _ in range(rnd.randrange(3, 6)))
        paras.append(para)
        n += len(para.split())
    title = f"{rnd.choice(NOUNS).title()} in {rnd.choice(PLACES)}: story {i}"
    body = "\n\n".join(paras)
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>" + title + " | Daily Bench</title>"
            f"<meta property='article:published_time' content='2024-0{1 + i % 9}-1{i % 10}T08:00:00Z'></head>"
            "<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article><h1>" + title + "</h1>"
            + "".join(f"<p>{p}</p>" for p in paras)
            + "</article><footer>© Daily Bench</footer></body></html>")
    return html, body


def write_pages(folder: str, n: int) -> List[str]:
    """Writes pages 0..n-1 as ``folder/pageNNNNNN.html`` (the folder is created); returns
    their article bodies."""
    os.makedirs(folder, exist_ok=True)
    bodies = []
    for i in range(n):
        html, body = make_page(i)
        bodies.append(body)
        with open(os.path.join(folder, f"page{i:06d}.html"), "w", encoding="utf-8") as f:
            f.write(html)
    return bodies


class PeakRss(threading.Thread):
    """Samples VmRSS of a process and all its descendants; keeps each one's peak (bytes)."""

    def __init__(self, root_pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.every, self.peaks, self.names = root_pid, every, {}, {}
        self.stop = threading.Event()

    def _tree(self) -> List[int]:
        children: Dict[int, List[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def run(self):
        while not self.stop.is_set():
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                except (OSError, StopIteration):
                    continue
                if rss > self.peaks.get(pid, 0):
                    self.peaks[pid], self.names[pid] = rss, cmd
            time.sleep(self.every)


def timed(cmd: List[str], cwd: str = None) -> Tuple[float, "PeakRss", str]:
    """Runs ``cmd`` to its end: (seconds, its processes' peak RSS, its output)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = PeakRss(proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    elapsed = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{out[-3000:]}")
    return elapsed, sampler, out


def run_pipeline(input_dir: str, output_dir: str, workers: int, batch: int, *extra: str):
    return timed([sys.executable, "-m", "pipeline", "--input", input_dir, "--output", output_dir,
                  "--overwrite", "--direct_running_mode=multi_processing",
                  f"--direct_num_workers={workers}", f"--ner_batch_size={batch}", "--batch_files=0",
                  *extra])


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sample_runs(times: int, tmp: str) -> List[Tuple[float, float]]:
    """(wall seconds, the pipeline's own "done in" seconds) of ``./run_local.sh`` on the
    bundled samples, ``times`` times, each into a fresh output folder."""
    out = []
    for i in range(times):
        wall, _, printed = timed([os.path.join(ROOT, "run_local.sh"), "--input", os.path.join(ROOT, "samples"),
                                  "--output", os.path.join(tmp, f"samples{i}"), "--overwrite"], cwd=ROOT)
        done = next(float(l.split()[2].rstrip("s")) for l in printed.splitlines() if l.startswith("done in "))
        out.append((wall, done))
    return out


def pipeline_articles(output: str) -> List[Tuple[str, list]]:
    """(text, entities as (start, end, label, text)) of every article the pipeline wrote,
    in source order."""
    from schemas.views import connect
    con = connect(output)
    rows = con.execute("SELECT text, entities FROM articles ORDER BY source_uri").fetchall()
    con.close()
    return [(text, [(e["start_char"], e["end_char"], e["label"], e["text"]) for e in ents])
            for text, ents in rows]


def ner_ceiling(texts: List[str], workers: int, batch: int) -> Tuple[float, float, List[list]]:
    """spaCy as it comes, NER only: (seconds in all, seconds of them spent importing spaCy
    and loading the model, each text's raw (start, end, label) spans)."""
    from transforms.entities import load_ner
    t0 = time.perf_counter()
    nlp = load_ner("en_core_web_sm", tuned=False)  # spaCy as it comes
    loaded = time.perf_counter() - t0
    spans = [[(e.start_char, e.end_char, e.label_) for e in d.ents]
             for d in nlp.pipe(texts, n_process=workers, batch_size=batch)]
    return time.perf_counter() - t0, loaded, spans


def same_entities(articles: List[Tuple[str, list]], ceiling_spans: List[list]) -> int:
    """How many articles' entities differ from the ceiling's raw spans put through the same
    clean-up (``mentions.refine``) the pipeline applies."""
    from transforms.entities.mentions import refine
    differ = 0
    for (text, ents), raw in zip(articles, ceiling_spans):
        want = [(e.start_char, e.end_char, e.label, e.text) for e in refine(text, raw)[0]]
        differ += want != ents
    return differ


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sample_runs", type=int, default=3,
                    help="times to run ./run_local.sh on samples/ first (0: none)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the pipeline without NER and the ceiling's model load")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.sample_runs > 0:
            runs = sample_runs(args.sample_runs, tmp)
            walls = sorted(w for w, _ in runs)
            print(f"sample run (./run_local.sh on samples/, {len(runs)} runs): wall "
                  + ", ".join(f"{w:.2f}" for w, _ in runs) + f" s (median {walls[len(walls) // 2]:.2f} s); "
                  + "pipeline's own 'done in' " + ", ".join(f"{d:.1f}" for _, d in runs) + " s")
        inp = os.path.join(tmp, "pages")
        bodies = write_pages(inp, args.n)
        words = sum(len(b.split()) for b in bodies) / len(bodies)
        print(f"{args.n} pages, {words:.0f} words each on average; {args.workers} workers; NER batch {args.batch}")
        pipe_s, sampler, out = run_pipeline(inp, os.path.join(tmp, "out"), args.workers, args.batch)
        articles = pipeline_articles(os.path.join(tmp, "out"))
        # the ceiling reads the texts the pipeline extracted: same input to NER on both sides
        ceil_s, load_s, spans = ner_ceiling([t for t, _ in articles], args.workers, args.batch)
        differ = same_entities(articles, spans)
        bare_s = None
        if args.breakdown:
            bare_s, _, _ = run_pipeline(inp, os.path.join(tmp, "bare"), args.workers, args.batch,
                                        "--skip_entities")
    summary = [l for l in out.splitlines() if l.strip().startswith(("articles:", "duplicates:", "rejects:"))]
    print("pipeline output: " + "; ".join(s.strip() for s in summary))
    print(f"whole pipeline : {pipe_s:7.1f} s  {args.n / pipe_s:7.1f} pages/s")
    print(f"NER-only ceiling: {ceil_s:6.1f} s  {args.n / ceil_s:7.1f} pages/s  (spaCy nlp.pipe, n_process={args.workers}, model load included)")
    print(f"ratio pipeline/ceiling: {ceil_s / pipe_s:.2f}")
    print(f"entities: {'the same as' if not differ else f'{differ} of {len(articles)} articles differ from'} "
          f"the ceiling's ({sum(len(e) for _, e in articles):,} mentions in the pipeline's output)")
    if bare_s is not None:
        print(f"breakdown: pipeline without NER (--skip_entities) {bare_s:.1f} s, so NER in the "
              f"pipeline ~{pipe_s - bare_s:.1f} s; ceiling: spaCy import + model load {load_s:.1f} s, "
              f"nlp.pipe {ceil_s - load_s:.1f} s")
    print("peak RSS per process of the pipeline run:")
    for pid, rss in sorted(sampler.peaks.items(), key=lambda kv: -kv[1])[:6]:
        role = "sdk worker" if "sdk_worker" in sampler.names[pid] or "worker_pool" in sampler.names[pid] else "driver" if "-m pipeline" in sampler.names[pid] else sampler.names[pid][:40]
        print(f"  {role:<12} pid {pid}: {rss / 2**20:7.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
