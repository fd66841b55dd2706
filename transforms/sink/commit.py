"""Sink, second half: one batch's staged files -> the lake, in one catalog transaction.

Runs in the driver after the batch's Beam job succeeded, under the writer lock. In a single
DuckLake transaction it removes the earlier versions of the records this batch took again
(a changed file replaces its old rows in every table; time travel still reaches them),
registers the staged Parquet files of every table (``ducklake_add_data_files``: the files
stay where Beam wrote them), updates the ledger, removes the earlier articles that a record
of the batch superseded (Dedup staged them as duplicates: a newer version of the page, a
fuller copy), repoints duplicates whose canonical article was replaced or superseded, moves
the articles of stories the batch merged into older ones, and records the run. Readers see
all of it or none of it; a process killed at any point before ``COMMIT`` leaves only
unregistered files, which ``remove_orphans`` deletes at the start of the next run.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

import duckdb
from apache_beam.io.filesystems import FileSystems

from schemas.catalog import LAKE, data_path
from schemas.strings import string_tables
from schemas.tables import STAGED, TABLES
from transforms.sink.parquet import INDEX_ROW_GROUP, MANIFEST, manifest_path, read_manifest

BATCHES_DIR = "batches"
# Tables whose rows a replaced record loses (by source_uri).
_BY_SOURCE = ("articles", "duplicates", "rejects", "dedup_index", "story_index")
# Merge small files once a table has more than this many.
COMPACT_AT_FILES = 64
# Longest chain of duplicates pointing at duplicates that a streaming commit straightens.
MAX_CHAIN = 8


def batches_root(output: str) -> str:
    return FileSystems.join(data_path(output).rstrip("/"), BATCHES_DIR)


def staging_dir(output: str, commit_id: str) -> str:
    return FileSystems.join(batches_root(output), commit_id)


class StagingMissing(OSError):
    """A finished job's manifest is not where the driver looks: its workers wrote elsewhere."""


def staged_files(staging: str) -> Dict[str, List[str]]:
    """table -> the Parquet files the batch's finished job listed in its manifest (sorted),
    for every staged table. Files under ``staging`` the manifest does not list (a retried
    bundle's first attempt) are deleted: they were never the job's output."""
    try:
        listed = read_manifest(staging)
    except Exception as e:  # noqa: BLE001 (a local OSError, or an object store's own error)
        if FileSystems.exists(manifest_path(staging)):
            raise  # there, but unreadable: that error is the one to see
        where = ("a folder every worker mounts, or an object store (--output s3://...)"
                 if "://" not in staging else "a data path they reach")
        raise StagingMissing(
            f"the batch's job finished, but its files are not at {staging} ({type(e).__name__}): "
            "its workers do not share this output's disk; nothing was committed. For workers "
            f"on other machines give the lake a PostgreSQL catalog (--catalog) and {where}") from None
    out: Dict[str, List[str]] = {table: [] for table in STAGED}
    for path in listed:
        out[path.rstrip("/").split("/")[-2]].append(path)
    found = FileSystems.match([FileSystems.join(staging, "*", "*.parquet")])[0].metadata_list
    stray = sorted(set(m.path for m in found) - set(listed))
    if stray:
        FileSystems.delete(stray)
    return {table: sorted(fs) for table, fs in out.items()}


def _files_with_rows(con, files: List[str]) -> Dict[str, int]:
    if not files:
        return {}
    return dict(con.execute("SELECT file_name, num_rows FROM parquet_file_metadata(?::VARCHAR[])",
                            [files]).fetchall())


def _stage(con, table: str, files: List[str], columns: str = "*") -> None:
    """A temp table ``s_<table>`` with ``columns`` of the staged rows (none: no rows)."""
    src = "read_parquet(?::VARCHAR[])" if files else f"(SELECT * FROM {LAKE}.{table} LIMIT 0)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE s_{table} AS SELECT {columns} FROM {src}",
                [files] if files else [])


def _redirects(con, threshold: float) -> List[tuple]:
    """(old article id, id its copies now point to or None) for every earlier article this
    batch replaces. A copy follows the record's new version (or what that folded into) only
    when it is still the same article by Dedup's own test; otherwise the copy keeps naming
    the old version, which time travel reaches (the page now holds another story)."""
    from transforms.dedup.dedup import verify
    from transforms.dedup.index import from_row
    cur = con.execute("""
        SELECT o.*, coalesce(n.article_id, d.canonical_id) AS target_id
        FROM old_index o LEFT JOIN s_articles n USING (source_uri)
        LEFT JOIN s_duplicates d USING (source_uri)""")
    names = [x[0] for x in cur.description]
    old = [dict(zip(names, r)) for r in cur.fetchall()]
    wanted = sorted({o["target_id"] for o in old if o["target_id"]})
    with string_tables(con, wanted=wanted) as t:
        cur = con.execute(f"""
            SELECT * FROM s_dedup_index WHERE article_id IN (SELECT v FROM {t['wanted']})
            UNION ALL BY NAME
            SELECT * EXCLUDE (run_id) FROM {LAKE}.dedup_index
            WHERE article_id IN (SELECT v FROM {t['wanted']})""")
        names = [x[0] for x in cur.description]
        targets = {r["article_id"]: r for r in (dict(zip(names, v)) for v in cur.fetchall())}
    out = []
    for o in old:
        t = targets.get(o["target_id"])
        same = t is not None and t["num_perm"] == o["num_perm"] and verify(
            from_row(o, o["num_perm"], o["shingle_words"]),
            from_row(t, o["num_perm"], o["shingle_words"]), threshold) is not None
        out.append((o["article_id"], o["target_id"] if same else None))
    return out


def commit_batch(con, staging: str, run: Dict, message: str, threshold: float = 0.8,
                 fault: Optional[Callable[[str], None]] = None,
                 follow_chains: bool = False) -> Dict[str, int]:
    """Commits the staged batch under ``staging``; ``run`` is its ``runs`` row less the
    counts, which are filled in here and returned. ``follow_chains`` (streaming dedup): a
    duplicate whose canonical article is itself a duplicate is pointed at that one's
    canonical article, in the same transaction. ``threshold``: the run's dedup threshold
    (whether copies of a replaced article follow its new version)."""
    files = staged_files(staging)
    rows = {t: _files_with_rows(con, fs) for t, fs in files.items()}
    live = {t: [f for f in fs if rows[t][f]] for t, fs in files.items()}
    _stage(con, "articles", live["articles"], "source_uri, article_id, story_id")
    _stage(con, "duplicates", live["duplicates"], "source_uri, article_id, canonical_id, method")
    _stage(con, "rejects", live["rejects"], "source_uri, reason")
    _stage(con, "dedup_index", live["dedup_index"])
    _stage(con, "story_merges", live["story_merges"], "story_id, into_id")
    _stage(con, "ingest_files", live["ingest_files"])
    _stage(con, "ingest_records", live["ingest_records"])
    # What this batch replaces: earlier records of the files it took again, unless kept.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE gone AS
        SELECT r.source_uri FROM {LAKE}.ingest_records r
        WHERE r.file_uri IN (SELECT file_uri FROM s_ingest_files WHERE state IN ('changed', 'unreadable'))
          AND r.source_uri NOT IN (SELECT source_uri FROM s_ingest_records WHERE state = 'kept')""")
    replaced = con.execute("SELECT count(*) FROM gone").fetchone()[0]
    # (read only when there is any: the index's sketches are most of the lake's bytes)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE old_index AS SELECT * EXCLUDE (run_id)
                    FROM {LAKE}.dedup_index WHERE source_uri IN (SELECT source_uri FROM gone)
                      AND kept IS NOT false {'' if replaced else 'LIMIT 0'}""")
    con.execute("CREATE OR REPLACE TEMP TABLE replaced_ids (old_id VARCHAR, new_id VARCHAR)")
    if replaced:
        pairs = _redirects(con, threshold)
        if pairs:
            con.executemany("INSERT INTO replaced_ids VALUES (?, ?)", pairs)
    # Earlier articles a record of this batch won the group of (Dedup's canonical rule: a
    # newer version of the page, a fuller copy): Dedup staged each as a duplicate (a stream's
    # pane may also stage the article it supersedes). Their copies follow the new article
    # unconditionally, as in one run: they are in its group.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE superseding AS
        SELECT d.article_id AS old_id, d.canonical_id AS new_id, d.method, a.story_id
        FROM s_duplicates d JOIN (SELECT article_id, source_uri, story_id FROM {LAKE}.articles
                                  UNION ALL SELECT article_id, source_uri, story_id FROM s_articles
                                 ) a USING (article_id)
        WHERE a.source_uri NOT IN (SELECT source_uri FROM gone)""")
    # Dedup decides before NER: a winner the model then rejected (ner_error) is no article,
    # so the earlier one stays the article, and its staged duplicate row goes (``unsuperseded``)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE superseded AS
        SELECT * FROM superseding WHERE new_id IN (
            SELECT article_id FROM s_articles UNION ALL SELECT article_id FROM {LAKE}.articles)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE unsuperseded AS
                   SELECT old_id FROM superseding EXCEPT SELECT old_id FROM superseded""")
    superseded, versions = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE method = 'version') FROM superseded").fetchone()
    unsuperseded = con.execute("SELECT count(*) FROM unsuperseded").fetchone()[0]
    # ... with their method as one run gives it: ``version`` when the copy is a capture of
    # the new article's page, else what it was (a former ``version`` by its words)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE repointed AS
        SELECT d.article_id, s.new_id,
               CASE WHEN cap.page_key IS NULL THEN d.method
                    WHEN cap.page_key = c.page_key THEN 'version'
                    WHEN d.method <> 'version' THEN d.method
                    WHEN cap.text_hash = c.text_hash THEN 'exact' ELSE 'near' END AS method
        FROM {LAKE}.duplicates d JOIN superseded s ON d.canonical_id = s.old_id
        LEFT JOIN {LAKE}.dedup_index cap ON cap.article_id = d.article_id AND cap.kept = false
        LEFT JOIN (SELECT article_id, page_key, text_hash FROM s_dedup_index
                   UNION ALL BY NAME
                   SELECT article_id, page_key, text_hash FROM {LAKE}.dedup_index
                   WHERE kept IS NOT false) c ON c.article_id = s.new_id
        WHERE d.source_uri NOT IN (SELECT source_uri FROM gone)""")
    # a new article that started a story of its own continues the story of the article it
    # superseded (a story that only exists in this batch: no lineage to record)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE continued AS
        SELECT DISTINCT ON (n.story_id) n.story_id AS from_id, s.story_id AS into_id
        FROM superseded s JOIN s_articles n ON n.article_id = s.new_id
        WHERE s.story_id IS NOT NULL AND n.story_id IS NOT NULL AND n.story_id <> s.story_id
          AND n.story_id IN (SELECT article_id FROM s_articles)
        ORDER BY n.story_id, s.old_id""")
    # articles the model rejected after Dedup indexed them: not fold targets for later batches
    ner_failed = con.execute("SELECT count(*) FROM s_rejects WHERE reason = 'ner_error'").fetchone()[0]
    counts = {t: sum(rows[t].values()) for t in TABLES}
    counts["duplicates"] -= unsuperseded
    counts["replaced"] = replaced
    counts["superseded"], counts["versions_superseded"] = superseded, versions
    files_by_state = dict(con.execute(
        "SELECT state, count(*) FROM s_ingest_files GROUP BY 1").fetchall())

    # nothing of the batch becomes visible unless all of it does; the files of a batch that
    # failed here are orphans for the next run
    with transaction(con):
        con.execute(f"CALL {LAKE}.set_commit_message('news-ingest', ?, extra_info => ?)",
                    [message, json.dumps({"run_id": run["run_id"], "batch": run["batch"],
                                          "commit_id": run["commit_id"]})])
        if replaced:
            for t in _BY_SOURCE:
                con.execute(f"DELETE FROM {LAKE}.{t} WHERE source_uri IN (SELECT source_uri FROM gone)")
            con.execute(f"DELETE FROM {LAKE}.dedup_bands WHERE article_id IN (SELECT article_id FROM old_index)")
            con.execute(f"DELETE FROM {LAKE}.ingest_records WHERE source_uri IN (SELECT source_uri FROM gone)")
        if files_by_state:
            con.execute(f"DELETE FROM {LAKE}.ingest_files WHERE file_uri IN "
                        "(SELECT file_uri FROM s_ingest_files WHERE state <> 'new')")
        for table, fs in files.items():
            if table == "ingest_records":
                continue
            for f in fs:
                if rows[table][f]:
                    con.execute(f"CALL ducklake_add_data_files('{LAKE}', '{table}', ?)", [f])
        if unsuperseded:
            con.execute(f"""DELETE FROM {LAKE}.duplicates WHERE run_id = ?
                            AND article_id IN (SELECT old_id FROM unsuperseded)""", [run["run_id"]])
        if superseded:
            for t in ("articles", "dedup_bands", "story_index"):
                con.execute(f"DELETE FROM {LAKE}.{t} WHERE article_id IN (SELECT old_id FROM superseded)")
            # a superseded capture of a page stays findable by its page (as a folded one is)
            con.execute(f"""DELETE FROM {LAKE}.dedup_index WHERE page_key IS NULL
                            AND article_id IN (SELECT old_id FROM superseded)""")
            con.execute(f"""UPDATE {LAKE}.dedup_index SET kept = false
                            WHERE article_id IN (SELECT old_id FROM superseded)""")
            for t in ("articles", "story_index"):
                con.execute(f"""UPDATE {LAKE}.{t} SET story_id = c.into_id FROM continued c
                                WHERE {t}.story_id = c.from_id""")
        if ner_failed:
            con.execute(f"""DELETE FROM {LAKE}.dedup_bands WHERE article_id IN (
                SELECT article_id FROM s_dedup_index WHERE source_uri IN
                (SELECT source_uri FROM s_rejects WHERE reason = 'ner_error'))""")
            con.execute(f"""DELETE FROM {LAKE}.dedup_index WHERE source_uri IN
                (SELECT source_uri FROM s_rejects WHERE reason = 'ner_error')""")
        if sum(rows["story_merges"].values()):
            # earlier stories this batch's articles bridged into older ones: their articles
            # (and index rows) take the older story's id, as the batch's own already do
            for t in ("articles", "story_index"):
                con.execute(f"""UPDATE {LAKE}.{t} SET story_id = m.into_id FROM s_story_merges m
                                WHERE {t}.story_id = m.story_id""")
        if fault:
            fault("commit")
        con.execute(f"INSERT INTO {LAKE}.ingest_records SELECT * FROM s_ingest_records "
                    "WHERE state <> 'kept'")
        if superseded:
            con.execute(f"""UPDATE {LAKE}.duplicates SET canonical_id = r.new_id, method = r.method
                            FROM repointed r WHERE duplicates.article_id = r.article_id""")
        if replaced:
            # copies of a replaced article follow its new version when it is the same article
            con.execute(f"""UPDATE {LAKE}.duplicates SET canonical_id = m.new_id FROM replaced_ids m
                            WHERE duplicates.canonical_id = m.old_id AND m.new_id IS NOT NULL
                              AND m.new_id <> m.old_id""")
        if follow_chains:
            for _ in range(MAX_CHAIN):
                n = con.execute(f"""UPDATE {LAKE}.duplicates SET canonical_id = d.canonical_id
                                    FROM {LAKE}.duplicates d
                                    WHERE duplicates.canonical_id = d.article_id""").fetchone()[0]
                if not n:
                    break
        run = {**run, **{t: counts[t] for t in TABLES}, "replaced": replaced,
               "superseded": superseded, "versions_superseded": versions,
               "files_new": files_by_state.get("new", 0),
               "files_changed": files_by_state.get("changed", 0),
               "files_unchanged": files_by_state.get("unchanged", 0)}
        cols = ", ".join(run)
        con.execute(f"INSERT INTO {LAKE}.runs ({cols}) VALUES ({', '.join('?' * len(run))})",
                    list(run.values()))
    # files not registered: those with no rows (they would only add files to open), and the
    # record ledger, whose rows were copied (kept records filtered out)
    done = [f for t, fs in files.items() for f in fs if not rows[t][f] or t == "ingest_records"]
    done.append(manifest_path(staging))
    if done:
        FileSystems.delete(done)
    return {**counts, **{k: run[k] for k in ("files_new", "files_changed", "files_unchanged")}}


@contextlib.contextmanager
def transaction(con) -> Iterator[None]:
    """The block's statements as one transaction of ``con``: committed at its end, rolled
    back when it raises (a COMMIT that failed has already ended it: nothing to undo)."""
    con.execute("BEGIN")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass
        raise


def remove_orphans(con, output: str) -> List[str]:
    """Deletes what killed runs left: batch folders no commit registered, and data files the
    catalog does not know (e.g. from a compaction killed half-way). Call under the lock."""
    committed = {r[0] for r in con.execute(f"SELECT commit_id FROM {LAKE}.runs").fetchall()}
    root = batches_root(output)
    folders, manifests = _batch_folders(root)
    dirs = [FileSystems.join(root, c) for c in sorted(set(folders) - committed)]
    if dirs:
        FileSystems.delete([as_folder(d) for d in dirs])
    # a run killed between its COMMIT and the clean-up after it leaves its manifest behind
    # (its unregistered Parquet files go with the catalog's orphan clean-up below)
    spent = [manifest_path(FileSystems.join(root, c)) for c in sorted(manifests & committed)]
    if spent:
        FileSystems.delete(spent)
    con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', cleanup_all => true)")
    return dirs + spent


def as_folder(path: str) -> str:
    """A folder's path as ``FileSystems.delete`` takes it: object stores delete a prefix
    only when it ends with "/", a local filesystem only without it."""
    if FileSystems.get_scheme(path) in (None, "file"):
        return path.rstrip("/")
    return path.rstrip("/") + "/"


def _batch_folders(root: str) -> Tuple[List[str], Set[str]]:
    """(names of the batch folders under ``root``, names of those that hold a manifest). A
    local folder killed early may hold only empty directories, which ``FileSystems.match``
    (files only) does not see; object stores have no empty folders, so their file names tell
    them all."""
    if FileSystems.get_scheme(root) in (None, "file"):
        names = os.listdir(root) if os.path.isdir(root) else []
        return names, {n for n in names if os.path.exists(manifest_path(os.path.join(root, n)))}
    found = FileSystems.match([FileSystems.join(root, "**")])[0].metadata_list
    parts = [m.path[len(root):].lstrip("/").split("/", 1) for m in found]
    return ([p[0] for p in parts],
            {p[0] for p in parts if len(p) == 2 and p[1] == MANIFEST})


def file_counts(con) -> Dict[str, int]:
    return dict(con.execute(f"""
        SELECT table_name, count(*) FROM (
            SELECT t.table_name, f.data_file_id FROM __ducklake_metadata_{LAKE}.ducklake_data_file f
            JOIN __ducklake_metadata_{LAKE}.ducklake_table t USING (table_id)
            WHERE f.end_snapshot IS NULL AND t.end_snapshot IS NULL) GROUP BY 1""").fetchall())


def index_files(con) -> List[str]:
    """The paths of the dedup index's data files at ``con``'s snapshot of the lake."""
    return [r[0] for r in con.execute(
        f"SELECT data_file FROM ducklake_list_files('{LAKE}', 'dedup_index')").fetchall()]


def _index_row_group_rows(con) -> int:
    """The most rows in one row group of the index's data files (0: it has none)."""
    files = index_files(con)
    if not files:
        return 0
    return con.execute("SELECT max(row_group_num_rows) FROM parquet_metadata(?)",
                       [files]).fetchone()[0] or 0


def _rewrite_index(con, fault: Optional[Callable[[str], None]] = None) -> None:
    """Writes the index's rows anew, in row groups of ``INDEX_ROW_GROUP``, in one
    transaction. Merges keep a file's row groups as they are, so an index compacted before
    that option (in groups of up to 122,880 rows) would stay so. The rows are copied out
    first: read back at the snapshot before, inside the transaction that deleted them,
    DuckLake returned none."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE index_rows AS SELECT * FROM {LAKE}.dedup_index")
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {LAKE}.dedup_index")
            con.execute(f"INSERT INTO {LAKE}.dedup_index SELECT * FROM index_rows")
            if fault:
                fault("rewrite")
    finally:
        con.execute("DROP TABLE IF EXISTS index_rows")


def compact(con, expire_older_than: Optional[str] = None,
            fault: Optional[Callable[[str], None]] = None) -> Dict[str, int]:
    """Merges small data files (and rows the catalog holds inline) into larger ones; what
    queries return does not change. Files with deleted rows (story merges and replaced
    records delete rows of ``articles`` and ``story_index`` in most batches) are rewritten
    first: DuckLake merges only files without deletes, so they would pile up forever. The
    files they replace stay for time travel until their snapshots expire:
    ``expire_older_than`` (a DuckDB interval such as ``'30 days'``) expires older snapshots
    and deletes the files only they used. An index in larger row groups (a lake compacted
    before they were set) is written anew. Returns files per table after. ``fault``: called
    with a point's name where the crash tests stop (``pipeline.faults``)."""
    con.execute(f"CALL {LAKE}.set_option('parquet_row_group_size', {INDEX_ROW_GROUP}, "
                "table_name => 'dedup_index')")
    if _index_row_group_rows(con) > INDEX_ROW_GROUP:
        _rewrite_index(con, fault)
    con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')")
    con.execute(f"CALL ducklake_rewrite_data_files('{LAKE}', delete_threshold => 0)")
    con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    if expire_older_than:
        con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - ?::INTERVAL)",
                    [expire_older_than])
        con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
    return file_counts(con)


def needs_compaction(con, at_files: int = COMPACT_AT_FILES) -> bool:
    return any(n > at_files for n in file_counts(con).values())
