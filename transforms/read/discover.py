"""Discover: input paths (folder, glob or file; any Beam filesystem) -> file metadata.

The driver lists the inputs when it plans a run (``pipeline.plan``): which files are new is
decided against the ledger before any file is read, so the graph gets the planned files.
"""
from __future__ import annotations

import os
import re
from typing import List, Sequence

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

_GLOB_CHARS = re.compile(r"[*?\[]")


def file_pattern(path: str) -> str:
    """The match pattern for one user-given input: a glob stays as it is, a folder (local or a
    ``gs://``/``s3://`` prefix) is searched recursively, a file matches itself.

    Only metadata is touched (one ``FileSystems.match``), so this is safe to call while the
    pipeline is being built.
    """
    if _GLOB_CHARS.search(path):
        return path
    if path.endswith("/"):
        return path + "**"
    recursive = FileSystems.join(path, "**")
    if FileSystems.get_scheme(path) in (None, "file") and os.path.isdir(path):
        return recursive  # a local folder, empty or not (never the folder itself as a file)
    try:
        if FileSystems.match([recursive], limits=[1])[0].metadata_list:
            return recursive
    except Exception:  # a path that is not a folder: treat it as a file
        pass
    return path


def file_patterns(paths: Sequence[str]) -> List[str]:
    return [file_pattern(p) for p in paths]


def list_files(paths: Sequence[str]) -> List[FileMetadata]:
    """Every file the inputs match, once each (overlapping inputs: a folder and a glob inside
    it), sorted by path so that a run's micro-batches are the same on every try.

    Metadata only (``FileSystems.match``: path, size, modification time), no file is read;
    local paths are made absolute;
    raises ``FileNotFoundError`` naming an input that matches nothing.
    """
    found = {}
    for pattern in file_patterns([paths] if isinstance(paths, str) else list(paths)):
        matched = FileSystems.match([pattern])[0].metadata_list
        if not matched:
            raise FileNotFoundError(f"no input files match {pattern}")
        for m in matched:
            if FileSystems.get_scheme(m.path) in (None, "file"):
                # one name per local file, however the input spelled it (relative, ./, ..):
                # the ledger knows files by this name
                m = FileMetadata(os.path.abspath(m.path), m.size_in_bytes, m.last_updated_in_seconds)
            found.setdefault(m.path, m)
    return [found[p] for p in sorted(found)]
