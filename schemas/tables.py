"""Arrow schemas of the three output tables: the contract DuckDB users query.

Every table is written under ``OUTPUT/<table>/dt=YYYY-MM-DD/`` (Hive partitioning on the
UTC ingest date), zstd-compressed Parquet. ``dt`` is not stored inside the files: readers
get it from the path (``hive_partitioning = true``).
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
    pa.field("text", pa.string(), nullable=False),
    pa.field("word_count", pa.int32(), nullable=False),
    ("language", pa.string()),
    ("authors", pa.list_(pa.string())),
    ("site_name", pa.string()),
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

# Not a table for queries: the sketches of every article the output folder holds, so that a
# later run folds copies of them (``OUTPUT/_dedup_index/<run_id>-*.parquet``).
INDEX_DIR = "_dedup_index"
DEDUP_INDEX = pa.schema([
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("text_hash", pa.string(), nullable=False),
    pa.field("word_count", pa.int32(), nullable=False),
    ("published_at_us", pa.int64()),
    pa.field("signature", pa.binary(), nullable=False),
    pa.field("shingles", pa.binary(), nullable=False),
    pa.field("facts", pa.binary(), nullable=False),
    pa.field("num_perm", pa.int32(), nullable=False),
    pa.field("shingle_words", pa.int32(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])
