"""The question and sentence cues of `languages.tables`, compiled: what a question asks for, what a sentence states.

Each table lists regular-expression fragments per language; this module joins them into one pattern per
purpose (see the top of the "question cues" section of `languages/tables.py` for the two kinds of table) and
answers the small questions the answerer and the refusal model ask: does the question ask for a quantity, an
amount of money or a rate, a list, how many items; does a sentence state an amount; is it about the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from languages import tables
from languages.scripts import HAN


def _alternatives(fragments: Iterable[str]) -> str:
    return "|".join(dict.fromkeys(fragments))  # a word two languages share is listed once


def _every(table: Mapping[str, Iterable[str]]) -> Iterable[str]:
    """The entries of every language of `table`, in the table's order."""
    return (entry for entries in table.values() for entry in entries)


def _joined_word_start(language: str) -> str:
    """What may come before a cue word of a `tables.JOINED_WORDS` language: no letter of its script, a prefix."""
    rule = tables.JOINED_WORDS[language]
    prefixes = f"(?:{'|'.join(rule['prefixes'])})?" if rule["prefixes"] else ""
    return f"(?<![{rule['letters']}]){prefixes}"


def cue_pattern(words: Mapping[str, Sequence[str]] | None = None, cues: Mapping[str, Sequence[str]] | None = None,
                flags: int = re.IGNORECASE) -> re.Pattern:
    """One pattern for a `..._WORDS` table (whole words) and a `..._CUES` table (anywhere)."""
    words, cues = words or {}, cues or {}
    parts = []
    bounded = [f for language, fragments in words.items() if language not in tables.JOINED_WORDS for f in fragments]
    if bounded:
        parts.append(rf"\b({_alternatives(bounded)})\b")
    if cues:
        parts.append(_alternatives(_every(cues)))
    for language, fragments in words.items():
        if language in tables.JOINED_WORDS:
            parts.append(f"{_joined_word_start(language)}(?:{_alternatives(fragments)})")
    return re.compile("|".join(parts), flags)


QUANTITY = cue_pattern(tables.QUANTITY_WORDS, tables.QUANTITY_CUES)
LIST_QUESTION = cue_pattern(tables.LIST_QUESTION_WORDS, tables.LIST_QUESTION_CUES)
ASKS = {
    "money": cue_pattern(tables.ASKS_MONEY_WORDS, tables.ASKS_MONEY_CUES),
    "rate": cue_pattern(tables.ASKS_RATE_WORDS, tables.ASKS_RATE_CUES),
}
# Per kind: the pattern, and strings one of which any match contains (lowercase). The strings are checked
# first, since the patterns' many word-bounded alternatives make a full scan of three passages take ~1 ms.
STATES = {
    "money": (cue_pattern(tables.STATES_MONEY_WORDS, tables.STATES_MONEY_CUES), tuple(tables.STATES_QUICK["money"])),
    "rate": (cue_pattern(tables.STATES_RATE_WORDS, tables.STATES_RATE_CUES), tuple(tables.STATES_QUICK["rate"])),
}
NUMBER = re.compile(r"\d|" + cue_pattern(tables.NUMBER_WORDS).pattern, re.IGNORECASE)
ABOUT_THE_DOCUMENT = cue_pattern(tables.ABOUT_THE_DOCUMENT_WORDS)
OPENING_REFERENCE = re.compile(rf"^({_alternatives(_every(tables.OPENING_REFERENCES))})\b")
QUESTION_MARKS = tuple(dict.fromkeys(tables.QUESTION_MARKS.values()))

_FOLLOW_UP = re.compile(
    rf"^\s*({_alternatives(_every(tables.FOLLOW_UP_WORDS))})\b"
    + (rf"|^\s*(?:{_alternatives(_every(tables.FOLLOW_UP_JOINED))})(?=\w)" if tables.FOLLOW_UP_JOINED else ""),
    re.IGNORECASE,
)
_HAN = re.compile(f"[{HAN}]")  # a Chinese question's length is counted in characters

# -- the count of items a question states ---------------------------------------------------------------------
_COUNT_DIGITS = re.compile(r"(?<![\d.,])([2-9]|10)(?!\d|[.,]\d)")


def _count_word() -> str:
    """The count words of every language, one named group per number: (?P<n2>two|deux|...)|(?P<n3>...)."""
    by_number: dict[int, list[str]] = {}
    for numbers in tables.COUNT_WORDS.values():
        for n, words in numbers.items():
            by_number.setdefault(n, []).extend(words)
    return "|".join(f"(?P<n{n}>{_alternatives(words)})" for n, words in sorted(by_number.items()))


_COUNT_WORD = _count_word()
_COUNT_SUFFIX = _alternatives(_every(tables.COUNT_SUFFIXES))
_COUNT_WORDS = re.compile(rf"(?<!\w)({_COUNT_WORD})(?:{_COUNT_SUFFIX})?(?!\w)", re.IGNORECASE)
_NUMERALS = {numeral: n for numerals in tables.COUNT_NUMERALS.values() for numeral, n in numerals.items()}
_COUNT_MEASURED = re.compile(
    f"({_alternatives(map(re.escape, _NUMERALS))})"
    f"(?:{_alternatives(_every(tables.COUNT_MEASURE_WORDS))})")
_STEMS = {stem: n for stems in tables.COUNT_STEMS.values() for stem, n in stems.items()}
_COUNT_STEM = re.compile(
    rf"(?:^|\s)(?:{_alternatives(_every(tables.COUNT_ARTICLES))})?"
    f"({_alternatives(_STEMS)})")


def quantity_cue(question: str) -> re.Match | None:
    """Where the question asks "how many / how much / when / which year", if it does."""
    return QUANTITY.search(question)


def asked_amount(question: str) -> str | None:
    """What kind of amount the question asks for: "money", "rate", or None (anything else)."""
    for kind, pattern in ASKS.items():
        if pattern.search(question):
            return kind
    return None


def states_amount(kind: str, text: str) -> bool:
    """Whether `text` states an amount of that kind: a sum of money ("US$ 2 million", "500 yuan") or a rate
    ("85 percent", "33.3%", "fell by half")."""
    pattern, quick = STATES[kind]
    lowered = text.lower()
    return any(cue in lowered for cue in quick) and bool(pattern.search(text))


def is_list_question(question: str) -> bool:
    """"What are the four traps ...?": the answer is a list, not one sentence."""
    return bool(LIST_QUESTION.search(question))


def stated_count(question: str) -> int | None:
    """How many items the question says the list has ("What are the four traps?" -> 4), if it says."""
    m = _COUNT_DIGITS.search(question)
    if m:
        return int(m.group(1))
    m = _COUNT_WORDS.search(question)
    if m:
        return next(int(name[1:]) for name, value in m.groupdict().items() if value)
    m = _COUNT_MEASURED.search(question)
    if m:
        return _NUMERALS[m.group(1)]
    m = _COUNT_STEM.search(question)
    return _STEMS[m.group(1)] if m else None


def is_follow_up(question: str) -> bool:
    """Elliptic questions ("And what about Tanzania?") only make sense with the previous turn."""
    han = len(_HAN.findall(question))
    if han:
        return han <= 12 or bool(_FOLLOW_UP.match(question))
    return len(question.split()) <= 6 or bool(_FOLLOW_UP.match(question))


def about_the_document(text: str) -> bool:
    """A sentence about the document rather than its subject ("The purpose of this document is ...")."""
    return bool(ABOUT_THE_DOCUMENT.search(text))


def opens_with_reference(text: str) -> bool:
    """A sentence that opens with a word pointing back at the one before ("It", "This", "They" ...)."""
    return bool(OPENING_REFERENCE.match(text))


INTRODUCES = cue_pattern(tables.INTRODUCES_WORDS)
COMPLETES = cue_pattern(tables.COMPLETES_WORDS)
WHY_HOW = cue_pattern(tables.WHY_HOW_WORDS, tables.WHY_HOW_CUES)
#: A list item's opening: "1.", "(2)", "a)", "•", "-", "–", "▪".
LIST_ITEM = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|\(?[a-hA-H][.)]|[•·▪◦●\-–*])\s+")


def introduces(text: str) -> bool:
    """The sentence announces what follows: it ends with a colon, or an `INTRODUCES_WORDS` cue sits in its second
    half ("Some of these challenges include: ..." cut after the first item counts too: the cue, then a list)."""
    stripped = text.rstrip()
    if stripped.endswith((":", "：")):
        return True
    match = None
    for match in INTRODUCES.finditer(stripped):
        pass
    return match is not None and match.start() >= len(stripped) / 2


def completes(text: str) -> bool:
    """The sentence opens by completing the one before ("For example, ...", "This is because ...")."""
    match = COMPLETES.match(text.lstrip())
    return match is not None


def is_list_item(text: str) -> bool:
    return bool(LIST_ITEM.match(text))


def asks_why_or_how(text: str) -> bool:
    """"Why ...?", "How do ...?" (not "how many"): the answer is a reason or a way."""
    return bool(WHY_HOW.search(text)) and QUANTITY.search(text) is None
