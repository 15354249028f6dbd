"""Scripts of characters: the one definition of the CJK ranges, and which script names which language.

Two CJK sets, on purpose (they differ, and each difference shows in results):

* `CJK_LETTERS`: kana and Han ideographs (Extension A, unified, compatibility). The BM25 tokenizer cuts runs of
  them into characters and character pairs (indexer/tokenize.py); the lexicon leaves words with them out
  (indexer/lexicon.py). A regular-expression character class body; `CJK_LETTER_RE` matches one.
* `is_cjk(ch)`: those, plus Hangul syllables, CJK punctuation ("、", "。") and full-width forms: characters of
  text written without spaces between words. Joining wrapped lines and rebuilding paragraphs put no space
  between two of them (indexer/clean.py). With the punctuation in `CJK_LETTERS`, "。" would become a BM25
  token; without it in `is_cjk`, a line ending in "。" would get a space before the next line.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

KANA = "\u3040-\u30ff"
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: Kana and Han ideographs, as the body of a regex character class: f"[{CJK_LETTERS}]".
CJK_LETTERS = KANA + HAN
CJK_LETTER_RE = re.compile(f"[{CJK_LETTERS}]")


def is_cjk(ch: str) -> bool:
    """Whether `ch` belongs to text written without spaces: kana, Han, Hangul, CJK punctuation, full-width forms."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0x3000 <= o <= 0x303F  # CJK punctuation
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
    )


#: The language a letter's script names, by the start of its Unicode name (any name with "IDEOGRAPH" counts as
#: CJK); letters of other scripts count as Latin.
SCRIPT_LANGUAGES = [
    ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CJK", "zh"),
    ("ARABIC", "ar"), ("BENGALI", "bn"), ("DEVANAGARI", "hi"), ("CYRILLIC", "ru"),
    ("GREEK", "el"), ("THAI", "th"), ("HEBREW", "he"), ("TAMIL", "ta"), ("ETHIOPIC", "am"),
]


@lru_cache(maxsize=8192)
def script_language(ch: str) -> str | None:
    """The script group of one character: a language code of `SCRIPT_LANGUAGES`, 'latin' for any letter of no
    listed script, None if not a letter. Cached per character: the Unicode name lookups took ~0.7 ms a question."""
    if not ch.isalpha():
        return None
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    for key, lang in SCRIPT_LANGUAGES:
        if name.startswith(key) or (key == "CJK" and "IDEOGRAPH" in name):
            return lang
    return "latin"


def has_content(text: str) -> bool:
    """Whether `text` holds a letter or a digit of any script: a question of only punctuation, symbols, emoji or
    invisible characters ("?!.,;:", "😀😀😀", zero-width spaces) has nothing to search for."""
    return any(ch.isalnum() for ch in text)
