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

# Earlier records of the files this batch takes again are not candidates: the commit
# replaces them (their new versions are in the batch).
_PRIOR_SQL = """
SELECT article_id, time_us, language, terms, weights, story_id, source_uri, dated
FROM story_index
WHERE language = ? AND time_us BETWEEN ? AND ?
  AND source_uri NOT IN (SELECT source_uri FROM ingest_records
                         WHERE file_uri IN (SELECT unnest(?::VARCHAR[])))
"""


def index_row(it: StoryItem) -> Dict:
    """A story_index row (less the run columns) of an assigned item."""
    return {"article_id": it.article_id, "source_uri": it.source_uri, "story_id": it.story_id,
            "time_us": it.time_us, "language": it.language, "terms": it.terms,
            "weights": it.weights, "dated": it.dated}


def prior_items(con, language: str, times: Sequence[int], horizon_days: float,
                retaken: Sequence[str] = ()) -> List[StoryItem]:
    """Items of the lake's articles in ``language`` within ``horizon_days`` of ``times``
    (the new articles' times), with the story each belongs to. ``con``: a DuckDB connection
    with the lake selected."""
    if not times:
        return []
    span = int(horizon_days * DAY_US)
    rows = con.execute(_PRIOR_SQL, [language, min(times) - span, max(times) + span,
                                    list(retaken)]).fetchall()
    return [StoryItem(*r) for r in rows]
