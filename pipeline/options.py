"""Command-line options of the ingest pipeline (Beam's own options are accepted too)."""
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.decode import DEFAULT_MAX_BYTES
from transforms.dedup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, DEFAULT_THRESHOLD
from transforms.entities import DEFAULT_BATCH, DEFAULT_MODEL


class IngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", action="append", required=False,
                            help="Folder (searched recursively), glob or file; local or any Beam "
                                 "filesystem (gs://, s3://). Repeat for several.")
        parser.add_argument("--output", default="output",
                            help="Output folder: articles/, duplicates/, rejects/ (Parquet).")
        parser.add_argument("--overwrite", action="store_true", default=False,
                            help="Delete the three tables (and the dedup index) under --output "
                                 "before writing. "
                                 "Without it, a run adds its own files (a new run_id).")
        parser.add_argument("--run_id", default=None,
                            help="Run identifier stored in every row (default: UTC time + random).")
        parser.add_argument("--spacy_model", default=DEFAULT_MODEL,
                            help="Installed spaCy pipeline used for NER (package name or path).")
        parser.add_argument("--ner_batch_size", type=int, default=DEFAULT_BATCH,
                            help="Articles per NER batch.")
        parser.add_argument("--skip_entities", action="store_true", default=False,
                            help="Do not run NER (entities stay empty).")
        parser.add_argument("--dedup_threshold", type=float, default=DEFAULT_THRESHOLD,
                            help="Word-shingle Jaccard at which two texts count as one article.")
        parser.add_argument("--no_earlier_runs", action="store_true", default=False,
                            help="Do not fold copies of articles that earlier runs wrote to "
                                 "--output (by default they become duplicates pointing there).")
        parser.add_argument("--minhash_perm", type=int, default=DEFAULT_NUM_PERM,
                            help="MinHash permutations.")
        parser.add_argument("--shingle_words", type=int, default=DEFAULT_SHINGLE,
                            help="Words per shingle.")
        parser.add_argument("--max_file_bytes", type=int, default=DEFAULT_MAX_BYTES,
                            help="Files (or decompressed .gz content) over this become rejects.")
