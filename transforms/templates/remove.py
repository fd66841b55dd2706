"""RemoveSiteTemplates: PCollection[Article] -> PCollection[Article], each article without the
lines its site's template adds to every page (``transforms.templates.lines`` decides which).

No step holds a site's pages: line keys are counted per site by a combine, a site's template
(a few dozen keys) reaches the articles as a side input, and each article is trimmed where
it is. A trimmed article gets its text's new word count, hash and id (the id is a function
of the content, as everywhere).
"""
from __future__ import annotations

import typing
from typing import Dict, Iterable, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.records import Article
from transforms.extract.extract import article_id, text_hash, word_count
from transforms.templates.lines import (DEFAULT_MIN_PAGES, DEFAULT_MIN_SHARE,
                                        page_keys, page_url, remove_template_lines, site_key,
                                        template_keys)

STAGE = "templates"
Keys = typing.Tuple[str, ...]
SitePage = typing.Tuple[typing.Tuple[str, str], Keys]


def page_id(article: Article) -> str:
    """What makes one page of a site: its URL (``lines.page_url``: the versions of one story,
    as a live page is captured again, are one page), else its text's hash."""
    return page_url(article.url) if article.url else article.text_hash


def _site_text(article: Article):
    """((site, text hash), (page, the text's line keys)) of an article of a known site."""
    site = site_key(article.url, article.site_name)
    if site:
        yield (site, article.text_hash), (page_id(article), page_keys(article.text))


def _union(key_sets: Iterable[Keys]) -> Keys:
    out = set()
    for keys in key_sets:
        out.update(keys)
    return tuple(sorted(out))


def _one_key(article: Article):
    for entry in _site_text(article):
        yield None, entry


def _line_of_page(page: SitePage) -> Iterable[Tuple[Tuple[str, str], int]]:
    (site, _), keys = page
    for k in keys:
        yield (site, k), 1


def _site_template(site_lines: Tuple[str, Dict[str, list]], min_pages: int,
                   min_share: float) -> Iterable[Tuple[str, Keys]]:
    site, grouped = site_lines
    pages = sum(grouped["pages"])
    found = template_keys(dict(grouped["lines"]), pages, min_pages, min_share)
    if found:
        yield site, tuple(sorted(found))


def site_pages(texts) -> Dict[str, Dict[str, Keys]]:
    """{site: {page: line keys}} from ``((site, text hash), (page, keys))`` entries: exact
    copies count once (the smallest page naming them), a page's versions once (their
    lines together). The one-step twin of the ``OnePerText`` and ``OnePerPage`` combines."""
    one_per_text: Dict[Tuple[str, str], Tuple[str, Keys]] = {}
    for key, entry in texts:
        one_per_text[key] = min(one_per_text.get(key, entry), entry)
    by_site: Dict[str, Dict[str, Keys]] = {}
    for (site, _), (page, keys) in one_per_text.items():
        pages = by_site.setdefault(site, {})
        pages[page] = _union([pages.get(page, ()), keys])
    return by_site


def _templates_of(texts, min_pages: int, min_share: float) -> Iterable[Tuple[str, Keys]]:
    """Every site's template from all its texts at once (a small batch's one step)."""
    for site, pages in sorted(site_pages(texts).items()):
        if len(pages) < min_pages:
            continue
        counts: Dict[str, int] = {}
        for keys in pages.values():
            for k in keys:
                counts[k] = counts.get(k, 0) + 1
        found = template_keys(counts, len(pages), min_pages, min_share)
        if found:
            yield site, tuple(sorted(found))


def trim_article(article: Article, template: Iterable[str]):
    """(the article without its template lines, lines removed, kept whole); the article
    itself when nothing was removed."""
    out = remove_template_lines(article.text, template)
    if not out.removed:
        return article, 0, out.kept_whole
    h = text_hash(out.text)
    return article._replace(text=out.text, word_count=word_count(out.text), text_hash=h,
                            article_id=article_id(article.source_uri, h)), out.removed, False


class _TrimFn(beam.DoFn):
    def __init__(self):
        self.trimmed = Metrics.counter(STAGE, "template_articles_trimmed")
        self.lines = Metrics.counter(STAGE, "template_lines_removed")
        self.whole = Metrics.counter(STAGE, "template_kept_whole")

    def process(self, article: Article, templates: Dict[str, Keys]):
        site = site_key(article.url, article.site_name) if templates else None
        keys = templates.get(site) if site else None
        if not keys:
            yield article
            return
        out, removed, whole = trim_article(article, keys)
        if removed:
            self.trimmed.inc()
            self.lines.inc(removed)
        elif whole:
            self.whole.inc()
        yield out


class RemoveSiteTemplates(beam.PTransform):
    """PCollection[Article] -> PCollection[Article]: lines that recur on at least
    ``min_pages`` and ``min_share`` of a site's pages in this collection are taken
    out of its articles (see ``transforms.templates.lines``). Articles of no known site, of
    sites with fewer pages, and articles made mostly of such lines pass unchanged. Counters
    (namespace ``templates``): ``template_articles_trimmed``, ``template_lines_removed``,
    ``template_kept_whole``.

    ``in_memory``: every site's lines are counted in one step (one shuffle instead of five;
    for batches known to be small: the same result).
    """

    def __init__(self, min_pages: int = DEFAULT_MIN_PAGES, min_share: float = DEFAULT_MIN_SHARE,
                 in_memory: bool = False):
        super().__init__()
        if min_pages < 1:
            raise ValueError("min_pages must be at least 1 (leave the stage out to disable it)")
        if not 0 < min_share <= 1:
            raise ValueError("min_share must be above 0 and at most 1")
        self.min_pages, self.min_share, self.in_memory = min_pages, min_share, in_memory

    def expand(self, articles):
        if self.in_memory:
            # one key for all: a GroupByKey is fewer transforms to build than a global combine
            templates = (articles
                         | "SiteTexts" >> beam.FlatMap(_one_key)
                         | "AllPages" >> beam.GroupByKey()
                         | "Templates" >> beam.FlatMap(lambda kv, n, share: _templates_of(kv[1], n, share),
                                                       self.min_pages, self.min_share))
            return articles | "Trim" >> beam.ParDo(_TrimFn(), beam.pvalue.AsDict(templates))
        # one entry per page of a site: exact copies count once, a page's versions once
        pages = (articles
                 | "SiteTexts" >> beam.FlatMap(_site_text).with_output_types(
                     typing.Tuple[typing.Tuple[str, str], typing.Tuple[str, Keys]])
                 | "OnePerText" >> beam.CombinePerKey(min)
                 | "ByPage" >> beam.Map(lambda kv: ((kv[0][0], kv[1][0]), kv[1][1])).with_output_types(SitePage)
                 | "OnePerPage" >> beam.CombinePerKey(_union))
        lines = (pages
                 | "LinesOfPages" >> beam.FlatMap(_line_of_page).with_output_types(
                     typing.Tuple[typing.Tuple[str, str], int])
                 | "PagesPerLine" >> beam.CombinePerKey(sum)
                 | "Recurring" >> beam.Filter(lambda kv, n: kv[1] >= n, self.min_pages)
                 | "BySite" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1]))).with_output_types(
                     typing.Tuple[str, typing.Tuple[str, int]]))
        sites = (pages
                 | "Site" >> beam.Map(lambda kv: (kv[0][0], 1)).with_output_types(typing.Tuple[str, int])
                 | "PagesPerSite" >> beam.CombinePerKey(sum))
        templates = ({"lines": lines, "pages": sites}
                     | "Join" >> beam.CoGroupByKey()
                     | "Template" >> beam.FlatMap(_site_template, self.min_pages, self.min_share))
        return articles | "Trim" >> beam.ParDo(_TrimFn(), beam.pvalue.AsDict(templates))



