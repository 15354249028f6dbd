"""Smoke runs of the benchmarks: tiny sizes, the fake embedder, a few seconds each."""

from __future__ import annotations

import json

import pytest

from assistant.settings import Settings
from conftest import SAMPLE_NOTES, HashEmbedder


def test_index_speed_smoke_writes_its_section(tmp_path):
    from bench import index_speed

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SAMPLE_NOTES.items():
        (corpus / name).write_text(text, "utf-8")
    results = tmp_path / "RESULTS.md"
    results.write_text("# header\n\n<!-- bench:other -->\nkeep me\n<!-- /bench:other -->\n", "utf-8")
    [out] = index_speed.run(corpus, results, embedder=HashEmbedder(), second=None)
    assert out["chunks"] > 0 and out["texts_embedded"] == out["chunks"] + out["sentences"] + out["lexicon_words"]
    assert out["ratio"] > 0 and out["peak_mb"] >= out["rss_before_mb"] > 0 and out["pages"] == 2
    text = results.read_text("utf-8")
    assert "keep me" in text and "## Indexing speed against the one-pass bound" in text and "pages/s" in text
    index_speed.run(corpus, results, embedder=HashEmbedder(), second=None)  # re-run replaces, not appends
    assert results.read_text("utf-8").count("## Indexing speed against the one-pass bound") == 1


def test_query_speed_smoke_switches_index_kind_and_reports_recall(tmp_path):
    from bench import query_speed

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SAMPLE_NOTES.items():
        (corpus / name).write_text(text, "utf-8")
    settings = Settings(index={"flat_limit": 500, "pq_limit": 1000})
    results = tmp_path / "RESULTS.md"
    out = query_speed.run([300, 1500], tmp_path / "work", every=16, results=results, in_process=True, dense_sizes=[2000],
                          pool_kwargs={"embedder": HashEmbedder(), "second": None, "corpus": corpus,
                                       "xquad": tmp_path / "no-xquad"},  # as in a clone without ../shared
                          log=lambda *_: None, settings=settings)
    small, large = out["results"]
    assert small["measure"]["chunks"] == 300 and small["compare"]["chosen"]["type"] == "flat"
    assert large["measure"]["chunks"] == 1500 and large["compare"]["chosen"]["type"] == "ivfpq"
    assert small["compare"]["chosen"]["recall@10"] == 1.0  # flat is exact
    assert 0.5 <= large["compare"]["chosen"]["recall@10"] <= 1.0
    others = {o["type"]: o for o in large["compare"]["others"]}
    assert set(others) == {"flat", "ivfflat"} and others["flat"]["recall@10"] == 1.0
    assert 0.5 <= others["ivfflat"]["recall@10"] <= 1.0
    assert large["measure"]["peak_mb"] > 0 and len(large["measure"]["rows"]) > 5
    (dense,) = out["dense"]
    assert dense["chunks"] == 2000 and dense["chosen"]["type"] == "ivfpq" and 0.5 <= dense["chosen"]["recall@10"] <= 1
    text = results.read_text("utf-8")
    assert "## Query latency" in text and "IVF" in text and "recall@10" in text and "1,500" in text
    assert "## Dense index alone" in text and "2,000" in text


def test_langchain_baseline_smoke(tmp_path):
    pytest.importorskip("langchain_community")
    from bench import langchain_baseline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SAMPLE_NOTES.items():
        (corpus / name).write_text(text, "utf-8")
    rows = [
        {"id": "pumps", "lang": "en", "question": "Who maintains the pumps?", "answerable": True, "doc": "water.md",
         "evidence": "Village committees maintain the pumps and collect a small monthly fee from each household.",
         "answer": "Village committees.", "keywords": ["committees"], "kind": "fact"},
        {"id": "pride", "lang": "en", "question": "Which Tanzanian NGO works with IPRCC on microfinance?",
         "answerable": True, "doc": "iprcc.md", "evidence": "IPRCC is studying a China-Tanzania microfinance "
         "centre with the Tanzanian NGO PRIDE.", "answer": "PRIDE.", "keywords": ["PRIDE"], "kind": "fact"},
    ]
    dataset = tmp_path / "dev.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows), "utf-8")
    results = tmp_path / "RESULTS.md"
    out = langchain_baseline.run(corpus, tmp_path / "work", results, embedder=HashEmbedder(), second=None,
                                 dataset=dataset, log=lambda *_: None)
    assert out["povqa"]["answerable"] == out["langchain"]["answerable"] == out["povqa_lean"]["answerable"] == 2
    assert 0.0 <= out["langchain"]["hit@5"] <= 1.0 and out["povqa"]["hit@5"] == out["povqa_lean"]["hit@5"] == 1.0
    text = results.read_text("utf-8")
    assert "LangChain baseline" in text and "| povqa (default settings) |" in text and "| povqa, lean" in text


def test_profile_retrieve_smoke_prints_where_the_time_goes(tmp_path):
    pytest.importorskip("pyinstrument")
    from bench import profile_retrieve
    from indexer.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SAMPLE_NOTES.items():
        (corpus / name).write_text(text, "utf-8")
    index_dir = tmp_path / "index"
    embedder = HashEmbedder()
    build_index([corpus], Settings(index_dir=index_dir).build_settings(), embedder=embedder, second_embedder=None,
                index_dir=index_dir)
    dataset = tmp_path / "dev.jsonl"
    dataset.write_text(json.dumps({"id": "pumps", "lang": "en", "question": "Who maintains the pumps?",
                                   "answerable": False, "kind": "fact"}), "utf-8")
    text = profile_retrieve.run(index_dir, lean=True, dataset=dataset, embedder=embedder)
    assert text.startswith("1 questions, lean settings") and "Retriever.search" in text
