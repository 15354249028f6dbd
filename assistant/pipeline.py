"""ask(): question (+ history) -> retrieve -> judge answerability -> answer -> verified citations."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import Answerer, Draft, ExtractiveAnswerer, Mode, cannot_answer, candidate_sentences
from assistant.rerank import Reranker, get_reranker
from assistant.retrieval import Hit, Retriever
from assistant.settings import Settings
from assistant.types import Answer, Citation

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")

_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|and what|et|et pour|qu'en est-il|y|y qué|¿y|e|e quanto|e sobre|na|vipi kuhusu|"
    r"und|was ist mit|و|ماذا عن|还有|那|那么|और|আর|এবং)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    """Elliptic questions ("And what about Tanzania?") only make sense with the previous turn."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", question))
    if cjk:
        return cjk <= 12 or bool(_FOLLOW_UP.match(question))
    return len(question.split()) <= 6 or bool(_FOLLOW_UP.match(question))


@dataclass
class Calibration:
    """Logistic model of P(the evidence answers the question) from two retrieval features.

    Fitted on the development set by `povqa calibrate` (eval/calibrate.py); see calibration.json.
    """

    bias: float
    w_chunk: float
    w_sentence: float
    threshold: float = 0.5

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> "Calibration":
        data = json.loads(path.read_text("utf-8"))
        return cls(data["bias"], data["w_chunk"], data["w_sentence"], data.get("threshold", 0.5))

    @staticmethod
    def features(question: str, language: str, hits: list[Hit]) -> tuple[float, float]:
        if not hits:
            return (-10.0, -10.0)
        sentences = candidate_sentences(question, language, hits)
        best_sentence = sentences[0].score if sentences else -10.0
        return (hits[0].score, best_sentence)

    def probability(self, features: tuple[float, float]) -> float:
        z = self.bias + self.w_chunk * features[0] + self.w_sentence * features[1]
        return 1.0 / (1.0 + math.exp(-z))


class Assistant:
    def __init__(self, retriever: Retriever, answerer: Answerer | None = None, settings: Settings | None = None,
                 calibration: Calibration | None = None, reranker: Reranker | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.answerer = answerer or ExtractiveAnswerer()
        self.calibration = calibration or Calibration.load()
        self.reranker = reranker if reranker is not None else get_reranker(self.settings.retrieval.reranker)

    @classmethod
    def load(cls, settings: Settings | None = None, answerer: Answerer | None = None, **kw) -> "Assistant":
        settings = settings or Settings()
        retriever = Retriever.load(settings, **kw)
        if answerer is None and settings.answerer == "llm":
            from assistant.llm import LLMAnswerer

            answerer = LLMAnswerer.from_settings(settings)
        return cls(retriever, answerer, settings)

    def retrieve(self, question: str, history: list[dict] | None = None, k: int | None = None) -> tuple[str, list[Hit]]:
        context = None
        if history and is_follow_up(question):
            previous = [t["content"] for t in history if t.get("role") == "user"]
            context = previous[-1] if previous else None
        query = self.retriever.prepare(question, context)
        k = k or self.settings.retrieval.top_k
        hits = self.retriever.search(query, max(k, 10) if self.reranker else k)
        if self.reranker:
            hits = self.reranker.rerank(question, hits)[:k]
        return query.language, hits

    def ask(self, question: str, history: list[dict] | None = None, mode: Mode = "answer",
            top_k: int | None = None) -> Answer:
        t0 = time.perf_counter()
        language, hits = self.retrieve(question, history, top_k)
        t1 = time.perf_counter()
        probability = self.calibration.probability(Calibration.features(question, language, hits))
        if probability < self.calibration.threshold:
            draft = Draft(cannot_answer(language), [], refused=True, generator=self.answerer.name,
                          notes=[f"P(answerable)={probability:.2f} below {self.calibration.threshold:.2f}"])
        else:
            draft = self.answerer.answer(question, language, hits, mode, history)
        t2 = time.perf_counter()
        citations = verify_citations(draft.citations, hits)
        refused = draft.refused or not citations
        return Answer(
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
