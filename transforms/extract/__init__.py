"""The Extract stage: RawRecord -> Article (clean text and page metadata), or a reject.

One idea a file: ``extract.py`` (the PTransform and the pure ``extract_record``),
``maintext.py`` (an HTML page's article text), ``metadata.py`` (title, date, authors, ...),
``strip.py`` (tag stripping and text normalisation), ``dates.py``, ``language.py``.
"""
from transforms.extract.extract import (DEFAULT_MAX_WORDS, Extract, ExtractFn, article_id,
                                        extract_record, parse_page, reconcile_dates, text_hash,
                                        word_count)

__all__ = ["DEFAULT_MAX_WORDS", "Extract", "ExtractFn", "article_id", "extract_record",
           "parse_page", "reconcile_dates", "text_hash", "word_count"]
