"""BM25 over chunks as column-compressed postings of precomputed term weights (Okapi BM25, k1/b).

Saved as plain `.npy` arrays (no pickle) plus a JSON vocabulary, so loading never executes anything a
user handed us, and the postings are memory-mapped: a query reads only its own terms' postings, so a
million-chunk index does not hold its BM25 matrix in memory. Indexes written before this layout
(`bm25.npz`) still load.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

_ARRAYS = ("data", "indices", "indptr")


class BM25:
    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_docs: int,
                 vocab: dict[str, int], tokenize: Callable[[str], list[str]]):
        # Column j (term j) holds its chunks indices[indptr[j]:indptr[j+1]] with weights data[...] (CSC layout).
        self.data, self.indices, self.indptr = data, indices, indptr
        self._n_docs = int(n_docs)
        self.vocab = vocab
        self.tokenize = tokenize

    @property
    def n_docs(self) -> int:
        return self._n_docs

    @property
    def weights(self) -> sparse.csc_matrix:
        """The (n_chunks, n_terms) weight matrix (copied into memory)."""
        return sparse.csc_matrix((np.asarray(self.data), np.asarray(self.indices), np.asarray(self.indptr)),
                                 shape=(self.n_docs, len(self.vocab)))

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
        return cls.from_counts(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                               np.asarray(tfs, dtype=np.float32), np.asarray(lengths, dtype=np.float32),
                               vocab, tokenize, k1, b)

    @classmethod
    def from_counts(cls, rows: np.ndarray, cols: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
                    vocab: dict[str, int], tokenize: Callable[[str], list[str]], k1: float = 1.2,
                    b: float = 0.75) -> "BM25":
        """BM25 from (chunk row, term column, term frequency) triples, one per distinct term of a chunk, and
        each chunk's length in tokens (used by `build`, and by benchmarks that count tokens vectorised)."""
        n_docs = len(lengths)
        if n_docs == 0:
            return cls(np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(1, np.int64), 0, {}, tokenize)
        tf = np.asarray(tf, dtype=np.float32)
        lengths_a = np.asarray(lengths, dtype=np.float32)
        avg_len = max(float(lengths_a.mean()), 1.0)
        df = np.bincount(cols, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths_a[rows] / avg_len)
        data = idf[cols] * tf * (k1 + 1.0) / (tf + norm)
        w = sparse.csc_matrix((data.astype(np.float32), (rows, cols)), shape=(n_docs, len(vocab)))
        return cls(w.data.astype(np.float32), w.indices.astype(np.int32), w.indptr.astype(np.int64), n_docs,
                   vocab, tokenize)

    def query_terms(self, query: str) -> list[int]:
        return [self.vocab[t] for t in dict.fromkeys(self.tokenize(query)) if t in self.vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros where no term matches).

        Adds each term's postings in turn, in float32, as the sparse column sum did before."""
        cols = self.query_terms(query)
        out = np.zeros(self.n_docs, dtype=np.float32)
        for col in cols:
            a, b = int(self.indptr[col]), int(self.indptr[col + 1])
            out[np.asarray(self.indices[a:b])] += np.asarray(self.data[a:b])
        return out

    def save(self, directory: Path) -> None:
        for name in _ARRAYS:
            np.save(directory / f"bm25_{name}.npy", np.ascontiguousarray(getattr(self, name)), allow_pickle=False)
        terms = [""] * len(self.vocab)
        for term, col in self.vocab.items():
            terms[col] = term
        (directory / "bm25_vocab.json").write_text(
            json.dumps({"n_docs": self.n_docs, "terms": terms}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, tokenize: Callable[[str], list[str]]) -> "BM25":
        vocab_json = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        if (directory / "bm25.npz").exists():  # the layout before memory-mapped postings
            with np.load(directory / "bm25.npz", allow_pickle=False) as z:
                arrays = [z["data"], z["indices"], z["indptr"]]
                n_docs = int(z["shape"][0])
            terms: Sequence[str] = vocab_json
        else:
            arrays = [np.load(directory / f"bm25_{name}.npy", mmap_mode="r", allow_pickle=False) for name in _ARRAYS]
            n_docs, terms = vocab_json["n_docs"], vocab_json["terms"]
        return cls(*arrays, n_docs, {t: i for i, t in enumerate(terms)}, tokenize)
