"""Answers as evidence spans (issue 17): the sentences a best sentence announces come with it, verbatim."""

from __future__ import annotations

import numpy as np

from assistant.answer import ExtractiveAnswerer
from assistant.cues import asks_why_or_how, completes, introduces, is_list_item
from assistant.retrieval import Hit
from assistant.settings import AnswerSettings
from assistant.types import Chunk, Document

DOC = Document(doc_id="d1", title="Report", source="report.pdf", kind="pdf", pages=3, language="en", sha256="0",
               size=1, mtime=0.0)


def _hit(sentences: list[str], scores: list[float]) -> Hit:
    text, spans, at = "", [], 0
    for s in sentences:
        spans.append((at, at + len(s)))
        text += s + " "
        at = len(text)
    chunk = Chunk(chunk_id="c1", doc_id="d1", ord=0, page_start=1, page_end=1, text=text.rstrip(), sentences=spans,
                  sentence_pages=[1] * len(sentences))
    return Hit(row=0, chunk=chunk, document=DOC, score=1.0, sentence_scores=np.asarray(scores, dtype=float),
               sentence_vectors=None)


def _quotes(question: str, hit: Hit, **settings) -> list[str]:
    draft = ExtractiveAnswerer(AnswerSettings(max_sentences=1, **settings)).answer(question, "en", [hit])
    assert all(c.quote in hit.chunk.text for c in draft.citations)  # verbatim
    return [c.quote for c in draft.citations]


CHALLENGES = ["The programme trained village officials for three years in the western provinces.",
              "Some of the main challenges faced by the trainees include the following:",
              "1. Training was too short for the officials who came from remote villages.",
              "2. Interpreters were not available for the ethnic minority languages spoken.",
              "The budget for the programme was approved by the provincial government in 2010."]


def test_a_sentence_that_announces_a_list_is_quoted_with_its_items_and_no_further():
    quotes = _quotes("What challenges did the trainees face?", _hit(CHALLENGES, [0.0, 3.0, 1.0, 0.5, 0.2]))
    assert quotes == CHALLENGES[1:4]


def test_single_sentences_without_an_announcement_or_when_spans_are_off():
    hit = _hit(CHALLENGES, [3.0, 0.0, 0.0, 0.0, 0.0])
    assert _quotes("Where were village officials trained?", hit) == CHALLENGES[:1]
    assert _quotes("What challenges did the trainees face?", _hit(CHALLENGES, [0.0, 3.0, 1.0, 0.5, 0.2]),
                   span_max=0) == CHALLENGES[1:2]


def test_a_number_question_keeps_one_sentence():
    assert _quotes("How many challenges did the trainees face?", _hit(CHALLENGES, [0.0, 3.0, 1.0, 0.5, 0.2])) \
        == CHALLENGES[1:2]


def test_a_why_question_takes_the_reason_after_the_best_sentence():
    sentences = ["Poverty in the western provinces fell faster than anywhere else in the country.",
                 "Roads built by the county connected farmers to the markets of the coastal cities.",
                 "The programme ended in the year after the provincial elections took place."]
    assert _quotes("Why did poverty fall in the western provinces?", _hit(sentences, [3.0, 0.5, 0.4])) == sentences[:2]
    assert _quotes("Where did poverty fall fastest?", _hit(sentences, [3.0, 0.5, 0.4])) == sentences[:1]


def test_cues():
    assert introduces("Some of these challenges include:") and not introduces("Poverty fell in 2010.")
    assert completes("For example, in Kenya the nurses ...") and not completes("Kenya is large.")
    assert is_list_item("1. Training") and is_list_item("• Water") and not is_list_item("10,000 people came.")
    assert asks_why_or_how("Why did it fail?") and asks_why_or_how("为什么失败了？")
    assert not asks_why_or_how("How many case studies were presented?")
