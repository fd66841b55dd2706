import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import FileEntry, PriorRecord, Reject
from transforms.read.decode import (DecodeError, ReadAndDecode, content_hash, decode_bytes, gunzip,
                                    record_hash, records_from_bytes, split_extension)
from transforms.read.discover import list_files

PAGE = "<html><head><title>Café</title></head><body><p>Crème brûlée — “quoted” naïve café</p></body></html>"


def test_split_extension():
    assert split_extension("gs://b/x/Page.HTML.gz") == ("html", True)
    assert split_extension("/a/b.jsonl") == ("jsonl", False)
    assert split_extension("/a/README") == ("", False)


def test_utf8_and_boms():
    for enc, bom in (("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")):
        text, _ = decode_bytes(bom + PAGE.encode(enc))
        assert text == PAGE


def test_declared_charset_wins():
    html = PAGE.replace("<head>", '<head><meta charset="windows-1252">')
    text, enc = decode_bytes(html.encode("cp1252"))
    assert "Crème brûlée — “quoted”" in text and enc == "cp1252"


def test_iso_8859_1_label_reads_as_cp1252():
    html = PAGE.replace("<head>", '<head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">')
    text, _ = decode_bytes(html.encode("cp1252"))
    assert "“quoted”" in text  # curly quotes exist only in cp1252, not in latin-1


def test_undeclared_cp1252_is_detected():
    body = ("The minister’s “final” offer was rejected – again – by the union’s négociateurs. " * 20)
    text, enc = decode_bytes(body.encode("cp1252"))
    assert text == body, enc


def test_binary_and_empty_are_rejected():
    with pytest.raises(DecodeError) as e:
        decode_bytes(bytes(range(256)) * 10)
    assert e.value.reason == "binary"
    with pytest.raises(DecodeError) as e:
        decode_bytes(b"")
    assert e.value.reason == "empty_file"


def test_gunzip_caps_size_and_flags_corruption():
    data = gzip.compress(b"a" * 10_000)
    assert gunzip(data, 10_000) == b"a" * 10_000
    with pytest.raises(DecodeError) as e:
        gunzip(data, 9_999)
    assert e.value.reason == "too_large"
    with pytest.raises(DecodeError) as e:
        gunzip(data[:20], 10_000)
    assert e.value.reason == "bad_compression"
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 100) == b"abcd"


def test_json_array_and_jsonl_record_uris():
    arr = json.dumps([{"html": "<p>a</p>", "url": "u0"}, {"text": "b", "title": "T", "date": "2022-03-18"}, 5])
    out = list(records_from_bytes("/d/x.json", arr.encode()))
    assert [o.source_uri for o in out] == ["/d/x.json#0", "/d/x.json#1", "/d/x.json#2"]
    assert out[0].fmt == "html" and out[0].url == "u0"
    assert out[1].fmt == "text" and out[1].title == "T" and out[1].published == "2022-03-18"
    assert isinstance(out[2], Reject) and out[2].reason == "not_an_object"

    lines = '{"text": "one"}\n\n{"text": \n{"title": "no body"}\n'
    out = list(records_from_bytes("/d/x.jsonl", lines.encode()))
    assert [(o.source_uri, getattr(o, "reason", "ok")) for o in out] == [
        ("/d/x.jsonl#1", "ok"), ("/d/x.jsonl#3", "invalid_json"), ("/d/x.jsonl#4", "no_content")]

    single = list(records_from_bytes("/d/one.json", b'{"content": "hello"}'))
    assert single[0].source_uri == "/d/one.json" and single[0].body == "hello"


def test_read_and_decode_on_a_runner(tmp_path):
    (tmp_path / "a.html").write_bytes(PAGE.encode("utf-8"))
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress("plain <b>U</b>nited".encode()))
    (tmp_path / "c.jsonl").write_text('{"text": "x"}\n{"text": "y"}\n', encoding="utf-8")
    (tmp_path / "d.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "e.html").write_bytes(b"")
    big = tmp_path / "f.html"
    big.write_bytes(b"<p>" + b"x" * 5000 + b"</p>")
    entries = [FileEntry(m.path, m.size_in_bytes, None, None, []) for m in list_files(str(tmp_path))]
    with TestPipeline() as p:
        out = p | beam.Create(entries) | ReadAndDecode(max_bytes=4096)
        assert_that(out.records | beam.Map(lambda r: (r.source_uri.rsplit("/", 1)[-1], r.fmt, r.body)),
                    equal_to([("a.html", "html", PAGE), ("b.txt.gz", "text", "plain <b>U</b>nited"),
                              ("c.jsonl#1", "text", "x"), ("c.jsonl#2", "text", "y")]), label="records")
        assert_that(out.rejects | beam.Map(lambda r: (r.source_uri.rsplit("/", 1)[-1], r.reason)),
                    equal_to([("d.docx", "unsupported"), ("e.html", "empty_file"), ("f.html", "too_large")]),
                    label="rejects")


def _name(uri):
    return uri.rsplit("/", 1)[1]


def test_ledger_rows_for_every_record_and_file(tmp_path):
    (tmp_path / "a.html").write_bytes(PAGE.encode("utf-8"))
    (tmp_path / "c.jsonl").write_text('{"text": "x"}\n{"nope": 1}\n', encoding="utf-8")
    (tmp_path / "d.pdf").write_bytes(b"%PDF")
    page_hash = content_hash(PAGE.encode("utf-8"))
    with TestPipeline() as p:
        out = (p | beam.Create([FileEntry(str(tmp_path / n), 10, 5, None, [])
                                for n in ("a.html", "c.jsonl", "d.pdf")]) | ReadAndDecode())
        assert_that(out.ledger_records | beam.Map(lambda r: (_name(r.source_uri), _name(r.file_uri), r.state)),
                    equal_to([("a.html", "a.html", "new"), ("c.jsonl#1", "c.jsonl", "new"),
                              ("c.jsonl#2", "c.jsonl", "new"), ("d.pdf", "d.pdf", "new")]), label="records")
        # d.pdf is never read (unsupported): no content hash
        assert_that(out.ledger_files | beam.Map(lambda f: (_name(f.file_uri), f.records, f.state, f.content_hash)),
                    equal_to([("a.html", 1, "new", page_hash), ("c.jsonl", 2, "new", content_hash(
                        b'{"text": "x"}\n{"nope": 1}\n')), ("d.pdf", 1, "new", None)]), label="files")


def test_touched_file_is_not_taken_again_and_grown_jsonl_keeps_its_old_lines(tmp_path):
    page, lines = tmp_path / "a.html", tmp_path / "c.jsonl"
    page.write_bytes(PAGE.encode("utf-8"))
    old = [next(records_from_bytes(f"{lines}", b'{"text": "one"}')), next(records_from_bytes(f"{lines}", b'{"text": "two"}'))]
    prior = [PriorRecord(f"{lines}#{i}", record_hash(r)) for i, r in enumerate(old, start=1)]
    lines.write_text('{"text": "one"}\n{"text": "TWO, corrected"}\n{"text": "three"}\n', encoding="utf-8")
    with TestPipeline() as p:
        out = (p | beam.Create([FileEntry(str(page), 1, 2, content_hash(PAGE.encode("utf-8")), []),
                                FileEntry(str(lines), 1, 2, "old", prior)]) | ReadAndDecode())
        assert_that(out.records | beam.Map(lambda r: (_name(r.source_uri), r.body)),
                    equal_to([("c.jsonl#2", "TWO, corrected"), ("c.jsonl#3", "three")]), label="records")
        assert_that(out.ledger_records | beam.Map(lambda r: (_name(r.source_uri), r.state)),
                    equal_to([("c.jsonl#1", "kept"), ("c.jsonl#2", "changed"), ("c.jsonl#3", "new")]),
                    label="ledger")
        assert_that(out.ledger_files | beam.Map(lambda f: (_name(f.file_uri), f.state)),
                    equal_to([("a.html", "unchanged"), ("c.jsonl", "changed")]), label="files")


def test_record_hash_sees_every_field_the_pipeline_reads():
    base = next(records_from_bytes("/x.jsonl", b'{"text": "t", "title": "a", "url": "u"}'))
    other = next(records_from_bytes("/x.jsonl", b'{"text": "t", "title": "b", "url": "u"}'))
    assert record_hash(base) == record_hash(base._replace(size_bytes=99)) != record_hash(other)


def test_a_file_that_cannot_be_read_keeps_what_was_taken_and_is_tried_again(tmp_path):
    gone = str(tmp_path / "vanished.jsonl")  # listed, then removed before it was read
    prior = [PriorRecord(gone + "#1", "h1"), PriorRecord(gone + "#2", "h2")]
    with TestPipeline() as p:
        out = (p | beam.Create([FileEntry(gone, 10, 1, "old", prior),
                                FileEntry(str(tmp_path / "new.html"), 10, 1, None, [])]) | ReadAndDecode())
        assert_that(out.ledger_files | beam.Map(lambda f: (_name(f.file_uri), f.state, f.records)),
                    equal_to([("vanished.jsonl", "unreadable", 2), ("new.html", "unreadable", 1)]), label="files")
        assert_that(out.ledger_records | beam.Map(lambda r: (_name(r.source_uri), r.state)),
                    equal_to([("vanished.jsonl#1", "kept"), ("vanished.jsonl#2", "kept"), ("new.html", "new")]),
                    label="records")
        assert_that(out.rejects | beam.Map(lambda r: (_name(r.source_uri), r.reason)),
                    equal_to([("new.html", "read_error")]), label="rejects")


def test_valid_utf8_wins_over_a_declared_single_byte_charset():
    page = "<html><head><meta charset='ISO-8859-1'><title>Nueva sanción</title></head><body>sanción, año</body></html>"
    text, enc = decode_bytes(page.encode("utf-8"))
    assert enc == "utf-8" and "sanción, año" in text and "Ã" not in text


def test_a_declared_single_byte_charset_holds_for_bytes_that_are_not_utf8():
    page = "<html><head><meta charset='ISO-8859-1'><title>Nueva sanción</title></head><body>sanción, año</body></html>"
    text, enc = decode_bytes(page.encode("cp1252"))
    assert enc == "cp1252" and "sanción, año" in text


def test_a_declared_multi_byte_charset_is_not_overridden():
    page = "<html><head><meta charset='shift_jis'></head><body>東京で記者会見が開かれた。</body></html>"
    text, enc = decode_bytes(page.encode("shift_jis"))
    assert enc == "shift_jis" and "東京で記者会見" in text


def test_stray_nuls_are_dropped_and_what_remains_decides():
    body = "The council met on Tuesday to discuss the budget for next year. " * 40
    data = body.encode("utf-8")
    holed = data[:100] + b"\x00" + data[100:900] + b"\x00\x00" + data[900:]
    text, _ = decode_bytes(holed, sniff_markup=False)
    assert text == body
    # the reported case: a 523-byte article with 7 stray NULs (1.3% of its bytes) is text
    article = ("Officials said on Monday that the bridge would reopen next week after repairs "
               "that took most of the summer. Residents welcomed the news. ") * 4
    raw = article.encode()[:516]
    strayed = b"".join(raw[i:i + 74] + (b"\x00" if i < 7 * 74 else b"") for i in range(0, 516, 74))
    assert len(strayed) == 523 and strayed.count(b"\x00") == 7
    assert decode_bytes(strayed, sniff_markup=False)[0] == raw.decode()
    # however many: a padded record, NULs for spaces
    padded = data + b"\x00" * 4096
    assert decode_bytes(padded, sniff_markup=False)[0] == body
    spaced = data.replace(b" ", b"\x00", 120)  # 4.7% of the bytes
    assert "\x00" not in decode_bytes(spaced, sniff_markup=False)[0]
    with pytest.raises(DecodeError) as e:
        decode_bytes(b"\x00" * 100, sniff_markup=False)
    assert e.value.reason == "binary"


def _png(width=64, height=64, seed=7):
    import random
    import struct
    import zlib
    rnd = random.Random(seed)
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(width * 3)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _pdf():
    import zlib
    stream = zlib.compress(("BT /F1 12 Tf 72 720 Td (Quarterly report) Tj ET\n" * 200).encode())
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length " + str(len(stream)).encode()
            + b" /Filter /FlateDecode >>\nstream\n" + stream + b"\nendstream\nendobj\ntrailer\n<<>>\n%%EOF\n")


@pytest.mark.parametrize("kind", ["png", "pdf", "gzip"])
def test_real_binaries_stay_binary_with_or_without_their_nuls(kind):
    import gzip
    story = ("The council met on Tuesday to discuss the budget for next year. " * 200).encode()
    data = {"png": _png, "pdf": _pdf, "gzip": lambda: gzip.compress(story)}[kind]()
    with pytest.raises(DecodeError) as e:
        decode_bytes(data, sniff_markup=False)
    assert e.value.reason == "binary"
    with pytest.raises(DecodeError) as e:  # the NULs are not what decides
        decode_bytes(data.replace(b"\x00", b""), sniff_markup=False)
    assert e.value.reason == "binary"


def test_bom_less_utf16_and_utf32_are_read_as_text():
    body = "The council met on Tuesday to discuss the budget. " * 30
    for enc in ("utf-16-le", "utf-16-be", "utf-32-le"):
        assert decode_bytes(body.encode(enc), sniff_markup=False) == (body, enc)
    # letters beyond Latin, between ASCII markup
    page = "<html><body><p>Совет собрался во вторник, чтобы обсудить бюджет.</p></body></html>" * 10
    for enc in ("utf-16-le", "utf-16-be"):
        assert decode_bytes(page.encode(enc), sniff_markup=False) == (page, enc)


def test_archives_of_plain_text_are_binary():
    import io
    import tarfile
    import zipfile
    story = ("The council met on Tuesday to discuss the budget for next year. " * 30).encode()
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo("article0.txt")
        info.size = len(story)
        t.addfile(info, io.BytesIO(story))
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("article0.txt", story)
    for data in (tar.getvalue(), stored.getvalue()):
        with pytest.raises(DecodeError) as e:
            decode_bytes(data, sniff_markup=False)
        assert e.value.reason == "binary"


def test_control_bytes_decide_binary_on_both_sides_of_the_line():
    body = "x" * 1000
    ok = "\x01" * 20 + body[20:]          # 2.0% control characters: text
    assert decode_bytes(ok.encode(), sniff_markup=False)[0] == ok
    bad = "\x01" * 21 + body[21:]         # 2.1%: binary
    with pytest.raises(DecodeError) as e:
        decode_bytes(bad.encode(), sniff_markup=False)
    assert e.value.reason == "binary"
