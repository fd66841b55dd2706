"""The rejects side channel shared by every stage.

A stage never raises out of ``process()`` for a bad record: it emits a ``Reject`` on the
tagged output ``REJECTS`` with a short reason code, and counts it in a Beam metric.
"""
from apache_beam.metrics import Metrics

from schemas.records import Reject

REJECTS = "rejects"

# Reason codes, documented in the README (the rejects table).
REASONS = {
    "unsupported": "file extension the pipeline does not read",
    "read_error": "the file could not be read",
    "too_large": "the file (or its decompressed content) is over --max_file_bytes",
    "bad_compression": "a .gz file that does not decompress",
    "empty_file": "a file with no bytes",
    "binary": "content that is not text (control bytes, NULs)",
    "undecodable": "bytes that decode under no plausible character encoding",
    "invalid_json": "a .json file or .jsonl line that does not parse",
    "not_an_object": "a JSON record that is not an object",
    "no_content": "a JSON record without an html/text/content field",
    "parse_error": "the HTML parser failed on the record",
    "empty_text": "no words left after stripping the markup",
    "too_long": "more words of text than --max_article_words (no article is that long)",
    "ner_error": "the entity model failed on the article",
}


def reject(stage: str, source_uri: str, reason: str, detail: str = "", size_bytes=None) -> Reject:
    """Builds a Reject and counts it under ``<stage>/rejected_<reason>``."""
    assert reason in REASONS, reason
    Metrics.counter(stage, f"rejected_{reason}").inc()
    return Reject(source_uri=source_uri, reason=reason, detail=str(detail)[:1000],
                  size_bytes=size_bytes)
