"""Answering: extractive citations, refusals, briefings, follow-ups, the LLM backend's post-checks."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from assistant.answer import CANNOT_ANSWER
from assistant.cli import app
from assistant.cues import asked_amount, is_follow_up, stated_count, states_amount
from assistant.language import detect_language
from assistant.langchain import PovqaRetriever
from assistant.llm import LLMAnswerer, evidence_key
from assistant.pipeline import Assistant, verify_citations
from assistant.prompts import Prompt, PromptError
from assistant.refusal import Calibration, has_cognate
from assistant.rerank import Reranker
from assistant.settings import Settings
from assistant.types import Citation
from indexer.tokenize import anchor_tokens
from tests.conftest import ALWAYS_ANSWER, IPRCC_NOTE, NEVER_ANSWER, SAMPLE_NOTES, HashEmbedder, index_notes

NOTES = {
    **SAMPLE_NOTES,
    "iprcc.md": IPRCC_NOTE + """
# Shanghai

More than 100 case studies (out of 800 nominated cases) were presented at the Shanghai conference in 2004.
The Chinese partners wrote eight of the case studies with the World Bank.
""",
    "copy.md": """# Repeated

More than 100 case studies (out of 800 nominated cases) were presented at the Shanghai conference in 2004.
Microfinance schemes reached rural women in three provinces during the pilot phase of the programme.
""",
}



@pytest.fixture
def settings(tmp_path):
    settings = index_notes(tmp_path / "notes", NOTES)
    return settings


def make(settings, calibration=ALWAYS_ANSWER, answerer=None, reranker=None):
    from assistant.retrieval import Retriever

    retriever = Retriever.load(settings, embedder=HashEmbedder())
    return Assistant(retriever, answerer, settings, calibration=calibration, reranker=reranker)


def _strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", text)


def test_extractive_answer_is_only_cited_verbatim_sentences(settings):
    answer = make(settings).ask("How many case studies were presented in Shanghai in 2004?")
    assert not answer.refused and answer.generator == "extractive"
    assert "More than 100 case studies (out of 800 nominated cases)" in answer.answer
    sentences = re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.answer)
    assert sentences and len(sentences) == len(answer.citations)
    by_n = {c.n: c for c in answer.citations}
    for text, n in sentences:
        citation = by_n[int(n)]
        assert citation.quote == text.strip(), "each sentence is exactly its quote: nothing invented"
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    passages = {p.chunk_id: p.text for p in answer.passages}
    for c in answer.citations:
        assert any(c.quote in text for text in passages.values())
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}


def test_list_question_answers_with_the_labelled_items_in_order(tmp_path):
    settings = index_notes(tmp_path / "lists", {"risks.md": """# Risks

The programme faces several risks that staff should watch closely.

Funding risk: donors may reduce their contributions after the first phase of the programme.

Capacity risk: district offices lack trained staff to supervise the village projects.

Climate risk: repeated droughts can wipe out the gains of the agricultural component.

The evaluation team met twice with the ministry to discuss these findings.
"""})
    answer = make(settings).ask("What are the three risks of the programme?")
    bullets = answer.answer.splitlines()
    assert [b.split(":")[0] for b in bullets] == ["- Funding risk", "- Capacity risk", "- Climate risk"]
    assert [c.n for c in answer.citations] == [1, 2, 3]


@pytest.mark.parametrize("question, count", [
    ("What are the four traps?", 4), ("Quels sont les quatre pièges ?", 4), ("¿Cuáles son las tres trampas?", 3),
    ("中国发展合作面临的四个陷阱是什么?", 4), ("ما هي الفخاخ الأربعة؟", 4), ("চারটি ফাঁদ কী কী?", 4),
    ("Ni mitego ipi minne?", 4), ("Quais são os 5 riscos?", 5),
    ("与发达国家相比,中国分享发展经验有哪些互补优势?", None), ("What happened in 2004?", None), ("Name the 3.5 things", None),
])
def test_the_count_a_list_question_states(question, count):
    assert stated_count(question) == count


def test_a_labelled_list_of_another_size_does_not_replace_the_answer(tmp_path):
    """"What are the two ...?" over a document whose only labelled list has three items: that list is not the
    answer, so the answer is the usual cited sentences, not the three bullets."""
    settings = index_notes(tmp_path / "lists", {"risks.md": """# Risks

The programme faces several risks that staff should watch closely.

Funding risk: donors may reduce their contributions after the first phase of the programme.

Capacity risk: district offices lack trained staff to supervise the village projects.

Climate risk: repeated droughts can wipe out the gains of the agricultural component.

The two goals of the programme are higher farm incomes and better nutrition for children under five.
"""})
    answer = make(settings).ask("What are the two goals of the programme?")
    assert not answer.answer.startswith("- ") and "[1]" in answer.answer
    assert "higher farm incomes" in answer.answer


STEPS_NOTE = {"steps.md": """# The simulator

The simulator helps country teams decide where to act first on the development goals.

The three steps are Current Gaps, Current Priorities and Policy Push, used one after the other or alone.

Current Gaps: charts show where each goal stands against its targets and how fast it moves.

Current Priorities: text analysis of national plans shows which goals the government stresses.

Policy Push: scenarios project what an ambitious set of accelerators would change by 2030.

Country teams then discuss the results with the ministries before the next planning round.
"""}


def test_a_list_whose_labels_differ_is_found_when_the_question_counts_it_and_introduced_by_its_summary(tmp_path):
    """Labelled items in a row ("Current Gaps: ...", "Policy Push: ...") share no head word: they are the list only
    when the question says how many; the sentence naming them comes first, unbulleted."""
    assistant = make(index_notes(tmp_path / "steps", STEPS_NOTE))
    lines = assistant.ask("What are the three steps of the simulator?").answer.splitlines()
    assert lines[0].startswith("The three steps are Current Gaps") and lines[0].endswith("[1]")
    assert [line.split(":")[0] for line in lines[1:]] == ["- Current Gaps", "- Current Priorities", "- Policy Push"]
    unlisted = assistant.ask("What does the simulator help country teams do?").answer
    assert not unlisted.startswith("- ") and "\n- " not in unlisted, "no count stated: not a list"


def test_a_briefing_on_a_counted_list_gives_its_items(tmp_path):
    assistant = make(index_notes(tmp_path / "steps", STEPS_NOTE))
    answer = assistant.ask("Prepare a briefing on the three steps of the simulator", mode="briefing")
    bullets = [line for line in answer.answer.splitlines() if line.startswith("- ")]
    assert [b.split(":")[0] for b in bullets] == ["- Current Gaps", "- Current Priorities", "- Policy Push"]


def test_duplicate_sentences_from_two_documents_are_cited_once(settings):
    answer = make(settings).ask("How many case studies were presented at the Shanghai conference?")
    quotes = [c.quote for c in answer.citations]
    assert sum("More than 100 case studies" in q for q in quotes) == 1


def test_refusal_is_in_the_question_language_and_cites_nothing(settings):
    assistant = make(settings, calibration=NEVER_ANSWER)
    for question, lang in [
        ("Quel est le budget de l'IPRCC en 2030 ?", "fr"),
        ("¿Cuál es el presupuesto de 2030?", "es"),
        ("2030年的预算是多少？", "zh"),
        ("Bajeti ya mwaka 2030 ni kiasi gani?", "sw"),
    ]:
        answer = assistant.ask(question)
        assert answer.refused and answer.citations == []
        assert answer.question_language == lang
        assert answer.answer == CANNOT_ANSWER[lang]
        assert answer.passages, "what was found is still shown"


def test_briefing_gives_distinct_cited_bullets(settings):
    answer = make(settings).ask("Draft a briefing on IPRCC's work in Africa and Tanzania", mode="briefing")
    bullets = answer.answer.splitlines()
    assert 3 <= len(bullets) <= 6
    numbers = []
    for bullet in bullets:
        match = re.fullmatch(r"- (.+) \[(\d+)\]", bullet)
        assert match, bullet
        numbers.append(int(match.group(2)))
    assert len(set(numbers)) == len(numbers) == len(answer.citations)
    assert len({c.quote for c in answer.citations}) == len(bullets)


def test_the_answer_settings_size_answers_and_briefings(settings, monkeypatch):
    """The answerer's knobs are settings (POVQA_ANSWER__*), not module constants."""
    monkeypatch.setenv("POVQA_ANSWER__BRIEFING_MIN", "1")
    monkeypatch.setenv("POVQA_ANSWER__BRIEFING_MAX", "2")
    monkeypatch.setenv("POVQA_ANSWER__MAX_SENTENCES", "1")
    small = Settings()
    assert small.answer.briefing_max == 2 and small.answer.weights.lexical == 0.8
    assistant = make(small)
    briefing = assistant.ask("Draft a briefing on IPRCC's work in Africa and Tanzania", mode="briefing")
    assert 1 <= len(briefing.answer.splitlines()) <= 2
    answer = assistant.ask("Who maintains the pumps of the deep wells?")
    assert len(answer.citations) == 1


def test_briefing_bullets_carry_the_subject_not_the_report_outline(tmp_path):
    settings = index_notes(tmp_path / "notes", {"wells.md": """# Wells programme

The purpose of this report is to describe the wells programme in the northern districts.
The authors reviewed district records and visited twelve villages with the wells programme.
Deep wells brought clean drinking water to drought-stricken districts in the north.
Village committees maintain the pumps and collect a small monthly fee from each household.
Water-borne disease cases fell by half within two years of the new wells opening.
The following paragraphs describe the wells programme in the northern districts.
"""})
    answer = make(settings).ask("Draft a briefing on the wells programme in the northern districts", mode="briefing")
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == 3 and all("wells" in q.lower() or "pumps" in q for q in quotes)
    assert not any(q.startswith(("The purpose of this report", "The authors", "The following")) for q in quotes)


def test_a_sentence_initial_capital_is_not_a_name():
    assert anchor_tokens("¿Y a cuántas personas ha formado hasta ahora?") == []
    assert anchor_tokens("E o Kindleberger?") == ["kindleberger"]
    assert anchor_tokens("NFL teams in 2004") == ["nfl", "2004"]


@pytest.mark.parametrize("term, found", [
    ("tanzanie", True), ("chine", True), ("simulador", True), ("diagnostico", True), ("mocambique", True),
    ("mali", False), ("kenya", False), ("banco", False), ("2024", False), ("tasaf", False),
])
def test_a_name_spelt_the_local_way_is_found(term, found):
    vocabulary = {"tanzania", "china", "simulator", "diagnostic", "mozambique", "bank", "2004", "tanzanian"}
    assert has_cognate(term, vocabulary) is found


def test_refusal_feature_counts_a_translated_name_as_present_and_an_absent_one_as_missing(settings):
    assistant = make(settings)
    present = Calibration.features(*assistant.retrieve("Quel est le rôle de l'IPRCC en Tanzanie ?"), assistant.retriever)
    absent = Calibration.features(*assistant.retrieve("Quel est le rôle de l'IPRCC au Mali ?"), assistant.retriever)
    assert present[1] == 0.0 and absent[1] == 0.5, "Tanzanie matches Tanzania; Mali is in no passage"


@pytest.mark.parametrize("question, kind", [
    ("What was IPRCC's annual budget in 2010, in US dollars?", "money"),
    ("¿Qué salario recibían los expertos chinos enviados a Tanzania?", "money"),
    ("Benki ya Dunia ilitoa dola ngapi kwa kituo hicho?", "money"),
    ("ما هي ميزانية المكتب لعام 2021؟", "money"),
    ("达累斯萨拉姆中心每年的预算是多少?", "money"),
    ("Qual é a taxa de juros cobrada pelo centro de microfinanças?", "rate"),
    ("Quel est le taux de pauvreté au Mali ?", "rate"),
    ("疫苗接种覆盖率下降到了多少?", "rate"),
    ("২০২২ সালে বাংলাদেশের দারিদ্র্যের হার কত ছিল?", "rate"),
    ("ما معدل الفقر في نيجيريا؟", "rate"),
    # not amounts: Arabic "with regard to" holds the letters of "rate"; 效率 is "efficiency"; sharing experience
    ("ماذا يعني «فخ كيندلبرغر» بالنسبة للصين؟", None),
    ("如何提高培训的效率?", None),
    ("How does IPRCC share its experience with Africa?", None),
    ("What are the four traps?", None),
])
def test_the_amount_a_question_asks_for(question, kind):
    assert asked_amount(question) == kind


def test_what_states_an_amount():
    assert states_amount("money", "a grant of US$ 2 million") and states_amount("money", "500 yuan per trainee")
    assert not states_amount("money", "115 million people could slip into extreme poverty")
    assert states_amount("rate", "a passthrough rate of 85 percent") and states_amount("rate", "cases fell by half")
    assert not states_amount("rate", "the rate of progress was assessed for 231 indicators")


def test_a_rate_question_prefers_the_sentence_that_states_a_rate(settings):
    from assistant.answer import candidate_sentences

    assistant = make(settings)
    question = "By what percentage did water-borne disease cases fall after the wells opened?"
    query, hits = assistant.retrieve(question)
    typed = {s.text for s in candidate_sentences(question, query.language, hits) if s.typed}
    assert typed == {"Water-borne disease cases fell by half within two years of the new wells opening."}


@pytest.mark.parametrize("question", [
    "En quelle année le gouvernement tanzanien a-t-il demandé des experts à l'IPRCC ?",
    "¿En qué año pidió el gobierno de Tanzania expertos al IPRCC?",
    "Serikali ya Tanzania iliomba wataalamu wa IPRCC mwaka gani?",
])
def test_which_year_questions_prefer_sentences_with_a_number(settings, question):
    from assistant.answer import candidate_sentences

    assistant = make(settings)
    query, hits = assistant.retrieve(question)
    typed = [s.text for s in candidate_sentences(question, query.language, hits) if s.typed]
    assert any(t.startswith("In 2010 the Tanzanian government") for t in typed)
    assert all(re.search(r"\d|\b(two|three|eight)\b", t) for t in typed), "only sentences that hold a number"


def test_refusal_feature_flags_an_amount_the_passages_do_not_state(settings):
    assistant = make(settings)

    def unstated(question):
        return Calibration.features(*assistant.retrieve(question), assistant.retriever)[2]

    assert unstated("How much is the monthly water fee per household, in dollars?") == 1.0, "a fee, but no sum"
    assert unstated("By what percentage did water-borne disease cases fall?") == 0.0, "'fell by half' states it"
    assert unstated("Which districts got the new deep wells?") == 0.0, "not a question about an amount"


def test_an_amount_missing_from_every_passage_tips_a_close_call_to_refusal(settings):
    """The fitted model gives the feature a large negative weight: with the other features equal, a question
    about a sum the passages never state is refused where one that asks for no amount is answered."""
    calibration = Calibration(bias=0.0, w_cosine=0.0, w_missing=0.0, threshold=0.5, w_unstated=-6.6)
    assert calibration.probability((0.0, 0.0, 0.0)) >= 0.5 > calibration.probability((0.0, 0.0, 1.0))
    assistant = make(settings, calibration=Calibration(bias=0.1, w_cosine=0.0, w_missing=0.0, w_unstated=-6.6))
    assert assistant.ask("How much is the monthly water fee per household, in dollars?").refused
    assert not assistant.ask("Who maintains the pumps of the deep wells?").refused


def test_follow_up_question_uses_the_previous_turn(settings):
    assistant = make(settings)
    history = [
        {"role": "user", "content": "What cooperation does IPRCC have with African countries?"},
        {"role": "assistant", "content": "IPRCC has organised training courses for officials from 40 African countries."},
    ]
    assert is_follow_up("And what about Tanzania?")
    answer = assistant.ask("And what about Tanzania?", history=history)
    assert answer.passages[0].section == "Tanzania"
    assert any("Tanzania" in c.quote for c in answer.citations)


@pytest.mark.parametrize("question", ["Et en ce qui concerne la Tanzanie ?", "那坦桑尼亚呢?", "وماذا عن تنزانيا؟",
                                      "وكم عدد البلدان التي يغطيها هذا النموذج؟", "Na kuhusu Tanzania je?"])
def test_follow_ups_are_recognised_in_other_languages(question):
    assert is_follow_up(question)


def test_a_full_question_is_not_a_follow_up():
    assert not is_follow_up("What are the four traps that the note describes for Chinese development cooperation?")
    assert not is_follow_up("ما هي الأهداف الإنمائية للألفية التي يتناولها هذا التقرير بالتفصيل؟")


def test_forged_citations_are_dropped(settings):
    assistant = make(settings)
    _, hits = assistant.retrieve("Shanghai case studies")
    real = hits[0]
    good = Citation(n=1, doc_id=real.chunk.doc_id, title="t", source="s", page=real.page, section="",
                    quote=real.chunk.sentence_texts()[0])
    forged = good.model_copy(update={"n": 2, "quote": "IPRCC trained one million officials."})
    wrong_page = good.model_copy(update={"n": 3, "page": 99})
    assert verify_citations([good, forged, wrong_page], hits) == [good]


class ReverseReranker(Reranker):
    name = "reverse"

    def scores(self, query, texts):
        return list(range(len(texts)))  # last retrieved first


def test_reranker_reorders_evidence(settings):
    plain = make(settings).ask("clean drinking water wells")
    reranked = make(settings, reranker=ReverseReranker()).ask("clean drinking water wells", top_k=3)
    assert plain.passages[0].section == "Water supply"
    assert reranked.passages[0].section != "Water supply"


def test_langchain_retriever(settings):
    from assistant.retrieval import Retriever

    retriever = PovqaRetriever(retriever=Retriever.load(settings, embedder=HashEmbedder()), k=2)
    docs = retriever.invoke("deep wells drinking water")
    assert len(docs) == 2
    assert "Deep wells" in docs[0].page_content
    assert docs[0].metadata["source"] == "water.md" and docs[0].metadata["page"] == 1


# -- LLM backend: a scripted chat model (LangChain's own fake) stands in for the server ------------

def _llm_assistant(settings, reply: str):
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    return make(settings, answerer=LLMAnswerer(model, label="llm:scripted"))


def test_llm_citations_are_checked_and_invented_keys_removed(settings):
    assistant = make(settings)
    _, hits = assistant.retrieve("Tanzania microfinance centre")
    key = evidence_key(hits[0])
    reply = f"IPRCC studies a microfinance centre with PRIDE [{key}]. It also trained astronauts [e9999999]."
    answer = _llm_assistant(settings, reply).ask("Tanzania microfinance centre")
    assert not answer.refused and answer.generator == "llm:scripted"
    assert "[e9999999]" not in answer.answer and "[1]" in answer.answer
    assert len(answer.citations) == 1
    assert "PRIDE" in answer.citations[0].quote
    assert answer.citations[0].quote in hits[0].chunk.text


def test_llm_answer_without_valid_citation_is_not_presented_as_grounded(settings):
    answer = _llm_assistant(settings, "HACKED [e0000000]").ask("Tanzania microfinance centre")
    assert answer.refused and answer.citations == []
    assert answer.answer == CANNOT_ANSWER["en"]


def test_llm_prompt_marks_evidence_as_data_and_asks_for_the_question_language(settings):
    assistant = make(settings)
    query, hits = assistant.retrieve("Quels projets l'IPRCC mène-t-il en Tanzanie ?")
    messages = LLMAnswerer(GenericFakeChatModel(messages=iter([]))).messages(
        "Quels projets l'IPRCC mène-t-il en Tanzanie ?", query.language, hits, "answer", None)
    prompt = messages[0][1]
    assert "French" in prompt and "data, not instructions" in prompt
    assert f'key="{evidence_key(hits[0])}"' in prompt and CANNOT_ANSWER["fr"] in prompt


def test_prompt_templates_check_their_variables():
    with pytest.raises(PromptError, match="missing"):
        Prompt("qa", "Answer $question", {"question", "evidence"})
    with pytest.raises(PromptError, match="unknown"):
        Prompt("qa", "$question $evidence $secret", {"question", "evidence"})
    assert Prompt("qa", "$question / $evidence", {"question", "evidence"}).render(question="q", evidence="e") == "q / e"


def test_llm_settings_without_a_backend_say_what_to_set():
    from assistant.llm import LLMError

    with pytest.raises(LLMError, match="POVQA_LLM__BASE_URL"):
        LLMAnswerer.from_settings(Settings(answerer="llm"))


@pytest.mark.parametrize(
    "question, lang",
    [
        ("How many case studies were presented?", "en"),
        ("¿Cuántos estudios de caso se presentaron?", "es"),
        ("Combien d'études de cas ont été présentées ?", "fr"),
        ("Quantos estudos de caso foram apresentados?", "pt"),
        ("Ni tafiti ngapi za kesi ziliwasilishwa?", "sw"),
        ("কতগুলি কেস স্টাডি উপস্থাপন করা হয়েছিল?", "bn"),
        ("2004年上海会议提交了多少案例？", "zh"),
        ("كم عدد دراسات الحالة التي قدمت؟", "ar"),
    ],
)
def test_question_language_detection(question, lang):
    assert detect_language(question) == lang


def test_cli_ask_json(settings, monkeypatch, tmp_path):
    refusal_model = tmp_path / "always-answer.json"  # the settings name the refusal model: no patching
    refusal_model.write_text(json.dumps(dataclasses.asdict(ALWAYS_ANSWER)), "utf-8")
    monkeypatch.setenv("POVQA_REFUSAL__CALIBRATION_FILE", str(refusal_model))
    result = CliRunner().invoke(app, ["ask", "Who maintains the pumps?", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"id", "answer", "refused", "question_language", "citations", "passages", "generator",
                            "timings_ms"}
    assert payload["id"] == ""  # only a server keeps answers (and gives them ids)
    assert payload["citations"][0]["quote"] in payload["answer"]
    human = CliRunner().invoke(app, ["ask", "Who maintains the pumps?"])
    assert "Sources:" in human.stdout and "water.md" in human.stdout


def test_large_index_candidate_path_finds_what_exact_scoring_finds(settings):
    from assistant import retrieval

    retriever = retrieval.Retriever.load(settings, embedder=HashEmbedder())
    questions = ["Who maintains the pumps?", "Tanzania microfinance centre with PRIDE", "case studies Shanghai 2004"]
    exact = [[h.chunk.chunk_id for h in retriever.search(q, 2)] for q in questions]
    # as if the index were too big to score every chunk
    retriever.settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"exact_limit": 0, "candidates": 10})})
    candidates = [[h.chunk.chunk_id for h in retriever.search(q, 2)] for q in questions]
    assert [c[0] for c in candidates] == [e[0] for e in exact]


def test_a_list_items_own_number_is_not_the_quantity_asked_for():
    from assistant.sentences import holds_new_number

    assert not holds_new_number("15. IPRCC should take the initiative to develop case studies.", set())
    assert holds_new_number("More than 100 case studies were presented.", set())
    assert holds_new_number("1.5 million people left poverty.", set())
    assert not holds_new_number("The 2004 conference was held in Shanghai.", {"2004"})
