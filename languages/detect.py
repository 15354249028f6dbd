"""Language detection, tuned for short questions and used for documents too.

The script decides first (Han -> zh, Arabic -> ar, Bengali -> bn, Devanagari -> hi, kana -> ja, Hangul -> ko,
Cyrillic -> ru, ...: `languages.scripts.SCRIPT_LANGUAGES`); Latin-script text goes to py3langid restricted to
the Latin-script languages a training centre's trainees write in (`languages.tables.LATIN_LANGUAGES`), which
is far more reliable on a one-line question than an unrestricted classifier.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from languages.scripts import script_language
from languages.tables import LANGUAGE_ALIASES, LATIN_LANGUAGES

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _latin_identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(LATIN_LANGUAGES)
    return identifier


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        script = script_language(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of `text` (a question, or a document's sample); `default` when there is no evidence for
    another language."""
    counts = _script_counts(text)
    if not counts:
        return default
    if counts.get("ja"):  # kana present: Japanese even when Han characters dominate
        return "ja"
    script, n = max(counts.items(), key=lambda kv: kv[1] * (2 if kv[0] in ("zh", "ja", "ko") else 1))
    if script != "latin":
        return script
    # Names say nothing about the language of the question ("IPRCC Tanzania" is not Swahili):
    # drop acronyms and capitalised words after the first, and fall back when unsure.
    words = text.split()
    kept = [w for i, w in enumerate(words) if not (w.isupper() or (i > 0 and w[:1].isupper()))]
    if not any(any(c.isalpha() for c in w) for w in kept):
        return default
    with _lock:
        lang, probability = _latin_identifier().classify(" ".join(kept))
    return lang if probability >= 0.5 else default


def canonical_language(language: str) -> str:
    """Fold varieties that py3langid reports (wuu, yue, arz, ...) into the language codes we keep tables for."""
    lang = (language or "").lower()
    return LANGUAGE_ALIASES.get(lang, lang)
