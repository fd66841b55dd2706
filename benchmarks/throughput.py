"""Whole-pipeline throughput, run as users run it, against the NER-only ceiling (and, without
NER, against datatrove), in one run.

    .venv/bin/python -m benchmarks.throughput [--n 1000] [--workers 2] [--modes M,M]
        [--batch_files N] [--copies 0.05] [--sample_runs 3] [--breakdown]
        [--helper_processes default,0]
    .venv/bin/python -m benchmarks.throughput --skip_entities [--n 3000] [--repeats 2]
        [--helper_processes default,0]

Generates N ~500-word HTML news pages, a share ``--copies`` of them planted copies of
earlier ones (half exact, half copy-edited), then

1. runs the whole pipeline on them as a user does (``python -m pipeline``, its defaults:
   micro-batches of ``--batch_files``, 1000 unless given, ``0`` for one batch) in each of
   ``--modes``: ``in_process`` (the default runner, with ``--workers`` NER processes: the
   default on a machine of that many cores) and ``multi_processing`` (``--workers`` worker
   processes), timing each from start to exit;
2. times spaCy alone, as it comes, on the texts the pipeline wrote: NER-only pipeline
   load plus ``nlp.pipe(texts, n_process=workers)`` -- the ceiling for a pipeline whose
   slowest stage is NER;
3. checks that each run's entities are the ceiling's spans after the same clean-up
   (``transforms.entities.mentions.refine``), article by article, and that it folded every
   planted copy;

and prints pages per second of each, its ratio to the ceiling beside the targets, and the
peak resident memory of each process (driver, NER children or SDK workers), sampled from
/proc.

Before all that it times the small run a new user makes first: ``./run_local.sh`` on the
bundled ``samples/`` (``--sample_runs`` times, the virtual environment already installed),
wall time from start to exit beside the pipeline's own ``done in`` figure.

``--helper_processes default,0`` runs the in-process pipeline once per value of its
``--helper_processes`` (``default``: not given), e.g. with its extraction children beside
the driver extracting alone, in the same run.

``--breakdown`` also runs the pipeline with ``--skip_entities`` in each mode and times the
ceiling's model load on its own, to show where the gap between the two lies.

``--skip_entities`` measures the path without NER instead: the pipeline with
``--skip_entities`` in each mode against datatrove's equivalent (its trafilatura extractor
and MinHash dedup, ``benchmarks/peer_datatrove.py``, the same pages as JSON Lines, the same
number of workers), ``--repeats`` times each, alternating, and prints pages per second of
both, their ratio beside the target (1.3x) and the planted copies each folded. It needs
datatrove (an optional benchmark dependency: ``.venv/bin/pip install -e '.[bench]'``).
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


def copy_edited(html: str) -> str:
    """A near copy: three words of the text changed and another headline (a copy desk's
    edit; about 0.95 of its 5-word shingles are the original's)."""
    return html.replace(" said ", " stated ", 3).replace("<title>", "<title>Copy: ", 1)


def write_pages(folder: str, n: int, copies: float = 0.0):
    """Writes n pages as ``folder/pageNNNNNN.html`` (the folder is created): distinct pages,
    except that a share ``copies`` of them, from the tenth on, copies an earlier distinct page
    (every other one exactly, the others ``copy_edited``). Returns (the distinct pages'
    bodies, {file name of each planted copy: file name of its original})."""
    os.makedirs(folder, exist_ok=True)
    bodies, planted, distinct = [], {}, []
    rnd = random.Random(n)
    for i in range(n):
        name = f"page{i:06d}.html"
        if i >= 10 and rnd.random() < copies:
            original = rnd.choice(distinct)
            html, _ = make_page(original)
            if len(planted) % 2:
                html = copy_edited(html)
            planted[name] = f"page{original:06d}.html"
        else:
            html, body = make_page(i)
            bodies.append(body)
            distinct.append(i)
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(html)
    return bodies, planted


def folded(output: str) -> Dict[str, str]:
    """{file name of each record the pipeline folded as a copy: file name of its article}."""
    from schemas.views import connect
    con = connect(output)
    rows = con.execute("""SELECT d.source_uri, a.source_uri FROM duplicates d
                          JOIN articles a ON a.article_id = d.canonical_id""").fetchall()
    con.close()
    return {os.path.basename(d): os.path.basename(a) for d, a in rows}


class PeakRss(threading.Thread):
    """Samples VmRSS of a process and all its descendants; keeps each one's last command line,
    its peak (bytes) under that command line (a child caught between fork and exec shows its
    parent's command and memory) and how many samples saw it."""

    def __init__(self, root_pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.every, self.peaks, self.names = root_pid, every, {}, {}
        self.seen: Dict[int, int] = {}
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
                if self.names.get(pid) != cmd:  # exec'd since: what it was before is not it
                    self.names[pid], self.peaks[pid] = cmd, rss
                self.seen[pid] = self.seen.get(pid, 0) + 1
                self.peaks[pid] = max(rss, self.peaks[pid])
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


MODES = ("in_process", "multi_processing")


def run_pipeline(input_dir: str, output_dir: str, mode: str, workers: int, batch_files: int,
                 *extra: str):
    """Runs ``python -m pipeline`` as a user does, with its defaults except what is named:
    ``mode`` "in_process" (the default runner, with ``workers`` NER processes: the default
    on a machine of that many cores) or "multi_processing"
    (``--direct_running_mode=multi_processing --direct_num_workers=workers``);
    ``batch_files`` None: the default micro-batches."""
    cmd = [sys.executable, "-m", "pipeline", "--input", input_dir, "--output", output_dir,
           "--overwrite"]
    if mode == "multi_processing":
        cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    elif "--skip_entities" not in extra:
        cmd.append(f"--ner_processes={workers}")  # on this machine's cores: its default
    if batch_files is not None:
        cmd.append(f"--batch_files={batch_files}")
    return timed(cmd + list(extra))


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


def role(name: str) -> str:
    if "sdk_worker" in name or "worker_pool" in name:
        return "sdk worker"
    if "-m pipeline" in name:
        return "driver"
    if "transforms.entities.process" in name:
        return "ner child"
    if "transforms.pool" in name:
        return "helper child"
    return name[:40]


def rss_line(sampler: "PeakRss") -> str:
    """Peak RSS per process (MiB), largest first, each with its role; a process seen by one
    sample only is left out (a child between fork and exec reads as a copy of its parent)."""
    lasting = {pid: rss for pid, rss in sampler.peaks.items()
               if sampler.seen.get(pid, 0) > 1 or pid == sampler.root}
    peaks = sorted(lasting.items(), key=lambda kv: -kv[1])[:6]
    return ", ".join(f"{role(sampler.names[pid])} {rss / 2**20:.0f}" for pid, rss in peaks)


def batches_of(printed: str) -> int:
    return sum(1 for l in printed.splitlines() if l.startswith("batch ") and " committed" in l)


def pairs_folded(planted: Dict[str, str], folds: Dict[str, str]) -> int:
    """How many planted (copy, original) pairs ended in one group: one folded into the
    other, or both into a third file."""
    def group(name: str) -> str:
        return folds.get(name, name)
    return sum(group(c) == group(o) for c, o in planted.items())


def as_jsonl(pages: str, folder: str, files: int) -> None:
    """The pages as ``files`` JSON Lines files of ``{"id": file name, "text": html}``: the
    input datatrove reads (it has no reader for a folder of HTML files)."""
    import json
    os.makedirs(folder, exist_ok=True)
    outs = [open(os.path.join(folder, f"part{i:03d}.jsonl"), "w", encoding="utf-8")
            for i in range(files)]
    try:
        for i, name in enumerate(sorted(os.listdir(pages))):
            with open(os.path.join(pages, name), encoding="utf-8") as f:
                outs[i % files].write(json.dumps({"id": name, "text": f.read()}) + "\n")
    finally:
        for f in outs:
            f.close()


def run_datatrove(jsonl: str, work: str, workers: int) -> Tuple[float, Dict[str, str]]:
    """(seconds from start to exit, what ``peer_datatrove.py`` printed) of one datatrove run."""
    import json
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "peer_datatrove.py"),
                           jsonl, work, str(workers)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"datatrove failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return seconds, result


def planted_clustered(planted: Dict[str, str], clusters: Dict[str, int]) -> int:
    """Planted (copy, original) pairs that datatrove put in one MinHash cluster."""
    return sum(c in clusters and clusters.get(o) == clusters[c] for c, o in planted.items())


def variants(modes: List[str], extract: List[str]) -> List[Tuple[str, str, List[str]]]:
    """(label, mode, extra pipeline arguments) of each pipeline run: every mode, in-process
    once per ``--helper_processes`` value asked ("default": not given)."""
    out = []
    for mode in modes:
        for v in (extract if mode == "in_process" else ["default"]):
            out.append((mode if v == "default" else f"{mode}, --helper_processes {v}", mode,
                        [] if v == "default" else [f"--helper_processes={v}"]))
    return out


def without_ner(args, modes: List[str], batching: str) -> int:
    import importlib.util
    from statistics import median
    have_peer = importlib.util.find_spec("datatrove") is not None
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "pages")
        _, planted = write_pages(inp, args.n, args.copies)
        print(f"{args.n} pages ({len(planted)} planted copies), no NER; {batching}; "
              f"{args.workers} workers; {args.repeats} runs of each side, alternating")
        if have_peer:
            as_jsonl(inp, os.path.join(tmp, "jsonl"), 2 * args.workers)
        runs = variants(modes, args.helper_processes)
        ours: Dict[str, List[float]] = {label: [] for label, _, _ in runs}
        peer: List[float] = []
        folds: Dict[str, int] = {}
        peer_folds = 0
        for r in range(args.repeats):
            for label, mode, extra in runs:
                out = os.path.join(tmp, f"out-{len(folds)}")
                secs, sampler, _ = run_pipeline(inp, out, mode, args.workers, args.batch_files,
                                                "--skip_entities", *extra)
                ours[label].append(secs)
                folds[label] = pairs_folded(planted, folded(out))
                print(f"  run {r + 1}: pipeline {label}: {secs:.1f} s; peak RSS (MiB): {rss_line(sampler)}")
            if have_peer:
                secs, result = run_datatrove(os.path.join(tmp, "jsonl"), os.path.join(tmp, "dt"),
                                             args.workers)
                peer.append(secs)
                peer_folds = planted_clustered(planted, result["clusters"])
                print(f"  run {r + 1}: datatrove: {secs:.1f} s ({len(result['removed'])} documents "
                      f"removed, {len(result['kept'])} kept)")

    if have_peer:
        print(f"datatrove (trafilatura + MinHash, {args.workers} workers): median {median(peer):.1f} s, "
              f"{args.n / median(peer):.1f} pages/s; planted copies folded: {peer_folds}/{len(planted)}")
    else:
        print("datatrove is not installed: no peer figures (.venv/bin/pip install -e '.[bench]')")
    for label, _, _ in runs:
        line = (f"pipeline --skip_entities, {label}: median {median(ours[label]):.1f} s, "
                f"{args.n / median(ours[label]):.1f} pages/s; planted copies folded: "
                f"{folds[label]}/{len(planted)}")
        if have_peer:
            line += (f"; {median(peer) / median(ours[label]):.2f}x datatrove's pages/s "
                     f"(target: >= 1.3x)")
        print(line)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2,
                    help="multi_processing's worker processes and the ceiling's n_process")
    ap.add_argument("--batch", type=int, default=64, help="the ceiling's nlp.pipe batch size")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated: in_process (the default runner), multi_processing")
    ap.add_argument("--batch_files", type=int, default=None,
                    help="files per micro-batch; default: the pipeline's default (what users "
                         "run); 0: one batch of everything")
    ap.add_argument("--copies", type=float, default=0.05,
                    help="share of the pages that are planted copies of earlier ones, half "
                         "exact, half copy-edited")
    ap.add_argument("--sample_runs", type=int, default=3,
                    help="times to run ./run_local.sh on samples/ first (0: none)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the pipeline without NER and the ceiling's model load")
    ap.add_argument("--skip_entities", action="store_true",
                    help="the path without NER, against datatrove (see above)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="--skip_entities: runs of each side, alternating")
    ap.add_argument("--helper_processes", default="default",
                    help="comma-separated values of the pipeline's --helper_processes to run "
                         "in_process with, each its own run ('default': not given); e.g. "
                         "default,0 measures the driver extracting alone beside the default")
    args = ap.parse_args(argv)
    args.helper_processes = [v for v in args.helper_processes.split(",") if v]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        ap.error(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    from pipeline.options import DEFAULT_BATCH_FILES
    batching = (f"the pipeline's default micro-batches (--batch_files {DEFAULT_BATCH_FILES})"
                if args.batch_files is None else
                "one batch (--batch_files 0)" if args.batch_files == 0
                else f"--batch_files {args.batch_files}")
    if args.skip_entities:
        return without_ner(args, modes, batching)
    with tempfile.TemporaryDirectory() as tmp:
        if args.sample_runs > 0:
            runs = sample_runs(args.sample_runs, tmp)
            walls = sorted(w for w, _ in runs)
            print(f"sample run (./run_local.sh on samples/, {len(runs)} runs): wall "
                  + ", ".join(f"{w:.2f}" for w, _ in runs) + f" s (median {walls[len(walls) // 2]:.2f} s); "
                  + "pipeline's own 'done in' " + ", ".join(f"{d:.1f}" for _, d in runs) + " s")
        inp = os.path.join(tmp, "pages")
        bodies, planted = write_pages(inp, args.n, args.copies)
        words = sum(len(b.split()) for b in bodies) / len(bodies)
        print(f"{args.n} pages ({len(planted)} planted copies), {words:.0f} words each on "
              f"average; {batching}; everything else the defaults")
        results = []
        for label, mode, extra in variants(modes, args.helper_processes):
            out_dir = os.path.join(tmp, f"out-{len(results)}")
            secs, sampler, out = run_pipeline(inp, out_dir, mode, args.workers, args.batch_files,
                                              *extra)
            results.append((label, secs, sampler, out, pipeline_articles(out_dir),
                            folded(out_dir)))
        # the ceiling reads the texts the pipeline extracted: same input to NER on both sides
        articles = results[0][4]
        ceil_s, load_s, spans = ner_ceiling([t for t, _ in articles], args.workers, args.batch)
        bare = []
        if args.breakdown:
            for mode in modes:
                secs, _, _ = run_pipeline(inp, os.path.join(tmp, f"bare-{mode}"), mode,
                                          args.workers, args.batch_files, "--skip_entities")
                bare.append((mode, secs))
    print(f"NER-only ceiling: {ceil_s:6.1f} s  {args.n / ceil_s:7.1f} pages/s  (spaCy nlp.pipe, "
          f"n_process={args.workers}, model load included, on the {len(articles)} articles' texts)")
    for label, secs, sampler, out, arts, folds in results:
        if label == "multi_processing":
            label = f"multi_processing, {args.workers} workers"
        differ = same_entities(arts, spans) if len(arts) == len(spans) else len(arts)
        together = pairs_folded(planted, folds)
        print(f"pipeline, {label}: {secs:7.1f} s  {args.n / secs:7.1f} pages/s  "
              f"{batches_of(out)} batch(es)  ratio to the ceiling {ceil_s / secs:.2f} "
              f"(targets: >= 1.00 at 3,000 pages, >= 0.95 at 1,000)")
        print(f"  entities: {'the same as' if not differ else f'{differ} of {len(arts)} articles differ from'} "
              f"the ceiling's ({sum(len(e) for _, e in arts):,} mentions); planted copies folded: "
              f"{together}/{len(planted)}")
        print(f"  peak RSS per process (MiB): {rss_line(sampler)}")
    for mode, secs in bare:
        print(f"breakdown: {mode} without NER (--skip_entities) {secs:.1f} s; ceiling: spaCy "
              f"import + model load {load_s:.1f} s, nlp.pipe {ceil_s - load_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
