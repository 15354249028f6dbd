"""Hybrid cross-lingual retrieval: two dense embedders, best-sentence scores and a gated BM25, fused.

The recipe and its measurements are in `assistant/scoring.py`. In short, for each
candidate chunk:

    score = z(e5 chunk cos + e5 best-sentence cos)
          + w_use(lang) * z(USE chunk cos + USE best-sentence cos)     # only languages USE knows
          + gated_bm25                                                  # only votes on a clear match

so a lexical side with no real match (a Chinese question against English text) can't
outvote the dense side. Small indexes score every chunk exactly; large ones score the
union of the dense and BM25 top candidates.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import scoring
from assistant.collections import collection_rows
from assistant.language_means import LANGUAGE_MEANS_FILE, LanguageMeans  # noqa: F401 (also imported from here)
from assistant.settings import Settings
from assistant.types import Chunk, Document, SearchResult
from indexer.backend import open_store
from indexer.blas import one_blas_thread
from indexer.embedders import Embedder, get_embedder
from indexer.format import (
    PRIMARY,
    PRIMARY_SENT,
    SECOND,
    SECOND_SENT,
    SENT_CHUNK,
    SPARSE_IDS,
    SPARSE_WEIGHTS,
    chunking_signature,
)
from indexer.lexicon import Lexicon
from indexer.store import IndexMismatch, IndexReader
from indexer.tokenize import anchor_tokens, tokenize
from languages.detect import detect_language

#: Sparse features kept per question (chunks keep indexer.format.SPARSE_K).
SPARSE_QUERY_K = 64


def dense_candidates(index, exact: bool, vectors: np.ndarray, vector: np.ndarray, m: int, refine: int) -> np.ndarray:
    """The m rows of `index` nearest `vector` by cosine, best first. From a compressed (IVF-PQ) index, take
    refine x m approximate neighbours and keep the m best by exact cosine against `vectors` (the
    memory-mapped float32 chunk vectors), so the quantisation error costs (almost) no recall."""
    q = np.asarray(vector, dtype=np.float32)[None, :]
    if exact:
        _, found = index.search(q, m)
        return found[0][found[0] >= 0]
    _, found = index.search(q, min(refine * m, index.ntotal))
    rows = np.sort(found[0][found[0] >= 0])  # sorted: the memory-mapped reads go forward through the file
    cosines = np.asarray(vectors[rows]) @ q[0]
    return rows[np.argsort(-cosines, kind="stable")[:m]]


@dataclass
class Hit:
    """One retrieved chunk with its fused score, the parts of that score and its sentence scores."""

    row: int
    chunk: Chunk
    document: Document
    score: float
    components: dict[str, float] = field(default_factory=dict)
    sentence_scores: np.ndarray | None = None  # fused dense score of each sentence, same order as chunk.sentences
    sentence_vectors: np.ndarray | None = None  # primary-embedder vectors of the sentences

    @property
    def best_sentence(self) -> int:
        return int(np.argmax(self.sentence_scores)) if self.sentence_scores is not None and len(self.sentence_scores) else 0

    @property
    def page(self) -> int:
        """The page of the sentence that matched best (a chunk can run across a page break)."""
        if self.chunk.sentence_pages:
            return self.chunk.sentence_pages[self.best_sentence]
        return self.chunk.page_start

    def result(self) -> SearchResult:
        return SearchResult(
            doc_id=self.chunk.doc_id,
            title=self.document.title,
            source=self.document.source,
            page=self.page,
            section=self.chunk.section,
            text=self.chunk.text,
            score=round(float(self.score), 4),
            chunk_id=self.chunk.chunk_id,
            location=self.document.location(self.page),
        )


@dataclass
class Query:
    """A question prepared for retrieval: its language and one vector per embedder."""

    text: str
    language: str
    vectors: dict[str, np.ndarray]
    bm25_text: str
    means: dict[str, np.ndarray] = field(default_factory=dict)  # language mean per vector set, if centring
    best_sentence_cosine: float | None = None  # raw (uncentred) primary cosine of the best sentence, set by search
    sparse: np.ndarray | None = None  # the question's sparse vector (all features, mostly zeros), if used
    #: The question's words in the corpus's words (`Retriever.translate`), added to a non-English BM25 query.
    translated: list[str] = field(default_factory=list)


class Retriever:
    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings, second: Embedder | None = None,
                 language_means: LanguageMeans | None = None):
        self.reader = reader
        self.language_means = language_means if language_means is not None else LanguageMeans.load()
        self.embedder = embedder
        self.second = second if second is not None and reader.has_array(SECOND) else None
        self.settings = settings
        self._bm25 = reader.bm25(tokenize)
        self.lexicon = Lexicon.from_index(reader, self._bm25.vocab, embedder) if settings.retrieval.lexicon else None
        sent_chunk = np.asarray(reader.array(SENT_CHUNK))
        # offsets[r] .. offsets[r+1]: the sentence rows of chunk row r
        self.sent_offsets = np.searchsorted(sent_chunk, np.arange(reader.n_chunks + 1)).astype(np.int64)
        self._lock = threading.Lock()
        self.allowed: np.ndarray | None = None  # the chunk rows it may return (`within`); None: all

    def within(self, collections: Sequence[str] | None) -> "Retriever":
        """This retriever searching only the documents of `collections` (None or empty: all of them)."""
        if not collections:
            return self
        restricted = copy.copy(self)
        restricted.allowed = collection_rows(self.reader, collections)
        return restricted

    @classmethod
    def load(cls, settings: Settings | None = None, embedder: Embedder | None = None,
             second: Embedder | None | bool = True, index_dir: Path | None = None,
             language_means: LanguageMeans | None = None) -> "Retriever":
        settings = settings or Settings()
        embedder = embedder or settings.get_embedder()
        reader = open_store(settings.store, Path(index_dir or settings.index_dir)).open_reader()
        reader.check_compatible(embedder.name, chunking_signature(settings.chunking))
        if second is True:
            built = reader.manifest.get("second_embedder")
            spec = settings.retrieval.second_embedder
            second = get_embedder(spec) if spec and built else None
            if second is not None and built["name"] != second.name:
                raise IndexMismatch(
                    f"the index was built with second embedder {built['name']!r}, but {second.name!r} is configured: "
                    "re-index with `povqa index`"
                )
        return cls(reader, embedder, settings, second or None, language_means)

    # -- queries -----------------------------------------------------------
    def prepare(self, question: str, context: str | None = None, language: str | None = None) -> Query:
        """Detect the language and embed the question (with `context`, e.g. the previous turn, prepended)."""
        return self.prepare_batch([question], [context], [language])[0]

    def prepare_batch(self, questions: Sequence[str], contexts: Sequence[str | None] | None = None,
                      languages: Sequence[str | None] | None = None) -> list[Query]:
        """`prepare` for many questions, embedding them in batches (benchmarks, evaluation)."""
        contexts = contexts or [None] * len(questions)
        languages = [lang or detect_language(q) for q, lang in zip(questions, languages or [None] * len(questions))]
        sparse_rows = [i for i, lang in enumerate(languages) if self.uses_sparse(lang)]
        # A question without a previous turn gets its dense and sparse vectors from one encoder pass.
        fused = [i for i in sparse_rows if not contexts[i]]
        rest = sorted(set(range(len(questions))) - set(fused))
        with_context = [i for i, c in enumerate(contexts) if c]  # never fused, so all of them are in `rest`
        primary = np.zeros((len(questions), self.embedder.dim), dtype=np.float32)
        sparse = {}
        if fused:
            vectors, ids, weights = self.embedder.embed_query_sparse([questions[i] for i in fused], SPARSE_QUERY_K)
            primary[fused] = vectors
            sparse.update(zip(fused, self._scatter(ids, weights)))
        if rest:
            raw = self.embedder.embed([questions[i] for i in rest] + [contexts[i] for i in with_context], "query")
            position = {row: j for j, row in enumerate(rest)}
            primary[rest] = self._with_context(raw, len(rest), [position[i] for i in with_context])
        sparse.update(self._sparse_queries(questions, contexts, [i for i in sparse_rows if contexts[i]]))
        wants_second = [self.second is not None and scoring.use_weight(lang) > 0 for lang in languages]
        second_rows = [i for i, w in enumerate(wants_second) if w]
        second = None
        if second_rows:
            ctx = [i for i in with_context if wants_second[i]]
            raw = self.second.embed([questions[i] for i in second_rows] + [contexts[i] for i in ctx], "query")
            local = {row: j for j, row in enumerate(second_rows)}
            second = self._with_context(raw, len(second_rows), [local[i] for i in ctx])
        queries = []
        for i, (question, language) in enumerate(zip(questions, languages)):
            vectors = {PRIMARY: primary[i]}
            if wants_second[i]:
                vectors[SECOND] = second[second_rows.index(i)]
            means = {}
            if language != "en":  # centring helps cross-lingual questions only (English is in the table for refusal)
                for name, embedder in ((PRIMARY, self.embedder), (SECOND, self.second)):
                    mean = self.language_means.get(embedder.name, language) if name in vectors else None
                    if mean is not None and self.reader.has_array(f"{name}_mean"):
                        means[name] = mean
            queries.append(Query(question, language, vectors, question, means, sparse=sparse.get(i)))
        return queries

    def translate(self, query: Query, question=None) -> Query:
        """Put a non-English question's words into the corpus's words with the index's lexicon, for BM25
        (`Query.translated`). `ask` does this; `search` does not, so it stays one encoder pass (each new
        question word costs one more short one, ~5 ms). `question`: the question's analysis
        (`assistant.question.Question`), which keeps the translation for the answerer."""
        if self.lexicon is not None and query.language != "en" and self.settings.retrieval.hybrid:
            if question is not None:
                query.translated = question.translated(self.lexicon)
            else:
                query.translated = self.lexicon.terms(query.bm25_text, query.language)
        return query

    def uses_sparse(self, language: str) -> bool:
        """Whether a question in `language` gets the sparse 'latent terms' signal (see RetrievalSettings.sparse)."""
        mode = self.settings.retrieval.sparse
        return (mode == "all" or (mode == "cross-lingual" and language != "en")) and self.reader.has_array(SPARSE_IDS)

    def _sparse_queries(self, questions: Sequence[str], contexts: Sequence[str | None],
                        rows: Sequence[int]) -> dict[int, np.ndarray]:
        """Sparse vectors of the questions in `rows` on their own; a follow-up's previous turn is appended to
        it, so "And Tanzania?" keeps the earlier question's features."""
        if not rows:
            return {}
        texts = [f"{questions[i]}\n{contexts[i]}" if contexts[i] else questions[i] for i in rows]
        return dict(zip(rows, self._scatter(*self.embedder.embed_sparse(texts, SPARSE_QUERY_K))))

    def _scatter(self, ids: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
        """Each row's (feature, weight) pairs as a full-width vector, mostly zeros."""
        width = int(self.reader.manifest["sparse"]["dim"])
        out = []
        for row_ids, row_weights in zip(ids, weights):
            vector = np.zeros(width, dtype=np.float32)
            np.add.at(vector, row_ids.astype(np.int64), row_weights.astype(np.float32))
            out.append(vector)
        return out

    @staticmethod
    def _with_context(vectors: np.ndarray, n: int, with_context: list[int], weight: float = 0.5) -> np.ndarray:
        """Rows 0..n-1 are questions, the rest their contexts: mix each context in at `weight` and renormalise.

        The follow-up's own words must dominate ("And what about Tanzania?" is about Tanzania),
        while the previous turn keeps it on topic (Tanzania *and IPRCC cooperation*).
        """
        out = vectors[:n].copy()
        for j, i in enumerate(with_context):
            mixed = out[i] + weight * vectors[n + j]
            out[i] = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        return out

    def reference_cosine(self, language: str) -> float | None:
        """Cosine of the language's mean question vector with the corpus mean: how high an unrelated
        question in that language typically scores here (cosines are compressed, and more so cross-lingually)."""
        mean = self.language_means.get(self.embedder.name, language)
        if mean is None or not self.reader.has_array(f"{PRIMARY}_mean"):
            return None
        return float(mean @ np.asarray(self.reader.array(f"{PRIMARY}_mean")) / max(float(np.linalg.norm(mean)), 1e-12))

    def search(self, question: str | Query, k: int | None = None, context: str | None = None) -> list[Hit]:
        query = question if isinstance(question, Query) else self.prepare(question, context)
        k = k or self.settings.retrieval.top_k
        if self.reader.n_chunks == 0 or (self.allowed is not None and not len(self.allowed)):
            return []
        bm25 = self._bm25_scores(query)  # over every chunk, once: it picks candidates and scores them
        rows = self._candidates(query, bm25)
        with one_blas_thread():
            scores, parts, sent_scores = self._score(query, rows, bm25[rows])
        order = np.argsort(-scores, kind="stable")[:k]
        return self._hits(rows, order, scores, parts, sent_scores)

    def _bm25_scores(self, query: Query) -> np.ndarray:
        if not self.settings.retrieval.hybrid:
            return np.zeros(self.reader.n_chunks, dtype=np.float32)
        if query.language == "en":
            terms = tokenize(query.bm25_text)
        else:  # tokens that survive translation (numbers, Latin-script names), and the words `translate` found
            terms = anchor_tokens(query.bm25_text) + query.translated
        return self._bm25.scores(" ".join(terms)) if terms else np.zeros(self.reader.n_chunks, dtype=np.float32)

    def _candidates(self, query: Query, bm25: np.ndarray) -> np.ndarray:
        n, allowed = self.reader.n_chunks, self.allowed
        if (n if allowed is None else len(allowed)) <= self.settings.retrieval.exact_limit:
            return np.arange(n) if allowed is None else allowed
        m = min(self.settings.retrieval.candidates, n)
        wide = m if allowed is None else min(n, m * -(-n // len(allowed)))  # keeps ~m rows of the collections
        dense_rows = self.dense_candidates(query.vectors[PRIMARY], wide)
        scores = bm25 if allowed is None else bm25[allowed]
        lexical = np.argpartition(-scores, m - 1)[:m] if scores.any() else np.zeros(0, dtype=np.int64)
        lexical = lexical if allowed is None else allowed[lexical]
        rows = np.union1d(dense_rows, lexical).astype(np.int64)
        return rows if allowed is None else np.intersect1d(rows, allowed)

    def dense_candidates(self, vector: np.ndarray, m: int) -> np.ndarray:
        """The m chunk rows nearest `vector` by primary cosine (see `dense_candidates`)."""
        return dense_candidates(self.reader.faiss_index, self.reader.exact_faiss, self.reader.array(PRIMARY), vector, m,
                                self.settings.retrieval.refine)

    def _sentence_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts, ends = self.sent_offsets[rows], self.sent_offsets[rows + 1]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # Each chunk's sentence rows starts[i]..ends[i]-1, laid end to end (a loop of np.arange took 10 ms at 10k).
        sent_rows = np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], lengths)
        return sent_rows, offsets

    def _dense(self, name: str, sent_name: str, query: Query, rows: np.ndarray, sent_rows: np.ndarray,
               offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = query.vectors[name].astype(np.float32)
        chunk_vectors = np.asarray(self.reader.array(name)[rows])
        sent_vectors = np.asarray(self.reader.array(sent_name)[sent_rows])
        if name == PRIMARY and len(sent_vectors):
            query.best_sentence_cosine = float((sent_vectors @ q).max())
        if name in query.means:  # centred cosines: (x @ q' - q' @ m) / |x - m|
            q = scoring.center(q[None, :], query.means[name])[0]
            offset = float(q @ np.asarray(self.reader.array(f"{name}_mean")))
            chunk = (chunk_vectors @ q - offset) / np.asarray(self.reader.array(f"{name}_cnorm")[rows])
            sent = (sent_vectors @ q - offset) / np.asarray(self.reader.array(f"{sent_name}_cnorm")[sent_rows])
        else:
            chunk = chunk_vectors @ q
            sent = sent_vectors @ q
        best = scoring.sentence_max(sent, offsets) if len(sent) else np.zeros_like(chunk)
        return chunk + scoring.SENTENCE_WEIGHT * best, sent

    def _score(self, query: Query, rows: np.ndarray, bm25: np.ndarray):
        sent_rows, offsets = self._sentence_rows(rows)
        # Chunks without sentences can't happen (the chunker drops empty text), but guard reduceat anyway.
        e5, e5_sent = self._dense(PRIMARY, PRIMARY_SENT, query, rows, sent_rows, offsets)
        parts = {"dense": e5}
        terms = [(1.0, e5)]
        sent_fused = scoring.zscore(e5_sent) if len(e5_sent) > 1 else e5_sent
        if SECOND in query.vectors:
            use, use_sent = self._dense(SECOND, SECOND_SENT, query, rows, sent_rows, offsets)
            w = scoring.use_weight(query.language)
            terms.append((w, use))
            parts["use"] = use
            if len(use_sent) > 1:
                sent_fused = sent_fused + w * scoring.zscore(use_sent)
        if query.sparse is not None:
            ids = np.asarray(self.reader.array(SPARSE_IDS)[rows])  # uint16: np.take needs no int64 copy
            weights = np.asarray(self.reader.array(SPARSE_WEIGHTS)[rows], dtype=np.float32)
            latent = np.einsum("ij,ij->i", np.take(query.sparse, ids), weights)
            terms.append((scoring.SPARSE_WEIGHT, latent))
            parts["sparse"] = latent
        fused = scoring.fuse(*terms) if len(rows) > 1 else e5.astype(np.float64)
        if bm25.any():
            gated = scoring.gated_bm25(bm25)
            fused = fused + scoring.BM25_WEIGHT * gated
            parts["bm25"] = bm25
            parts["bm25_gated"] = gated
        return fused, parts, (sent_fused, offsets, sent_rows)

    def _hits(self, rows, order, scores, parts, sent_scores) -> list[Hit]:
        sent_fused, offsets, sent_rows = sent_scores
        chosen = rows[order]
        chunks = self.reader.chunks(chosen)
        sent_vecs = self.reader.array(PRIMARY_SENT)
        hits = []
        for i, chunk in zip(order, chunks):
            a, b = offsets[i], offsets[i + 1]
            hits.append(
                Hit(
                    row=int(rows[i]),
                    chunk=chunk,
                    document=self.reader.documents[chunk.doc_id],
                    score=float(scores[i]),
                    components={name: round(float(v[i]), 4) for name, v in parts.items()},
                    sentence_scores=np.asarray(sent_fused[a:b], dtype=np.float64),
                    sentence_vectors=np.asarray(sent_vecs[sent_rows[a:b]]),
                )
            )
        return hits

    def search_many(self, questions: Sequence[str], k: int) -> list[list[Hit]]:
        return [self.search(q, k) for q in questions]
