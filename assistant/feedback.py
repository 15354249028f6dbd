"""A user's rating of an answer as an evaluation case in the JSONL format `povqa eval` reads (eval/dev.jsonl:
id, lang, question, kind, answerable, doc, page, evidence, keywords, answer, history), so the evaluation set
grows from real use. The server makes the case when the feedback arrives (the index then still holds what the
answer cited) and keeps it (`assistant.answerstore`).

    rating  the answer     expected text         the case
    up      answered       -                     answerable: the cited quotes are the evidence (the first as
                                                 `doc/page/evidence`, the others as `also`)
    up      answered       found in a document   answerable: that text, where it stands, is the evidence
    up      refused        -                     unanswerable: refusing was right
    down    either         found in a document   answerable: that text, where it stands, is the evidence
    down    either         not found / none      no case: nothing says what the right answer is (the note says
                                                 so, and what to write instead)

`expected` is found when, whitespace, case and Unicode forms aside, it stands on a page of a document among the
passages retrieved for it. A briefing stays a briefing (kind 'briefing': `povqa eval` asks it in briefing mode);
a question with earlier turns is a follow-up and keeps them.
"""

from __future__ import annotations

import re
import unicodedata

from assistant.answerstore import KeptAnswer

#: Passages searched for the expected text.
LOCATE_K = 20


def normal(text: str) -> str:
    """Text compared for 'the same words': NFKC, case-folded, runs of whitespace as one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).casefold().strip()


def locate(retriever, text: str) -> tuple[str, int] | None:
    """(document source, page) of a page that holds `text`, among the pages of the passages retrieved for it."""
    needle = normal(text)
    if not needle:
        return None
    seen = set()
    for hit in retriever.search(text, LOCATE_K):
        for page in range(hit.chunk.page_start, hit.chunk.page_end + 1):
            if (hit.document.doc_id, page) in seen:
                continue
            seen.add((hit.document.doc_id, page))
            page_text = retriever.reader.page_text(hit.document.doc_id, page)
            if page_text and needle in normal(page_text):
                return hit.document.source, page
    return None


def _kind(kept: KeptAnswer, answerable: bool) -> str:
    if kept.mode == "briefing":
        return "briefing"
    if not answerable:
        return "unanswerable"
    return "followup" if kept.history else "fact"


def _case(kept: KeptAnswer, answerable: bool, rating: str, comment: str, **gold) -> dict:
    case = {
        "id": f"feedback-{kept.id[:12]}",
        "lang": kept.answer.question_language or "und",
        "question": kept.question,
        "kind": _kind(kept, answerable),
        "answerable": answerable,
        "doc": None, "page": None, "evidence": "", "keywords": [],
        **gold,
        "mode": kept.mode,
        "rating": rating,
        "answer_id": kept.id,
    }
    if kept.history:
        case["history"] = kept.history
    if comment:
        case["comment"] = comment
    return case


def eval_case(kept: KeptAnswer, rating: str, expected: str, comment: str, retriever) -> tuple[dict | None, str]:
    """The evaluation case this feedback makes (None if it makes none) and a note saying what it became."""
    answer = kept.answer
    if expected.strip():
        found = locate(retriever, expected)
        if found is not None:
            source, page = found
            case = _case(kept, True, rating, comment, doc=source, page=page, evidence=expected.strip(),
                         answer=expected.strip())
            return case, f"an evaluation case: the expected text is on {source}, page {page}"
        if rating == "down" or answer.refused or not answer.citations:
            return None, ("not an evaluation case: the expected text was not found in the documents; quote a "
                          "sentence of a document as it is written to make it one")
    if rating == "up" and answer.refused:
        return _case(kept, False, rating, comment, answer=answer.answer), \
            "an evaluation case: the documents do not answer this question"
    if rating == "up" and answer.citations:
        first, *others = answer.citations
        also = [{"doc": c.source, "page": c.page, "evidence": c.quote} for c in others]
        case = _case(kept, True, rating, comment, doc=first.source, page=first.page, evidence=first.quote,
                     answer=answer.answer, **({"also": also} if also else {}))
        return case, f"an evaluation case: the cited quote{'s are' if also else ' is'} the evidence"
    return None, ("not an evaluation case: a thumbs-down needs the expected text (a sentence of a document, as "
                  "it is written) to say what the right answer is")
