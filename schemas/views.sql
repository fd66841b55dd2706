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
