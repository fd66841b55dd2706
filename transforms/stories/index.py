"""The story index: what assignment keeps of the articles the lake holds, read by horizon.

Every commit adds one ``story_index`` row per article it keeps (its term vector, time,
language and story). A later batch reads only the rows of its own languages whose time lies
within the horizon around its articles' times: the stories it may continue. The cost
follows the batch and the news rate of the horizon, not the size of the lake (the table's
files are written per batch, so DuckDB skips those whose time range lies outside).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from transforms.stories.assign import DAY_US, StoryItem

_PRIOR_SQL = """
SELECT article_id, time_us, language, terms, weights, story_id, source_uri, dated
FROM story_index WHERE language = ? AND time_us BETWEEN ? AND ?
"""


def index_row(it: StoryItem) -> Dict:
    """A story_index row (less the run columns) of an assigned item."""
    return {"article_id": it.article_id, "source_uri": it.source_uri, "story_id": it.story_id,
            "time_us": it.time_us, "language": it.language, "terms": it.terms,
            "weights": it.weights, "dated": it.dated}


def prior_items(con, language: str, new: Sequence[StoryItem],
                horizon_days: float) -> List[StoryItem]:
    """Items of the lake's articles in ``language`` within ``horizon_days`` of the ``new``
    items' times, with the story each belongs to; not those of the new items' records (a
    record the batch takes again: the commit replaces it with its new version, which is among
    them). ``con``: a DuckDB connection with the lake selected."""
    if not new:
        return []
    span = int(horizon_days * DAY_US)
    times = [it.time_us for it in new]
    replaced = {it.source_uri for it in new}
    rows = con.execute(_PRIOR_SQL, [language, min(times) - span, max(times) + span]).fetchall()
    return [it for it in (StoryItem(*r) for r in rows) if it.source_uri not in replaced]
