"""The large-index machinery: automatic flat / IVF-PQ choice, exact re-scoring, memory-mapped BM25."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import sparse

from assistant.settings import Settings
from conftest import IPRCC_NOTE, WATER_NOTE, HashEmbedder, index_notes
from indexer import store
from indexer.bm25 import BM25
from indexer.config import IndexSettings
from indexer.dense_index import choose_kind, make_faiss_index
from indexer.tokenize import tokenize


def _clustered(n: int, dim: int = 64, centres: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_index_kind_follows_size_flat_then_ivfflat_then_ivfpq():
    assert choose_kind(20_000) == "flat" and choose_kind(100_000) == "ivfflat"
    assert choose_kind(1_000_000) == "ivfpq"
    assert choose_kind(1_000_000, dim=33) == "ivfflat"  # PQ needs a dimension divisible by its 4-d codes
    x = _clustered(800, dim=32)
    index, info = make_faiss_index(x, settings=IndexSettings(flat_limit=500, pq_limit=1000))
    assert info["type"] == "ivfflat" and index.ntotal == 800
    with pytest.raises(ValueError, match="hnsw.*flat, ivfflat, ivfpq"):
        make_faiss_index(x, "hnsw")


def test_faiss_index_kinds_find_the_exact_neighbours():
    from assistant.retrieval import dense_candidates

    x = _clustered(1200, dim=32)
    queries = _clustered(30, dim=32, seed=1)
    exact = [set(np.argsort(-(x @ q))[:10].tolist()) for q in queries]
    flat, info = make_faiss_index(x, "flat")
    assert info == {"type": "flat"} and flat.ntotal == 1200
    for kind in ("ivfflat", "ivfpq"):
        index, info = make_faiss_index(x, kind)
        assert info["type"] == kind and info["nprobe"] <= info["nlist"] and index.ntotal == 1200
        got = [set(dense_candidates(index, kind == "ivfflat", x, q, 50, refine=10)[:10].tolist()) for q in queries]
        recall = np.mean([len(a & b) / 10 for a, b in zip(exact, got)])
        assert recall >= 0.9, kind
    ivf, info = make_faiss_index(x, "ivfpq")
    assert info["pq_bytes"] == 8
    # re-scored candidates come back best first, by exact cosine
    rows = dense_candidates(ivf, False, x, queries[0], 20, refine=10)
    assert np.all(np.diff(x[rows] @ queries[0]) <= 1e-6)


def test_bm25_postings_score_like_the_sparse_matrix_and_load_memory_mapped(tmp_path):
    texts = ["deep wells and clean water", "water committees collect fees", "IPRCC training in Africa", "wells"]
    bm = BM25.build(texts, tokenize)
    old = np.asarray(bm.weights[:, bm.query_terms("water wells")].sum(axis=1), dtype=np.float32).ravel()
    assert np.array_equal(bm.scores("water wells"), old) and old[0] > 0 and old[2] == 0
    bm.save(tmp_path)
    loaded = BM25.load(tmp_path, tokenize)
    assert isinstance(loaded.data, np.memmap)
    assert np.array_equal(loaded.scores("water wells"), old)
    # the layout written before (one .npz) still loads
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    w = bm.weights
    np.savez(legacy / "bm25.npz", data=w.data, indices=w.indices, indptr=w.indptr, shape=np.asarray(w.shape))
    terms = sorted(bm.vocab, key=bm.vocab.get)
    (legacy / "bm25_vocab.json").write_text(json.dumps(terms), "utf-8")
    assert np.array_equal(BM25.load(legacy, tokenize).scores("water wells"), old)
    assert isinstance(BM25.load(legacy, tokenize).weights, sparse.csc_matrix)


@pytest.mark.parametrize("kind", ["ivfflat", "ivfpq"])
def test_inverted_file_candidate_path_finds_what_exact_scoring_finds(tmp_path, kind):
    from assistant import retrieval

    notes = {f"n{i}.md": f"{IPRCC_NOTE}\n{WATER_NOTE}\nDistrict {i} reported {i * 7} wells." for i in range(150)}
    settings = Settings(index={"flat_limit": 10, "pq_limit": 10 if kind == "ivfpq" else 10**9})
    index_notes(tmp_path / "notes", notes, settings)
    retriever = retrieval.Retriever.load(settings, embedder=HashEmbedder())
    assert retriever.reader.n_chunks >= 256
    assert retriever.reader.manifest["faiss"]["type"] == kind and retriever.reader.exact_faiss == (kind == "ivfflat")
    questions = ["Who maintains the pumps?", "Tanzania microfinance centre with PRIDE", "District 77 wells"]
    exact = [retriever.search(q, 3)[0].chunk.text for q in questions]
    # as if the index were too big to score every chunk
    retriever.settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"exact_limit": 0, "candidates": 20})})
    assert [retriever.search(q, 3)[0].chunk.text for q in questions] == exact


@pytest.mark.parametrize("resident", [False, True], ids=["preadv", "in-memory"])
def test_row_file_reads_rows_like_the_memory_map(tmp_path, resident):
    x = np.arange(200 * 6, dtype=np.float32).reshape(200, 6)
    np.save(tmp_path / "a.npy", x)
    rows = store.RowFile(tmp_path / "a.npy", resident_bytes=1 << 20 if resident else 0)  # small arrays: in memory
    assert (rows._resident is not None) == resident
    assert rows.shape == (200, 6) and len(rows) == 200
    for idx in ([3, 4, 5, 9], np.array([7, 2, 2, 199, -1]), np.array([], dtype=np.int64), np.array([10])):
        assert np.array_equal(rows[idx], x[idx])
    assert np.array_equal(rows[5:9], x[5:9]) and np.array_equal(np.asarray(rows), x)
    assert np.array_equal(rows[np.arange(200)], x)  # a large selection goes through the memory map
    for run in (np.arange(20, 60), np.arange(190, 200), [0]):  # one run of rows: a view of it, no copy
        assert np.array_equal(rows[run], x[run])
    with np.testing.assert_raises(IndexError):
        rows[np.array([3, 200])]
    rows.close()


def test_a_dropped_row_file_closes_its_descriptor(tmp_path):
    import gc
    import os

    from indexer.store import RowFile

    path = tmp_path / "a.npy"
    np.save(path, np.arange(12, dtype=np.float32).reshape(4, 3), allow_pickle=False)
    before = len(os.listdir("/proc/self/fd"))
    rows = [RowFile(path) for _ in range(20)]
    assert len(os.listdir("/proc/self/fd")) >= before + 20
    assert np.array_equal(rows[0][np.array([2])], [[6.0, 7.0, 8.0]])
    del rows
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before
