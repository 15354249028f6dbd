"""Clean-ups on a document's blocks that PDFs and notes share: pull quotes dropped, split sentences rejoined."""

from __future__ import annotations

import re

from indexer.loaders.model import Block
from indexer.repeats import contained_paragraphs, drop_repeated_sentences


_OPEN_END = re.compile(r"[\w,]$")


def rejoin_split_sentences(blocks: list[Block], reach: int = 2) -> list[Block]:
    """Rejoin a sentence that a pull quote or caption was spliced into.

    "... between China and most other" / <pull quote> / "developing countries is smaller ...":
    a paragraph that stops mid-sentence, followed within `reach` blocks on the same page by a
    paragraph that starts in lowercase, is one sentence (also when the pull quote was already
    dropped as a repeat and the two halves are adjacent); interposed blocks follow it.
    """
    out = list(blocks)
    i = 0
    while i < len(out):
        b = out[i]
        # at least 8 words: short lowercase list items ("- first bullet") are not sentence halves
        if b.kind == "paragraph" and _OPEN_END.search(b.text) and len(b.text.split()) >= 8:
            for j in range(i + 1, min(i + 1 + reach, len(out))):
                nxt = out[j]
                if nxt.page != b.page:
                    break
                if nxt.kind == "paragraph" and nxt.text[:1].islower():
                    out[i] = Block(b.page, b.kind, f"{b.text} {nxt.text}")
                    del out[j]
                    break
        i += 1
    return out


def drop_repeats(blocks: list[Block]) -> list[Block]:
    """Drop repeated sentences (pull quotes) from paragraphs; empty paragraphs go."""
    paras = [b for b in blocks if b.kind == "paragraph"]
    for i in contained_paragraphs([(b.page, b.text) for b in paras]):
        paras[i].text = ""
    paras = [b for b in paras if b.text]
    for b, text in zip(paras, drop_repeated_sentences([b.text for b in paras])):
        b.text = text
    return [b for b in blocks if b.text]
