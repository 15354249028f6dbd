"""Answerers: turn retrieved evidence into a cited answer.

`ExtractiveAnswerer` (the default) writes no text of its own: it picks the sentences
that answer the question from the evidence (`assistant.sentences`), drops near-duplicates,
orders them and ends each with a citation marker; a question asking for a list gets the
evidence's labelled list (`assistant.lists`). `assistant.llm.LLMAnswerer` generates instead.
Both return a `Draft`; `assistant.pipeline` turns it into the public `Answer`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from assistant.cues import (
    about_the_document,
    asked_amount,
    asks_why_or_how,
    completes,
    introduces,
    is_list_item,
    opens_with_reference,
    stated_count,
    states_amount,
)
from assistant.lists import labelled_items, list_intro
from assistant.question import Question, as_question, content_tokens
from assistant.retrieval import Hit
from assistant.sentences import (
    Sentence,
    candidate_sentences,
    citation_for,
    is_answer_like,
    reading_order,
    redundant,
    shown,
)
from assistant.settings import AnswerSettings
from assistant.types import Citation
from indexer.lexicon import Lexicon
from languages.tables import CANNOT_ANSWER

__all__ = [
    "CANNOT_ANSWER", "Answerer", "Draft", "ExtractiveAnswerer", "Mode", "Sentence", "about_the_document",
    "asked_amount", "candidate_sentences", "cannot_answer", "content_tokens", "labelled_items", "stated_count",
    "states_amount", "wants_list",
]

Mode = Literal["answer", "briefing"]

def cannot_answer(language: str) -> str:
    """What the assistant says when the documents do not answer, in the question's language (or English)."""
    return CANNOT_ANSWER.get(language, CANNOT_ANSWER["en"])


def wants_list(question: str | Question, mode: str = "answer") -> bool:
    """"What are the four traps?", or a briefing "on the four traps": answered with a labelled list if the
    evidence has one."""
    return as_question(question).wants_list(mode)


@dataclass
class Draft:
    """An answerer's output before it becomes an `Answer`."""

    text: str
    citations: list[Citation]
    refused: bool = False
    raw: str = ""
    generator: str = ""
    notes: list[str] = field(default_factory=list)


class Answerer(ABC):
    name: str

    @abstractmethod
    def answer(self, question: str | Question, language: str, hits: list[Hit], mode: Mode = "answer",
               history: list[dict] | None = None) -> Draft:
        """Answer from `hits` (already judged answerable); set `refused` if the evidence turns out not to answer.
        `question`: its text, or its analysis (`Question`, as `Assistant` passes it)."""


class ExtractiveAnswerer(Answerer):
    """Cited sentences chosen from the evidence; no generated text, so nothing can be invented."""

    name = "extractive"

    def __init__(self, settings: AnswerSettings | None = None, lexicon: Lexicon | None = None):
        self.settings = settings or AnswerSettings()
        self.lexicon = lexicon  # the index's cross-lingual lexicon (Assistant passes the retriever's)

    def answer(self, question, language, hits, mode="answer", history=None) -> Draft:
        question = as_question(question, language)
        settings = self.settings
        candidates = candidate_sentences(question, language, hits, lexicon=self.lexicon, settings=settings)
        if not candidates:
            return Draft(cannot_answer(language), [], refused=True, generator=self.name,
                         notes=["no quotable sentence in the evidence"])
        items = labelled_items(candidates, question.count) if question.wants_list(mode) else []
        intro = None
        if items:
            intro = list_intro(candidates, items, settings.duplicate_cosine, settings.duplicate_overlap)
            ordered = ([intro] if intro else []) + items[: settings.briefing_max + 2]  # the list, in the document's order
        else:
            chosen = self._briefing(candidates) if mode == "briefing" else self._answer(candidates)
            if mode != "briefing":
                chosen = self._span(self._with_context(chosen), question)
            ordered = chosen if mode == "briefing" else reading_order(chosen)
        citations = [citation_for(n, s) for n, s in enumerate(ordered, 1)]
        if mode == "briefing" or items:
            text = "\n".join(f"{'' if s is intro else '- '}{shown(s.text)} [{n}]" for n, s in enumerate(ordered, 1))
        else:
            text = " ".join(f"{shown(s.text)} [{n}]" for n, s in enumerate(ordered, 1))
        return Draft(text, citations, raw=text, generator=self.name)

    def _redundant(self, candidate: Sentence, chosen: list[Sentence]) -> bool:
        return redundant(candidate, chosen, self.settings.duplicate_cosine, self.settings.duplicate_overlap)

    def _answer(self, candidates: list[Sentence]) -> list[Sentence]:
        best = candidates[0]
        chosen = [best]
        for s in candidates[1:]:
            if len(chosen) >= self.settings.max_sentences or s.score < best.score - self.settings.margin:
                break
            if not self._redundant(s, chosen):
                chosen.append(s)
        # "How many ...?" wants a number: if no chosen sentence gives one, add the best that does
        # (similarity favours sentences that merely repeat the question's words).
        if any(s.typed for s in candidates) and not any(s.typed for s in chosen):
            typed = next(s for s in candidates if s.typed)
            if typed.score >= best.score - self.settings.typed_margin and not self._redundant(typed, chosen):
                chosen.append(typed)
        return chosen

    def _with_context(self, chosen: list[Sentence]) -> list[Sentence]:
        """Add the sentence before a chosen one that opens with a pronoun ("It", "This", ...) it depends on."""
        out = list(chosen)
        for s in chosen:
            if s.index > 0 and opens_with_reference(s.text):
                previous_text = s.hit.chunk.sentence_texts()[s.index - 1]
                prev = Sentence(s.hit_rank, s.hit, s.index - 1, previous_text,
                                s.hit.chunk.sentence_pages[s.index - 1], s.score, None)
                if is_answer_like(previous_text) and not self._redundant(prev, out):
                    out.append(prev)
        return out

    def _span(self, chosen: list[Sentence], question: Question) -> list[Sentence]:
        """The best sentence as an evidence span: the sentences after it from its passage when it announces them
        (a colon, "include", "the following", a list item next: up to `span_max` of them, the list's items while
        they last), or when the next one completes it ("For example, ...", "This is because ..."), or, for a
        why/how question, the next statement (the reason often follows the sentence that restates the question).
        A question asking for a number or an amount keeps its one sentence."""
        if not self.settings.span_max or question.wants_number or question.amount is not None or not chosen:
            return chosen
        best = chosen[0]
        texts = best.hit.chunk.sentence_texts()
        following = list(range(best.index + 1, len(texts)))
        if not following:
            return chosen
        first = texts[following[0]]
        if introduces(best.text) or is_list_item(first):
            take = []
            for j in following[: self.settings.span_max]:
                if take and is_list_item(texts[take[0]]) and not is_list_item(texts[j]):
                    break  # the list has ended
                take.append(j)
        elif completes(first) or (asks_why_or_how(question.text) and is_answer_like(first)):
            take = following[:1]
        else:
            return chosen
        out = list(chosen)
        for j in take:
            extra = Sentence(best.hit_rank, best.hit, j, texts[j], best.hit.chunk.sentence_pages[j], best.score,
                             best.hit.sentence_vectors[j] if best.hit.sentence_vectors is not None else None)
            if not any(s.hit.chunk.chunk_id == extra.hit.chunk.chunk_id and s.index == j for s in out):
                out.append(extra)
        return out

    def _briefing(self, candidates: list[Sentence]) -> list[Sentence]:
        """Maximal marginal relevance: relevant, and each bullet a point the others don't make. Sentences about
        the document itself ("The purpose of this document is ...", "the authors reviewed ...") are left out
        while at least `briefing_min` others remain."""
        s = self.settings
        on_subject = [c for c in candidates if not about_the_document(c.text)]
        if len(on_subject) >= s.briefing_min:  # the subject's points, not the report's outline
            candidates = on_subject
        best = candidates[0].score
        pool = [c for c in candidates if c.score >= best - s.briefing_pool]
        chosen: list[Sentence] = []

        def mmr(c: Sentence) -> float:
            if not chosen or c.vector is None:
                return c.score
            similarity = max(float(c.vector @ other.vector) for other in chosen if other.vector is not None)
            return c.score - s.briefing_diversity * max(similarity - s.briefing_similarity, 0.0)

        while pool and len(chosen) < s.briefing_max:
            pick = max(pool, key=mmr)
            pool.remove(pick)
            if not redundant(pick, chosen, s.briefing_duplicate_cosine, s.briefing_duplicate_overlap):
                chosen.append(pick)
        if len(chosen) < s.briefing_min:  # widen the pool rather than give fewer than `briefing_min` points
            for c in candidates:
                if len(chosen) >= s.briefing_min:
                    break
                if c not in chosen and not redundant(c, chosen, s.briefing_duplicate_cosine,
                                                     s.briefing_duplicate_overlap):
                    chosen.append(c)
        return chosen
