"""The XQuAD answering scorer and the frozen split of our question set (no model, no XQuAD files)."""

from __future__ import annotations

import json

from eval.calibrate import stem
from eval.split import SOURCES, TEST, TEST_IDS, TUNING, split
from eval.xquad_answer import Case, left_out_paragraphs, markdown_table, score_answer, summarise

GOLD = Case(index=0, lang="de", question="Wie viele Punkte?", paragraph=7, answers=["308 points"], answerable=True,
            article=1)
UNANSWERABLE = Case(index=1, lang="de", question="Wer?", paragraph=9, answers=["Paris"], answerable=False, article=2)


def _answer(refused=False, quote="The defense gave up only 308\n Points all season.", source="/x/corpus/p007.txt",
            passages=("p001", "p007")):
    return {"refused": refused, "citations": [] if refused else [{"source": source, "quote": quote}],
            "passages": [{"source": f"/x/corpus/{p}.txt"} for p in passages]}


def test_a_quote_holding_the_gold_span_counts_across_case_and_whitespace():
    row = score_answer(GOLD, _answer())
    assert row["cited"] and row["top5"] and not row["refused"]


def test_the_scorer_fails_a_wrong_quote_a_wrong_paragraph_a_refusal_and_a_missing_passage():
    assert not score_answer(GOLD, _answer(quote="The defense gave up 309 points."))["cited"]
    assert not score_answer(GOLD, _answer(source="/x/corpus/p008.txt"))["cited"]  # the span, but another paragraph
    refused = score_answer(GOLD, _answer(refused=True))
    assert refused["refused"] and not refused["cited"]
    assert not score_answer(GOLD, _answer(passages=("p001", "p002", "p003", "p004", "p005", "p007")))["top5"]


def test_summary_shares_per_kind():
    rows = [score_answer(GOLD, _answer()), score_answer(GOLD, _answer(refused=True)),
            score_answer(GOLD, _answer(quote="nothing")), score_answer(UNANSWERABLE, _answer(refused=True)),
            score_answer(UNANSWERABLE, _answer())]
    s = summarise(rows)
    assert s["cited"] == 0.5  # of the two answered answerable questions, one cites the span
    assert abs(s["cited_all"] - 1 / 3) < 1e-9
    assert abs(s["answerable_refused"] - 1 / 3) < 1e-9
    assert s["unanswerable_refused"] == 0.5
    assert "| answerable questions refused | 0.33 |" in markdown_table({"de": s})


def test_the_left_out_fifth_is_fixed():
    assert left_out_paragraphs(240) == left_out_paragraphs(240)
    assert len(left_out_paragraphs(240)) == 48


def test_the_committed_parts_are_the_seeded_split_and_keep_translations_together():
    tuning, test = split(SOURCES)
    read = lambda path: [json.loads(line)["id"] for line in path.read_text("utf-8").splitlines() if line.strip()]
    assert read(TUNING) == [r["id"] for r in tuning] and read(TEST) == [r["id"] for r in test]
    assert TEST_IDS.read_text("utf-8").split() == [r["id"] for r in test]
    assert not {stem(r["id"]) for r in tuning} & {stem(r["id"]) for r in test}
    assert 0.3 < len(test) / (len(test) + len(tuning)) < 0.5
