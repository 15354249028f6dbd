"""Question language detection, tuned for short questions.

The script decides first (Han -> zh, Arabic -> ar, Bengali -> bn, Devanagari -> hi,
kana -> ja, Hangul -> ko, Cyrillic -> ru, ...); Latin-script text goes to py3langid
restricted to the Latin-script languages a training centre's trainees write in, which
is far more reliable on a one-line question than an unrestricted classifier.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache

LATIN_LANGUAGES = ["en", "fr", "es", "pt", "sw", "de", "it", "nl", "id", "tr", "pl", "vi", "ro"]

_SCRIPTS = [
    ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CJK", "zh"),
    ("ARABIC", "ar"), ("BENGALI", "bn"), ("DEVANAGARI", "hi"), ("CYRILLIC", "ru"),
    ("GREEK", "el"), ("THAI", "th"), ("HEBREW", "he"), ("TAMIL", "ta"), ("ETHIOPIC", "am"),
]

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _latin_identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(LATIN_LANGUAGES)
    return identifier


@lru_cache(maxsize=8192)
def _script(ch: str) -> str | None:
    """The script group of one character ('latin' for any letter of no listed script), None if not a letter."""
    if not ch.isalpha():
        return None
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    for key, lang in _SCRIPTS:
        if name.startswith(key) or (key == "CJK" and "IDEOGRAPH" in name):
            return lang
    return "latin"


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        script = _script(ch)  # cached per character: the Unicode name lookups took ~0.7 ms per question
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code of `text` (a question); `default` when there is no evidence for another language."""
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
