"""Planning: which listed files a run takes, in which micro-batches."""
from apache_beam.io.filesystem import FileMetadata

from pipeline.plan import cut, select
from schemas.records import FileEntry


def meta(name, size=100, t=1.0):
    return FileMetadata(f"/in/{name}", size, t)


def test_only_new_moved_or_unreadable_files_are_taken():
    ledger = {"/in/same": (100, 1_000_000, "h", "new"), "/in/touched": (100, 1_000_000, "h", "new"),
              "/in/grown": (50, 1_000_000, "h", "changed"), "/in/broken": (100, 1_000_000, None, "unreadable")}
    take, skipped = select([meta("same"), meta("touched", t=2.0), meta("grown"), meta("broken"), meta("new")], ledger)
    assert skipped == 1
    assert [(e.path[4:], e.prior_hash) for e in take] == [
        ("touched", "h"), ("grown", "h"), ("broken", ""), ("new", None)]
    take, skipped = select([meta("same"), meta("new")], ledger, reprocess=True)
    assert skipped == 0 and [(e.path[4:], e.prior_hash) for e in take] == [("same", ""), ("new", None)]


def test_batches_are_cut_the_same_from_any_batch_boundary():
    entries = [FileEntry(f"/in/{i:03d}", size, None, None, []) for i, size in enumerate([5, 5, 20, 1, 1, 1, 9, 2])]
    batches = cut(entries, max_files=3, max_bytes=12)
    assert [[e.path[4:] for e in b] for b in batches] == [
        ["000", "001"], ["002"], ["003", "004", "005"], ["006", "007"]]
    # a run that resumes after the first two batches were committed forms the same last two
    assert cut(entries[3:], 3, 12) == batches[2:]
    assert cut(entries, 0, 1) == [entries]  # 0: one batch of everything
