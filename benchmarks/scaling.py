"""How the pipeline scales with worker processes on one machine, in one command.

    .venv/bin/python -m benchmarks.scaling [--n 5000] [--workers 1,2,4,8,16]
                                          [--batch_files 0] [--skip_entities] [--plot SVG]
                                          [--runner multi_processing|portable]
                                          [--lake local|remote|both]

``--runner portable``: through Beam's portable runner API (its job service and a worker pool
started here, workers booting as on a cluster: ``tests/servers.py``), W SDK workers
(``--direct_num_workers``, which the job service's runner takes). ``--lake remote``: into a
lake whose catalog is a real PostgreSQL and whose data path is on a real S3-compatible store,
both started here on 127.0.0.1 (the test extra's servers); ``both``: each worker count into
both lakes, the local one first (its baseline in the same run).

Generates N distinct ~500-word news pages (``benchmarks.throughput``'s), then runs the whole
pipeline on them once per worker count (``multi_processing`` with W SDK worker processes,
``--quiet --no_report``; ``--batch_files 0``: one Beam job over all pages, as on a cluster),
timing each run from start to exit and sampling the resident memory of every process of it.
Prints, per worker count: seconds, pages per second, speed-up over the fewest workers, the
efficiency (speed-up / worker ratio), the largest worker's peak RSS and the driver's, and
checks that every run wrote the same number of articles. ``--plot`` also draws the curve
(pages per second against workers, with the ideal line) to an SVG file.

Worker counts above the machine's cores are skipped, with a note: they would measure the
scheduler, not the pipeline.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from typing import Dict, List

from benchmarks.throughput import timed, write_pages


def role(cmd: str) -> str:
    if "sdk_worker" in cmd or "worker_pool" in cmd:
        return "worker"
    return "driver" if "-m pipeline" in cmd else "other"


def run(inp: str, where: List[str], workers: int, batch_files: int, skip_entities: bool,
        runner: List[str] = ()) -> Dict:
    cmd = [sys.executable, "-m", "pipeline", "--input", inp, *where, "--overwrite",
           "--quiet", "--no_report", f"--batch_files={batch_files}",
           *(runner or ["--direct_running_mode=multi_processing"]), f"--direct_num_workers={workers}"]
    if skip_entities:
        cmd.append("--skip_entities")
    seconds, sampler, output = timed(cmd)
    peaks: Dict[str, int] = {}
    for pid, rss in sampler.peaks.items():
        r = role(sampler.names[pid])
        peaks[r] = max(peaks.get(r, 0), rss)
    articles = next((int(l.split()[1]) for l in output.splitlines()
                     if l.strip().startswith("articles:")), None)
    return {"workers": workers, "seconds": seconds, "peaks": peaks, "articles": articles}


def plot(rows: List[Dict], n: int, path: str) -> None:
    """The curve and the linear ideal from the first count, as an SVG file."""
    from pipeline.report.plots import ACCENT, COLOR, lines
    ws = [r["workers"] for r in rows]
    rates = [n / r["seconds"] for r in rows]
    base = rates[0] / ws[0]
    svg = lines(ws, [("pipeline", rates, COLOR), ("ideal (linear)", [base * w for w in ws], ACCENT)],
                xlabel="worker processes", ylabel="pages per second", title=f"{n} pages, one machine")
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--batch_files", type=int, default=0)
    ap.add_argument("--skip_entities", action="store_true")
    ap.add_argument("--plot", default=None, help="also draw the curve to this SVG file")
    ap.add_argument("--runner", choices=("multi_processing", "portable"), default="multi_processing")
    ap.add_argument("--lake", choices=("local", "remote", "both"), default="local")
    args = ap.parse_args(argv)
    with _services(args.runner, args.lake) as (runner, lakes):
        return _measure(args, runner, lakes)


@contextlib.contextmanager
def _services(runner: str, lake: str):
    """(runner options, {lake name: function of a run's name -> where options}), with the
    servers they need started here and stopped at the end."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))  # the test servers (no package of their own)
    started = []
    try:
        options: List[str] = []
        if runner == "portable":
            from servers import PortableRunnerServices
            started.append(PortableRunnerServices().start())
            options = started[-1].options()
        lakes = {}
        if lake in ("local", "both"):
            lakes["local"] = lambda name, tmp: ["--output", os.path.join(tmp, name)]
        if lake in ("remote", "both"):
            from servers import Postgres, SeaweedS3
            pg, s3 = Postgres().start(), None
            started.append(pg)
            s3 = SeaweedS3().start()
            started.append(s3)
            lakes["remote"] = lambda name, tmp: ["--catalog", pg.create_database(name),
                                                 "--output", f"s3://lake/{name}", *s3.beam_options()]
        yield options, lakes
    finally:
        for s in reversed(started):
            s.stop()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _measure(args, runner: List[str], lakes) -> int:
    cores = os.cpu_count() or 1
    wanted = [int(w) for w in args.workers.split(",") if w.strip()]
    counts = [w for w in wanted if w <= cores]
    skipped = [w for w in wanted if w > cores]
    if not counts:
        raise SystemExit(f"no worker count fits this machine's {cores} cores")
    # the portable runner's workers have a private /tmp: pages and a local lake must be where
    # they can see them (a shared disk), as on a cluster that mounts one
    with tempfile.TemporaryDirectory(dir="/var/tmp" if runner else None) as tmp:
        inp = os.path.join(tmp, "pages")
        write_pages(inp, args.n)
        print(f"{args.n} pages, {cores} cores, NER {'off' if args.skip_entities else 'on'}, "
              f"batch_files={args.batch_files}, runner {args.runner}, lake {args.lake}"
              + (f"; skipped {skipped} (more workers than cores)" if skipped else ""))
        by_lake: Dict[str, List[Dict]] = {name: [] for name in lakes}
        for w in counts:
            for name, where in lakes.items():
                by_lake[name].append(run(inp, where(f"{name}{w}_{os.getpid()}", tmp), w,
                                         args.batch_files, args.skip_entities, runner))
                r = by_lake[name][-1]
                print(f"  {w:2d} workers, {name} lake: {r['seconds']:7.1f} s", flush=True)
    for name, rows in by_lake.items():
        print(f"\n{name} lake, {args.runner}:")
        table(rows, args.n)
    articles = {r["articles"] for rows in by_lake.values() for r in rows}
    print("articles written: " + (f"{articles.pop()} in every run" if len(articles) == 1
                                  else f"DIFFER between runs: "
                                       f"{[r['articles'] for rows in by_lake.values() for r in rows]}"))
    if args.plot:
        plot(next(iter(by_lake.values())), args.n, args.plot)
        print(f"plot: {args.plot}")
    return 0


def table(rows: List[Dict], n: int) -> None:
    first = rows[0]
    print(f"{'workers':>7} {'seconds':>8} {'pages/s':>8} {'speed-up':>8} {'efficiency':>10} "
          f"{'worker peak':>11} {'driver peak':>11}")
    for r in rows:
        speedup = first["seconds"] / r["seconds"]
        print(f"{r['workers']:7d} {r['seconds']:8.1f} {n / r['seconds']:8.1f} {speedup:7.2f}x "
              f"{speedup / (r['workers'] / first['workers']):10.2f} "
              f"{r['peaks'].get('worker', 0) / 2**20:8.0f} MiB {r['peaks'].get('driver', 0) / 2**20:8.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
