"""Pure NER over articles, given a loaded spaCy pipeline: long texts are cut on paragraph
boundaries into pieces below spaCy's ``max_length`` and entity offsets are mapped back
exactly; articles in another language than the model's are marked, not annotated."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from schemas.records import Article
from transforms.entities.mentions import refine
from transforms.entities.model import in_model_language

DEFAULT_BATCH = 64
DEFAULT_CHUNK_CHARS = 100_000


def chunk_spans(text: str, max_chars: int) -> List[Tuple[int, int]]:
    """(start, end) pieces covering ``text``, each at most ``max_chars`` long, cut at the last
    paragraph break, else line break, else sentence end, else space before the limit."""
    spans, start, n = [], 0, len(text)
    while n - start > max_chars:
        limit = start + max_chars
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            i = text.rfind(sep, start + max_chars // 2, limit)
            if i != -1:
                cut = i + len(sep)
                break
        if cut == -1:
            cut = limit
        spans.append((start, cut))
        start = cut
    spans.append((start, n))
    return spans


def raw_spans(spans: Sequence[Tuple[int, int]], docs) -> List[Tuple[int, int, str]]:
    """(start, end, label) of every entity of the pieces' docs, in article offsets."""
    out = []
    for (offset, _end), doc in zip(spans, docs):
        for ent in doc.ents:
            out.append((ent.start_char + offset, ent.end_char + offset, ent.label_))
    return out


def skip_reason(article: Article, model_lang: str) -> Optional[str]:
    """Why NER should not run on this article with a model for ``model_lang``, or None."""
    if in_model_language(article.language, model_lang):
        return None
    return f"language {article.language} (model is {model_lang})"


def annotate(nlp, articles: Sequence[Article], max_chars: int = DEFAULT_CHUNK_CHARS,
             batch_size: int = DEFAULT_BATCH) -> List[Article]:
    """Pure (given a loaded pipeline): the articles with ``entities`` and ``entity_counts``
    filled in, or ``ner_skipped`` set where the article is not in the model's language."""
    max_chars = min(max_chars, nlp.max_length - 1)
    skipped = [skip_reason(a, nlp.lang) for a in articles]
    plan = [[] if why else chunk_spans(a.text, max_chars) for a, why in zip(articles, skipped)]
    pieces = [a.text[s:e] for a, spans in zip(articles, plan) for s, e in spans]
    docs = iter(nlp.pipe(pieces, batch_size=batch_size))
    out = []
    for a, spans, why in zip(articles, plan, skipped):
        if why:
            out.append(a._replace(entities=[], entity_counts=[], ner_skipped=why))
            continue
        these = [next(docs) for _ in spans]
        entities, counts = refine(a.text, raw_spans(spans, these))
        out.append(a._replace(entities=entities, entity_counts=counts, ner_skipped=None))
    return out

