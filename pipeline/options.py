"""Command-line options of the ingest pipeline (Beam's own options are accepted too)."""
import difflib
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from pipeline.plan import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_FILES
from pipeline.report import DEFAULT_KEEP
from transforms.extract import DEFAULT_MAX_WORDS
from transforms.read.decode import DEFAULT_MAX_BYTES
from transforms.dedup.dedup import (DEFAULT_NUM_PERM, DEFAULT_SHINGLE, DEFAULT_THRESHOLD,
                                    IN_MEMORY_BELOW_BYTES)
from transforms.entities import DEFAULT_BATCH, DEFAULT_MODEL
from transforms.stories import DEFAULT_HORIZON_DAYS, DEFAULT_THRESHOLD as DEFAULT_STORY_THRESHOLD
from transforms.templates import DEFAULT_MIN_PAGES, DEFAULT_MIN_SHARE


class IngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", action="append", required=False,
                            help="Folder (searched recursively), glob or file; local or any Beam "
                                 "filesystem (gs://, s3://). Repeat for several.")
        parser.add_argument("--output", default="output",
                            help="Where the lake's files go. Without --catalog: a local folder "
                                 "(catalog.sqlite + data/). With --catalog: the data path, a local "
                                 "or shared folder, s3://bucket/prefix/ or gs://bucket/prefix/.")
        parser.add_argument("--catalog", default=None,
                            help="A PostgreSQL database for the lake's catalog "
                                 "(postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME or a libpq "
                                 "key=value string), for a lake that workers and readers on other "
                                 "machines reach; default: a SQLite file in --output.")
        parser.add_argument("--report_dir", default=None,
                            help="Local folder for the run reports (default: OUTPUT/_reports, "
                                 "on the data path).")
        parser.add_argument("--overwrite", action="store_true", default=False,
                            help="Delete everything under --output (tables, ledger, history) "
                                 "first. Without it, a run adds only files no earlier run took.")
        parser.add_argument("--reprocess", action="store_true", default=False,
                            help="Take every matched file again, even those earlier runs took "
                                 "unchanged; each replaces its earlier rows.")
        parser.add_argument("--batch_files", type=int, default=DEFAULT_BATCH_FILES,
                            help="Files per micro-batch (each batch is one Beam job and one "
                                 "commit); 0: one batch of everything (distributed runners).")
        parser.add_argument("--batch_bytes", type=int, default=DEFAULT_BATCH_BYTES,
                            help="Bytes of input per micro-batch at most.")
        parser.add_argument("--wait", action="store_true", default=False,
                            help="When another run is writing to --output, wait for it to "
                                 "finish (default: exit with status 2 at once).")
        parser.add_argument("--run_id", default=None,
                            help="Run identifier stored in every row (default: UTC time + random).")
        parser.add_argument("--spacy_model", default=DEFAULT_MODEL,
                            help="Installed spaCy pipeline used for NER (package name or path).")
        parser.add_argument("--ner_batch_size", type=int, default=DEFAULT_BATCH,
                            help="Articles per NER batch.")
        parser.add_argument("--ner_processes", type=int, default=0,
                            help="In-process runs (the default runner): processes that run the "
                                 "NER model beside the driver, kept for the whole run; 0: one "
                                 "per core, at most 4. Other runners' workers load their own.")
        parser.add_argument("--helper_processes", type=int, default=None,
                            help="In-process runs of 100 files or more: processes that extract "
                                 "pages and sketch texts for Dedup beside the driver, kept for "
                                 "the whole run; 0: the driver does it. Default: the cores NER "
                                 "leaves (every core with --skip_entities, none on 4 cores or "
                                 "fewer with NER).")
        parser.add_argument("--skip_entities", action="store_true", default=False,
                            help="Do not run NER (entities stay empty).")
        parser.add_argument("--dedup_threshold", type=float, default=DEFAULT_THRESHOLD,
                            help="Word-shingle Jaccard at which two texts count as one article.")
        parser.add_argument("--no_earlier_runs", action="store_true", default=False,
                            help="Do not fold copies of articles that earlier batches and runs "
                                 "committed (by default they become duplicates pointing there).")
        parser.add_argument("--dedup_in_memory_below", type=int, default=IN_MEMORY_BELOW_BYTES,
                            help="Batches of fewer input bytes find near copies in one "
                                 "in-memory step (same result, fewer shuffles); 0: always "
                                 "the distributed steps.")
        parser.add_argument("--minhash_perm", type=int, default=DEFAULT_NUM_PERM,
                            help="MinHash permutations.")
        parser.add_argument("--shingle_words", type=int, default=DEFAULT_SHINGLE,
                            help="Words per shingle.")
        parser.add_argument("--max_file_bytes", type=int, default=DEFAULT_MAX_BYTES,
                            help="Files (or decompressed .gz content) over this become rejects.")
        parser.add_argument("--max_article_words", type=int, default=DEFAULT_MAX_WORDS,
                            help="Articles with more words of text become too_long rejects "
                                 "(0: no limit); the longest real articles are far shorter.")
        parser.add_argument("--site_template_pages", type=int, default=DEFAULT_MIN_PAGES,
                            help="A line that recurs on at least this many of a site's pages in "
                                 "a batch (and --site_template_share of them) is the site's "
                                 "template (a bio, a prompt, a footer) and leaves its articles; "
                                 "0: keep every line.")
        parser.add_argument("--site_template_share", type=float, default=DEFAULT_MIN_SHARE,
                            help="Share of a site's pages in a batch a template line recurs on "
                                 "(0 to 1; lower takes more boilerplate and risks repeated "
                                 "article paragraphs).")
        parser.add_argument("--story_threshold", type=float, default=DEFAULT_STORY_THRESHOLD,
                            help="Similarity (0 to 1) at which an article joins a story; higher "
                                 "keeps stories apart more, and splits more of one event's "
                                 "coverage.")
        parser.add_argument("--story_horizon_days", type=float, default=DEFAULT_HORIZON_DAYS,
                            help="An article is compared with the articles of a story within "
                                 "this many days of it: a story quiet for longer is not continued, "
                                 "and one that runs for days is judged by its latest coverage.")
        parser.add_argument("--watch", action="store_true", default=False,
                            help="Keep running: ingest files as they land under --input "
                                 "(complete ones only), until Ctrl-C or SIGTERM.")
        parser.add_argument("--settle_seconds", type=float, default=2.0,
                            help="--watch: a file with no close event is complete once its size "
                                 "and time stayed the same this long.")
        parser.add_argument("--poll_seconds", type=float, default=5.0,
                            help="--watch: how often inputs on object stores are listed.")
        parser.add_argument("--window_seconds", type=float, default=60.0,
                            help="--streaming: landing-time window whose records commit together.")
        parser.add_argument("--allowed_lateness", type=float, default=600.0,
                            help="--streaming: seconds after a window's end in which late records "
                                 "still commit into it (each late one in a further commit).")
        parser.add_argument("--quiet", action="store_true", default=False,
                            help="Print only the final summary (no progress, no per-batch lines).")
        parser.add_argument("--progress_interval", type=float, default=10.0,
                            help="Seconds between progress lines when stdout is not a terminal "
                                 "(a terminal gets progress bars).")
        parser.add_argument("--no_report", action="store_true", default=False,
                            help="Do not write the run's HTML report (OUTPUT/_reports/RUN_ID.html).")
        parser.add_argument("--keep_reports", type=int, default=DEFAULT_KEEP,
                            help="Per-run reports kept in OUTPUT/_reports, newest first (0: all); "
                                 "`python -m pipeline report OUTPUT --run RUN_ID` rewrites any.")


def _option_classes(cls=PipelineOptions):
    for sub in cls.__subclasses__():
        yield sub
        yield from _option_classes(sub)


def unknown_option(argv) -> Optional[str]:
    """An error line for the first option in ``argv`` that neither this pipeline nor Beam
    knows, naming the closest valid one; None when all are known. (Beam itself only logs a
    warning and drops such an option, so a typo would silently run with a default.)"""
    parser = _BeamArgumentParser(allow_abbrev=False, conflict_handler="resolve", add_help=False)
    for cls in set(_option_classes()):
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(argv)
    for arg in unknown:
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        valid = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f": did you mean {close[0]}?" if close else ": `python -m pipeline --help` lists the options"
        return f"unknown option {name}{hint}"
    return None


# Beam options whose values are secrets: the run history names them, never their values.
SECRET_OPTIONS = ("s3_secret_access_key", "s3_access_key_id", "s3_session_token",
                  "azure_connection_string")


def settings(options: PipelineOptions) -> dict:
    """What a run was asked to do, for its history: every ingest option (defaults included:
    they may change between versions) and the Beam options the user set; no password or
    key (a catalog's password shows as ***)."""
    parser = _BeamArgumentParser(add_help=False)
    IngestOptions._add_argparse_args(parser)
    ours = {a.dest for a in parser._actions}
    everything = options.get_all_options(drop_default=False)
    given = options.get_all_options(drop_default=True)
    mine = {k: everything[k] for k in sorted(ours)}
    if mine.get("catalog"):
        from schemas.catalog import Lake
        mine["catalog"] = Lake(mine.get("output") or "", mine["catalog"]).shown()
    return {**mine,
            "beam": {k: ("***" if k in SECRET_OPTIONS and v else v)
                     for k, v in sorted(given.items()) if k not in ours}}
