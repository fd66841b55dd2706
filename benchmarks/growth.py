"""Cost per batch as the lake grows: seconds and peak memory of each micro-batch of one run.

    .venv/bin/python -m benchmarks.growth [--n 50000] [--batch_files 1000] [--ner]
                                          [--workers 0] [--keep DIR] [--then M]

Generates N ~500-word HTML pages (the throughput benchmark's, one in twenty a planted exact
or copy-edited copy of an earlier page, so that lookups against earlier batches find
something), dated as a feed that a daily scheduled run takes: ``--per_day`` pages a day, in
file order (``--per_day 0``: the throughput benchmark's dates, 90 days that every batch
covers, so that each batch's story lookup reaches the whole lake). It runs the pipeline once
over them with the default micro-batches (without NER unless ``--ner``), and prints, for
the first batch and for the batches that end at about a tenth, a quarter, half and all of
the pages:

- the batch's seconds, from its start to the line that says it committed (its Beam job and
  its commit; the run's compaction and report after the last one are not in it), and the
  job's own stage seconds from the run history;
- the peak resident memory of the driver (and, with ``--workers``, of the largest worker)
  while the batch ran, sampled from /proc every 0.2 s;
- the earlier articles its lookups fetched (its band hits);

then the last batch's figures over the first's and the second's (the first looks nothing up:
the lake is empty), beside the target (within 10%), the means of the first and last tenth
of the batches, and every batch's figures.

``--then M``: afterwards, a second run takes M new pages dated the next day, against the
lake as the first run left it (compacted at its end once a table has more than 64 files):
what tomorrow's scheduled run meets. Its batch's seconds and driver peak are printed over
the first run's first batch (both extract their own pages in a fresh process) and second
(both look up earlier articles).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from benchmarks.throughput import PeakRss, write_pages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RssTimeline(PeakRss):
    """Samples every process of a tree; keeps (time, driver RSS, largest other RSS)."""

    def __init__(self, root_pid: int, every: float = 0.2):
        super().__init__(root_pid, every)
        self.samples: List[Tuple[float, int, int]] = []

    def run(self):
        while not self.stop.is_set():
            rss: Dict[int, int] = {}
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        rss[pid] = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    continue
            others = [v for p, v in rss.items() if p != self.root]
            self.samples.append((time.time(), rss.get(self.root, 0), max(others, default=0)))
            time.sleep(self.every)


def dated_by_arrival(folder: str, per_day: int, first: int = 0) -> None:
    """Gives page i the publication date ``i // per_day`` days after 2024-01-01 (a planted
    copy keeps its original's page, so it is dated on the day it lands, like a reprint);
    ``first``: the number of the folder's first page."""
    import datetime
    import re
    start = datetime.date(2024, 1, 1)
    for i, name in enumerate(sorted(os.listdir(folder)), start=first):
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as f:
            html = f.read()
        day = start + datetime.timedelta(days=i // per_day)
        html = re.sub(r"(article:published_time' content=')[^']*'",
                      lambda m: f"{m.group(1)}{day.isoformat()}T08:00:00Z'", html, count=1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)


def batches(output: str) -> List[tuple]:
    """(batch, started epoch s, job stage seconds) of the run in ``output``, in order."""
    import json
    from schemas.views import connect
    con = connect(output)
    rows = con.execute("SELECT batch, epoch(started_at), timings, articles FROM runs "
                       "ORDER BY batch").fetchall()
    con.close()
    return [(b, s, json.loads(t).get("stages", {}), a) for b, s, t, a in rows]


def pipeline_command(args, pages: str, out: str, overwrite: bool) -> List[str]:
    """The pipeline's command line for ``pages`` into ``out`` with the benchmark's settings."""
    cmd = [sys.executable, "-m", "pipeline", "--input", pages, "--output", out,
           "--progress_interval", "3600"] + (["--overwrite"] if overwrite else [])
    if args.batch_files is not None:
        cmd.append(f"--batch_files={args.batch_files}")
    if not args.ner:
        cmd.append("--skip_entities")
    if args.workers:
        cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    return cmd


def run_pipeline(cmd: List[str]) -> Tuple[List[float], RssTimeline, float]:
    """Runs the pipeline; (when each batch's line said it committed, the RSS samples, the
    end)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = RssTimeline(proc.pid)
    sampler.start()
    committed, printed = [], []
    for line in proc.stdout:  # each batch ends when its line says it committed
        printed.append(line)
        if line.startswith("batch ") and " committed" in line:
            committed.append(time.time())
    proc.wait()
    end = time.time()
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"the pipeline failed:\n{''.join(printed)[-3000:]}")
    return committed, sampler, end


def then_run(args, tmp: str, out: str, articles: int, first: tuple, second: tuple) -> None:
    """``--then``: a second run of new pages against the lake the first left. Its one batch
    is set beside the first run's first batch (both extract their own pages in a fresh
    process) and its second (both look up earlier articles)."""
    from benchmarks.incremental import write_pages as write_page_range
    pages = os.path.join(tmp, "next")
    write_page_range(pages, args.n, args.then)  # pages N.. (new, distinct)
    if args.per_day:
        dated_by_arrival(pages, args.per_day, first=args.n)
    committed, sampler, end = run_pipeline(pipeline_command(args, pages, out, overwrite=False))
    last = max(batches(out), key=lambda r: r[1])  # the second run's batch: the latest
    stop = committed[0] if len(committed) == 1 else end
    secs = stop - last[1]
    peak = max((x[1] for x in sampler.samples if last[1] <= x[0] < stop), default=0)
    print(f"next run: {args.then} new pages against {articles:,} articles (the lake as the "
          f"first run left it): {secs:.1f} s, driver peak {peak / 2**20:.0f} MiB")
    for label, ref in (("first", first), ("second", second)):
        print(f"next run / the first run's {label} batch: seconds {secs / ref[2]:.2f}, driver "
              f"peak RSS {peak / ref[4]:.2f} (target: within 10%)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--batch_files", type=int, default=None,
                    help="default: the pipeline's default micro-batches")
    ap.add_argument("--ner", action="store_true", help="with NER (default: --skip_entities)")
    ap.add_argument("--per_day", type=int, default=1000,
                    help="pages published a day, in file order; 0: every batch covers the "
                         "same 90 days")
    ap.add_argument("--workers", type=int, default=0, help="0: the in-process runner")
    ap.add_argument("--keep", default=None, help="write pages and lake here (kept)")
    ap.add_argument("--then", type=int, default=0,
                    help="then a second run of this many new pages against the lake the "
                         "first run left")
    args = ap.parse_args(argv)
    tmp = args.keep or tempfile.mkdtemp(prefix="growth-")
    pages, out = os.path.join(tmp, "pages"), os.path.join(tmp, "out")
    if not os.path.isdir(pages):
        write_pages(pages, args.n, 0.05)
        if args.per_day:
            dated_by_arrival(pages, args.per_day)
    t0 = time.time()
    committed, sampler, end = run_pipeline(pipeline_command(args, pages, out, overwrite=True))
    runs = batches(out)
    # a batch: from its start to its commit (the run's compaction and report come after)
    starts = [s for _, s, _, _ in runs]
    ends = committed if len(committed) == len(runs) else starts[1:] + [end]
    print(f"{args.n} pages ({args.per_day or 'the same 90 days'} a day), {len(runs)} batches, "
          f"{'NER on' if args.ner else 'no NER'}, "
          f"{args.workers or 'in-process'} worker(s): {end - t0:.1f} s in all")
    print(f"{'batch':>6} {'articles before':>16} {'seconds':>8} {'extract':>8} {'dedup':>7} "
          f"{'stories':>8} {'driver MiB':>11} {'worker MiB':>11}")
    rows, before = [], 0
    for i, (b, s, stages, articles) in enumerate(runs):
        window = [x for x in sampler.samples if starts[i] <= x[0] < ends[i]]
        rows.append((b, before, ends[i] - starts[i], stages,
                     max((x[1] for x in window), default=0), max((x[2] for x in window), default=0)))
        before += articles or 0
    marks = {0, 1, len(rows) - 1} | {min(len(rows) - 1, round(len(rows) * f) - 1) for f in (0.1, 0.25, 0.5)}
    for i in sorted(m for m in marks if 0 <= m < len(rows)):
        b, prior, secs, st, drv, wrk = rows[i]
        print(f"{b:>6} {prior:>16,} {secs:>8.1f} {st.get('extract', 0):>8.1f} {st.get('dedup', 0):>7.1f} "
              f"{st.get('stories', 0):>8.1f} {drv / 2**20:>11.0f} {wrk / 2**20 if wrk else 0:>11.0f}")
    if len(rows) >= 3:
        # the first batch looks nothing up: compare the last with the second as well
        for label, ref in (("first", rows[0]), ("second", rows[1])):
            print(f"last batch / {label}: seconds {rows[-1][2] / ref[2]:.2f}, driver peak RSS "
                  f"{rows[-1][4] / ref[4]:.2f} (target: within 10%, 0.90-1.10)")
        tenth = max(1, len(rows) // 10)
        head, tail = rows[1:1 + tenth], rows[-tenth:]
        for k, name in ((2, "seconds"), (4, "driver peak MiB")):
            scale = 1 if k == 2 else 2**20
            a = sum(r[k] for r in head) / len(head) / scale
            z = sum(r[k] for r in tail) / len(tail) / scale
            print(f"{name}: batches 2-{1 + tenth} mean {a:.1f}, last {tenth} mean {z:.1f}: {z / a:.2f}")
        print("every batch's seconds: " + " ".join(f"{r[2]:.1f}" for r in rows))
        print("every batch's driver peak MiB: " + " ".join(f"{r[4] / 2**20:.0f}" for r in rows))
    if args.then and len(rows) >= 2:
        then_run(args, tmp, out, before, rows[0], rows[1])
    if not args.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
