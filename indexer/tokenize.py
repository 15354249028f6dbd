"""BM25 tokeniser for mixed-script text (Latin, Arabic, Devanagari, CJK, ...).

`tokenize(text)` -> list of lowercase tokens:

* NFKC-normalise (folds full-width forms, ligatures, compatibility digits), then lowercase;
  Latin words additionally lose their diacritics ("Napoleón" -> "napoleon") so a Spanish or
  German question matches English text.
* Every Unicode decimal digit is mapped to ASCII (Arabic-Indic "١٩٩٠", Devanagari "१९९०" ->
  "1990"), and digit runs are their own tokens ("1990s" -> "1990", "s"): numbers and years
  are the tokens most likely to be shared between a question and a passage in another script.
* Arabic: harakat/diacritics and tatweel are removed, alef variants (أ إ آ ٱ) become ا,
  alef maqsura ى becomes ي, and ta marbuta ة becomes ه.
* Letters plus combining marks form words, so Devanagari (and other Indic) words stay whole
  rather than being cut at every vowel sign, as a bare ``\\w+`` would do.
* CJK ideographs / kana: character unigrams plus adjacent-character bigrams (``cjk="bigram"``,
  the default) or jieba words (``cjk="jieba"``, imported lazily; falls back to bigrams).
  On XQuAD (English index) both give identical BM25 results - no Chinese question shares a
  CJK token with English text; only numbers and Latin names match - so the cheaper, dependency-
  free bigrams are the default.

`anchor_tokens(question)` -> only the tokens of a question that can match text in another
language: numbers and Latin-script words containing an uppercase letter (names, acronyms),
skipping a capitalised first word ("Wie", "Cuántos").  Used as the BM25 query for non-English
questions, where ordinary words ("de", "la", "die") only make false matches in English text.

Pure standard library (jieba optional) and `languages.scripts`; nothing else of the project.
"""

from __future__ import annotations

import re
import unicodedata

from languages.scripts import CJK_LETTERS

__all__ = ["tokenize", "anchor_tokens", "ENGLISH_STOPWORDS"]

#: English function words: left out of a question's key terms (assistant/answer.py) and of the words the
#: cross-lingual lexicon maps onto (indexer/lexicon.py).
ENGLISH_STOPWORDS = frozenset(
    "the a an of in on at to for and or is are was were be been by with from as that this what which who whom "
    "how many much when where why does did do it its their there about into than more most can could should "
    "would will has have had not no".split()
)

# Map every BMP decimal digit (Arabic-Indic, Devanagari, Bengali, ...) to its ASCII digit.
_DIGITS = {
    cp: ord("0") + unicodedata.decimal(chr(cp))
    for cp in range(0x80, 0x10000)
    if unicodedata.decimal(chr(cp), None) is not None
}
# Arabic normalisation: drop diacritics (fathatan..sukun, superscript alef, Quranic marks) and
# tatweel; unify alef forms, alef maqsura and ta marbuta.
_ARABIC = {cp: None for cp in list(range(0x064B, 0x0660)) + [0x0670, 0x0640] + list(range(0x06D6, 0x06EE))}
_ARABIC.update({0x0623: 0x0627, 0x0625: 0x0627, 0x0622: 0x0627, 0x0671: 0x0627, 0x0649: 0x064A, 0x0629: 0x0647})
_TABLE = {**_DIGITS, **_ARABIC}
# Without folding, Arabic keeps its letters (ta marbuta, alef forms) and only loses the marks.
_MARKS = {**_DIGITS, **{cp: None for cp, to in _ARABIC.items() if to is None}}

# A "word" is a run of letters/marks that are not CJK and not digits.  Marks (Mn/Mc) are not
# \w in Python's re, so the main Indic/SE-Asian blocks (U+0900-U+0DFF, Thai/Lao, Myanmar)
# are added explicitly, plus the general combining-mark block.
_WORD = rf"(?:[^\W\d_{CJK_LETTERS}]|[\u0300-\u036f\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f])+"
_TOKEN_RE = re.compile(rf"([{CJK_LETTERS}]+)|(\d+)|({_WORD})")


def _fold_latin(word: str) -> str:
    if word.isascii():
        return word
    if ord(word[0]) < 0x250:  # Latin script: strip diacritics
        return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def _cjk_tokens(run: str, cjk: str) -> list[str]:
    if cjk == "jieba":
        try:
            import jieba  # type: ignore

            jieba.setLogLevel(60)
            return [w for w in jieba.lcut(run) if w.strip()]
        except ImportError:  # pragma: no cover - optional dependency
            pass
    out = list(run)
    out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def tokenize(text: str, cjk: str = "bigram", fold: bool = True) -> list[str]:
    """Lowercased BM25 tokens of `text`; see the module docstring.  `cjk`: "bigram" or "jieba".
    `fold=False`: words as written (Latin diacritics and Arabic letter forms kept; Arabic marks, case and
    non-ASCII digits still normalised), for an encoder that reads them."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TABLE if fold else _MARKS)
    tokens: list[str] = []
    for han, digits, word in _TOKEN_RE.findall(text):
        if han:
            tokens.extend(_cjk_tokens(han, cjk))
        elif digits:
            tokens.append(digits)
        else:
            tokens.append(_fold_latin(word) if fold else word)
    return tokens


_ANCHOR_RE = re.compile(r"(\d+)|([A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f\u0300-\u036f]*)|[^\W\d_A-Za-z\u00c0-\u024f]+")


def _has_latin_upper(word: str) -> bool:
    return any(c.isupper() and ord(c) < 0x250 for c in word)


def anchor_tokens(text: str) -> list[str]:
    """BM25 query tokens that survive translation: digits and capitalised Latin-script words.

    Numbers in any script ("١٩٩٠", "१९९०", "1990") and words with a Latin uppercase letter
    ("Panthers", "NFL", "McDonald") are kept; a first word that is merely capitalised
    ("Wie viele ...", "Cuántos ...", "¿Y a cuántas ...", "E quanto ...") is skipped.  Returns `tokenize`
    tokens of what is kept.
    """
    out: list[str] = []
    first = True
    for digits, latin in _ANCHOR_RE.findall(unicodedata.normalize("NFKC", text)):
        is_first, first = first, False
        if digits:
            out.extend(tokenize(digits))
        elif latin and _has_latin_upper(latin) and not (is_first and latin[1:] == latin[1:].lower()):
            out.extend(tokenize(latin))
    return out
