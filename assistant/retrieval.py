"""Retrieval over an index: dense (FAISS) search, returning scored chunks with their documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.settings import Settings
from assistant.types import Chunk, Document, SearchResult
from indexer.build import index_signature
from indexer.embedders import Embedder
from indexer.store import IndexReader


@dataclass
class Hit:
    """One retrieved chunk with its score and the components that made it."""

    row: int
    chunk: Chunk
    document: Document
    score: float
    components: dict[str, float] = field(default_factory=dict)

    def result(self) -> SearchResult:
        return SearchResult(
            doc_id=self.chunk.doc_id,
            title=self.document.title,
            source=self.document.source,
            page=self.chunk.page_start,
            section=self.chunk.section,
            text=self.chunk.text,
            score=round(float(self.score), 4),
            chunk_id=self.chunk.chunk_id,
        )


class Retriever:
    def __init__(self, reader: IndexReader, embedder: Embedder, settings: Settings):
        self.reader = reader
        self.embedder = embedder
        self.settings = settings

    @classmethod
    def load(cls, settings: Settings | None = None, embedder: Embedder | None = None,
             index_dir: Path | None = None) -> "Retriever":
        settings = settings or Settings()
        embedder = embedder or settings.get_embedder()
        reader = IndexReader.open(Path(index_dir or settings.index_dir))
        signature = index_signature(settings, embedder, None)
        reader.check_compatible(embedder.name, signature["chunking"])
        return cls(reader, embedder, settings)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        k = k or self.settings.retrieval.top_k
        if self.reader.n_chunks == 0:
            return []
        qv = self.embedder.embed_query(query).astype(np.float32)[None, :]
        scores, rows = self.reader.faiss_index.search(qv, min(k, self.reader.n_chunks))
        pairs = [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
        return self._hits(pairs, {"dense": dict(pairs)})

    def _hits(self, pairs: list[tuple[int, float]], components: dict[str, dict[int, float]]) -> list[Hit]:
        chunks = self.reader.chunks([r for r, _ in pairs])
        return [
            Hit(row, chunk, self.reader.documents[chunk.doc_id], score,
                {name: round(values.get(row, 0.0), 4) for name, values in components.items()})
            for (row, score), chunk in zip(pairs, chunks)
        ]
