"""Extract: RawRecord -> Article (clean text and metadata), or a reject.

This is the HTML stage of the pipeline: ``Extract`` is one PTransform whose text step
(``strip.html_to_text`` today) can be replaced without touching the rest.
"""
from __future__ import annotations

import hashlib
import html
import re
import time
from typing import Optional, Tuple, Union
from urllib.parse import urljoin

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.records import Article, RawRecord, Reject
from transforms.extract import maintext, strip
from transforms.extract.dates import parse_date, split_leading_date
from transforms.extract.language import detect_language, load_identifier
from transforms.extract.line_model import load_line_model
from transforms.warm import Warm
from transforms.extract.metadata import PageMeta, page_metadata, shown_authors, shown_date
from transforms.pool import Chunks, Task
from transforms.progress import TalliedFn
from transforms.rejects import REJECTS, reject

STAGE = "extract"
# No real article comes near this: the longest of 800 dev pages from ~700 sites has 8,721
# words. A page far over it is a dump or a crawl artefact whose NER alone would take minutes
# and gigabytes (a 30 MB page made 5.1 million words).
DEFAULT_MAX_WORDS = 50_000
_WORD = re.compile(r"\w+")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def text_hash(text: str) -> str:
    """Hash of the text's words, lower-cased: equal for copies that differ only in case,
    punctuation, whitespace or line wrapping."""
    norm = " ".join(_WORD.findall(text.casefold()))
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).hexdigest()


def article_id(source_uri: str, content_hash: str) -> str:
    """Stable id: the same content at the same place gets the same id in every run."""
    key = f"{source_uri}\n{content_hash}".encode("utf-8")
    return hashlib.blake2b(key, digest_size=10).hexdigest()


def parse_page(html: str):
    """An lxml tree of a page, or None when none can be made (empty or degenerate markup).

    trafilatura's own loader (lxml's HTML parser, comments dropped, faulty markup repaired):
    the same tree then serves the metadata, the chrome check and the extractor, so a page is
    parsed once. A soup would cost ~10x more.
    """
    try:
        from trafilatura.utils import load_html
        return load_html(html)
    except Exception:  # a loader failure means "no tree": callers fall back to stripping
        return None


_ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]{1,31});", re.I)


def _clean_title(title: Optional[str]) -> Optional[str]:
    if not title:
        return None
    for _ in range(2):  # escaped twice at the source is common ("&amp;#8217;")
        if not _ENTITY.search(title):
            break
        title = html.unescape(title)
    t = strip.normalize_text(title).replace("\n", " ")
    return t or None


_SENTENCE_END = re.compile(r"[.!?:;,\"”’)]$")


def split_title_line(text: str) -> Tuple[Optional[str], str]:
    """(headline, body) of a text export that opens with a headline: a short first line
    without closing punctuation, followed by a blank line and more text. Otherwise
    (None, text): a first paragraph is never taken for a title."""
    head, sep, rest = text.partition("\n\n")
    if (sep and rest.strip() and "\n" not in head and len(head.split()) <= 20
            and not _SENTENCE_END.search(head.strip()) and len(rest.split()) > len(head.split())):
        return head.strip(), rest.lstrip("\n")
    return None, text


def _absolute_url(url: Optional[str], base: Optional[str]) -> Optional[str]:
    if not url:
        return base
    url = url.strip()
    if base and not re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I):
        return urljoin(base, url)
    return url


_ISO_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")


def reconcile_dates(declared: Optional[str], shown: Optional[str]) -> Optional[str]:
    """The publication date to keep: ``shown`` (a ``YYYY-MM-DD`` day from htmldate) unless
    ``declared`` (the page's first declared timestamp) falls on that day in its own time
    zone and can be read ("2025-12-17UTC07:30" cannot), or nothing is shown. On WCXB the
    shown day is right on 0.808 of pages with a date, the declared timestamp on 0.786 (even
    and odd halves alike)."""
    if not shown:
        return declared
    m = _ISO_DAY.match(declared or "")
    return declared if m and m.group(1) == shown[:10] and parse_date(declared) is not None else shown


def extract_record(rec: RawRecord, identify=None, max_words: int = DEFAULT_MAX_WORDS,
                   line_model=None) -> Union[Article, Reject]:
    """Pure: one RawRecord -> Article, or Reject with a reason. ``identify``: a language
    identifier from ``language.load_identifier()`` (no language detection without it);
    ``max_words``: longer texts are ``too_long`` rejects (0: no limit); ``line_model``: a
    ``line_model.LineModel`` that picks a page's article lines (without one, hand-written
    rules do)."""
    title, url, published, modified = rec.title, rec.url, rec.published, rec.modified
    page = PageMeta()
    try:
        if rec.fmt == "html":
            body = strip.mend_document_end(rec.body)
            tree = parse_page(body)
            page = page_metadata(tree)
            title = title or page.title
            # A page's canonical link is where it lives; a container's url may be the crawl URL.
            url = _absolute_url(page.url, url) if page.url else url
            # The day a page shows as its publication date (htmldate, which also weighs the
            # declared ones) is right more often than the first declared timestamp; that one
            # is kept when it falls on that day, for its time of day.
            if not published and tree is not None:
                published = reconcile_dates(page.published, shown_date(tree, url))
            published = published or page.published
            modified = modified or page.modified
            text = maintext.main_text(body, title=title, tree=tree, line_model=line_model)
            if not page.authors and tree is not None:  # shown in a byline, not declared
                page = page._replace(authors=shown_authors(tree))
        else:
            leading_date, body = split_leading_date(rec.body)
            published = published or leading_date
            text = strip.plain_text(body)
            if not title:
                title, text = split_title_line(text)
    except RecursionError:
        return reject(STAGE, rec.source_uri, "parse_error", "markup nested too deeply", rec.size_bytes)
    except Exception as e:  # a parser bug on hostile input must not end the run
        return reject(STAGE, rec.source_uri, "parse_error", f"{type(e).__name__}: {e}", rec.size_bytes)
    words = word_count(text)
    if words == 0:
        return reject(STAGE, rec.source_uri, "empty_text", f"{rec.fmt} with no words after stripping",
                      rec.size_bytes)
    if max_words and words > max_words:
        return reject(STAGE, rec.source_uri, "too_long",
                      f"{words} words of text, over --max_article_words {max_words}", rec.size_bytes)
    h = text_hash(text)
    return Article(
        article_id=article_id(rec.source_uri, h), source_uri=rec.source_uri, url=url or None,
        title=_clean_title(title), published_at_us=parse_date(published), text=text,
        word_count=words, text_hash=h, size_bytes=rec.size_bytes,
        language=(detect_language(identify, text) if identify else None) or page.language,
        entities=[], entity_counts=[], ner_skipped=None,
        authors=page.authors, site_name=page.site_name,
        modified_at_us=_update_time(modified, published))


def _update_time(modified: Optional[str], published: Optional[str]) -> Optional[int]:
    """The declared update time, kept only when it parses and is not before the publication
    (CMSs write placeholders such as 0001-01-01)."""
    m = parse_date(modified) if modified else None
    p = parse_date(published) if published else None
    return m if m is not None and (p is None or m >= p) else None


def extractor(max_words: int = DEFAULT_MAX_WORDS):
    """``extract_record`` with the models a worker loads once (the line model, the language
    identifier), as a function of the record: the task of the driver's helper processes
    (``transforms.pool``)."""
    identify, line_model = load_identifier(), load_line_model()
    return lambda rec: extract_record(rec, identify, max_words, line_model)


def extract_task(max_words: int) -> Task:
    return Task(f"{__name__}:extractor", (max_words,))


class ExtractFn(TalliedFn, beam.DoFn):
    """RawRecord -> Article, or a Reject on ``REJECTS``. In the process that holds
    ``warm``'s objects, a record's result may come from elsewhere: the batch's extraction
    made ahead (``transforms.extract.ahead``), or the helper processes (``transforms.pool``)
    once the run has started them, to which records go in chunks; their results are emitted,
    in their own window, as the chunks come back (the last ones in ``finish_bundle``)."""

    def __init__(self, progress: Optional[str] = None, max_words: int = DEFAULT_MAX_WORDS,
                 warm: Optional[Warm] = None):
        TalliedFn.__init__(self, progress, "extract")
        self.max_words, self.warm = max_words, warm
        self.articles = Metrics.counter(STAGE, "articles")
        self.words = Metrics.distribution(STAGE, "words_per_article")
        self.identify = self.line_model = self.ahead = self.pool = self.chunks = None

    def setup(self):
        super().setup()
        self.line_model = load_line_model()
        self.identify = (self.warm.get("language", load_identifier, "py3langid") if self.warm
                         else load_identifier())
        here = self.warm is not None and self.warm.here()
        # the batch's extraction made ahead (``ahead.ExtractAhead``) and the helper processes
        # (``transforms.pool.HelperPool``), for workers in the process that holds them
        self.ahead = self.warm.get("ahead", lambda: None, "ahead") if here else None
        self.pool = self.warm.get("pool", lambda: None, "pool") if here else None

    def start_bundle(self):
        self.chunks = (Chunks(self.pool, extract_task(self.max_words), self._extract)
                       if self.pool is not None and self.pool.usable else None)

    def _extract(self, rec: RawRecord):
        return extract_record(rec, self.identify, self.max_words, self.line_model)

    def process(self, rec: RawRecord, element=beam.DoFn.WindowedValueParam):
        start = time.perf_counter()
        out = self.ahead.take(rec) if self.ahead is not None else None
        if out is not None:
            yield from self._emit(out, time.perf_counter() - start, elsewhere=True)
        elif self.chunks is not None:
            for out, seconds, element, elsewhere in self.chunks.add(rec, element):
                yield from self._emit(out, seconds, elsewhere, element)
        else:
            yield from self._emit(self._extract(rec), time.perf_counter() - start)

    def finish_bundle(self):
        if self.chunks is not None:
            for out, seconds, element, elsewhere in self.chunks.flush():
                yield from self._emit(out, seconds, elsewhere, element)
        super().finish_bundle()
        if self.ahead is not None:
            self.ahead.extracted.set()

    def _emit(self, out, seconds: float, elsewhere: bool = False, element=None):
        """``out`` on its output (in ``element``'s window and time, when it is not the one
        being processed); ``elsewhere``: made in another thread or process, whose
        ``reject`` counted nothing here."""
        self.tally.add(1, seconds, rejected=int(isinstance(out, Reject)))
        value = out if element is None else element.with_value(out)
        if isinstance(out, Reject):
            if elsewhere:
                Metrics.counter(STAGE, f"rejected_{out.reason}").inc()
            yield beam.pvalue.TaggedOutput(REJECTS, value)
        else:
            self.articles.inc()
            self.words.update(out.word_count)
            yield value


class Extract(beam.PTransform):
    """PCollection[RawRecord] -> DoOutputsTuple: ``articles`` (Article), ``rejects``.
    ``progress``: the folder of ``transforms.progress`` tallies, or None; ``max_words``:
    longer texts are rejected as ``too_long`` (0: no limit); ``warm``: a
    ``transforms.warm.Warm`` holding the language identifier (and, in a run's own process,
    the batch extracted ahead and the helper processes), or None."""

    def __init__(self, progress: Optional[str] = None, max_words: int = DEFAULT_MAX_WORDS,
                 warm: Optional[Warm] = None):
        super().__init__()
        self.progress, self.max_words, self.warm = progress, max_words, warm

    def expand(self, records):
        return records | "Extract" >> beam.ParDo(
            ExtractFn(self.progress, self.max_words, self.warm)).with_outputs(REJECTS, main="articles")
