"""`povqa eval`: every metric scored on hand-made answers moves the right way; end-to-end runs (in-process, HTTP)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from assistant.settings import Settings
from eval import metrics
from eval.harness import (
    DatasetError,
    InProcessTarget,
    Judge,
    evaluate,
    load_config,
    load_dataset,
)
from tests.conftest import ALWAYS_ANSWER, HashEmbedder, index_notes

ROOT = Path(__file__).resolve().parent.parent

EVIDENCE = "More than 100 case studies (out of 800 nominated cases) were presented on the experience of poverty alleviation."
PAGE_2 = ("Shanghai learning process\nMore than 100 case studies (out of 800 nominated cases) were presented on the "
          "experience of poverty allevi-\nation. Other text follows here.")
PAGES = {("d1", 2): PAGE_2, ("d1", 3): "Page three talks about Tanzania and microfinance."}


def page_text(doc_id: str, page: int) -> str | None:
    return PAGES.get((doc_id, page))


def item(**kw) -> dict:
    base = {"id": "q1", "lang": "en", "kind": "fact", "answerable": True, "question": "How many case studies?",
            "doc": "case.pdf", "page": 2, "evidence": EVIDENCE, "keywords": ["100", "800"]}
    return {**base, **kw}


def passage(text: str, source: str = "case.pdf", page: int = 2) -> dict:
    return {"doc_id": "d1", "title": "Case", "source": source, "page": page, "section": "", "text": text,
            "score": 1.0, "chunk_id": "c"}


def citation(quote: str, page: int = 2, n: int = 1, source: str = "case.pdf") -> dict:
    return {"n": n, "doc_id": "d1", "title": "Case", "source": source, "page": page, "section": "", "quote": quote}


GOLD = passage(PAGE_2)
OTHER = passage("Deep wells brought clean drinking water to districts in the north.", page=3)
SAME_TEXT_OTHER_DOC = passage(PAGE_2, source="copy.md", page=1)
GOOD_QUOTE = ("More than 100 case studies (out of 800 nominated cases) were presented on the experience of poverty "
              "allevi-\nation.")


def answer(text="More than 100 case studies (out of 800 nominated cases) were presented. [1]", refused=False,
           citations=None, passages=None) -> dict:
    return {"answer": text, "refused": refused, "question_language": "en",
            "citations": [citation(GOOD_QUOTE)] if citations is None else citations,
            "passages": [GOLD, OTHER] if passages is None else passages, "generator": "test",
            "timings_ms": {"total": 5.0}}


def row(it=None, ans=None, **kw) -> dict:
    return metrics.score(it or item(), answer() if ans is None else ans, kw.pop("latency", 10.0),
                         page_text=page_text, **kw)


# -- fuzzy matching ----------------------------------------------------------------
def test_fuzzy_match_survives_hyphenation_line_breaks_and_punctuation_but_not_other_text():
    assert metrics.contains_evidence(PAGE_2, EVIDENCE)  # "allevi-\nation" vs "alleviation"
    assert metrics.contains_evidence("more than 100 CASE studies out of 800 nominated cases were presented on the "
                                     "experience of poverty alleviation", EVIDENCE)
    assert not metrics.contains_evidence(OTHER["text"], EVIDENCE)
    half = "More than 100 case studies were mentioned somewhere."
    assert not metrics.contains_evidence(half, EVIDENCE), "a few shared words are not the evidence"
    assert not metrics.contains_evidence(PAGE_2, ""), "empty evidence never matches"


# -- retrieval -----------------------------------------------------------------------
def test_retrieval_rank_hit_at_k_and_mrr():
    at1 = row(ans=answer(passages=[GOLD, OTHER, OTHER, OTHER]))
    at3 = row(ans=answer(passages=[OTHER, SAME_TEXT_OTHER_DOC, GOLD, OTHER]))
    absent = row(ans=answer(passages=[OTHER, SAME_TEXT_OTHER_DOC, OTHER]))
    assert (at1["retrieval_rank"], at3["retrieval_rank"], absent["retrieval_rank"]) == (1, 3, None)
    s1, s3, s0 = (metrics.summarize([r]) for r in (at1, at3, absent))
    assert (s1["hit@1"], s1["hit@3"], s1["hit@5"], s1["mrr"]) == (1.0, 1.0, 1.0, 1.0)
    assert (s3["hit@1"], s3["hit@3"], s3["hit@5"]) == (0.0, 1.0, 1.0) and s3["mrr"] == pytest.approx(1 / 3)
    assert (s0["hit@1"], s0["hit@3"], s0["hit@5"], s0["mrr"]) == (0.0, 0.0, 0.0, 0.0)
    both = metrics.summarize([at1, at3])
    assert both["mrr"] == pytest.approx((1 + 1 / 3) / 2) and both["hit@1"] == 0.5


def test_rank_beyond_5_is_a_miss_at_5():
    far = row(ans=answer(passages=[OTHER] * 5 + [GOLD]))
    assert far["retrieval_rank"] == 6
    s = metrics.summarize([far])
    assert s["hit@5"] == 0.0 and s["mrr"] == pytest.approx(1 / 6)


# -- citations ------------------------------------------------------------------------
def test_citation_contains_evidence_yes_no_and_across_a_line_break():
    assert row()["citation_checks"]["evidence_cited"]
    flat = row(ans=answer(citations=[citation("More than 100 case studies (out of 800 nominated cases) were "
                                              "presented on the experience of poverty alleviation.")]))
    assert flat["citation_checks"]["evidence_cited"], "hyphen/line-break-insensitive"
    piece = row(ans=answer(citations=[citation("More than 100 case studies (out of 800 nominated cases) were presented")]))
    assert piece["citation_checks"]["evidence_cited"], "a short quote that is a piece of the evidence counts"
    wrong = row(ans=answer(citations=[citation("Page three talks about Tanzania and microfinance.", page=3)]))
    assert not wrong["citation_checks"]["evidence_cited"]
    tiny = row(ans=answer(citations=[citation("100 case studies")]))
    assert not tiny["citation_checks"]["evidence_cited"], "a three-word fragment is too short to count"
    other_doc = row(ans=answer(citations=[citation(GOOD_QUOTE, source="copy.md")]))
    assert not other_doc["citation_checks"]["evidence_cited"], "right words, wrong document"
    s = metrics.summarize([row(), wrong])
    assert s["evidence_cited"] == 0.5


def test_the_same_fact_stated_in_another_document_counts_only_when_the_item_lists_it():
    """`also`: two reports sharing a paragraph. Citing or retrieving the copy counts, on the copy's own page."""
    copy = {"doc": "copy.md", "page": 1, "evidence": EVIDENCE}
    cited_copy = answer(citations=[citation(GOOD_QUOTE, source="copy.md", page=1)], passages=[OTHER, SAME_TEXT_OTHER_DOC])
    without = row(ans=cited_copy)
    assert not without["citation_checks"]["evidence_cited"] and without["retrieval_rank"] is None
    listed = row(it=item(also=[copy]), ans=cited_copy)
    assert listed["citation_checks"]["evidence_cited"] and listed["retrieval_rank"] == 2
    assert listed["citation_checks"]["page_correct"] is None, "the copy is not a PDF: no page check"
    pdf_copy = {"doc": "copy.pdf", "page": 4, "evidence": EVIDENCE}
    wrong_page = row(it=item(also=[pdf_copy]), ans=answer(citations=[citation(GOOD_QUOTE, source="copy.pdf", page=2)]))
    assert wrong_page["citation_checks"]["page_correct"] is False, "judged against the copy's page, not the item's"


def test_quote_verbatim_and_a_one_word_change_fails():
    ok = row()["citation_checks"]
    assert ok["quotes_verbatim"] == 1 and ok["quotes_not_verbatim"] == []
    altered = GOOD_QUOTE.replace("presented", "shown")
    bad = row(ans=answer(citations=[citation(altered)]))["citation_checks"]
    assert bad["quotes_verbatim"] == 0 and bad["quotes_not_verbatim"] == [1]
    assert bad["evidence_cited"], "still fuzzy-matches the evidence, but is not verbatim"
    wrong_page = row(ans=answer(citations=[citation(GOOD_QUOTE, page=3)]))["citation_checks"]
    assert wrong_page["quotes_not_verbatim"] == [1], "verbatim means on the cited page"
    s = metrics.summarize([row(), row(ans=answer(citations=[citation(GOOD_QUOTE), citation(altered, n=2)]))])
    assert s["citations"] == 3 and s["quote_verbatim"] == pytest.approx(2 / 3)


def test_page_lookup_failure_is_counted_not_dropped():
    def broken(doc_id, page):
        raise RuntimeError("server down")

    checks = metrics.score(item(), answer(), 1.0, page_text=broken)["citation_checks"]
    assert checks["quotes_not_verbatim"] == [1] and checks["page_errors"]


def test_page_present_and_correct():
    good = row()["citation_checks"]
    assert good["pages_present"] and good["page_correct"] is True
    no_page = row(ans=answer(citations=[citation(GOOD_QUOTE, page=0)]))
    assert no_page["citation_checks"]["pages_present"] is False
    assert metrics.summarize([no_page])["page_present"] == 0.0
    assert metrics.summarize([row()])["page_present"] == 1.0
    wrong = row(it=item(page=5))
    assert wrong["citation_checks"]["page_correct"] is False
    assert metrics.summarize([row(), wrong])["page_correct"] == 0.5
    note = row(it=item(doc="notes/n.md", page=1), ans=answer(citations=[citation(GOOD_QUOTE, source="notes/n.md")]))
    assert note["citation_checks"]["page_correct"] is None, "page equality is only checked for PDFs"


# -- answers -----------------------------------------------------------------------------
def test_keywords_present_and_missing():
    full = row()
    assert full["keywords_found"] == ["100", "800"] and full["keywords_missing"] == []
    partial = row(ans=answer(text="More than 100 CASE studies. [1]"), it=item(keywords=["100", "case Studies", "800"]))
    assert partial["keywords_found"] == ["100", "case Studies"] and partial["keywords_missing"] == ["800"]
    s = metrics.summarize([full, partial])
    assert s["keyword_recall"] == pytest.approx(4 / 5) and s["all_keywords"] == 0.5


def test_briefing_counts_distinct_cited_bullets():
    text = ("- Recruiting researchers is a challenge. [1]\n- Funds for institution building are short. [2]\n"
            "- Recruiting researchers is a challenge. [1]\n- An uncited point.\n- Cites a missing source [9]\nNot a bullet [1]")
    cits = [citation("Recruiting researchers is a challenge.", n=1), citation("Funds for institution building.", n=2)]
    r = row(it=item(kind="briefing"), ans=answer(text=text, citations=cits))
    assert r["briefing_bullets"] == 2
    one = row(it=item(kind="briefing"), ans=answer(text="- Only one point [1]", citations=cits[:1]))
    assert one["briefing_bullets"] == 1
    assert metrics.summarize([r, one])["briefing_bullets"] == 1.5
    assert row()["briefing_bullets"] is None, "only counted for briefings"


# -- refusals -----------------------------------------------------------------------------
def test_refusal_precision_recall_and_false_refusals():
    una = item(answerable=False, kind="unanswerable", doc=None, page=None, evidence="", keywords=[])
    refusal = answer(text="The documents do not answer this.", refused=True, citations=[])
    rows = [
        row(it={**una, "id": "u1"}, ans=refusal),  # TP
        row(it={**una, "id": "u2"}, ans=refusal),  # TP
        row(it={**una, "id": "u3"}),  # FN: answered an unanswerable question
        row(it={**item(), "id": "a1"}, ans=refusal),  # FP: false refusal
        row(it={**item(), "id": "a2"}),
        row(it={**item(), "id": "a3"}),
        row(it={**item(), "id": "a4"}),
    ]
    s = metrics.summarize(rows)
    assert (s["true_refusals"], s["false_refusals"], s["missed_refusals"]) == (2, 1, 1)
    assert s["refusal_precision"] == pytest.approx(2 / 3)
    assert s["refusal_recall"] == pytest.approx(2 / 3)
    assert s["false_refusal_rate"] == pytest.approx(1 / 4)
    assert rows[3]["citation_checks"]["evidence_cited"] is False and rows[3]["keywords_missing"] == ["100", "800"]
    assert s["evidence_cited"] == pytest.approx(3 / 4) and s["evidence_cited_when_answered"] == 1.0


# -- latency and errors -------------------------------------------------------------------
def test_latency_percentiles_on_known_numbers():
    rows = [row(it={**item(), "id": f"q{i}"}, latency=float(i)) for i in range(1, 101)]
    s = metrics.summarize(rows)
    assert s["latency_p50_ms"] == pytest.approx(50.5) and s["latency_p95_ms"] == pytest.approx(95.05)
    assert metrics.percentile([10.0, 20.0, 30.0], 50) == 20.0


def test_an_errored_question_is_a_row_an_error_and_a_miss():
    failed = metrics.score(item(id="bad"), None, 3.0, error="HTTP 500: internal error", page_text=page_text, status=500)
    good = row()
    assert failed["error"] and failed["status"] == 500 and failed["retrieval_rank"] is None
    s = metrics.summarize([good, failed])
    assert s["questions"] == 2 and s["errors"] == 1 and s["non_200"] == 1
    assert s["hit@1"] == 0.5 and s["evidence_cited"] == 0.5 and s["keyword_recall"] == 0.5
    assert s["false_refusal_rate"] == 0.5, "a failed answerable question is not an answer"
    assert s["latency_n"] == 1, "latency is measured on answered calls"
    una = item(answerable=False, kind="unanswerable", doc=None, page=None, evidence="", keywords=[])
    failed_una = metrics.score(una, None, 1.0, error="boom")
    assert metrics.summarize([failed_una])["refusal_recall"] == 0.0, "an error is not a refusal"
    assert metrics.row_quality(failed) < metrics.row_quality(row(ans=answer(passages=[OTHER], citations=[])))


def test_breakdown_by_language_and_kind():
    rows = [row(it=item(id="a", lang="fr")), row(it=item(id="b", lang="zh", kind="explain"), ans=answer(passages=[OTHER]))]
    by_lang = metrics.breakdown(rows, "lang")
    assert by_lang["fr"]["hit@1"] == 1.0 and by_lang["zh"]["hit@1"] == 0.0
    assert set(metrics.breakdown(rows, "kind")) == {"fact", "explain"}


# -- judge ---------------------------------------------------------------------------------
def test_judge_scores_faithfulness_and_relevancy_with_a_chat_model():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    replies = iter([AIMessage(content='{"claims": 4, "supported": 3}'), AIMessage(content='sure: {"relevancy": 0.9}')])
    judged = Judge(GenericFakeChatModel(messages=replies)).score(row())
    assert judged == {"faithfulness": 0.75, "answer_relevancy": 0.9}
    assert Judge(GenericFakeChatModel(messages=iter([]))).score(row(ans=answer(refused=True, citations=[]))) is None


# -- dataset validation and configs ----------------------------------------------------------
def test_dataset_validator_names_file_line_and_field(tmp_path):
    good = json.dumps(item(id="ok"))
    path = tmp_path / "set.jsonl"
    path.write_text(good + "\n\n" + json.dumps(item(id="two", kind="trivia")) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:3: field 'kind'"):
        load_dataset(path)
    path.write_text(good + "\n" + json.dumps({k: v for k, v in item(id="x").items() if k != "evidence"}) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: field 'evidence'"):
        load_dataset(path)
    path.write_text(good + "\n{not json\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: not valid JSON"):
        load_dataset(path)
    path.write_text(good + "\n" + good + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: field 'id': duplicate"):
        load_dataset(path)
    path.write_text(json.dumps(item(history=[{"role": "bot", "content": "x"}])) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:1: field 'history\[0\]'"):
        load_dataset(path)
    path.write_text(json.dumps(item(also=[{"doc": "copy.md", "page": 0, "evidence": EVIDENCE}])) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"set\.jsonl:1: field 'also': entry 0"):
        load_dataset(path)
    result = CliRunner().invoke(__import__("assistant.cli", fromlist=["app"]).app, ["eval", str(path)])
    assert result.exit_code == 2 and "set.jsonl:1" in result.output


def test_the_dev_set_validates():
    rows = load_dataset(ROOT / "eval" / "dev.jsonl")
    assert len(rows) > 100


@pytest.mark.parametrize("preset", sorted((ROOT / "configs").glob("*.json")), ids=lambda p: p.name)
def test_every_config_preset_validates_as_settings(preset):
    name, settings, overrides = load_config(preset)
    assert isinstance(settings, Settings) and name == preset.stem
    assert Settings(**json.loads(preset.read_text("utf-8"))) == settings


def test_the_expected_presets_exist():
    dense = load_config(ROOT / "configs" / "dense.json")[1]
    assert dense.retrieval.hybrid is False and not dense.retrieval.second_embedder
    assert load_config(ROOT / "configs" / "llm.json")[1].answerer == "llm"
    assert load_config(ROOT / "configs" / "hybrid.json")[1].retrieval.hybrid is True


# -- end to end ------------------------------------------------------------------------------
NOTES = {
    "iprcc.md": "# Cooperation with Africa\n\nIPRCC has organised training courses for officials from 40 African "
                "countries since 2005.\nThe courses cover rural development, microfinance and agricultural extension.\n\n"
                "# Shanghai\n\nMore than 100 case studies (out of 800 nominated cases) were presented at the Shanghai "
                "conference in 2004.\nThe Chinese partners wrote eight of the case studies with the World Bank.\n",
    "water.md": "# Water supply\n\nDeep wells brought clean drinking water to drought-stricken districts in the north.\n"
                "Village committees maintain the pumps and collect a small monthly fee from each household.\n"
                "Water-borne disease cases fell by half within two years of the new wells opening.\n",
}
QUESTIONS = [
    {"id": "shanghai-en", "lang": "en", "kind": "fact", "answerable": True, "doc": "iprcc.md", "page": 1,
     "question": "How many case studies were presented at the Shanghai conference in 2004?",
     "evidence": "More than 100 case studies (out of 800 nominated cases) were presented at the Shanghai conference in 2004.",
     "answer": "More than 100.", "keywords": ["100", "800"]},
    {"id": "wells-en", "lang": "en", "kind": "explain", "answerable": True, "doc": "water.md", "page": 1,
     "question": "Who maintains the pumps of the deep wells?",
     "evidence": "Village committees maintain the pumps and collect a small monthly fee from each household.",
     "answer": "Village committees.", "keywords": ["village committees", "nonexistent keyword"]},
    {"id": "africa-fr", "lang": "fr", "kind": "followup", "answerable": True, "doc": "iprcc.md", "page": 1,
     "question": "Et combien de pays africains ?",
     "history": [{"role": "user", "content": "What training courses has IPRCC organised for African officials?"}],
     "evidence": "IPRCC has organised training courses for officials from 40 African countries since 2005.",
     "answer": "40.", "keywords": ["40"]},
    {"id": "budget-en", "lang": "en", "kind": "unanswerable", "answerable": False, "doc": None, "page": None,
     "question": "What was the 2030 budget of the space programme?", "evidence": "", "answer": "", "keywords": []},
]


@pytest.fixture
def tiny(tmp_path):
    from assistant.pipeline import Assistant
    from assistant.retrieval import Retriever

    settings = index_notes(tmp_path / "notes", NOTES)
    assistant = Assistant(Retriever.load(settings, embedder=HashEmbedder()), None, settings,
                          calibration=ALWAYS_ANSWER)
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), "utf-8")
    return assistant, dataset


def _check_report(out: Path, result: dict) -> None:
    data = json.loads((out / "report.json").read_text("utf-8"))
    assert [r["id"] for r in data["rows"]] == [q["id"] for q in QUESTIONS]
    for r in data["rows"]:
        for key in ("lang", "kind", "answerable", "refused", "retrieval_rank", "citation_checks", "keywords_found",
                    "keywords_missing", "latency_ms", "error", "answer", "citations", "passages"):
            assert key in r
    by_id = {r["id"]: r for r in data["rows"]}
    assert by_id["shanghai-en"]["error"] is None and by_id["shanghai-en"]["retrieval_rank"] == 1
    assert by_id["shanghai-en"]["citation_checks"]["evidence_cited"]
    cc = by_id["shanghai-en"]["citation_checks"]
    assert cc["quotes_verbatim"] == cc["n_citations"] > 0, "real quotes are verbatim on their pages"
    assert "nonexistent keyword" in by_id["wells-en"]["keywords_missing"]
    assert by_id["budget-en"]["refused"] is False, "always-answer calibration: a missed refusal"
    assert data["summary"]["refusal_recall"] == 0.0 and data["summary"]["questions"] == 4
    assert set(data["by_language"]) == {"en", "fr"} and "unanswerable" in data["by_kind"]
    md = (out / "report.md").read_text("utf-8")
    for section in ("## Headline", "## By language", "## By kind", "## Worst ten questions", "## Plots",
                    "retrieval_by_language.png", "latency.png", "judge skipped"):
        assert section in md, section
    assert (out / "retrieval_by_language.png").stat().st_size > 1000
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert result["summary"] == data["summary"]


def test_end_to_end_in_process(tiny, tmp_path):
    assistant, dataset = tiny
    seen = []

    def progress(total, name):
        assert total == 4
        return seen.append

    out = tmp_path / "report"
    result = evaluate(dataset, report_dir=out, assistant=assistant, progress=progress, log=lambda m: None)
    assert len(seen) == 4
    _check_report(out, result)


def test_end_to_end_over_http(tiny, tmp_path):
    api = pytest.importorskip("assistant.api", reason="assistant/api.py is not there yet")
    if not hasattr(api, "create_app"):
        pytest.skip("assistant.api has no create_app yet")
    import uvicorn

    assistant, dataset = tiny
    settings = assistant.settings.model_copy(update={"api_key": SecretStr("sekrit")})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api.create_app(settings, assistant=assistant), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 15
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        url = f"http://127.0.0.1:{port}"
        out = tmp_path / "http-report"
        result = evaluate(dataset, url=url, api_key="sekrit", report_dir=out, log=lambda m: None)
        _check_report(out, result)
        assert all(r["status"] == 200 for r in result["rows"])
        # a wrong key: every question is an error row with its status, none dropped
        denied = evaluate(dataset, url=url, api_key="wrong", log=lambda m: None)
        assert [r["status"] for r in denied["rows"]] == [401] * 4
        assert denied["summary"]["errors"] == 4 and denied["summary"]["non_200"] == 4
        assert denied["summary"]["hit@5"] == 0.0
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_http_target_counts_connection_errors(tiny):
    _, dataset = tiny
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    result = evaluate(dataset, url=f"http://127.0.0.1:{port}", log=lambda m: None)
    assert result["summary"]["errors"] == 4 and all("ConnectError" in r["error"] for r in result["rows"])


def test_compare_runs_configs_side_by_side_and_skips_llm_without_backend(tiny, tmp_path, monkeypatch):
    from eval import harness

    assistant, dataset = tiny
    made = []

    class Fake(InProcessTarget):
        def __init__(self, settings=None, assistant_=None):
            made.append(settings)
            super().__init__(assistant=assistant)

    monkeypatch.setattr(harness, "InProcessTarget", Fake)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text('{"retrieval": {"hybrid": false, "second_embedder": null}}', "utf-8")
    b.write_text("{}", "utf-8")
    out = tmp_path / "cmp"
    result = evaluate(dataset, configs=[a, b, ROOT / "configs" / "llm.json"], report_dir=out, log=lambda m: None)
    names = [r["name"] for r in result["runs"]]
    assert names == ["a", "b", "llm"] and result["runs"][2]["skipped"]
    assert "no LLM backend" in result["runs"][2]["notes"][0]
    assert made[0].retrieval.hybrid is False and made[1].retrieval.hybrid is True
    md = (out / "report.md").read_text("utf-8")
    assert "b (Δ vs a)" in md and "skipped" in md
    with pytest.raises(DatasetError, match="in-process"):
        evaluate(dataset, url="http://x", configs=[a])


def test_cli_eval_runs_and_prints_a_summary(tiny, tmp_path, monkeypatch):
    from assistant import cli
    from eval import harness

    assistant, dataset = tiny
    monkeypatch.setattr(harness, "InProcessTarget", lambda settings=None, assistant_=None: InProcessTarget(assistant=assistant))
    result = CliRunner().invoke(cli.app, ["eval", str(dataset), "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "default: 4 questions, 0 errors" in result.output
    assert (tmp_path / "r" / "report.md").exists()
    bad = CliRunner().invoke(cli.app, ["eval", str(dataset), "extra.jsonl"])
    assert bad.exit_code == 2 and "unexpected argument" in bad.output


def test_cli_xquad_subcommand_calls_the_benchmark(tmp_path, monkeypatch):
    from assistant import cli
    from eval import xquad

    calls = {}

    def fake_run(data_dir, langs, out, log=print):
        calls.update(data=data_dir, langs=langs)
        results = {l: {"povqa": {"recall@1": 0.5, "recall@5": 0.9, "mrr": 0.6},
                       "bare_dense": {"recall@1": 0.4, "recall@5": 0.8, "mrr": 0.5}} for l in langs}
        return {"results": results, "summary": xquad._summary(results)}

    monkeypatch.setattr(xquad, "run", fake_run)
    result = CliRunner().invoke(cli.app, ["eval", "xquad", "--data", str(tmp_path), "--langs", "en", "es", "zh",
                                          "--report", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert calls == {"data": tmp_path, "langs": ["en", "es", "zh"]}
    assert "povqa hybrid" in (tmp_path / "x" / "xquad.md").read_text("utf-8")


def test_sentence_weight_study_counts_the_gold_sentence_where_the_weights_put_it():
    from eval.sentence_weights import hits_at

    # two features: similarity, lexical. Question 1: gold is the lexical match; question 2: gold is the most similar.
    table = [
        (np.array([[0.9, 0.0], [0.5, 1.0], [0.1, 0.0], [0.0, 0.0]]), np.array([False, True, False, False])),
        (np.array([[0.8, 0.0], [0.2, 0.5]]), np.array([True, False])),
        (np.zeros((0, 2)), np.zeros(0, dtype=bool)),  # no candidates: counted as a miss, not an error
    ]
    assert hits_at(table, np.array([1.0, 0.0])) == (1, 2)
    assert hits_at(table, np.array([1.0, 1.0])) == (2, 2)
    assert hits_at(table, np.array([0.0, -1.0])) == (1, 1)


def test_refusal_threshold_refuses_most_within_the_false_refusal_bound():
    from eval.calibrate import choose_threshold

    def point(recall, false):
        return {"refusal_recall": recall, "false_refusal_rate": false, "refusal_precision": 0.5, "refusal_f1": 0.5}

    curve = {"0.20": point(0.30, 0.02), "0.25": point(0.40, 0.04), "0.30": point(0.40, 0.05),
             "0.35": point(0.60, 0.09), "0.40": point(0.70, 0.15)}
    assert choose_threshold(curve) == "0.25", "best recall within 5 %, fewest false refusals among equals"
    assert choose_threshold(curve, max_false_refusals=0.10) == "0.35"
    assert choose_threshold({"0.2": point(0.5, 0.08), "0.3": point(0.6, 0.09)}) == "0.2", "none within: fewest"


def test_eval_commands_come_from_the_entry_point_not_an_import():
    """`povqa eval` / `povqa calibrate` are registered by eval.cli through the `povqa.commands` entry point
    (reinstall with `pip install -e .` if this fails: the entry point is in the installed metadata)."""
    from importlib.metadata import entry_points

    from assistant import cli

    points = {e.name: e.value for e in entry_points(group="povqa.commands")}
    assert points.get("eval") == "eval.cli:register"
    names = [c.name for c in cli.app.registered_commands]
    assert names.count("eval") == 1 and names.count("calibrate") == 1
    for command in ("eval", "calibrate"):
        result = CliRunner().invoke(cli.app, [command, "--help"])
        assert result.exit_code == 0 and "--index-dir" in result.output
