"""ask(): question (+ history) -> retrieve -> judge answerability -> answer -> verified citations."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence

from assistant.answer import Answerer, Draft, ExtractiveAnswerer, Mode, cannot_answer
from assistant.question import Question, as_question
from assistant.refusal import Calibration
from assistant.rerank import Reranker, get_reranker
from assistant.retrieval import Hit, Query, Retriever
from assistant.settings import Settings
from assistant.types import Answer, Citation
from languages.scripts import has_content

__all__ = ["Assistant", "Calibration", "verify_citations"]  # Calibration: what `Assistant(calibration=...)` takes


class Assistant:
    def __init__(self, retriever: Retriever, answerer: Answerer | None = None, settings: Settings | None = None,
                 calibration: Calibration | None = None, reranker: Reranker | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.answerer = answerer or ExtractiveAnswerer(self.settings.answer, lexicon=getattr(retriever, "lexicon", None))
        self.calibration = calibration or Calibration.from_settings(self.settings)
        self.reranker = reranker if reranker is not None else get_reranker(self.settings.retrieval.reranker)

    @classmethod
    def load(cls, settings: Settings | None = None, answerer: Answerer | None = None, **kw) -> "Assistant":
        settings = settings or Settings()
        retriever = Retriever.load(settings, **kw)
        if answerer is None and settings.answerer == "llm":
            from assistant.llm import LLMAnswerer

            answerer = LLMAnswerer.from_settings(settings)
        return cls(retriever, answerer, settings)

    def within(self, collections: Sequence[str] | None) -> "Assistant":
        """This assistant answering from the documents of `collections` only (None or empty: all of them); a
        question they do not answer is refused."""
        if not collections:
            return self
        restricted = copy.copy(self)
        restricted.retriever = self.retriever.within(collections)
        return restricted

    def retrieve(self, question: str | Question, history: list[dict] | None = None, k: int | None = None,
                 mode: Mode = "answer") -> tuple[Query, list[Hit]]:
        """The question prepared for retrieval and its passages. `question`: its text or its analysis."""
        question = as_question(question)
        context = None
        if history and question.follow_up:
            previous = [t["content"] for t in history if t.get("role") == "user"]
            context = previous[-1] if previous else None
        query = self.retriever.translate(self.retriever.prepare(question.text, context, question.language), question)
        k = k or self.settings.retrieval.top_k
        if question.wants_list(mode):
            k = max(k, 10)  # a list is often spread over several chunks
        hits = self.retriever.search(query, max(k, 10) if self.reranker else k)
        if self.reranker:
            hits = self.reranker.rerank(question.text, hits)[:k]
        return query, hits

    def ask(self, question: str, history: list[dict] | None = None, mode: Mode = "answer",
            top_k: int | None = None) -> Answer:
        """Answer with cited sentences, or refuse in the question's language."""
        for kind, value in self._run(question, history, mode, top_k, stream=False):
            if kind == "answer":
                return value
        raise RuntimeError("the pipeline produced no answer")  # pragma: no cover

    def events(self, question: str, history: list[dict] | None = None, mode: Mode = "answer",
               top_k: int | None = None) -> Iterator[tuple[str, object]]:
        """Like `ask`, but yields ("delta", text) while a streaming answerer (an LLM) writes, then
        ("answer", Answer). The final Answer is authoritative: citations checked, invented keys gone."""
        return self._run(question, history, mode, top_k, stream=True)

    def _run(self, question, history, mode, top_k, stream: bool) -> Iterator[tuple[str, object]]:
        t0 = time.perf_counter()
        question = Question.analyse(question)  # once: retrieval, the refusal model and the answerer share it
        if not has_content(question.text):  # "?!.,;:", "😀😀😀", zero-width spaces: nothing to search for
            yield "answer", Answer(answer=cannot_answer(question.language), refused=True,
                                   question_language=question.language, citations=[], passages=[],
                                   generator=self.answerer.name, timings_ms={"retrieve": 0.0, "answer": 0.0, "total": 0.0})
            return
        query, hits = self.retrieve(question, history, top_k, mode)
        language = query.language
        t1 = time.perf_counter()
        probability = self.calibration.probability(Calibration.features(
            query, hits, self.retriever, question, extra=any(self.calibration.w_extra)))
        streams = stream and callable(getattr(self.answerer, "stream", None))
        if probability < self.calibration.threshold:
            draft = Draft(cannot_answer(language), [], refused=True, generator=self.answerer.name,
                          notes=[f"P(answerable)={probability:.2f} below {self.calibration.threshold:.2f}"])
        elif streams:
            raw = []
            for delta in self.answerer.stream(question, language, hits, mode, history):
                raw.append(delta)
                yield "delta", delta
            draft = self.answerer.postprocess("".join(raw), language, hits)
        else:
            draft = self.answerer.answer(question, language, hits, mode, history)
        t2 = time.perf_counter()
        citations = verify_citations(draft.citations, hits)
        refused = draft.refused or not citations
        yield "answer", Answer(
            answer=draft.text if not refused or draft.refused else cannot_answer(language),
            refused=refused,
            question_language=language,
            citations=[] if refused else citations,
            passages=[h.result() for h in hits],
            generator=draft.generator or self.answerer.name,
            timings_ms={
                "retrieve": round((t1 - t0) * 1000, 1),
                "answer": round((t2 - t1) * 1000, 1),
                "total": round((time.perf_counter() - t0) * 1000, 1),
            },
        )


def verify_citations(citations: list[Citation], hits: list[Hit]) -> list[Citation]:
    """Keep only citations whose quote is verbatim in a retrieved chunk of the cited document and page."""
    valid = []
    for c in citations:
        for h in hits:
            if h.chunk.doc_id != c.doc_id or c.quote not in h.chunk.text:
                continue
            start = h.chunk.text.index(c.quote)
            pages = {p for (a, b), p in zip(h.chunk.sentences, h.chunk.sentence_pages) if a < start + len(c.quote) and b > start}
            if c.page in pages:
                valid.append(c)
                break
    return valid
