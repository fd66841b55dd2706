"""The signature index: sketches of the articles the output already holds, looked up by key.

Every commit adds the ``DedupItem`` of each article it keeps to the lake table
``dedup_index`` and one ``dedup_bands`` row per LSH band key. A later batch does not read
the index whole: ``LookupPrior`` sends the batch's text hashes and band keys to the lake
(in groups of a few hundred items, from the workers, at the snapshot the run planned
against) and gets back only the earlier articles that share one of them: the exact copies
and the near-copy candidates. They join the batch's own articles in Dedup's shuffles, so the
cost of a batch follows the batch, not the size of the output.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.records import DedupItem
from schemas.strings import string_tables
from transforms.dedup import minhash

STAGE = "dedup"
# New articles per lookup: each lookup's queries scan the index's key columns whole, so a
# batch costs its number of lookups times the lake's size; few large ones keep that small.
LOOKUP_BATCH = 1024


def index_row(it: DedupItem, num_perm: int, shingle: int) -> Dict:
    return {"article_id": it.article_id, "source_uri": it.source_uri, "text_hash": it.text_hash,
            "word_count": it.word_count, "published_at_us": it.published_at_us,
            "signature": it.signature, "shingles": it.shingles, "facts": it.facts,
            "num_perm": num_perm, "shingle_words": shingle, "page_key": it.page_key or None,
            "version_us": it.version_us, "kept": it.kept}


def band_rows(it: DedupItem, bands: int, rows: int) -> List[Dict]:
    if not it.kept:  # a duplicate's capture: found by its page, never by its bands
        return []
    sig = np.frombuffer(it.signature, dtype=np.uint32)
    return [{"band_key": k, "article_id": it.article_id}
            for k in minhash.band_keys(sig, bands, rows)]


def from_row(row: Dict, num_perm: int, shingle: int) -> DedupItem:
    """An index row as a prior item. Rows sketched with other settings keep their text hash
    (exact copies still fold into them) but not their sketches, which cannot be compared."""
    same = row["num_perm"] == num_perm and row["shingle_words"] == shingle
    return DedupItem(row["article_id"], row["text_hash"], row["word_count"],
                     row["published_at_us"], True,
                     row["signature"] if same else b"", row["shingles"] if same else b"",
                     row["facts"] if same else b"", row["source_uri"], row.get("page_key") or "",
                     row.get("version_us"), row.get("kept") is not False,
                     row.get("canonical_id") or "", row.get("canonical_page") or "")


# Candidates whose signatures estimate a Jaccard below this are not fetched. The lowest
# Jaccard that can still verify is a containment fold (80% of a text half as long as the
# other): 0.36; a 128-permutation estimate of it has a standard deviation of 0.04, so 0.2 is
# four deviations below. Band collisions of unrelated texts (a corpus of templated stories
# shares many shingles) then cost a signature each, not a sketch in every shuffle.
MIN_ESTIMATE = 0.2

# Earlier records of the files this batch takes again are left out: the commit replaces
# them, so nothing may fold into them (not even a record of another file). The lists of keys
# are tables (``schemas.strings``) named in each query.
_NOT_RETAKEN = ("source_uri NOT IN (SELECT source_uri FROM ingest_records "
                "WHERE file_uri IN (SELECT v FROM {retaken}))")
# Two queries, not one join: the band keys are scanned alone (a join made DuckDB hash the
# whole index's signatures beside them: 96 MB at 47,000 articles instead of 55), then only
# the hits' signatures are read.
_BAND_HITS_SQL = """
SELECT article_id, list(band_key) AS keys FROM dedup_bands
WHERE band_key IN (SELECT v FROM {keys}) GROUP BY article_id
"""
_SIGNATURES_SQL = f"""
SELECT article_id, signature FROM dedup_index
WHERE article_id IN (SELECT v FROM {{hits}}) AND num_perm = ? AND {_NOT_RETAKEN}
"""
# Matches are found by their narrow key columns first; the rows, whose sketches make up
# most of the index's bytes, are read only when there are any, and only for those.
_EXACT_SQL = f"""
SELECT article_id FROM dedup_index
WHERE text_hash IN (SELECT v FROM {{hashes}}) AND kept IS NOT false AND {_NOT_RETAKEN}
"""
_FETCH_SQL = f"""
SELECT * FROM dedup_index
WHERE article_id IN (SELECT v FROM {{wanted}}) AND kept IS NOT false AND {_NOT_RETAKEN}
"""
# Earlier captures of the batch's pages that folded (duplicates), with the article each
# folded into: a newer version of a page committed earlier keeps an older one arriving later
# from winning its group.
_CAPTURE_IDS_SQL = f"""
SELECT article_id FROM dedup_index
WHERE page_key IN (SELECT v FROM {{pages}}) AND kept = false AND {_NOT_RETAKEN}
"""
_CAPTURES_SQL = """
SELECT i.*, d.canonical_id, c.page_key AS canonical_page
FROM dedup_index i JOIN duplicates d USING (article_id)
LEFT JOIN dedup_index c ON c.article_id = d.canonical_id
WHERE i.article_id IN (SELECT v FROM {captured})
"""


def near_enough(prior_sig: np.ndarray, new_sigs: Iterable[np.ndarray],
                floor: float = MIN_ESTIMATE) -> bool:
    """Whether an earlier article's MinHash estimates a Jaccard of at least ``floor`` with
    one of the new articles it shares a band with."""
    n = len(prior_sig)  # a count over n is np.mean's value, without its per-call cost
    return any(np.count_nonzero(prior_sig == s) / n >= floor for s in new_sigs)


class _LookupFn(beam.DoFn):
    """List[DedupItem] of new articles -> DedupItem of earlier articles that share a text
    hash with one of them, or a band key and an estimated Jaccard of ``MIN_ESTIMATE``. The
    lake is opened read-only once per worker, at the snapshot the run planned against (never
    a later commit's state)."""

    def __init__(self, lake, snapshot: int, num_perm: int,
                 shingle: int, bands: int, rows: int, retaken: List[str], warm=None):
        from transforms.lake_reader import LakeReader
        self.reader, self.retaken = LakeReader(lake, snapshot, warm), retaken
        self.num_perm, self.shingle, self.bands, self.rows = num_perm, shingle, bands, rows
        self.found = Metrics.counter(STAGE, "index_articles_read")
        self.hits = Metrics.counter(STAGE, "index_band_hits")
        self.other = Metrics.counter(STAGE, "index_articles_other_settings")
        self.con = None

    def setup(self):
        self.con = self.reader.open()

    def process(self, items: List[DedupItem]):
        import duckdb
        try:
            yield from self._lookup(items)
        except duckdb.Error as e:
            raise self.reader.error("looking up earlier articles", e) from None

    def _lookup(self, items: List[DedupItem]):
        by_key: Dict[str, List[np.ndarray]] = {}
        for it in items:
            if len(it.signature) == 4 * self.num_perm:
                sig = np.frombuffer(it.signature, dtype=np.uint32)
                for k in minhash.band_keys(sig, self.bands, self.rows):
                    by_key.setdefault(k, []).append(sig)
        near = []
        if by_key:
            hits = dict(self._query(_BAND_HITS_SQL, keys=sorted(by_key))[1])
            if hits:
                for article_id, signature in self._query(
                        _SIGNATURES_SQL, [self.num_perm], hits=sorted(hits))[1]:
                    self.hits.inc()
                    prior = np.frombuffer(signature, dtype=np.uint32)
                    if near_enough(prior, (s for k in hits[article_id] for s in by_key[k])):
                        near.append(article_id)
        rows = []
        pages = sorted({it.page_key for it in items if it.page_key})
        captured = self._ids(_CAPTURE_IDS_SQL, pages=pages) if pages else []
        if captured:
            rows = self._rows(_CAPTURES_SQL, captured=captured)
            near += [r["canonical_id"] for r in rows]  # each capture with its article
        hashes = sorted({it.text_hash for it in items})
        wanted = sorted(set(near) | set(self._ids(_EXACT_SQL, hashes=hashes)))
        if wanted:
            rows += self._rows(_FETCH_SQL, wanted=wanted)
        for row in rows:
            self.found.inc()
            if row["num_perm"] != self.num_perm or row["shingle_words"] != self.shingle:
                self.other.inc()
            yield from_row(row, self.num_perm, self.shingle)

    def _query(self, sql: str, params: Sequence = (), **lists: List[str]):
        """(column names, rows) of ``sql``, with each of ``lists`` and the retaken files as
        the tables it names."""
        with string_tables(self.con, retaken=self.retaken, **lists) as t:
            cur = self.con.execute(sql.format(**t), list(params))
            return [d[0] for d in cur.description], cur.fetchall()

    def _ids(self, sql: str, **lists: List[str]) -> List[str]:
        return [r[0] for r in self._query(sql, **lists)[1]]

    def _rows(self, sql: str, **lists: List[str]) -> List[Dict]:
        names, rows = self._query(sql, **lists)
        return [dict(zip(names, values)) for values in rows]

    def teardown(self):
        self.reader.close()


class LookupPrior(beam.PTransform):
    """PCollection[DedupItem] (new articles) -> PCollection[DedupItem] (``prior=True``):
    each earlier article of the lake that may be a copy of a new one (a shared text hash,
    or a shared band key and an estimated Jaccard of ``MIN_ESTIMATE``), once. ``lake``: a
    ``schemas.catalog.Lake`` (workers open it themselves: a remote lake's catalog is a
    database they reach); ``snapshot``: the lake snapshot to read (the one the run planned against);
    ``retaken``: files this batch takes again, whose earlier records are not candidates;
    ``warm``: a ``transforms.warm.Warm`` that keeps a DuckDB instance for the lookups."""

    def __init__(self, lake, snapshot: int, num_perm: int,
                 shingle: int, bands: int, rows: int, retaken: Sequence[str] = (), warm=None):
        super().__init__()
        self.args = (lake, snapshot, num_perm, shingle, bands, rows, sorted(retaken),
                     warm)

    def expand(self, items):
        return (
            items
            # fixed-size groups (each bundle flushes its rest): one query per group of keys
            | "Batch" >> beam.BatchElements(min_batch_size=LOOKUP_BATCH, max_batch_size=LOOKUP_BATCH)
            | "Lookup" >> beam.ParDo(_LookupFn(*self.args))
            | "ById" >> beam.Map(lambda it: (it.article_id, it))
            | "Once" >> beam.CombinePerKey(_first)
            # a combine of no values gives None (Beam 2.78 checks the declared type)
            | "Items" >> beam.FlatMap(lambda kv: [kv[1]] if kv[1] is not None else []
                                      ).with_output_types(DedupItem)
        )


def _first(items: Iterable[DedupItem]) -> Optional[DedupItem]:
    return next(iter(items), None)
