-- DuckDB views over one output folder of the ingest pipeline.
-- Set the folder first, then read this file, e.g. in the duckdb shell:
--   SET VARIABLE ingest_output = 'output';
--   .read schemas/views.sql
-- (from Python: schemas.views.connect('output') does both).

CREATE OR REPLACE VIEW articles AS
SELECT * FROM read_parquet(getvariable('ingest_output') || '/articles/**/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- One row per entity mention; canonical is the article's full name for the entity.
CREATE OR REPLACE VIEW entities AS
SELECT article_id, run_id, e.text AS text, e.canonical AS canonical, e.label AS label,
       e.start_char AS start_char, e.end_char AS end_char
FROM (SELECT article_id, run_id, unnest(entities) AS e FROM articles);

-- One row per entity and article, with its number of mentions.
CREATE OR REPLACE VIEW entity_counts AS
SELECT article_id, run_id, c.canonical AS canonical, c.label AS label, c.count AS mentions
FROM (SELECT article_id, run_id, unnest(entity_counts) AS c FROM articles);

CREATE OR REPLACE VIEW duplicates AS
SELECT * FROM read_parquet(getvariable('ingest_output') || '/duplicates/**/*.parquet',
                           hive_partitioning = true, union_by_name = true);

CREATE OR REPLACE VIEW rejects AS
SELECT * FROM read_parquet(getvariable('ingest_output') || '/rejects/**/*.parquet',
                           hive_partitioning = true, union_by_name = true);
