"""Arrow schemas of every table of the output: the contract DuckDB users query.

The output is a DuckLake (``schemas.catalog``): these schemas are the tables' columns there
(the catalog's tables are created from them) and the columns of the Parquet files that Beam
writes and each commit registers. ``TABLES`` are what users query; ``INTERNAL`` are the
pipeline's own memory (dedup sketches, the ledger of taken files and records, run history),
queryable too.
"""
import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

ENTITY = pa.struct([
    ("text", pa.string()),
    ("label", pa.string()),
    ("start_char", pa.int32()),
    ("end_char", pa.int32()),
    ("canonical", pa.string()),
])

ENTITY_COUNT = pa.struct([
    ("canonical", pa.string()),
    ("label", pa.string()),
    ("count", pa.int32()),
])

ARTICLES = pa.schema([
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("source_uri", pa.string(), nullable=False),
    ("url", pa.string()),
    ("title", pa.string()),
    ("published_at", UTC_MICROS),
    ("modified_at", UTC_MICROS),   # the last update the page declares
    pa.field("text", pa.string(), nullable=False),
    pa.field("word_count", pa.int32(), nullable=False),
    ("language", pa.string()),
    ("authors", pa.list_(pa.string())),
    ("site_name", pa.string()),
    # the story (``transforms.stories``): the article id of the story's first article; a
    # story merged into an older one takes that one's id (``story_merges``)
    ("story_id", pa.string()),
    ("entities", pa.list_(ENTITY)),
    ("entity_counts", pa.list_(ENTITY_COUNT)),
    ("ner_skipped", pa.string()),
    ("text_hash", pa.string()),
    ("size_bytes", pa.int64()),
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

DUPLICATES = pa.schema([
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("canonical_id", pa.string(), nullable=False),
    pa.field("similarity", pa.float64(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("measure", pa.string(), nullable=False),
    pa.field("matched_id", pa.string(), nullable=False),
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

REJECTS = pa.schema([
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    ("detail", pa.string()),
    ("size_bytes", pa.int64()),
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

TABLES = {"articles": ARTICLES, "duplicates": DUPLICATES, "rejects": REJECTS}

# The sketches of every article the output holds, so that a later batch folds copies of them
# (``transforms.dedup.index``). Looked up by key, never read whole: by ``text_hash`` for
# exact copies, through ``dedup_bands`` (one row per LSH band key) for near ones.
DEDUP_INDEX = pa.schema([
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("text_hash", pa.string(), nullable=False),
    pa.field("word_count", pa.int32(), nullable=False),
    ("published_at_us", pa.int64()),
    pa.field("signature", pa.binary(), nullable=False),
    pa.field("shingles", pa.binary(), nullable=False),
    pa.field("facts", pa.binary(), nullable=False),
    pa.field("num_perm", pa.int32(), nullable=False),
    pa.field("shingle_words", pa.int32(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    # which version of which page it is (``transforms.dedup.dedup.page_key``): the newest
    # version of a page is its group's article, whatever run takes it
    ("page_key", pa.string()),
    ("version_us", pa.int64()),
    # false: a duplicate's capture of its page, found by page only (never a fold target)
    ("kept", pa.bool_()),
])

DEDUP_BANDS = pa.schema([
    pa.field("band_key", pa.string(), nullable=False),
    pa.field("article_id", pa.string(), nullable=False),
])

# What story assignment keeps of every article, so that a later batch continues the stories
# earlier ones made. Looked up by language and time (the horizon around the batch's
# articles), never read whole.
STORY_INDEX = pa.schema([
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("story_id", pa.string(), nullable=False),
    pa.field("time_us", pa.int64(), nullable=False),   # published, else ingested
    pa.field("dated", pa.bool_(), nullable=False),      # whether time_us is a publication time
    pa.field("language", pa.string(), nullable=False),
    pa.field("terms", pa.binary(), nullable=False),    # sorted uint64 term hashes
    pa.field("weights", pa.binary(), nullable=False),  # float32, L2-normalised
    pa.field("run_id", pa.string(), nullable=False),
])

# The lineage of stories: a story committed earlier that a bridging article merged into an
# older one (whose id its articles now carry).
STORY_MERGES = pa.schema([
    pa.field("story_id", pa.string(), nullable=False),
    pa.field("into_id", pa.string(), nullable=False),
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("similarity", pa.float64(), nullable=False),
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

# The ledger: which files each commit took, and what they held. A file is looked at again
# only when its size or modification time differs from its row here; it is taken again only
# when its bytes' hash differs too (``content_hash``).
INGEST_FILES = pa.schema([
    pa.field("file_uri", pa.string(), nullable=False),
    pa.field("size_bytes", pa.int64(), nullable=False),
    pa.field("modified_at", UTC_MICROS),
    pa.field("content_hash", pa.string()),   # null: unreadable (the reject says why)
    pa.field("records", pa.int32(), nullable=False),
    pa.field("state", pa.string(), nullable=False),  # new, changed, unchanged, unreadable
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

# One row per input record (a file, or a JSON/JSONL record ``path#N``) that some table holds;
# ``record_hash`` lets a changed JSON Lines file re-take only its new or changed lines.
INGEST_RECORDS = pa.schema([
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("file_uri", pa.string(), nullable=False),
    pa.field("record_hash", pa.string(), nullable=False),
    pa.field("state", pa.string(), nullable=False),  # new or changed (staged rows: also kept)
    pa.field("ingested_at", UTC_MICROS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

# One row per commit (a run commits one micro-batch at a time).
RUNS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("batch", pa.int32(), nullable=False),        # 1-based, within the run
    pa.field("batches", pa.int32(), nullable=False),      # planned when the run started
    pa.field("commit_id", pa.string(), nullable=False),   # names the batch's file folder
    pa.field("started_at", UTC_MICROS, nullable=False),
    pa.field("finished_at", UTC_MICROS, nullable=False),
    pa.field("files_found", pa.int64(), nullable=False),  # matched by the inputs (whole run)
    pa.field("files_skipped", pa.int64(), nullable=False),  # already taken (whole run)
    pa.field("files_new", pa.int32(), nullable=False),
    pa.field("files_changed", pa.int32(), nullable=False),
    pa.field("files_unchanged", pa.int32(), nullable=False),  # touched, same bytes
    pa.field("articles", pa.int64(), nullable=False),
    pa.field("duplicates", pa.int64(), nullable=False),
    pa.field("rejects", pa.int64(), nullable=False),
    pa.field("replaced", pa.int64(), nullable=False),     # records of an earlier version removed
    pa.field("options", pa.string(), nullable=False),     # JSON
    pa.field("code_version", pa.string(), nullable=False),
    # JSON: seconds of the batch's graph building and job, and the workers' own seconds per
    # stage (read, extract, dedup, ner, write; summed over workers). Null in runs before it.
    pa.field("timings", pa.string()),
    # articles of earlier commits that a record of this batch replaced as their group's
    # article (``dedup``'s rule), and how many of them were older versions of its page
    pa.field("superseded", pa.int64()),
    pa.field("versions_superseded", pa.int64()),
])

# Tables whose rows a batch writes through Beam (staged Parquet, registered at commit).
STAGED = {**TABLES, "dedup_index": DEDUP_INDEX, "dedup_bands": DEDUP_BANDS,
          "story_index": STORY_INDEX, "story_merges": STORY_MERGES,
          "ingest_files": INGEST_FILES, "ingest_records": INGEST_RECORDS}
INTERNAL = {"dedup_index": DEDUP_INDEX, "dedup_bands": DEDUP_BANDS,
            "story_index": STORY_INDEX, "story_merges": STORY_MERGES,
            "ingest_files": INGEST_FILES, "ingest_records": INGEST_RECORDS, "runs": RUNS}
ALL = {**TABLES, **INTERNAL}
