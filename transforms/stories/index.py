"""The story index: what assignment keeps of the articles the lake holds, read by horizon.

Every commit adds one ``story_index`` row per article it keeps (its term vector, time,
language and story). A later batch reads only the rows of its own languages whose time lies
within the horizon around its articles' times: the stories it may continue. The cost
follows the batch and the news rate of the horizon, not the size of the lake (the table's
files are written per batch, so DuckDB skips those whose time range lies outside).
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from schemas.records import StoryItem
from transforms.stories.assign import reach_us

_PRIOR_SQL = """
SELECT article_id, time_us, language, terms, weights, story_id, source_uri, dated
FROM story_index WHERE language = ? AND time_us BETWEEN ? AND ?
"""
_STARTS_SQL = """
SELECT story_id, min(time_us) FROM story_index
WHERE story_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY story_id
"""


def index_row(it: StoryItem) -> Dict:
    """A story_index row (less the run columns) of an assigned item."""
    return {"article_id": it.article_id, "source_uri": it.source_uri, "story_id": it.story_id,
            "time_us": it.time_us, "language": it.language, "terms": it.terms,
            "weights": it.weights, "dated": it.dated}


def prior_items(con, language: str, new: Sequence[StoryItem], threshold: float,
                horizon_days: float) -> Tuple[List[StoryItem], Dict[str, int]]:
    """(items of the lake's articles in ``language`` within reach of the ``new`` items'
    times, with the story each belongs to; the time of each of those stories' first
    article). Not the items of the new items' records (a record the batch takes again: the
    commit replaces it with its new version, which is among them). Undated items look around
    their ingest time. ``con``: a DuckDB connection with the lake selected."""
    if not new:
        return [], {}
    span = reach_us(threshold, horizon_days)
    replaced = {it.source_uri for it in new}
    found: Dict[str, StoryItem] = {}
    for lo, hi in windows([it.time_us for it in new], span):
        for r in con.execute(_PRIOR_SQL, [language, lo, hi]).fetchall():
            it = StoryItem(*r)
            if it.source_uri not in replaced:
                found[it.article_id] = it
    ids = sorted({it.story_id for it in found.values()})
    starts = dict(con.execute(_STARTS_SQL, [ids]).fetchall()) if ids else {}
    return list(found.values()), starts


def windows(times: Sequence[int], span: int) -> List[Tuple[int, int]]:
    """The time ranges within ``span`` of ``times``, overlapping ones joined: a batch that
    spans months reads the weeks it has articles in, not the months between."""
    out: List[Tuple[int, int]] = []
    for t in sorted(times):
        if out and t - span <= out[-1][1]:
            out[-1] = (out[-1][0], t + span)
        else:
            out.append((t - span, t + span))
    return out
