"""Read + Decode: file metadata -> RawRecords (bytes to str, one record per article).

What a file holds is decided by its extension (after an optional ``.gz``):

- ``.html``/``.htm``: one page or fragment;
- ``.txt``: plain text, which may carry inline HTML;
- ``.json``: one object, or an array of objects (``path#i``, i from 0);
- ``.jsonl``: one object per line (``path#n``, n the line number from 1).

Bytes are decoded honestly: a BOM wins, then an encoding the document declares
(``<meta charset>``, ``http-equiv``, an XML declaration), then strict UTF-8, then statistical
detection (charset-normalizer); content that is not text is rejected, never guessed at.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import re
import time
import zlib
from typing import Iterator, List, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.records import FileEntry, FileTaken, RawRecord, RecordTaken, Reject
from transforms.progress import TalliedFn
from transforms.rejects import REJECTS, reject

STAGE = "decode"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

HTML_EXTS = {"html", "htm", "xhtml", "shtml"}
TEXT_EXTS = {"txt", "text"}
JSON_EXTS = {"json"}
JSONL_EXTS = {"jsonl", "ndjson"}
SUPPORTED_EXTS = HTML_EXTS | TEXT_EXTS | JSON_EXTS | JSONL_EXTS

# Field names tried in order for each part of a JSON record.
HTML_FIELDS = ("html", "raw_html", "content_html", "body_html")
TEXT_FIELDS = ("text", "content", "body", "article", "articleBody", "article_body", "maintext")
TITLE_FIELDS = ("title", "headline")
URL_FIELDS = ("url", "link", "canonical_url", "uri")
DATE_FIELDS = ("published", "published_at", "publishedAt", "date", "datePublished",
               "date_publish", "pubDate", "pub_date", "created_at")
MODIFIED_FIELDS = ("modified", "modified_at", "modifiedAt", "dateModified", "updated",
                   "updated_at", "updatedAt", "last_modified", "date_modify")


class DecodeError(ValueError):
    """Content that cannot be turned into text; ``reason`` is a reject code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def split_extension(path: str) -> Tuple[str, bool]:
    """(``ext`` lower-cased without the dot, ``gzipped``) of a path or URI."""
    name = path.rsplit("/", 1)[-1].lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    return ext, gz


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompresses (possibly multi-member) gzip, refusing to inflate past ``max_bytes``."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            out += d.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as e:
            raise DecodeError("bad_compression", str(e)) from None
        if len(out) > max_bytes:
            raise DecodeError("too_large", f"decompresses to more than {max_bytes} bytes")
        if not d.eof:
            if d.unconsumed_tail:  # stopped by the size cap
                raise DecodeError("too_large", f"decompresses to more than {max_bytes} bytes")
            raise DecodeError("bad_compression", "truncated gzip stream")
        rest = d.unused_data
        if rest and not rest.startswith(b"\x1f\x8b"):
            break  # trailing garbage after the last member, as gzip(1) tolerates
    return bytes(out)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)
# Browsers read these labels as their supersets (WHATWG Encoding Standard).
_SUPERSETS = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
              "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-9": "cp1254",
              "gb2312": "gb18030", "gbk": "gb18030", "x-sjis": "shift_jis",
              "utf8": "utf-8"}


def _codec(label: str) -> Optional[str]:
    label = label.strip().lower()
    label = _SUPERSETS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page that declares UTF-16 in ASCII-compatible bytes is lying: ignore it.
    return None if name.startswith("utf-16") or name.startswith("utf-32") else name


def declared_encoding(data: bytes) -> Optional[str]:
    head = data[:4096]
    m = _XML_DECL.search(head) or _META_CHARSET.search(head)
    return _codec(m.group(1).decode("ascii", "replace")) if m else None


_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\ufffd]")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0e-\x1f]")
# Text is text when at most this share of its first 64K characters are control characters
# (NUL included) or U+FFFD; random or compressed bytes hold ~10% control bytes.
MAX_CONTROL_SHARE = 0.02
# BOM-less UTF-16/32 text has a NUL in the high byte of every ASCII character (markup,
# spaces, digits): bytes of which this share are NULs, nearly all at the high-byte
# positions of one byte order, are read as wide text first (the decode itself, and the
# text it gives, decide). Other NULs are strays (a bad export, a
# padded record): they are dropped, and what remains decides, by the same tests as any
# text (a PNG, a PDF stream or gzip bytes are binary by their control bytes once the NULs
# are set aside; text is not).
WIDE_NUL_SHARE = 0.1
WIDE_PARITY = 0.8
# Containers whose members may be plain text (an uncompressed tar or zip, an SQLite file):
# binary by their signature, whatever their bytes look like once NULs are set aside.
# (offset, signature): tar's "ustar" magic, zip, 7z, SQLite, OLE2 (doc, xls), ELF, Mach-O,
# Windows executables, and the compressed and image formats.
BINARY_SIGNATURES = (
    (257, b"ustar"), (0, b"PK\x03\x04"), (0, b"PK\x05\x06"), (0, b"7z\xbc\xaf\x27\x1c"),
    (0, b"SQLite format 3\x00"), (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), (0, b"\x7fELF"),
    (0, b"\xcf\xfa\xed\xfe"), (0, b"MZ"), (0, b"\x1f\x8b"), (0, b"BZh"), (0, b"\xfd7zXZ\x00"),
    (0, b"\x28\xb5\x2f\xfd"), (0, b"\x89PNG\r\n\x1a\n"), (0, b"\xff\xd8\xff"), (0, b"GIF8"),
)


def _wide_encodings(head: bytes) -> List[str]:
    """The UTF-16/32 byte orders the NULs of ``head`` point to: UTF-32 when nearly every
    4-byte unit has its two high bytes NUL; else UTF-16 when nearly all NULs sit at one parity
    (the high byte of ASCII characters); none for NULs spread as in binary data."""
    units = len(head) // 4
    if units:  # a BMP character in UTF-32 has its two high bytes NUL
        for enc, high in (("utf-32-le", 2), ("utf-32-be", 0)):
            if sum(1 for i in range(units)
                   if head[4 * i + high] == 0 == head[4 * i + high + 1]) >= WIDE_PARITY * units:
                return [enc]
    odd = sum(1 for i in range(1, len(head), 2) if head[i] == 0)
    even = head.count(0) - odd
    if odd >= WIDE_PARITY * (odd + even):
        return ["utf-16-le"]
    if even >= WIDE_PARITY * (odd + even):
        return ["utf-16-be"]
    return []


def _signature(data: bytes) -> Optional[bytes]:
    for offset, magic in BINARY_SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return magic
    return None


def _looks_binary(text: str) -> bool:
    """More than ``MAX_CONTROL_SHARE`` control characters or U+FFFD in the first 64K."""
    if not text:
        return False
    sample = text[:65536]
    return len(_CONTROL.findall(sample)) / len(sample) > MAX_CONTROL_SHARE


def _single_byte(enc: str) -> bool:
    """Whether ``enc`` maps every byte to one character (cp1252, ISO-8859-x, KOI8-R, ...)."""
    try:
        return len(bytes(range(128, 256)).decode(enc, errors="replace")) == 128
    except LookupError:
        return False


def _utf8_multibyte(data: bytes) -> bool:
    """Valid UTF-8 with at least one multi-byte sequence: text in a single-byte charset is
    valid UTF-8 only by the rarest accident (a high letter followed by 1-3 bytes of
    0x80-0xBF, again and again), so such bytes are UTF-8 whatever the page declares."""
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, sniff_markup: bool = True) -> Tuple[str, str]:
    """(text, encoding used) or ``DecodeError``. ``sniff_markup``: honour in-document charset
    declarations (HTML/XML); JSON is UTF-8/16/32 by specification (RFC 8259)."""
    if not data:
        raise DecodeError("empty_file", "no bytes")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(enc)
            except UnicodeDecodeError as e:
                raise DecodeError("undecodable", f"{enc} BOM but invalid {enc}: {e}") from None
            return _checked(text, enc)
    magic = _signature(data)
    if magic is not None:
        raise DecodeError("binary", f"a {magic!r} file (archive, executable, image or compressed)")
    nuls = data.count(b"\x00")
    if nuls >= WIDE_NUL_SHARE * len(data):
        for enc in _wide_encodings(data[:65536]):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text):
                return text, enc
    if nuls:
        data = data.replace(b"\x00", b"")
        if not data:
            raise DecodeError("binary", f"{nuls} NUL bytes and nothing else")
    head = data[:65536]
    control = len(_CONTROL_BYTES.findall(head))
    if control > MAX_CONTROL_SHARE * len(head):  # the same bytes in every ASCII-based charset
        raise DecodeError("binary", f"{control} control bytes in the first {len(head)}"
                          + (f" once {nuls} NUL bytes are set aside" if nuls else ""))
    if sniff_markup:
        enc = declared_encoding(data)
        # A page that declares a single-byte charset but whose bytes are multi-byte UTF-8
        # was saved as UTF-8 under a stale declaration (browsers would show mojibake;
        # extractors and detectors that try UTF-8 first do not).
        if enc and enc != "utf-8" and _single_byte(enc) and _utf8_multibyte(data):
            enc = "utf-8"
        if enc:
            try:
                return _checked(data.decode(enc), enc)
            except UnicodeDecodeError:
                pass  # a wrong declaration is common: fall through to detection
    try:
        return _checked(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(data[:1_000_000]).best()
    except Exception:  # the detector must not take the run down
        best = None
    if best is None or best.encoding is None:
        raise DecodeError("undecodable", "no character encoding fits the bytes")
    enc = _codec(best.encoding) or best.encoding
    try:
        return _checked(data.decode(enc), enc)
    except (UnicodeDecodeError, LookupError) as e:
        raise DecodeError("undecodable", f"detected {enc} but: {e}") from None


def _checked(text: str, enc: str) -> Tuple[str, str]:
    if _looks_binary(text):
        raise DecodeError("binary", f"control characters in content decoded as {enc}")
    return text, enc


def _first(obj: dict, fields) -> Optional[object]:
    for f in fields:
        v = obj.get(f)
        if v not in (None, "", [], {}):
            return v
    return None


def _as_str(v) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return repr(v)
    if isinstance(v, list):  # e.g. a list of paragraphs
        parts = [x for x in v if isinstance(x, str)]
        return "\n\n".join(parts) if parts else None
    return None


def record_from_json(uri: str, obj, size_bytes: int) -> Union[RawRecord, Reject]:
    """One JSON object -> RawRecord, by the field names above."""
    if not isinstance(obj, dict):
        return reject(STAGE, uri, "not_an_object", f"JSON {type(obj).__name__}", size_bytes)
    html = _as_str(_first(obj, HTML_FIELDS))
    text = None if html else _as_str(_first(obj, TEXT_FIELDS))
    if not html and not text:
        return reject(STAGE, uri, "no_content",
                      f"none of {HTML_FIELDS + TEXT_FIELDS}; keys: {sorted(obj)[:20]}", size_bytes)
    return RawRecord(
        source_uri=uri, fmt="html" if html else "text", body=html or text,
        url=_as_str(_first(obj, URL_FIELDS)), title=_as_str(_first(obj, TITLE_FIELDS)),
        published=_as_str(_first(obj, DATE_FIELDS)), size_bytes=size_bytes,
        modified=_as_str(_first(obj, MODIFIED_FIELDS)))


def records_from_bytes(path: str, data: bytes) -> Iterator[Union[RawRecord, Reject]]:
    """All records of one file's (decompressed) bytes, or rejects explaining why not."""
    ext, _ = split_extension(path)
    size = len(data)
    try:
        if ext in HTML_EXTS or ext in TEXT_EXTS:
            text, _enc = decode_bytes(data, sniff_markup=ext in HTML_EXTS)
            yield RawRecord(path, "html" if ext in HTML_EXTS else "text", text,
                            None, None, None, size)
        elif ext in JSON_EXTS:
            text, _enc = decode_bytes(data, sniff_markup=False)
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError) as e:
                yield reject(STAGE, path, "invalid_json", e, size)
                return
            if isinstance(doc, list):
                for i, obj in enumerate(doc):
                    uri = f"{path}#{i}"
                    item_size = len(json.dumps(obj, ensure_ascii=False).encode("utf-8"))
                    yield record_from_json(uri, obj, item_size)
            else:
                yield record_from_json(path, doc, size)
        elif ext in JSONL_EXTS:
            text, _enc = decode_bytes(data, sniff_markup=False)
            for n, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue  # blank lines are not records
                uri = f"{path}#{n}"
                line_size = len(line.encode("utf-8"))
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as e:
                    yield reject(STAGE, uri, "invalid_json", e, line_size)
                    continue
                yield record_from_json(uri, obj, line_size)
        else:
            yield reject(STAGE, path, "unsupported", f"extension {ext!r}", size)
    except DecodeError as e:
        yield reject(STAGE, path, e.reason, str(e), size)


def read_file(path: str, max_bytes: int) -> bytes:
    """The file's bytes, decompressed when it is ``.gz``, through Beam's FileSystems."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read(max_bytes + 1)
    _, gz = split_extension(path)
    if gz:
        # A gzip member may legally be far smaller than its content: read it all, then cap.
        if len(data) > max_bytes:
            raise DecodeError("too_large", f"over {max_bytes} bytes compressed")
        return gunzip(data, max_bytes)
    if len(data) > max_bytes:
        raise DecodeError("too_large", f"over {max_bytes} bytes")
    return data


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def record_hash(item: Union[RawRecord, Reject]) -> str:
    """What a record is, as a hash: equal for a JSON Lines record that an export writes again
    unchanged, different as soon as anything the pipeline reads of it changes."""
    if isinstance(item, Reject):
        parts = ("reject", item.reason, item.detail)
    else:
        parts = (item.fmt, item.body, item.url or "", item.title or "", item.published or "")
        if item.modified:  # only when declared: earlier ledgers' hashes stay valid
            parts += (item.modified,)
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


LEDGER_FILES = "ledger_files"
LEDGER_RECORDS = "ledger_records"


class ReadRecordsFn(TalliedFn, beam.DoFn):
    """FileEntry -> RawRecord (main), Reject (``rejects``) and the ledger: one FileTaken per
    file (``ledger_files``) and one RecordTaken per record (``ledger_records``).

    A file whose bytes hash as the ledger's earlier version (``prior_hash``) yields its ledger
    row only: a touched file is not taken again. A file that cannot be read (an I/O error,
    maybe passing) is ``unreadable``: the next run tries it again, and until then what an
    earlier commit took of it stays (or, for a new file, a ``read_error`` reject stands in). In a changed file, a record whose hash is
    the one an earlier commit took (a JSON Lines export that grew) is ``kept``, not re-emitted.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, progress: Optional[str] = None):
        TalliedFn.__init__(self, progress, "read")
        self.max_bytes = max_bytes
        self.records = Metrics.counter(STAGE, "records")
        self.bytes_read = Metrics.counter(STAGE, "bytes")
        self.unchanged = Metrics.counter(STAGE, "files_unchanged")
        self.kept = Metrics.counter(STAGE, "records_kept")

    def process(self, entry: FileEntry):
        # Only the time inside this stage's own generator counts: fused stages downstream
        # run while it yields, and a file's records are never held all at once.
        spent, records, rejected = 0.0, 0, 0
        outputs = self._outputs(entry)
        while True:
            start = time.perf_counter()
            out = next(outputs, None)
            spent += time.perf_counter() - start
            if out is None:
                break
            if not isinstance(out, beam.pvalue.TaggedOutput):
                records += 1
            elif out.tag == REJECTS:
                rejected += 1
            yield out
        self.tally.add(1, spent, records=records + rejected, rejected=rejected)

    def _outputs(self, entry: FileEntry):
        path, digest, unreadable = entry.path, None, False
        ext, _ = split_extension(path)
        if ext not in SUPPORTED_EXTS:
            items = [reject(STAGE, path, "unsupported", f"extension {ext!r}", entry.size_bytes)]
        else:
            try:
                data = read_file(path, self.max_bytes)
            except DecodeError as e:
                items = [reject(STAGE, path, e.reason, str(e), entry.size_bytes)]
            except Exception as e:  # I/O errors: permissions, vanished files, remote hiccups
                unreadable = True
                if entry.prior_records:
                    # keep what an earlier commit took of it; every run tries it again
                    for r in entry.prior_records:
                        yield beam.pvalue.TaggedOutput(
                            LEDGER_RECORDS, RecordTaken(r.source_uri, path, r.record_hash, "kept"))
                    yield beam.pvalue.TaggedOutput(LEDGER_FILES, FileTaken(
                        path, entry.size_bytes, entry.modified_at_us, None,
                        len(entry.prior_records), "unreadable"))
                    return
                items = [reject(STAGE, path, "read_error", f"{type(e).__name__}: {e}",
                                entry.size_bytes)]
            else:
                self.bytes_read.inc(len(data))
                digest = content_hash(data)
                if entry.prior_hash is not None and digest == entry.prior_hash:
                    self.unchanged.inc()
                    yield beam.pvalue.TaggedOutput(LEDGER_FILES, FileTaken(
                        path, entry.size_bytes, entry.modified_at_us, digest,
                        len(entry.prior_records), "unchanged"))
                    return
                items = records_from_bytes(path, data)
        prior = dict(entry.prior_records)
        n = 0
        for item in items:
            n += 1
            h = record_hash(item)
            old = prior.get(item.source_uri)
            state = "new" if old is None else "kept" if old == h else "changed"
            yield beam.pvalue.TaggedOutput(LEDGER_RECORDS, RecordTaken(item.source_uri, path, h, state))
            if state == "kept":
                self.kept.inc()
            elif isinstance(item, Reject):
                yield beam.pvalue.TaggedOutput(REJECTS, item)
            else:
                self.records.inc()
                yield item
        state = ("unreadable" if unreadable
                 else "new" if entry.prior_hash is None and not entry.prior_records else "changed")
        yield beam.pvalue.TaggedOutput(LEDGER_FILES, FileTaken(
            path, entry.size_bytes, entry.modified_at_us, digest, n, state))


class ReadAndDecode(beam.PTransform):
    """PCollection[FileEntry] -> DoOutputsTuple: ``records`` (RawRecord), ``rejects``,
    ``ledger_files`` (FileTaken), ``ledger_records`` (RecordTaken)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, progress: Optional[str] = None,
                 spread: bool = True):
        super().__init__()
        self.max_bytes, self.progress, self.spread = max_bytes, progress, spread

    def expand(self, files):
        # Reshuffle so that reading fans out over workers even when one Create produced all
        # the file names; ``spread=False`` when the input is already spread (``beam.Create``
        # of several elements reshuffles them itself).
        if self.spread:
            files = files | "Spread" >> beam.Reshuffle()
        return (
            files
            | "Read" >> beam.ParDo(ReadRecordsFn(self.max_bytes, self.progress)).with_outputs(
                REJECTS, LEDGER_FILES, LEDGER_RECORDS, main="records")
        )
