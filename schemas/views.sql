-- Views of the output lake, created inside it with its tables (schemas/catalog.py), so that
-- attaching the output gives them. The tables articles, duplicates and rejects need no view.

-- One name and one label per entity across the whole lake. Each article names its own
-- entities (transforms/entities/mentions.py: "Biden" -> "Joe Biden" inside the article); this
-- view gives, for every article's (canonical, label), the lake's `name` and `name_label`:
--   1. one spelling: names (see 2.) that are equal once case, spaces, dots, hyphens,
--      apostrophes and middle initials are set aside take the lake's most used spelling
--      ("al-Tanf", "Al Tanf" -> "Al-Tanf"; "Donald J. Trump" -> "Donald Trump"), one with a
--      capital before one without, and before one in capitals of over four letters (a
--      dateline's "LONDON");
--   2. one label: a name's label is the one most of its mentions have, in its language, once
--      it has at least 3 articles and that label two thirds of its mentions or more; with
--      less evidence an article keeps its own. Only names' labels are voted (PERSON, ORG,
--      GPE, LOC, NORP, FAC, PRODUCT, EVENT, WORK_OF_ART, LAW, LANGUAGE): "10%" stays a
--      PERCENT whatever "10" is;
--   3. one person: a one-word name ("Putin") becomes the full name of a person ("Vladimir
--      Putin") whose first or last word it is, when exactly one such full name is in the
--      article's story; a story with none: the one of the article's site that four in five
--      of its articles naming one use; a site with none: the same in the lake. Two full
--      names in the story, or none dominant at the first level that has any: no full
--      name. Only a name labelled PERSON (by 2., else by its article); a full name is two
--      or more capitalised words, no digits, no possessive.
-- It is computed from the articles as they are, so every run's articles agree, and a later
-- run that brings new evidence renames earlier articles' entities too (nothing is rewritten).
CREATE OR REPLACE VIEW lake.entity_names AS
WITH kinds AS (
    SELECT ['PERSON', 'ORG', 'GPE', 'LOC', 'NORP', 'FAC', 'PRODUCT', 'EVENT', 'WORK_OF_ART',
            'LAW', 'LANGUAGE'] AS names),
mentioned AS (
    SELECT article_id, story_id, site, language, c.canonical AS canonical, c.label AS label,
           c.count AS mentions, list_contains(k.names, c.label) AS is_name
    FROM (SELECT article_id, story_id,
                 coalesce(site_name, regexp_extract(url, '^[A-Za-z]+://(?:www\.)?([^/:?#]+)', 1)) AS site,
                 coalesce(language, 'und') AS language, unnest(entity_counts) AS c
          FROM lake.articles), kinds k),
-- the spelling key once per distinct name (names only: a date or a number keeps its words)
keys AS (
    SELECT canonical, is_name,
           CASE WHEN is_name
                THEN lower(regexp_replace(regexp_replace(canonical, ' \p{Lu}\. ', ' ', 'g'),
                                          '[\s.''’_-]+', '', 'g'))
                ELSE '=' || canonical END AS spelling
    FROM (SELECT DISTINCT canonical, is_name FROM mentioned)),
counted AS (
    SELECT m.*, k.spelling FROM mentioned m JOIN keys k USING (canonical, is_name)),
spellings AS (
    SELECT spelling, list(canonical ORDER BY canonical = lower(canonical),
                                         length(canonical) > 4 AND canonical = upper(canonical),
                                         n DESC, canonical)[1] AS name
    FROM (SELECT spelling, canonical, sum(mentions) AS n FROM counted GROUP BY ALL)
    GROUP BY spelling),
named AS (
    SELECT c.*, s.name FROM counted c JOIN spellings s USING (spelling)),
votes AS (  -- names' mentions only: a date "May" does not vote on the person "May"
    SELECT name, language, label, sum(mentions) AS n FROM named WHERE is_name GROUP BY ALL),
labels AS (
    SELECT v.name, v.language, list(v.label ORDER BY v.n DESC, v.label)[1] AS top,
           max(v.n) AS top_n, sum(v.n) AS total, any_value(a.articles) AS articles
    FROM votes v JOIN (SELECT name, language, count(DISTINCT article_id) AS articles
                       FROM named WHERE is_name GROUP BY ALL) a USING (name, language)
    GROUP BY v.name, v.language),
labelled AS (
    SELECT n.*, CASE WHEN n.is_name AND l.articles >= 3 AND 3 * l.top_n >= 2 * l.total
                     THEN l.top ELSE n.label END AS name_label
    FROM named n LEFT JOIN labels l USING (name, language)),
-- a person's full name: capitalised words, no digits, no possessive inside (checked once
-- per distinct name), with its first and last word
person_names AS (
    SELECT name, unnest(list_distinct([string_split(name, ' ')[1], string_split(name, ' ')[-1]])) AS part
    FROM (SELECT DISTINCT name FROM labelled WHERE name_label = 'PERSON' AND name LIKE '% %')
    WHERE regexp_matches(name, '^\p{Lu}[\p{L}.''’-]*( \p{Lu}[\p{L}.''’-]*)+$')
      AND NOT regexp_matches(name, '[''’]s( |$)')),
fulls AS (
    SELECT DISTINCT l.story_id, l.site, l.article_id, l.name AS fullname, p.part
    FROM labelled l JOIN person_names p USING (name) WHERE l.name_label = 'PERSON'),
in_story AS (
    SELECT story_id, part, count(DISTINCT fullname) AS fulls, min(fullname) AS fullname
    FROM fulls WHERE story_id IS NOT NULL GROUP BY ALL),
-- a site's or the lake's full name for a part: the one at least four in five of the
-- articles naming such a full name use ("Joe Biden", not the one article's "Jill Biden")
in_site AS (
    SELECT site, part, arg_max(fullname, n) AS fullname, 5 * max(n) >= 4 * sum(n) AS dominant
    FROM (SELECT site, part, fullname, count(DISTINCT article_id) AS n FROM fulls
          WHERE site IS NOT NULL GROUP BY ALL) GROUP BY ALL),
in_lake AS (
    SELECT part, arg_max(fullname, n) AS fullname, 5 * max(n) >= 4 * sum(n) AS dominant
    FROM (SELECT part, fullname, count(DISTINCT article_id) AS n FROM fulls GROUP BY ALL)
    GROUP BY ALL),
persons AS (
    SELECT l.article_id, l.canonical, l.label,
           CASE WHEN st.fulls IS NOT NULL THEN (CASE WHEN st.fulls = 1 THEN st.fullname END)
                WHEN si.dominant IS NOT NULL THEN (CASE WHEN si.dominant THEN si.fullname END)
                WHEN lk.dominant THEN lk.fullname END AS fullname
    FROM labelled l
    LEFT JOIN in_story st ON st.story_id = l.story_id AND st.part = l.name
    LEFT JOIN in_site si ON si.site = l.site AND si.part = l.name
    LEFT JOIN in_lake lk ON lk.part = l.name
    WHERE l.name NOT LIKE '% %' AND l.name_label = 'PERSON')
SELECT l.article_id, l.canonical, l.label,
       coalesce(p.fullname, l.name) AS name,
       CASE WHEN p.fullname IS NOT NULL THEN 'PERSON' ELSE l.name_label END AS name_label
FROM labelled l LEFT JOIN persons p USING (article_id, canonical, label);

-- One row per entity mention: `canonical` and `label` are the lake's (entity_names);
-- `article_canonical` is the article's own name for it. text and offsets are the mention's.
CREATE OR REPLACE VIEW lake.entities AS
SELECT m.article_id, m.run_id, m.text, coalesce(n.name, m.canonical) AS canonical,
       coalesce(n.name_label, m.label) AS label, m.start_char, m.end_char,
       m.canonical AS article_canonical
FROM (SELECT article_id, run_id, e.text AS text, e.canonical AS canonical, e.label AS label,
             e.start_char AS start_char, e.end_char AS end_char
      FROM (SELECT article_id, run_id, unnest(entities) AS e FROM lake.articles)) m
LEFT JOIN lake.entity_names n ON n.article_id = m.article_id AND n.canonical = m.canonical
                             AND n.label = m.label;

-- One row per entity and article (by the lake's name and label), with its number of mentions.
CREATE OR REPLACE VIEW lake.entity_counts AS
SELECT c.article_id, c.run_id, coalesce(n.name, c.canonical) AS canonical,
       coalesce(n.name_label, c.label) AS label, sum(c.count)::INTEGER AS mentions
FROM (SELECT article_id, run_id, u.canonical AS canonical, u.label AS label, u.count AS count
      FROM (SELECT article_id, run_id, unnest(entity_counts) AS u FROM lake.articles)) c
LEFT JOIN lake.entity_names n ON n.article_id = c.article_id AND n.canonical = c.canonical
                             AND n.label = c.label
GROUP BY ALL;

-- One row per story (transforms/stories): its title (the earliest titled article's), first
-- and last publication (ingest time for a story of undated articles only), kept articles and
-- their copies, distinct outlets, the five entities most of its articles name, languages,
-- and the run that first saw it.
CREATE OR REPLACE VIEW lake.stories AS
WITH members AS (
    SELECT story_id, article_id, title, language, run_id, ingested_at, published_at,
           coalesce(published_at, ingested_at) AS reported_at,
           coalesce(site_name, regexp_extract(url, '^[A-Za-z]+://(?:www\.)?([^/:?#]+)', 1)) AS site,
           entity_counts
    FROM lake.articles WHERE story_id IS NOT NULL),
names AS (  -- by the lake's names (entity_counts)
    SELECT m.story_id, e.canonical, count(*) AS articles, sum(e.mentions) AS mentions
    FROM members m JOIN lake.entity_counts e USING (article_id)
    WHERE e.label NOT IN ('DATE', 'TIME', 'CARDINAL', 'ORDINAL', 'QUANTITY', 'MONEY', 'PERCENT')
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
CREATE OR REPLACE VIEW lake.story_coverage AS
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
