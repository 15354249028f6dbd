"""Score-fusion variants measured by bench/xquad_research.py and not used by povqa's retrieval.

Moved out of `assistant/scoring.py` (issue 16): the product keeps the pieces retrieval calls
(`zscore`, `center`, `sentence_max`, `gated_bm25`, `use_weight`, `fuse`); the research bench also
needs the whole-recipe helpers below and the variants the recipe rejected (see the measurements in
`assistant/scoring.py`'s docstring).
"""

from __future__ import annotations

import numpy as np

from assistant.scoring import (
    BM25_WEIGHT,
    SENTENCE_WEIGHT,
    USE_WEIGHT,
    center,
    fuse,
    gated_bm25,
    sentence_max,
    use_weight,
)

__all__ = ["rank_normalise", "sentence_topk_mean", "dense_score", "score_candidates"]


def rank_normalise(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Map each row of scores to (0, 1] by rank (best = 1).  (Measured: worse than zscore.)"""
    s = np.asarray(scores, dtype=np.float64)
    ranks = np.argsort(np.argsort(s, axis=axis), axis=axis).astype(np.float64)
    return (ranks + 1.0) / s.shape[axis]


def sentence_topk_mean(sent_scores: np.ndarray, offsets: np.ndarray, k: int = 2) -> np.ndarray:
    """Mean of the k best sentence scores per chunk (measured: worse than `sentence_max`)."""
    s = np.asarray(sent_scores)
    out = np.empty(s.shape[:-1] + (len(offsets) - 1,), dtype=np.float64)
    for c in range(len(offsets) - 1):
        block = s[..., offsets[c] : offsets[c + 1]]
        kk = min(k, block.shape[-1])
        out[..., c] = np.sort(block, axis=-1)[..., -kk:].mean(axis=-1)
    return out


def dense_score(
    query_vec: np.ndarray,
    chunk_vecs: np.ndarray,
    sent_vecs: np.ndarray,
    sent_offsets: np.ndarray,
    query_mean: np.ndarray | None = None,
    corpus_mean: np.ndarray | None = None,
    sentence_weight: float = SENTENCE_WEIGHT,
) -> np.ndarray:
    """One embedder's score of every candidate chunk for one query (or a batch of queries).

    cos(q', c') + sentence_weight * max over the chunk's sentences cos(q', s'), where ' means
    centred by `query_mean` (the question language's mean vector) / `corpus_mean` and
    renormalised; pass both means as None for an English question (no centring).
    `chunk_vecs` (n_chunks, d) and `sent_vecs` (n_sentences, d) are the stored normalised
    vectors of the candidates; `sent_offsets` (n_chunks + 1,) delimit each chunk's sentences.
    """
    q = center(np.atleast_2d(query_vec), query_mean)
    c = center(chunk_vecs, corpus_mean)
    s = center(sent_vecs, corpus_mean)
    out = (q @ c.T).astype(np.float64)
    if sentence_weight:
        out += sentence_weight * sentence_max(q @ s.T, sent_offsets)
    return out[0] if np.ndim(query_vec) == 1 else out


def score_candidates(
    e5_dense: np.ndarray,
    use_dense: np.ndarray | None = None,
    bm25: np.ndarray | None = None,
    language: str | None = None,
    use_w: float = USE_WEIGHT,
    bm25_w: float = BM25_WEIGHT,
) -> np.ndarray:
    """Final score of each candidate chunk (higher is better) for one query or a batch.

    `e5_dense` / `use_dense`: `dense_score` outputs over the same candidates (USE may be None);
    `bm25`: raw BM25 of the candidates (query = all tokens for English, `anchor_tokens`
    otherwise) or None.  Returns zscore(e5) + use_weight(language) * zscore(use) + bm25_w * gated_bm25.
    """
    w_use = use_weight(language, use_w) if use_dense is not None else 0.0
    out = fuse((1.0, e5_dense), (w_use, use_dense))
    if bm25 is not None and bm25_w:
        out = out + bm25_w * gated_bm25(bm25)
    return out
