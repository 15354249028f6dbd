"""Sentence splitting that works across our languages (Latin scripts, CJK, Arabic, Devanagari, Bengali).

Returns character spans so that callers can quote sentences verbatim. The chunker's splitter: a chunk's
sentences, and so every sentence vector and quote, come from here. (Pull-quote detection cuts sentences more
crudely, on purpose: `indexer.repeats.punctuation_spans`.)
"""

from __future__ import annotations

import re

# Abbreviations after which a period does not end a sentence (lowercased, without the dot).
_ABBREVIATIONS = frozenset(
    """
    e.g i.e etc vs cf al fig figs no nos vol vols pp p ed eds approx ca dept est inc ltd co corp
    mr mrs ms dr prof sr jr st mt gov govt min art sec ch para paras op ibid jan feb mar apr jun jul aug
    sep sept oct nov dec u.s u.k u.n e.u
    """.split()
)

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) + whitespace,
# or right after a CJK / Arabic / Devanagari terminator, or at a blank line.
_BOUNDARY = re.compile(
    r"""
    (?P<latin>[.!?…]+["'”’»)\]]*)(?=\s+[^\s])      # Latin-script end + whitespace before the next word
    | (?P<cjk>[。！？!?]+[」』”’）)]*)                  # CJK terminators need no space
    | (?P<other>[؟۔।॥]+)(?=\s|$)                      # Arabic question mark / Urdu full stop / danda
    | (?P<para>\n\s*\n)                               # paragraph break
    """,
    re.VERBOSE,
)

_WORD_BEFORE = re.compile(r"([\w.]+)$")


def _is_abbreviation(text: str, end: int) -> bool:
    """True when the period ending at `end` belongs to an abbreviation, initial or number."""
    match = _WORD_BEFORE.search(text, 0, end - 1 if text[end - 1] == "." else end)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # initials: "J. Smith"
        return True
    if word.isdigit() and len(word) <= 2:  # list markers: "objectives: 1. Promote ..."
        before = text[: match.start()].rstrip()
        return not before or before[-1] in ":;,.!?\n" or before[-1].isdigit()
    return False


def _next_starts_lowercase(text: str, pos: int) -> bool:
    rest = text[pos:].lstrip()
    return bool(rest) and rest[0].islower()


def split_sentences(text: str, min_chars: int = 1) -> list[tuple[int, int]]:
    """Split `text` into sentence spans [start, end) with surrounding whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if match.group("latin"):
            punct = match.group("latin")
            if punct.startswith(".") and len(punct.rstrip("\"'”’»)]")) == 1:
                if _is_abbreviation(text, match.start() + 1) or _next_starts_lowercase(text, end):
                    continue
        elif match.group("para"):
            end = match.start()
        _append_span(text, start, end, spans)
        start = match.end()
    _append_span(text, start, len(text), spans)
    if min_chars > 1:
        spans = _merge_short(text, spans, min_chars)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def _merge_short(text: str, spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """Attach fragments shorter than `min_chars` (e.g. "1." list numbers) to the following sentence."""
    merged: list[tuple[int, int]] = []
    pending: int | None = None
    for a, b in spans:
        if pending is not None:
            a = pending
            pending = None
        if b - a < min_chars and "\n\n" not in text[a:b]:
            pending = a
            continue
        merged.append((a, b))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], spans[-1][1])
        else:
            merged.append((pending, spans[-1][1]))
    return merged
