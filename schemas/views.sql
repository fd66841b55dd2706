-- Views of the output lake, created inside it with its tables (schemas/catalog.py), so that
-- attaching the output gives them. The tables articles, duplicates and rejects need no view.

-- One row per entity mention; canonical is the article's full name for the entity.
CREATE VIEW IF NOT EXISTS lake.entities AS
SELECT article_id, run_id, e.text AS text, e.canonical AS canonical, e.label AS label,
       e.start_char AS start_char, e.end_char AS end_char
FROM (SELECT article_id, run_id, unnest(entities) AS e FROM lake.articles);

-- One row per entity and article, with its number of mentions.
CREATE VIEW IF NOT EXISTS lake.entity_counts AS
SELECT article_id, run_id, c.canonical AS canonical, c.label AS label, c.count AS mentions
FROM (SELECT article_id, run_id, unnest(entity_counts) AS c FROM lake.articles);

-- One row per story (transforms/stories): its title (the earliest titled article's), first
-- and last publication (ingest time for a story of undated articles only), kept articles and
-- their copies, distinct outlets, the five entities most of its articles name, languages,
-- and the run that first saw it.
CREATE VIEW IF NOT EXISTS lake.stories AS
WITH members AS (
    SELECT story_id, article_id, title, language, run_id, ingested_at, published_at,
           coalesce(published_at, ingested_at) AS reported_at,
           coalesce(site_name, regexp_extract(url, '^[A-Za-z]+://(?:www\.)?([^/:?#]+)', 1)) AS site,
           entity_counts
    FROM lake.articles WHERE story_id IS NOT NULL),
names AS (
    SELECT story_id, c.canonical AS canonical, count(*) AS articles, sum(c.count) AS mentions
    FROM (SELECT story_id, unnest(entity_counts) AS c FROM members)
    WHERE c.label NOT IN ('DATE', 'TIME', 'CARDINAL', 'ORDINAL', 'QUANTITY', 'MONEY', 'PERCENT')
    GROUP BY ALL),
top AS (
    SELECT story_id, list(canonical ORDER BY articles DESC, mentions DESC, canonical)[1:5] AS names
    FROM names GROUP BY story_id),
copies AS (
    SELECT a.story_id, count(*) AS copies
    FROM lake.duplicates d JOIN lake.articles a ON d.canonical_id = a.article_id
    WHERE a.story_id IS NOT NULL GROUP BY a.story_id)
SELECT m.story_id,
       arg_min(m.title, m.reported_at) FILTER (WHERE m.title IS NOT NULL) AS title,
       coalesce(min(m.published_at), min(m.ingested_at)) AS first_published,
       coalesce(max(m.published_at), max(m.ingested_at)) AS last_published,
       count(*) AS articles,
       coalesce(any_value(c.copies), 0) AS duplicates,
       count(DISTINCT m.site) AS sites,
       list(DISTINCT m.site ORDER BY m.site) FILTER (WHERE m.site IS NOT NULL) AS outlets,
       coalesce(any_value(t.names), []) AS top_entities,
       list(DISTINCT coalesce(m.language, 'und') ORDER BY coalesce(m.language, 'und')) AS languages,
       arg_min(m.run_id, m.ingested_at) AS first_run
FROM members m LEFT JOIN top t USING (story_id) LEFT JOIN copies c USING (story_id)
GROUP BY m.story_id;

-- Every record of a story in time order (position 1 reported first): its kept articles, and
-- the copies folded into them (kind 'duplicate', at the time their canonical article has).
CREATE VIEW IF NOT EXISTS lake.story_coverage AS
WITH kept AS (
    SELECT story_id, 'article' AS kind, article_id, article_id AS canonical_id, title,
           coalesce(site_name, regexp_extract(url, '^[A-Za-z]+://(?:www\.)?([^/:?#]+)', 1)) AS site,
           url, published_at, coalesce(published_at, ingested_at) AS reported_at, source_uri, run_id
    FROM lake.articles WHERE story_id IS NOT NULL),
copies AS (
    SELECT k.story_id, 'duplicate' AS kind, d.article_id, d.canonical_id, k.title, NULL AS site,
           NULL AS url, NULL::TIMESTAMPTZ AS published_at, k.reported_at, d.source_uri, d.run_id
    FROM lake.duplicates d JOIN kept k ON d.canonical_id = k.article_id)
SELECT row_number() OVER (PARTITION BY story_id ORDER BY reported_at, kind, article_id) AS position, *
FROM (SELECT * FROM kept UNION ALL SELECT * FROM copies);
