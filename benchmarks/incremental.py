"""Scheduled runs over a growing folder: first run, a no-op rerun, then new files against a
large output; time and peak memory per process of each, in one run of this script.

    .venv/bin/python -m benchmarks.incremental [--n 1000] [--add 1000] [--batch_files 1000]
                                               [--skip_entities] [--workers 0]

Generates N distinct ~500-word HTML pages (the throughput benchmark's), then runs the
pipeline as cron would (``python -m pipeline --input DIR --output OUT``):

1. first run over the N pages;
2. the same command again over the unchanged folder (takes nothing);
3. ADD more pages land (one in ten a copy-edited copy of an earlier page), and the same
   command again: only they are read, and their dedup fetches only the sketches of earlier
   articles that share a band key with them (``band hits``) and whose signatures estimate a
   Jaccard of 0.2 (``fetched``), not the whole output.

Peak RSS is sampled from /proc for the driver and any worker process. With the default
in-process runner (``--workers 0``) everything runs in the driver; ``--workers 2`` runs
``--direct_running_mode=multi_processing``.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

from benchmarks.throughput import make_page, timed

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_pages(folder: str, start: int, count: int, copies_of: int = 0) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        if copies_of and i % 10 == 0:  # a copy-edited copy of an earlier page
            html, _ = make_page(i % copies_of)
            html = html.replace(" said ", " stated ", 3).replace("<title>", "<title>Copy: ", 1)
        else:
            html, _ = make_page(i)
        with open(os.path.join(folder, f"page{i:07d}.html"), "w", encoding="utf-8") as f:
            f.write(html)


def run(args, label: str):
    cmd = [sys.executable, "-m", "pipeline", "--input", args.input, "--output", args.output,
           f"--batch_files={args.batch_files}"]
    if args.skip_entities:
        cmd.append("--skip_entities")
    if args.workers:
        cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    seconds, sampler, out = timed(cmd, cwd=HERE)
    peaks = sorted(sampler.peaks.values(), reverse=True)
    looked = sum(int(n) for n in re.findall(r"(\d+) earlier articles fetched", out))
    hits = sum(int(n) for n in re.findall(r"\((\d+) band hits\)", out))
    batches = len(re.findall(r"^batch \d+/\d+ committed", out, re.M))
    arts = sum(int(n) for n in re.findall(r"committed: \d+ files, (\d+) articles", out))
    dups = sum(int(n) for n in re.findall(r"articles, (\d+) duplicates", out))
    print(f"{label:<34} {seconds:8.1f} {batches:8d} {arts:9d} {dups:6d} {hits:10d} {looked:8d} "
          f"{peaks[0] / 2**20 if peaks else 0:10.0f} "
          f"{' '.join(f'{p / 2**20:.0f}' for p in peaks[1:4]) or '-':>12}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="pages of the first run")
    ap.add_argument("--add", type=int, default=1000, help="pages that land before the third run")
    ap.add_argument("--batch_files", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=0, help="0: in-process runner")
    ap.add_argument("--skip_entities", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        args.input, args.output = os.path.join(tmp, "land"), os.path.join(tmp, "out")
        write_pages(args.input, 0, args.n)
        print(f"{args.n} pages, then {args.add} more; batches of {args.batch_files} files; "
              f"{'no NER' if args.skip_entities else 'NER on'}; "
              f"{args.workers or 'in-process'} worker(s)")
        print(f"{'run':<34} {'seconds':>8} {'batches':>8} {'articles':>9} {'dups':>6} "
              f"{'band hits':>10} {'fetched':>8} {'peak MiB':>10} {'others MiB':>12}")
        run(args, f"first run ({args.n} new files)")
        run(args, "rerun, folder unchanged")
        write_pages(args.input, args.n, args.add, copies_of=args.n)
        run(args, f"{args.add} new files against {args.n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
