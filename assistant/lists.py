"""List answers: "What are the four traps?" answered with the labelled items of the evidence, in its order."""

from __future__ import annotations

import re

from assistant.sentences import Sentence, redundant

# "Responsibility trap: Before the pandemic ..." -- a labelled item of a definition list
_LABEL = re.compile(r"^([^\W\d_][\w'’\- ]{0,48}?)\s*[:：]\s+\S")
#: Fewest items that make a list.
MIN_ITEMS = 3


def label(text: str) -> str | None:
    """The label of a "<label>: ..." sentence (1 to 5 words, lowercase), if it is one."""
    match = _LABEL.match(text)
    if match and 1 <= len(match.group(1).split()) <= 5:
        return match.group(1).strip().lower()
    return None


def labelled_items(candidates: list[Sentence], count: int | None = None) -> list[Sentence]:
    """The list the question asks for, as its labelled items in reading order, or [] if there is none.

    Reports list things as labelled paragraphs. A list is a group of >= 3 "<label>: ..." sentences that
    share a head word ("Responsibility trap: ...", "Expectation trap: ..."), or, when the question states
    how many items it wants, that follow one another in a passage ("Current Gaps: ...", "SDG Push: ...");
    among the lists, the one with the most relevant members wins. The list replaces the whole answer, so
    it must be the one asked about: it has as many items as the question says (`count`), or, when the
    question gives no count, one of its items is among the three best sentences.
    """
    by_position = {(s.hit.chunk.chunk_id, s.index): s for s in candidates}
    groups: dict[tuple, dict[str, Sentence]] = {}
    for s in candidates:
        name = label(s.text)
        if name:
            groups.setdefault(("head", name.split()[-1]), {}).setdefault(name, s)  # one sentence per label
    for hit in {s.hit.chunk.chunk_id: s.hit for s in candidates}.values() if count else ():
        run: dict[str, Sentence] = {}
        for i, text in enumerate([*hit.chunk.sentence_texts(), ""]):
            name = label(text)
            if name and (hit.chunk.chunk_id, i) in by_position:
                run.setdefault(name, by_position[(hit.chunk.chunk_id, i)])
                continue
            if len(run) >= MIN_ITEMS:
                groups.setdefault(("run", *sorted(run)), run)
            run = {}
    lists = [g for g in groups.values() if len(g) >= MIN_ITEMS and (count is None or len(g) == count)]
    best = max(lists, key=lambda g: sum(s.score for s in g.values()), default=None)
    if best is None:
        return []
    if count is None and not any(s in candidates[:3] for s in best.values()):
        return []
    return sorted(best.values(), key=lambda s: (s.hit.chunk.doc_id, s.hit.chunk.ord, s.index))


def list_intro(candidates: list[Sentence], items: list[Sentence], cos_limit: float = 0.93,
               jaccard_limit: float = 0.6) -> Sentence | None:
    """The best sentence that names two or more of the items ("The three steps are Current Gaps, ..."), if any:
    it opens the list."""
    labels = [label(s.text) for s in items]
    return next((s for s in candidates if s not in items and not redundant(s, items, cos_limit, jaccard_limit)
                 and sum(name in s.text.lower() for name in labels) >= 2), None)
