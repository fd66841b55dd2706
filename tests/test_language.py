import glob
import os

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from transforms.extract.language import _cache_file, cache_folder, detect_language, load_identifier

HERE = os.path.dirname(__file__)
TEXTS = ([open(f, encoding="utf-8").read()[:1200] for f in sorted(glob.glob(os.path.join(HERE, "..", "samples", "seeds", "*")))]
         + ["El gobierno anunció ayer que el presupuesto de la ciudad crecerá durante los próximos años.", "Это тест системы определения языка текста.",
            "Dies ist ein Test der Spracherkennung für deutsche Texte."])


def test_the_kept_copy_classifies_exactly_as_the_shipped_model(tmp_path):
    shipped = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    first = load_identifier(str(tmp_path))                  # writes the copy
    assert os.listdir(tmp_path) == [os.path.basename(_cache_file(str(tmp_path)))]
    again = load_identifier(str(tmp_path))                  # reads it
    for text in TEXTS:
        assert first(text) == again(text) == shipped.classify(text)
    assert [detect_language(again, t) for t in TEXTS[-3:]] == ["es", "ru", "de"]


def test_a_damaged_copy_is_replaced_and_no_folder_means_no_copy(tmp_path):
    path = _cache_file(str(tmp_path))
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    identify = load_identifier(str(tmp_path))
    assert identify(TEXTS[-1])[0] == "de"
    assert os.path.getsize(path) > 10_000_000             # rewritten whole
    assert load_identifier(str(tmp_path))(TEXTS[-2])[0] == "ru"
    assert load_identifier(None)(TEXTS[-3])[0] == "es"


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path))
    assert cache_folder() == str(tmp_path)
    monkeypatch.setenv("NEWS_INGEST_CACHE", "off")
    assert cache_folder() is None
    monkeypatch.delenv("NEWS_INGEST_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_folder() == os.path.join(str(tmp_path), "news-ingest")
