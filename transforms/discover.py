"""Discover: input paths (folder, glob or file; any Beam filesystem) -> file metadata."""
from __future__ import annotations

import re
from typing import List, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

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
    try:
        if FileSystems.match([recursive], limits=[1])[0].metadata_list:
            return recursive
    except Exception:  # a path that is not a folder: treat it as a file
        pass
    return path


def file_patterns(paths: Sequence[str]) -> List[str]:
    return [file_pattern(p) for p in paths]


class _CountFiles(beam.DoFn):
    def __init__(self):
        self.files = Metrics.counter("discover", "files")

    def process(self, metadata: FileMetadata):
        self.files.inc()
        yield metadata


class Discover(beam.PTransform):
    """PBegin -> PCollection[FileMetadata], one per distinct matched file.

    A pattern that matches nothing fails the run: an empty input is a user error, not an
    empty result.
    """

    def __init__(self, paths: Sequence[str]):
        super().__init__()
        self.patterns = file_patterns([paths] if isinstance(paths, str) else list(paths))

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
            # Overlapping inputs (a folder and a glob inside it) must not read a file twice.
            | "ByPath" >> beam.Map(lambda m: (m.path, m))
            | "OnePerPath" >> beam.CombinePerKey(lambda ms: next(iter(ms)))
            | "Metadata" >> beam.Values()
            | "Count" >> beam.ParDo(_CountFiles())
        )
