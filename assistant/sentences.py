"""Candidate answer sentences: every quotable sentence of the evidence, scored for how well it answers.

`candidate_sentences` is what the extractive answerer (`assistant.answer`) chooses from; `redundant` and
`reading_order` help it choose and order; `citation_for` turns a chosen sentence into its citation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from assistant.cues import NUMBER, QUESTION_MARKS, states_amount
from assistant.question import Question, as_question, content_tokens
from assistant.retrieval import Hit
from assistant.settings import AnswerSettings
from assistant.types import Citation
from indexer.lexicon import Lexicon
from languages.scripts import CJK_LETTER_RE


@dataclass
class Sentence:
    """A candidate sentence of the evidence."""

    hit_rank: int
    hit: Hit
    index: int  # position within hit.chunk.sentences
    text: str
    page: int
    score: float
    vector: np.ndarray | None
    typed: bool = False  # holds what the question asks for (a number, for "how many / when" questions)
    features: dict[str, float] = field(default_factory=dict)  # what `score` was summed from


# What a citation marker looks like: [3], [1, 2], [4-6], or an LLM evidence key [e1a2b3c4].
_MARKER_RE = re.compile(r"\[(\s*(?:\d{1,3}|e[0-9a-f]{7})(?:\s*[,;\u2013-]\s*(?:\d{1,3}|e[0-9a-f]{7}))*\s*)\]")


def shown(sentence: str) -> str:
    """A quoted sentence as it appears in the answer text: markers that the document itself contains ("[2]",
    "[e1234567]") become "(2)", so the answer's only [n] markers are its own citations. The citation's quote
    keeps the verbatim text."""
    return _MARKER_RE.sub(r"(\1)", sentence)


_MIN_WORDS = 5


def is_answer_like(text: str) -> bool:
    """A sentence worth quoting: a statement, long enough, not a heading, a question or a list of names."""
    if text.rstrip().endswith(QUESTION_MARKS):
        return False
    if CJK_LETTER_RE.search(text):
        return len(text) >= 12
    words = text.split()
    if len(words) < _MIN_WORDS or len(text) < 30:
        return False
    letters = sum(c.isalpha() for c in text)
    if letters / max(len(text), 1) <= 0.55:
        return False
    # Title Case Lines Are Headings Or Captions, Not Answers
    alpha_words = [w for w in words if w[:1].isalpha()]
    capitalised = sum(w[0].isupper() for w in alpha_words)
    return not (len(alpha_words) >= 4 and capitalised / len(alpha_words) > 0.7)


_ENUMERATOR = re.compile(r"^\s*\(?\d{1,3}[.)]\s+")


def holds_new_number(text: str, question_numbers: set[str] | frozenset[str]) -> bool:
    """A number the question did not already give ("how many ... in 2004?": 2004 is not the answer).
    A list item's own number ("15. IPRCC should ...") is not a quantity."""
    text = _ENUMERATOR.sub("", text)
    digits = set(re.findall(r"\d+", text))
    return bool(digits - question_numbers) or (not digits and bool(NUMBER.search(text)))


def citation_for(n: int, sentence: Sentence) -> Citation:
    chunk, document = sentence.hit.chunk, sentence.hit.document
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        title=document.title,
        source=document.source,
        page=sentence.page,
        section=chunk.section,
        quote=sentence.text,
        location=document.location(sentence.page),
    )


def _typed_test(question: Question, hits: list[Hit], lexicon: Lexicon | None) -> Callable[[str, set[str]], bool]:
    """Whether a sentence (text, content tokens) holds what the question asks for: an amount of money or a rate
    it states, or a number the question did not give, of what it counts when that word is in the evidence."""
    focus = question.focus(lexicon)  # "how many case studies ...": the sentence should count case studies
    if question.amount is not None:  # "¿Qué tasa ...?": a sentence that states a rate, not just any number
        return lambda text, tokens: states_amount(question.amount, text)
    if not question.wants_number:
        return lambda text, tokens: False
    # focus words the evidence never uses (another language) can't be required
    vocabulary = set().union(*(content_tokens(h.chunk.text) for h in hits)) if focus else set()
    required = bool(focus & vocabulary)
    return lambda text, tokens: holds_new_number(text, question.numbers) and (not required or bool(focus & tokens))


def _features(rank: int, hit: Hit, scores: np.ndarray, i: int, n: int, lexical: float, typed: bool,
              words: int) -> dict[str, float]:
    """The features of sentence `i` (of `n`) of the passage ranked `rank`: the terms `candidate_sentences` sums."""
    own = float(scores[i])
    neighbours = [float(scores[j]) for j in (i - 1, i + 1) if 0 <= j < n]
    return {
        "similarity": own,
        "lexical": lexical,
        "typed": float(typed),
        "neighbour": max(neighbours) if neighbours else own - 1.0,
        "previous": float(scores[i - 1]) if i > 0 else own - 1.0,
        "next": float(scores[i + 1]) if i + 1 < n else own - 1.0,
        "first": float(i == 0),
        "rank": float(rank),
        "words": float(words),
        "chunk": hit.score,
    }


def candidate_sentences(question: str | Question, language: str, hits: list[Hit],
                        weights: Mapping[str, float] | None = None, lexicon: Lexicon | None = None,
                        settings: AnswerSettings | None = None) -> list[Sentence]:
    """Every quotable sentence of the evidence, scored for how well it answers `question`.

    score = fused sentence similarity (z over the candidate sentences of the index)
          + 0.8 * lexical bonus (share of the question's content words, or, cross-lingually, of its
            numbers, names and words put into the corpus's words by `lexicon`, found in the sentence)
          + 1.5 when the question asks for a quantity or date and the sentence holds a new number (of
            what it counts, when that word is in the evidence: "Combien d'études de cas" -> studies, case),
            or asks for an amount of money or a rate and the sentence states one (`asked_amount`)
          + 0.2 * the better of its two neighbours' similarity, + 0.2 * the previous one's, + 0.2 * the
            next one's (answers sit next to the sentence that restates the question's topic)
          - 0.3 for the first sentence of its passage (often a heading run into the text)
          - 0.2 * the rank of its passage (0 for the best passage)
          + 0.02 * its length in words, up to 40 (short fragments rarely answer).
    The weights and the 40 are `settings` (`AnswerSettings.weights`, `max_counted_words`); `weights`, when
    given, replaces the settings' weights. They were chosen by 5-fold cross-validation on the development set,
    folds grouped by question (a question's translations never straddle folds; `python -m
    eval.sentence_weights`). Adding the previous/next/first/rank terms moved the cross-validated gold sentence
    among the top three candidates .716 -> .729 and first .587 -> .568 (155 questions, on the index `make run`
    builds); every fold chose first -0.3 and rank -0.2, the passage rank carrying most of it. The answer cites
    up to three sentences, so the top three is what counts. The chunk's own score carried no weight once
    the sentence's similarity was in. With the lexicon's words in the key terms (same weights), the
    cross-validated top three went .729 -> .806, first .568 -> .606. Typing money and rate questions by what
    the sentence states (rather than by any number): top three .813 -> .819.
    """
    settings = settings or AnswerSettings()
    weights = settings.weights.model_dump() if weights is None else weights
    question = as_question(question, language)
    key_terms = question.key_terms(lexicon)
    typed_test = _typed_test(question, hits, lexicon)
    out: list[Sentence] = []
    for rank, hit in enumerate(hits):
        texts = hit.chunk.sentence_texts()
        scores = hit.sentence_scores if hit.sentence_scores is not None else np.zeros(len(texts))
        for i, text in enumerate(texts):
            if not is_answer_like(text):
                continue
            tokens = content_tokens(text)
            typed = typed_test(text, tokens)
            lexical = len(key_terms & tokens) / len(key_terms) if key_terms else 0.0
            features = _features(rank, hit, scores, i, len(texts), lexical, typed,
                                 min(len(text.split()), settings.max_counted_words))
            score = sum(weights[name] * value for name, value in features.items())
            vector = hit.sentence_vectors[i] if hit.sentence_vectors is not None else None
            out.append(Sentence(rank, hit, i, text, hit.chunk.sentence_pages[i], score, vector, typed, features))
    out.sort(key=lambda s: -s.score)
    return out


def redundant(candidate: Sentence, chosen: list[Sentence], cos_limit: float = 0.93, jaccard_limit: float = 0.6) -> bool:
    """`candidate` repeats a chosen sentence: the same one, the same text, a vector closer than `cos_limit`, or
    more than `jaccard_limit` of their content words shared."""
    tokens = content_tokens(candidate.text)
    for other in chosen:
        if other.hit.chunk.chunk_id == candidate.hit.chunk.chunk_id and other.index == candidate.index:
            return True
        if candidate.text == other.text:
            return True
        if candidate.vector is not None and other.vector is not None and float(candidate.vector @ other.vector) > cos_limit:
            return True
        other_tokens = content_tokens(other.text)
        if tokens and other_tokens and len(tokens & other_tokens) / len(tokens | other_tokens) > jaccard_limit:
            return True
    return False


def reading_order(chosen: list[Sentence]) -> list[Sentence]:
    """Documents in order of their best sentence; within a document, reading order."""
    first_seen: dict[str, int] = {}
    for i, s in enumerate(chosen):
        first_seen.setdefault(s.hit.chunk.doc_id, i)
    return sorted(chosen, key=lambda s: (first_seen[s.hit.chunk.doc_id], s.hit.chunk.ord, s.index))
