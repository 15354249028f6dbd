"""Reading a generation of the PostgreSQL store (indexer/pgstore.py): the file store's reader interface over a
local cache of the generation's arrays, with chunks, pages and documents read from the database."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from indexer.backend import StoreUnavailable
from indexer.format import DENSE_INDEX, FORMAT_VERSION, MANIFEST, META_DB, expected_files, expected_rows
from indexer.store import IndexDamaged, IndexMismatch, IndexNotFound, IndexReader, _open_array
from indexer.types import Chunk, Document

if TYPE_CHECKING:  # pragma: no cover
    from indexer.pgstore import PgStore

#: HNSW candidates per question (pgvector's hnsw.ef_search, at most 1000): the reader asks for refine x m rows.
EF_SEARCH_MAX = 1000


def schema_of(generation: int) -> str:
    return f"povqa_g{int(generation)}"


class PgVectorIndex:
    """The FAISS search call (`search(q, k)` -> distances, rows) answered by pgvector's HNSW index."""

    def __init__(self, store: PgStore, schema: str, ntotal: int, ef_factor: float = 1.0):
        self.store, self.schema, self.ntotal = store, schema, ntotal
        self.ef_factor = ef_factor  # hnsw.ef_search = ef_factor x k (pgvector returns at most ef_search rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        with self.store.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(min(EF_SEARCH_MAX, max(40, self.ef_factor * k)))}")
            for i, q in enumerate(np.asarray(queries, dtype=np.float32)):
                text = "[" + ",".join(map(repr, q.tolist())) + "]"
                found = conn.execute(f"SELECT row, dense <#> %s::vector FROM {self.schema}.chunks "
                                     "ORDER BY dense <#> %s::vector LIMIT %s", [text, text, k]).fetchall()
                for j, (row, distance) in enumerate(found):
                    rows[i, j], scores[i, j] = row, -distance
        return scores, rows


class PgReader(IndexReader):
    """Read access to one generation; the same interface (and retrieval code) as the file store's reader."""

    def __init__(self, store: PgStore, generation: int):
        self.store, self.generation_id = store, generation
        self.schema = schema_of(generation)
        self.lease = store.take_lease(generation)
        self._cache = Path(tempfile.mkdtemp(prefix=f"povqa-g{generation}-"))
        # the cache folder and the lease go when the reader does (a server drops a replaced reader unclosed)
        self._finalizers = [weakref.finalize(self, shutil.rmtree, str(self._cache), True),
                            weakref.finalize(self, store.release, self.lease)]
        self.path = self._cache
        with store.connection() as conn:
            found = conn.execute("SELECT manifest, ann FROM povqa.generations WHERE id = %s", [generation]).fetchone()
            if found is None:
                raise IndexNotFound(f"generation {generation} is gone from {store.label}")
            self.manifest, self.ann = found[0], found[1]
            self._check_format()
            self._download(conn)
            self._load_documents(conn)
        self._lock = threading.Lock()
        self.n_chunks = int(self.manifest["chunks"])
        self._arrays = {f.stem: _open_array(f) for f in sorted(self._cache.glob("*.npy"))}
        for name, rows in expected_rows(self.manifest).items():
            if name in self._arrays and len(self._arrays[name]) != rows:
                raise IndexDamaged(f"generation {generation} in {store.label} is damaged: {name}.npy has "
                                   f"{len(self._arrays[name])} rows, not {rows}; rebuild it with `povqa index`")
        self._faiss = (PgVectorIndex(store, self.schema, self.n_chunks) if self.ann == "hnsw"
                       else faiss.read_index(str(self._cache / DENSE_INDEX)))
        self._bm25 = None

    @property
    def location(self) -> Path:
        return Path(f"{self.store.label}#generation-{self.generation_id}")

    @property
    def generation(self) -> tuple[str, int]:
        return (self.store.label, self.generation_id)

    @property
    def exact_faiss(self) -> bool:
        return self.ann != "hnsw" and super().exact_faiss

    def _check_format(self) -> None:
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(f"the index in {self.store.label} has format {self.manifest.get('format_version')}, "
                                f"this povqa reads format {FORMAT_VERSION}: re-index with `povqa index`")

    def _download(self, conn) -> None:
        parts = conn.execute(f"SELECT name, part FROM {self.schema}.files ORDER BY name, part").fetchall()
        for name, part in parts:
            data = conn.execute(f"SELECT data FROM {self.schema}.files WHERE name = %s AND part = %s",
                                [name, part]).fetchone()[0]
            with open(self._cache / name, "ab") as handle:
                handle.write(data)
        (self._cache / MANIFEST).write_text(json.dumps(self.manifest, ensure_ascii=False), "utf-8")
        names = {name for name, _ in parts} | {MANIFEST}
        missing = [n for n in expected_files(self.manifest) if n not in names and n != META_DB]
        if missing:
            raise IndexDamaged(f"generation {self.generation_id} in {self.store.label} is incomplete: "
                               f"{', '.join(missing)} missing; rebuild it with `povqa index`")

    def _load_documents(self, conn) -> None:
        self.documents: dict[str, Document] = {}
        self.doc_rows: dict[str, tuple[int, int, int, int]] = {}
        for doc_id, data, r0, r1, s0, s1 in conn.execute(
                f"SELECT doc_id, data, row_start, row_end, sent_start, sent_end FROM {self.schema}.documents "
                "ORDER BY row_start"):
            self.documents[doc_id] = Document.model_validate_json(data)
            self.doc_rows[doc_id] = (r0, r1, s0, s1)

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        import psycopg

        try:
            with self.store.connection() as conn:
                return conn.execute(sql.format(s=self.schema), params).fetchall()
        except psycopg.errors.UndefinedTable as exc:  # dropped under us (our lease lapsed while the database was away)
            raise StoreUnavailable(f"generation {self.generation_id} was removed; the server loads the current "
                                   "one") from exc

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        found = dict(self._query("SELECT row, data FROM {s}.chunks WHERE row = ANY(%s)", [rows]))
        return [Chunk.model_validate_json(found[r]) for r in rows]

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        for row, data in self._query("SELECT row, data FROM {s}.chunks ORDER BY row", []):
            yield row, Chunk.model_validate_json(data)

    def page_text(self, doc_id: str, n: int) -> str | None:
        hit = self._query("SELECT text FROM {s}.pages WHERE doc_id = %s AND n = %s", [doc_id, n])
        return hit[0][0] if hit else None

    def pages(self, doc_id: str) -> list[str]:
        return [t for (t,) in self._query("SELECT text FROM {s}.pages WHERE doc_id = %s ORDER BY n", [doc_id])]

    def close(self) -> None:
        for array in self._arrays.values():
            array.close()
        for finalizer in self._finalizers:
            finalizer()
