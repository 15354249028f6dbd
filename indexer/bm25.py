"""BM25 over chunks as a sparse matrix of precomputed term weights (Okapi BM25, k1/b).

Saved as plain arrays (`.npz` without pickle) plus a JSON vocabulary, so loading
never executes anything a user handed us.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse


class BM25:
    def __init__(self, weights: sparse.csc_matrix, vocab: dict[str, int], tokenize: Callable[[str], list[str]]):
        self.weights = weights  # (n_chunks, n_terms), csc for fast column access
        self.vocab = vocab
        self.tokenize = tokenize

    @property
    def n_docs(self) -> int:
        return self.weights.shape[0]

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        tokenize: Callable[[str], list[str]],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> "BM25":
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                col = vocab.setdefault(term, len(vocab))
                rows.append(row)
                cols.append(col)
                tfs.append(tf)
        n_docs = len(lengths)
        if n_docs == 0:
            return cls(sparse.csc_matrix((0, 0), dtype=np.float32), {}, tokenize)
        rows_a = np.asarray(rows, dtype=np.int64)
        cols_a = np.asarray(cols, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float32)
        lengths_a = np.asarray(lengths, dtype=np.float32)
        avg_len = max(float(lengths_a.mean()), 1.0)
        df = np.bincount(cols_a, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths_a[rows_a] / avg_len)
        data = idf[cols_a] * tf * (k1 + 1.0) / (tf + norm)
        weights = sparse.csc_matrix((data.astype(np.float32), (rows_a, cols_a)), shape=(n_docs, len(vocab)))
        return cls(weights, vocab, tokenize)

    def query_terms(self, query: str) -> list[int]:
        return [self.vocab[t] for t in dict.fromkeys(self.tokenize(query)) if t in self.vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros where no term matches)."""
        cols = self.query_terms(query)
        if not cols or self.n_docs == 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.weights[:, cols].sum(axis=1), dtype=np.float32).ravel()

    def save(self, directory: Path) -> None:
        w = self.weights.tocsc()
        np.savez(
            directory / "bm25.npz",
            data=w.data.astype(np.float32),
            indices=w.indices.astype(np.int32),
            indptr=w.indptr.astype(np.int64),
            shape=np.asarray(w.shape, dtype=np.int64),
        )
        terms = [""] * len(self.vocab)
        for term, col in self.vocab.items():
            terms[col] = term
        (directory / "bm25_vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, tokenize: Callable[[str], list[str]]) -> "BM25":
        with np.load(directory / "bm25.npz", allow_pickle=False) as z:
            shape = tuple(int(x) for x in z["shape"])
            weights = sparse.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
        terms: Sequence[str] = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        return cls(weights, {t: i for i, t in enumerate(terms)}, tokenize)
