"""What the remote lake costs against the local one, on the same pages, in one command.

    .venv/bin/python -m benchmarks.remote_lake [--n 1000] [--batch_files 250] [--ner]
                                              [--rounds 2]

Generates N distinct ~500-word news pages (``benchmarks.throughput``'s), starts a real
PostgreSQL and a real S3-compatible store on 127.0.0.1 (``tests/servers.py``: the test
servers, from the test extra's wheels), and runs the pipeline over the pages once into a
local lake (SQLite catalog, local folder) and once into a remote one (PostgreSQL catalog,
data on the store), alternating which goes first over ``--rounds`` rounds; then a no-op
rerun of each (nothing new). The runner is the default in-process one, NER off unless
``--ner`` (it is the same work on both lakes).

Prints per lake: the run's seconds, per batch the job's seconds (read, extract, dedup,
write), the write stage's own seconds (the Parquet files going to the folder or the store)
and the commit's seconds (one catalog transaction), and the no-op rerun's seconds; the
remote figures beside the local ones as ratios. Targets: none set by the issue; the
embedded default is the baseline, and the remote lake should add seconds per batch, not a
factor.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from typing import Dict, List

from benchmarks.throughput import timed, write_pages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the test servers (no package of their own)


def batches_of(lake) -> List[Dict[str, float]]:
    from schemas.views import connect
    con = connect(lake)
    try:
        rows = con.execute("SELECT timings FROM runs ORDER BY batch").fetchall()
    finally:
        con.close()
    out = []
    for (t,) in rows:
        t = json.loads(t)
        out.append({"job": t["job"], "write": t["stages"].get("write", 0.0)})
    return out


def commit_seconds(printed: str) -> List[float]:
    import re
    return [float(x) for x in re.findall(r"commit (\d+\.\d)\)", printed)]


def one(args: List[str], extra: List[str]) -> Dict:
    cmd = [sys.executable, "-m", "pipeline", *args, "--no_report", *extra]
    seconds, _, printed = timed(cmd, cwd=ROOT)
    return {"seconds": seconds, "printed": printed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch_files", type=int, default=250)
    ap.add_argument("--ner", action="store_true", help="run NER too (default: --skip_entities)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    from schemas.catalog import Lake, storage_settings
    from servers import Postgres, SeaweedS3
    extra = [f"--batch_files={args.batch_files}"] + ([] if args.ner else ["--skip_entities"])
    pg, s3 = Postgres().start(), SeaweedS3().start()
    results: Dict[str, List[Dict]] = {"local": [], "remote": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pages = os.path.join(tmp, "pages")
            write_pages(pages, args.n)
            print(f"{args.n} pages, batches of {args.batch_files}, NER {'on' if args.ner else 'off'}, "
                  f"in-process runner, {args.rounds} alternating round(s)", flush=True)
            for r in range(args.rounds):
                order = ["local", "remote"] if r % 2 == 0 else ["remote", "local"]
                for kind in order:
                    if kind == "local":
                        out = os.path.join(tmp, f"local{r}")
                        where, lake = ["--output", out], out
                    else:
                        name = f"bench{r}_{os.getpid()}"
                        catalog = pg.create_database(name)
                        where = ["--catalog", catalog, "--output", f"s3://lake/{name}", *s3.beam_options()]
                        lake = Lake(f"s3://lake/{name}", catalog, storage_settings(env=s3.env()))
                    run = one(["--input", pages, *where], extra)
                    again = one(["--input", pages, *where], extra)
                    assert "0 batch(es)" in again["printed"], again["printed"][-2000:]
                    results[kind].append({"seconds": run["seconds"], "noop": again["seconds"],
                                          "batches": batches_of(lake),
                                          "commit": commit_seconds(run["printed"])})
                    print(f"  round {r + 1} {kind:6s}: {run['seconds']:6.1f} s, no-op rerun "
                          f"{again['seconds']:4.1f} s", flush=True)
    finally:
        s3.stop()
        pg.stop()

    def med(kind, f):
        return statistics.median(f(x) for x in results[kind])

    def per_batch(key):
        return lambda x: statistics.mean(b[key] for b in x["batches"])

    rows = [("run (s)", lambda x: x["seconds"]),
            ("job per batch (s)", per_batch("job")),
            ("  of it, write stage (s)", per_batch("write")),
            ("commit per batch (s)", lambda x: statistics.mean(x["commit"])),
            ("no-op rerun (s)", lambda x: x["noop"])]
    print(f"\n{'median over rounds':<26} {'local':>8} {'remote':>8} {'remote/local':>12}")
    for label, f in rows:
        lo, re_ = med("local", f), med("remote", f)
        print(f"{label:<26} {lo:8.2f} {re_:8.2f} {re_ / lo if lo else float('nan'):11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
