import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import Reject
from transforms.read.decode import (DecodeError, ReadAndDecode, decode_bytes, gunzip,
                               records_from_bytes, split_extension)
from transforms.read.discover import Discover

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
    with TestPipeline() as p:
        out = p | Discover(str(tmp_path)) | ReadAndDecode(max_bytes=4096)
        assert_that(out.records | beam.Map(lambda r: (r.source_uri.rsplit("/", 1)[-1], r.fmt, r.body)),
                    equal_to([("a.html", "html", PAGE), ("b.txt.gz", "text", "plain <b>U</b>nited"),
                              ("c.jsonl#1", "text", "x"), ("c.jsonl#2", "text", "y")]), label="records")
        assert_that(out.rejects | beam.Map(lambda r: (r.source_uri.rsplit("/", 1)[-1], r.reason)),
                    equal_to([("d.docx", "unsupported"), ("e.html", "empty_file"), ("f.html", "too_large")]),
                    label="rejects")
