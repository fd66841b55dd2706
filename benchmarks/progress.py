"""What progress reporting and the run report cost, in one run.

    .venv/bin/python -m benchmarks.progress [--n 500] [--repeats 3] [--workers 0]

Generates N distinct news pages (as ``benchmarks.throughput``), then runs the whole pipeline
on them ``--repeats`` times in each of two modes, alternating so that drift on a shared
machine hits both alike:

- ``quiet``: ``--quiet --no_report``: no progress folder, no files written by the workers,
  no polling by the driver (the stages still count in memory and in Beam metrics, which the
  run history's timings need: that part is timed apart, below);
- ``progress``: progress lines every second (stdout is a pipe; ten times the default rate),
  the workers writing their tallies, the driver polling them, ``--no_report``;

and prints each mode's median wall time and the overhead of progress in per cent. It then
times writing the run's report (``python -m pipeline report OUTPUT --run RUN_ID``, charts and
all), and the cost of one ``Tally.add`` call in a loop, times the calls a page makes.
``--workers 0`` uses the default runner (in-process); N > 0 uses N ``multi_processing`` workers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.throughput import write_pages

# Tally.add calls per page through a batch: read 1, extract 1, dedup ~2 (sketch, resolve),
# ner ~1 per page plus one per NER batch, write 1 per row of the user tables.
CALLS_PER_PAGE = 6


def run(inp: str, out: str, workers: int, *extra: str) -> float:
    cmd = [sys.executable, "-m", "pipeline", "--input", inp, "--output", out, "--overwrite",
           "--run_id", os.path.basename(out), "--batch_files=0", *extra]
    if workers:
        cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"pipeline failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def tally_cost(calls: int = 200_000) -> float:
    """Seconds per ``Tally.add`` with a progress folder (the counting a page's stages do)."""
    from transforms.progress import Tally
    with tempfile.TemporaryDirectory() as folder:
        t = Tally(folder, "extract")
        t0 = time.perf_counter()
        for _ in range(calls):
            t.add(1, 0.001, rejected=0)
        return (time.perf_counter() - t0) / calls


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "pages")
        write_pages(inp, args.n)
        runner = f"{args.workers} multi_processing workers" if args.workers else "the default runner"
        print(f"{args.n} pages, {runner}, {args.repeats} runs per mode, alternating")
        times = {"quiet": [], "progress": []}
        for r in range(args.repeats):
            for mode in (("quiet", "progress") if r % 2 == 0 else ("progress", "quiet")):
                extra = (["--quiet"] if mode == "quiet" else ["--progress_interval", "1"])
                times[mode].append(run(inp, os.path.join(tmp, f"{mode}{r}"), args.workers,
                                       "--no_report", *extra))
                print(f"  run {r + 1} {mode:<8} {times[mode][-1]:6.1f} s")
        quiet, progress = (statistics.median(times[m]) for m in ("quiet", "progress"))
        print(f"median quiet   : {quiet:6.1f} s  ({args.n / quiet:.1f} pages/s)")
        print(f"median progress: {progress:6.1f} s  ({args.n / progress:.1f} pages/s)")
        print(f"progress overhead: {100 * (progress - quiet) / quiet:+.1f}% "
              f"(spread of quiet runs: {min(times['quiet']):.1f}-{max(times['quiet']):.1f} s)")
        t0 = time.perf_counter()
        out = os.path.join(tmp, "progress0")
        done = subprocess.run([sys.executable, "-m", "pipeline", "report", out, "--run", "progress0"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        report_s = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(out, "_reports", "progress0.html"))
    per_call = tally_cost()
    print(f"report of the run: {report_s:.2f} s to write (process start included), {size / 1024:.0f} KiB")
    print(f"Tally.add: {per_call * 1e9:.0f} ns per call; ~{CALLS_PER_PAGE} calls per page = "
          f"{CALLS_PER_PAGE * per_call * 1e6:.1f} us per page, "
          f"{100 * CALLS_PER_PAGE * per_call * args.n / quiet:.3f}% of the quiet run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
