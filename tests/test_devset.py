"""Checks on the evaluation dataset eval/dev.jsonl itself (fast, no models).

Every answerable row must cite a verbatim span of the cleaned page text that the indexer produces,
so these tests load each corpus document once (module-scoped cache) with indexer.loaders.load_document.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from indexer.loaders import load_document

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "eval" / "dev.jsonl"
CORPUS = ROOT / "docs_corpus"

LANGS = {"en", "zh", "fr", "es", "ar", "pt", "sw", "bn"}
KINDS = {"fact", "explain", "followup", "briefing", "unanswerable"}
DOCS = {
    "iprcc-case-study-2011.pdf",
    "notes/undp-caitec-summary-note-2021.md",
    "undp-integrated-sdg-insights-methodological-note.pdf",
    "undp-diagnostic-simulator-methodological-note.pdf",
}
FIELDS = {
    "id": str,
    "lang": str,
    "question": str,
    "answerable": bool,
    "doc": (str, type(None)),
    "page": (int, type(None)),
    "evidence": str,
    "answer": str,
    "keywords": list,
    "kind": str,
}
MIN_PER_LANG = 10
MIN_TOTAL = 110

# Script each non-Latin language's question must be written in; Latin-script questions must contain none of these.
SCRIPTS = {
    "zh": re.compile(r"[\u4e00-\u9fff]"),
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "bn": re.compile(r"[\u0980-\u09ff]"),
}
ANY_NON_LATIN = re.compile(r"[\u4e00-\u9fff\u0600-\u06ff\u0980-\u09ff]")


def _load_rows() -> list[dict]:
    rows = []
    with DEVSET.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"line {n}: blank line"
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:  # pragma: no cover - message only
                pytest.fail(f"line {n}: invalid JSON: {e}")
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _load_rows()


@pytest.fixture(scope="module")
def pages() -> dict[str, list[str]]:
    """Cleaned page texts of every corpus document, each loaded once."""
    return {name: list(load_document(CORPUS / name).pages) for name in sorted(DOCS)}


def _answerable(rows):
    return [r for r in rows if r["answerable"]]


def test_file_is_utf8_and_not_ascii_escaped():
    raw = DEVSET.read_bytes().decode("utf-8")
    assert "\\u" not in raw, "dataset should be written with ensure_ascii=False"


def test_fields_and_types(rows):
    assert len(rows) >= MIN_TOTAL, f"only {len(rows)} rows"
    for r in rows:
        expected = set(FIELDS) | ({"history"} if r.get("kind") == "followup" else set()) | ({"also"} & set(r))
        assert set(r) == expected, f"{r.get('id')}: fields {sorted(set(r) ^ expected)} wrong"
        for field, typ in FIELDS.items():
            assert isinstance(r[field], typ), f"{r['id']}: {field} has type {type(r[field]).__name__}"
        assert not isinstance(r["page"], bool), f"{r['id']}: page must be an int, not a bool"
        assert r["id"].strip() and r["question"].strip() and r["answer"].strip(), r["id"]
        assert all(isinstance(k, str) and k.strip() for k in r["keywords"]), r["id"]


def test_ids_unique_and_suffixed_by_lang(rows):
    ids = [r["id"] for r in rows]
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    for r in rows:
        assert r["id"].endswith("-" + r["lang"]), f"{r['id']}: id should end with -{r['lang']}"


def test_languages(rows):
    counts = Counter(r["lang"] for r in rows)
    assert set(counts) <= LANGS, f"unknown langs: {set(counts) - LANGS}"
    for lang in LANGS:
        assert counts[lang] >= MIN_PER_LANG, f"{lang}: only {counts[lang]} questions"


def test_question_written_in_its_language_script(rows):
    for r in rows:
        q = r["question"] + " ".join(t["content"] for t in r.get("history", []) if t["role"] == "user")
        if r["lang"] in SCRIPTS:
            assert SCRIPTS[r["lang"]].search(r["question"]), f"{r['id']}: question not in {r['lang']} script"
        else:
            assert not ANY_NON_LATIN.search(q), f"{r['id']}: Latin-script question contains CJK/Arabic/Bengali"


def test_same_question_in_several_languages(rows):
    langs_by_stem: dict[str, set[str]] = {}
    for r in rows:
        if r["kind"] in {"fact", "explain"}:
            stem = r["id"][: -len(r["lang"]) - 1]
            langs_by_stem.setdefault(stem, set()).add(r["lang"])
    multi = [s for s, ls in langs_by_stem.items() if len(ls) >= 3]
    assert len(multi) >= 15, f"only {len(multi)} facts asked in >= 3 languages"


def test_kind_counts(rows):
    counts = Counter(r["kind"] for r in rows)
    assert set(counts) <= KINDS, f"unknown kinds: {set(counts) - KINDS}"
    assert counts["fact"] + counts["explain"] >= 60
    assert counts["followup"] >= 10
    assert counts["briefing"] >= 8
    assert counts["unanswerable"] >= 25
    for kind in ("briefing", "unanswerable"):
        langs = {r["lang"] for r in rows if r["kind"] == kind}
        assert len(langs) >= 4, f"{kind} questions only in {sorted(langs)}"


def test_answerable_matches_kind(rows):
    for r in rows:
        assert r["answerable"] == (r["kind"] != "unanswerable"), f"{r['id']}: answerable/kind mismatch"


def test_all_documents_covered(rows):
    counts = Counter(r["doc"] for r in _answerable(rows))
    assert set(counts) == DOCS, f"docs covered: {sorted(counts)}"
    least_main = min(counts["iprcc-case-study-2011.pdf"], counts["notes/undp-caitec-summary-note-2021.md"])
    most_undp = max(
        counts["undp-integrated-sdg-insights-methodological-note.pdf"],
        counts["undp-diagnostic-simulator-methodological-note.pdf"],
    )
    assert least_main > most_undp, "IPRCC and the summary note should have the most questions"


def test_evidence_is_verbatim_from_cited_page(rows, pages):
    for r in _answerable(rows):
        assert r["doc"] in DOCS, f"{r['id']}: unknown doc {r['doc']}"
        doc_pages = pages[r["doc"]]
        assert 1 <= r["page"] <= len(doc_pages), f"{r['id']}: page {r['page']} out of range"
        words = len(r["evidence"].split())
        assert 8 <= words <= 40, f"{r['id']}: evidence has {words} words"
        assert r["evidence"] in doc_pages[r["page"] - 1], f"{r['id']}: evidence not on {r['doc']} p.{r['page']}"
        for loc in r.get("also", []):  # the same fact stated elsewhere: verbatim there too, and the same fact
            assert loc["evidence"] in pages[loc["doc"]][loc["page"] - 1], f"{r['id']}: 'also' evidence not on {loc['doc']} p.{loc['page']}"
            assert loc["evidence"] != r["evidence"] or loc["doc"] != r["doc"], f"{r['id']}: 'also' repeats the gold"
            if r["kind"] != "briefing":
                for k in r["keywords"]:
                    assert k.lower() in loc["evidence"].lower(), f"{r['id']}: keyword {k!r} not in its 'also' evidence"


def test_keywords_found_in_evidence(rows, pages):
    for r in _answerable(rows):
        kws = r["keywords"]
        if r["kind"] == "briefing":
            # A briefing covers several points of the page; its single evidence span is only representative,
            # so its keywords must appear on the cited page.
            assert len(kws) >= 3, f"{r['id']}: briefing needs >= 3 keywords"
            hay = pages[r["doc"]][r["page"] - 1].lower()
        else:
            assert 1 <= len(kws) <= 3, f"{r['id']}: needs 1-3 keywords"
            hay = r["evidence"].lower()
        for k in kws:
            assert k.lower() in hay, f"{r['id']}: keyword {k!r} not in evidence/page"


def test_unanswerable_rows_have_no_evidence(rows):
    for r in rows:
        if not r["answerable"]:
            assert r["doc"] is None and r["page"] is None, r["id"]
            assert r["evidence"] == "" and r["keywords"] == [], r["id"]


def test_followups_have_history(rows):
    for r in rows:
        if r["kind"] != "followup":
            assert "history" not in r, f"{r['id']}: only followups carry a history"
            continue
        h = r["history"]
        assert isinstance(h, list) and h, f"{r['id']}: empty history"
        for turn in h:
            assert set(turn) == {"role", "content"}, r["id"]
            assert turn["role"] in {"user", "assistant"} and turn["content"].strip(), r["id"]
        assert h[0]["role"] == "user" and h[-1]["role"] == "assistant", f"{r['id']}: history must go user ... assistant"
        assert all(a["role"] != b["role"] for a, b in zip(h, h[1:])), f"{r['id']}: roles must alternate"
        assert len(r["question"]) < 80, f"{r['id']}: a follow-up should be short and elliptic"


def test_required_items_present(rows):
    by_q = {r["question"]: r for r in rows if r["lang"] == "en"}
    shanghai = by_q.get("How many case studies were presented at the 2004 Shanghai learning process?")
    assert shanghai is not None, "missing the Shanghai case-study question"
    assert "More than 100 case studies (out of 800 nominated cases)" in shanghai["evidence"]
    tanzania = [r for r in rows if r["kind"] == "followup" and r["question"] == "And what about Tanzania?"]
    assert tanzania, "missing the 'And what about Tanzania?' follow-up"
    for r in tanzania:
        assert "Tanzania" in r["evidence"], f"{r['id']}: evidence should be the Tanzania passage"
        assert "Tanzania" not in " ".join(t["content"] for t in r["history"]), "history should not mention Tanzania"


HOLDOUT = DEVSET.with_name("holdout.jsonl")


def test_the_held_out_set_validates_and_quotes_the_corpus(pages):
    """eval/holdout.jsonl: questions written after the rules and weights were fixed on the dev set, to check
    them on questions they were not designed on. Same format; every evidence verbatim on its page."""
    from eval.harness import load_dataset

    rows = load_dataset(HOLDOUT)
    dev_questions = {r["question"] for r in _load_rows()}
    assert len(rows) >= 20 and not dev_questions & {r["question"] for r in rows}
    assert {r["lang"] for r in rows} >= LANGS - {"en"} and sum(not r["answerable"] for r in rows) >= 8
    for r in _answerable(rows):
        for loc in [r, *r.get("also", [])]:
            assert loc["evidence"] in pages[loc["doc"]][loc["page"] - 1], f"{r['id']}: evidence not on {loc['doc']} p.{loc['page']}"
