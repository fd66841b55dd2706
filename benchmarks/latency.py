"""How soon a landed file is queryable under ``--watch``, and how fast a burst goes through.

    .venv/bin/python -m benchmarks.latency [--trickle 30] [--every 3] [--burst 300]
                                           [--dataset DIR] [--skip_entities] [extra pipeline args]

1. **Trickle**: starts a watcher (default runner, NER on) on an empty folder, waits until it
   watches, then writes one page every ``--every`` seconds. For each page it takes the moment
   the writer closed the file and the moment its record is first visible through the views
   (``articles``, ``duplicates`` or ``rejects``, read by a separate DuckDB reader polling every
   20 ms). Prints p50, p95 and max of landing -> visible, and the watcher's own per-batch
   seconds (graph, job, commit) from the run history, to show where the time goes.
2. **Burst**: drops ``--burst`` pages at once into a second watched folder and times first
   landing -> last visible; then runs the batch pipeline (same options, a new process) over
   the same files and compares pages per second (the ratio: watch / batch). The peak
   resident memory of the largest process is printed for both.

Pages are ``benchmarks.throughput``'s synthetic ~500-word news pages, or the files of
``--dataset`` (any folder of pages, e.g. a benchmark's ``html/``), taken in name order.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from benchmarks.throughput import PeakRss, make_page, timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pages(n: int, dataset: Optional[str]) -> List[tuple]:
    """(file name, bytes) of ``n`` pages."""
    if not dataset:
        return [(f"page{i:06d}.html", make_page(i)[0].encode()) for i in range(n)]
    names = sorted(os.path.join(d, f) for d, _, fs in os.walk(dataset) for f in fs)
    if len(names) < n:
        raise SystemExit(f"{dataset} has {len(names)} files, fewer than {n}")
    return [(f"{i:06d}-{os.path.basename(p)}", open(p, "rb").read()) for i, p in enumerate(names[:n])]


def start_watcher(land: str, out: str, extra: List[str]):
    """The watcher, its output going to a file (a pipe nobody reads would fill and block it)."""
    log = out + ".log"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--input", land, "--output", out,
                             "--watch", *extra], cwd=ROOT, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    proc.log = log
    deadline = time.time() + 300
    while time.time() < deadline:
        text = open(log).read()
        if "watching" in text:
            return proc, text
        if proc.poll() is not None:
            raise SystemExit("the watcher ended before it watched:\n" + text)
        time.sleep(0.1)
    raise SystemExit("the watcher did not start in 300 s")


class Reader:
    """A DuckDB reader of the output's views, as a user would query them."""

    def __init__(self, out: str):
        self.out, self.con = out, None

    def visible(self) -> set:
        from schemas.views import connect
        try:
            if self.con is None:
                self.con = connect(self.out)
            rows = self.con.execute("""SELECT source_uri FROM articles UNION ALL
                SELECT source_uri FROM duplicates UNION ALL SELECT source_uri FROM rejects""").fetchall()
        except Exception:  # noqa: BLE001 (no catalog yet)
            self.con = None
            return set()
        return {r[0] for r in rows}


def write(path: str, data: bytes) -> float:
    with open(path, "wb") as f:
        f.write(data)
    return time.time()


def stop(proc) -> str:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=300)
    return open(proc.log).read()


def quantile(xs: List[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def batch_seconds(out: str) -> Dict[str, float]:
    """Median graph / job / commit seconds of the output's batches (the run history)."""
    from schemas.views import connect
    rows = connect(out).execute("SELECT timings, started_at, finished_at FROM runs").fetchall()
    graph, job = [], []
    for timings, _s, _f in rows:
        t = json.loads(timings or "{}")
        graph.append(t.get("graph", 0.0))
        job.append(t.get("job", 0.0))
    return {"batches": len(rows), "graph": statistics.median(graph), "job": statistics.median(job)}


def trickle(n: int, every: float, dataset: Optional[str], extra: List[str], tmp: str) -> None:
    land, out = os.path.join(tmp, "trickle-in"), os.path.join(tmp, "trickle-out")
    os.makedirs(land)
    proc, _ = start_watcher(land, out, extra)
    rss = PeakRss(proc.pid)
    rss.start()
    reader = Reader(out)
    landed: Dict[str, float] = {}
    seen: Dict[str, float] = {}
    todo = pages(n, dataset)
    next_at = time.time()
    while todo or len(seen) < len(landed):
        now = time.time()
        if todo and now >= next_at:
            name, data = todo.pop(0)
            landed[os.path.join(land, name)] = write(os.path.join(land, name), data)
            next_at += every
        for uri in reader.visible():
            path = uri.split("#", 1)[0]  # records of JSON files are path#n
            if path in landed and path not in seen:
                seen[path] = time.time()
        if proc.poll() is not None:
            raise SystemExit("the watcher ended:\n" + open(proc.log).read())
        waiting = [t for p, t in landed.items() if p not in seen]
        if waiting and time.time() - min(waiting) > 120:
            raise SystemExit("a page was not visible within 120 s")
        time.sleep(0.02)
    rss.stop.set()
    rest = stop(proc)
    lat = [seen[p] - landed[p] for p in landed]
    where = batch_seconds(out)
    print(f"trickle: {n} pages, one every {every:g}s, NER {'off' if '--skip_entities' in extra else 'on'}")
    print(f"  landing -> visible: p50 {statistics.median(lat):.2f}s  p95 {quantile(lat, 0.95):.2f}s  "
          f"max {max(lat):.2f}s  min {min(lat):.2f}s")
    print(f"  {where['batches']} batches; median per batch: graph {where['graph']:.2f}s, "
          f"Beam job {where['job']:.2f}s (the rest: noticing the file, commit, reader poll)")
    print(f"  watcher peak RSS (its largest process) {max(rss.peaks.values()) / 2**20:.0f} MiB")
    print("  watcher: " + next((line for line in rest.splitlines() if line.startswith("stopped")), "?"))


def burst(n: int, dataset: Optional[str], extra: List[str], tmp: str) -> None:
    land, out = os.path.join(tmp, "burst-in"), os.path.join(tmp, "burst-out")
    staged = os.path.join(tmp, "burst-staged")
    os.makedirs(land)
    os.makedirs(staged)
    files = pages(n, dataset)
    for name, data in files:
        with open(os.path.join(staged, name), "wb") as f:
            f.write(data)
    proc, _ = start_watcher(land, out, extra)
    rss = PeakRss(proc.pid)
    rss.start()
    reader = Reader(out)
    t0 = time.time()
    for name, _ in files:  # a rename is atomic: the whole burst lands within milliseconds
        os.rename(os.path.join(staged, name), os.path.join(land, name))
    want = {os.path.join(land, name) for name, _ in files}
    while True:
        got = {u.split("#", 1)[0] for u in reader.visible()} & want
        if len(got) == len(want):
            break
        if proc.poll() is not None:
            raise SystemExit("the watcher ended:\n" + open(proc.log).read())
        if time.time() - t0 > 3600:
            raise SystemExit("the burst was not visible within an hour")
        time.sleep(0.05)
    watch_s = time.time() - t0
    rss.stop.set()
    stop(proc)
    ref = os.path.join(tmp, "burst-batch")
    batch_s, batch_rss, _ = timed([sys.executable, "-m", "pipeline", "--input", land, "--output", ref,
                                   "--quiet", "--no_report", *extra], cwd=ROOT)
    print(f"burst: {n} pages at once")
    print(f"  watch: all visible {watch_s:.1f}s after landing, {n / watch_s:.1f} pages/s, "
          f"{batch_seconds(out)['batches']} batches; peak RSS (largest process) "
          f"{max(rss.peaks.values()) / 2**20:.0f} MiB")
    print(f"  batch run over the same files (process start and model load included): "
          f"{batch_s:.1f}s, {n / batch_s:.1f} pages/s; peak RSS (largest process) "
          f"{max(batch_rss.peaks.values()) / 2**20:.0f} MiB")
    print(f"  throughput ratio watch / batch: {batch_s / watch_s:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trickle", type=int, default=30, help="pages in the trickle (0: skip)")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between trickled pages")
    ap.add_argument("--burst", type=int, default=300, help="pages in the burst (0: skip)")
    ap.add_argument("--dataset", default=None, help="a folder of pages to use instead of synthetic ones")
    args, extra = ap.parse_known_args(argv)
    tmp = tempfile.mkdtemp(prefix="news-ingest-latency-")
    try:
        if args.trickle:
            trickle(args.trickle, args.every, args.dataset, extra, tmp)
        if args.burst:
            burst(args.burst, args.dataset, extra, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
