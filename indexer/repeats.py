"""Repeated text in a document: pull quotes, printed again beside the body text they quote.

Plain strings in, plain strings out (no I/O). Two passes, both used by the loaders (`indexer/loaders/blocks.py`):

* `contained_paragraphs`: a paragraph whose whole text occurs inside a longer paragraph nearby;
* `drop_repeated_sentences`: sentences seen before in the document, and the tails of sentences that PDF text
  extraction glued a pull quote onto.

Sentences here are cut by `punctuation_spans`, not by the chunker's `indexer.text.split_sentences`: see there why.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from languages.scripts import is_cjk

_SENT_END_RE = re.compile(r"[.!?][\"'”’)\]]*(?=\s)|[。！？][\"'”’」』)）]*")


def punctuation_spans(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of the sentences of ``text`` by a bare punctuation rule: '.', '!' or '?'
    followed by a space, or CJK '。！？'. Spans exclude surrounding spaces.

    Cruder than `indexer.text.split_sentences` on purpose: it also cuts after abbreviations and before a
    lowercase word, so the end of a pull quote glued into a body sentence ("... increasingly affecting The
    COVID-19 pandemic has ... for all countries. countries' relations ...") is a boundary. With
    `split_sentences` here, that quote stays inside a paragraph of the CAITEC summary PDF (page 3)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENT_END_RE.finditer(text):
        if m.end() > start:
            spans.append((start, m.end()))
            start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def _long_enough(key: str, min_chars: int) -> bool:
    """Only real sentences count as repeats: >= min_chars and >= 8 words (or >= 20 CJK
    characters), so short list items that legitimately recur ("On track (score > 0.5)")
    are kept."""
    if len(key) < min_chars:
        return False
    words = sum(1 for w in key.split() if any(c.isalpha() for c in w))
    return words >= 8 or sum(map(is_cjk, key)) >= 20


def norm_for_dedup(text: str) -> str:
    """Lower case, letters/digits only, single spaces (CJK kept)."""
    return " ".join(re.findall(r"\w+", text.lower()))


_GLUE_POINT_RE = re.compile(r"\s(?=[A-Z\u00c0-\u00de“\"‘])")


def drop_repeated_sentences(texts: Sequence[str], min_chars: int = 40) -> list[str]:
    """Remove sentences that repeat elsewhere in the document (pull quotes).

    ``texts`` are the paragraphs of one document in reading order; the result has the same
    length (a paragraph may become '' when all of it was a repeat). Two rules, on
    sentences whose normalised text (:func:`norm_for_dedup`) has >= ``min_chars``
    characters:

    * a sentence already seen earlier is dropped (the later copy goes);
    * a sentence whose tail, starting at a capitalised word, is itself a sentence found
      elsewhere in the document loses that tail: PDF text extraction glues a pull quote to
      the body line before it ("... increasingly affecting" + "China also needs ..."); the
      sentences right after such a tail that also occur elsewhere go too (rest of the quote).

    Memory: one hash per sentence of the document.
    """
    spans = [punctuation_spans(t) for t in texts]
    counts: Counter[int] = Counter()
    for t, sp in zip(texts, spans):
        for a, b in sp:
            k = norm_for_dedup(t[a:b])
            if _long_enough(k, min_chars):
                counts[hash(k)] += 1
    seen: set[int] = set()
    out: list[str] = []
    for t, sp in zip(texts, spans):
        kept = _unrepeated_sentences(t, sp, counts, seen, min_chars)
        out.append(t if kept is None else _join_sentences(kept))
    return out


def _unrepeated_sentences(text: str, spans: list[tuple[int, int]], counts: Counter[int], seen: set[int],
                          min_chars: int) -> list[str] | None:
    """The sentences of one paragraph that `drop_repeated_sentences` keeps (a glued tail cut off), or None when
    it keeps the paragraph as it is. Adds the kept sentences to `seen`."""
    kept: list[str] = []
    changed = False
    in_glued_quote = False
    for a, b in spans:
        sent = text[a:b]
        key = norm_for_dedup(sent)
        if _long_enough(key, min_chars):
            h = hash(key)
            if h in seen:
                changed = True
                continue
            if in_glued_quote and counts[h] > 1:
                changed = True  # the rest of a glued pull quote; its body copy comes elsewhere
                continue
            in_glued_quote = False
            seen.add(h)
            for m in _GLUE_POINT_RE.finditer(sent):
                tail = norm_for_dedup(sent[m.end():])
                if _long_enough(tail, min_chars) and tail != key and hash(tail) in counts:
                    sent = sent[: m.start()].rstrip()
                    changed = in_glued_quote = True
                    break
        else:
            in_glued_quote = False
        if sent:
            kept.append(sent)
    return kept if changed else None


def _join_sentences(sentences: list[str]) -> str:
    """Sentences back into one paragraph: a space between two, none between two CJK characters."""
    pieces: list[str] = []
    for piece in sentences:
        if pieces and not (is_cjk(pieces[-1][-1]) and is_cjk(piece[0])):
            pieces.append(" ")
        pieces.append(piece)
    return "".join(pieces)


def contained_paragraphs(
    paragraphs: Sequence[tuple[int, str]], min_chars: int = 40, window: int = 2, reach: int = 100
) -> set[int]:
    """Indexes of paragraphs whose whole normalised text occurs inside a longer paragraph
    at most ``window`` pages and ``reach`` paragraphs away: a pull quote printed as a
    paragraph of its own.

    ``paragraphs`` are (page number, text) in reading order. ``reach`` keeps this linear in
    the length of the document: a note is one long page, and comparing each of its
    paragraphs with every other one took minutes for a few megabytes."""
    keys = [norm_for_dedup(t) for _, t in paragraphs]
    pages = [page for page, _ in paragraphs]
    drop: set[int] = set()
    n = len(keys)
    for start in range(0, n, reach):
        # one C-speed search over the neighbourhood first: most paragraphs occur only once (in themselves)
        hood = "\x00".join(keys[max(0, start - reach) : min(n, start + 2 * reach)])
        for i in range(start, min(n, start + reach)):
            if _long_enough(keys[i], min_chars) and hood.count(keys[i]) > 1 and _contained(i, keys, pages, drop, window, reach):
                drop.add(i)
    return drop


def _contained(i: int, keys: list[str], pages: list[int], drop: set[int], window: int, reach: int) -> bool:
    k, page = keys[i], pages[i]
    return any(
        j != i and j not in drop and abs(pages[j] - page) <= window and len(keys[j]) > len(k) and k in keys[j]
        for j in range(max(0, i - reach), min(len(keys), i + reach + 1))
    )
