"""Language identification of article text (py3langid: a small n-gram model shipped inside
the package, no download)."""
from __future__ import annotations

from typing import Callable, Optional, Tuple

# Below this probability (or this many words) the guess is not stored.
MIN_PROBABILITY = 0.80
MIN_WORDS = 5
SAMPLE_CHARS = 1200  # a paragraph or two decides; the cost grows with the sample


def load_identifier() -> Callable[[str], Tuple[str, float]]:
    """A callable text -> (ISO 639-1 code, probability). Takes ~0.5 s: call it in setup()."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda text: ident.classify(text)


def detect_language(identify: Callable[[str], Tuple[str, float]], text: str) -> Optional[str]:
    """The language of ``text``, or None when too short or too uncertain to say."""
    if len(text.split(None, MIN_WORDS)) < MIN_WORDS:
        return None
    lang, prob = identify(text[:SAMPLE_CHARS])
    return lang if prob >= MIN_PROBABILITY else None
