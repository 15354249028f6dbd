"""The index in PostgreSQL + pgvector (POVQA_STORE=postgresql://...), shared by several povqa servers.

Layout: a schema `povqa` with the generations, the pointer to the current one, and the readers' leases; and one
schema per generation, `povqa_g<id>`, holding everything a reader needs:

    documents (doc_id, source, data JSON, row/sentence ranges, collection)   the documents list
    chunks    (row, chunk_id, doc_id, data JSON: text, sentence spans, pages; dense vector(dim))
    pages     (doc_id, n, text)                                              the pages' text, for citations
    files     (name, part, data bytea)    every array of the format (indexer/format.py) as its .npy bytes, in
              parts: both embedders' chunk and sentence vectors, centring statistics, the sparse latent terms,
              the BM25 postings and vocabulary, the lexicon, dense.faiss

A build writes its generation in ONE transaction (the writer fills a local build folder exactly as the file
store's does, then copies it in), ending with `UPDATE povqa.state SET current = <id>`: a build killed at any
point leaves nothing behind but a rolled-back transaction, and the previous generation serving. A reader takes a
lease on its generation (renewed every HEARTBEAT_S; it lapses LEASE_S after a server dies); a generation that is
not current and that no live lease holds is dropped (`DROP SCHEMA ... CASCADE`) after each build.

A reader copies the generation's arrays into a private local cache folder (memory-mapped, as the file store
reads them: the same retrieval code, the same rankings) and reads chunks, pages and documents from the database
through a connection pool. From ANN_MIN_CHUNKS chunks a generation also gets an HNSW index on chunks.dense and
the reader asks pgvector for its dense candidates (re-scored exactly, like FAISS's compressed kinds).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import struct
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.backend import Store, StoreUnavailable
from indexer.format import DENSE_INDEX, FORMAT_VERSION, MANIFEST, META_DB, PRIMARY, expected_files, expected_rows
from indexer.store import IndexBusy, IndexDamaged, IndexMismatch, IndexNotFound, IndexReader, IndexWriter, _open_array
from indexer.types import Chunk, Document

log = logging.getLogger(__name__)

#: From this many chunks a generation gets an HNSW index and readers search it; below, FAISS over the arrays (the
#: same index the file store writes). bench/pg_store.py measured it (bench/RESULTS.md).
ANN_MIN_CHUNKS = 50_000
#: HNSW candidates per question (pgvector's hnsw.ef_search, at most 1000): the reader asks for refine x m rows.
EF_SEARCH_MAX = 1000
PART_BYTES = 32 << 20  # a bytea value per 32 MB of an array file
LEASE_S = 120
HEARTBEAT_S = 30
LOCK_KEY = 0x706F7671  # 'povq': the advisory lock of builds (and of creating the schema)
CONNECT_TIMEOUT_S = 5

SCHEMA_DDL = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS povqa;
CREATE TABLE IF NOT EXISTS povqa.generations (
    id bigserial PRIMARY KEY, created timestamptz NOT NULL DEFAULT now(), manifest jsonb NOT NULL,
    ann text NOT NULL DEFAULT 'faiss');
CREATE TABLE IF NOT EXISTS povqa.state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), current bigint REFERENCES povqa.generations (id));
INSERT INTO povqa.state (one) VALUES (true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS povqa.leases (
    reader uuid PRIMARY KEY, generation bigint NOT NULL, until timestamptz NOT NULL);
"""

GENERATION_DDL = """
CREATE SCHEMA {s};
CREATE TABLE {s}.documents (doc_id text PRIMARY KEY, source text NOT NULL, data text NOT NULL,
    row_start int NOT NULL, row_end int NOT NULL, sent_start int NOT NULL, sent_end int NOT NULL,
    collection text NOT NULL DEFAULT '');
CREATE TABLE {s}.chunks (row int PRIMARY KEY, chunk_id text NOT NULL, doc_id text NOT NULL, data text NOT NULL,
    dense vector({dim}) NOT NULL);
CREATE TABLE {s}.pages (doc_id text NOT NULL, n int NOT NULL, text text NOT NULL, PRIMARY KEY (doc_id, n));
CREATE TABLE {s}.files (name text NOT NULL, part int NOT NULL, data bytea NOT NULL, PRIMARY KEY (name, part));
"""


def schema_of(generation: int) -> str:
    return f"povqa_g{int(generation)}"


def redact(url: str) -> str:
    """The URL without its password, for messages and labels."""
    return re.sub(r"(://[^:/@?]*):[^@/?]*@", r"\1:***@", url)


def _vector_dumper(conn):
    """A binary COPY dumper of numpy rows into pgvector's `vector` (its send format: dim, 0, big-endian floats)."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise StoreUnavailable("the database has no pgvector extension: run `CREATE EXTENSION vector` as its owner")
    info.register(conn)

    class VectorDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj):
            row = np.asarray(obj, dtype=">f4")
            return struct.pack(">HH", len(row), 0) + row.tobytes()

    conn.adapters.register_dumper(np.ndarray, VectorDumper)


class PgStore(Store):
    """An index in a PostgreSQL database with pgvector; one per database per process (`backend.open_store`)."""

    def __init__(self, url: str, pool_size: int = 8):
        import psycopg_pool

        self.url = url
        self.label = redact(url)
        self._ready = False
        self._leases: dict[uuid.UUID, int] = {}
        self._leases_lock = threading.Lock()
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=CONNECT_TIMEOUT_S, open=False, name="povqa",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            check=psycopg_pool.ConnectionPool.check_connection)
        self.pool.open(wait=False)
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew_leases, name="povqa-leases", daemon=True)
        self._heartbeat.start()

    # -- connections -----------------------------------------------------------------------------------
    @contextmanager
    def connection(self):
        """A pooled connection (autocommit); a database that cannot be reached raises StoreUnavailable."""
        import psycopg
        import psycopg_pool

        try:
            with self.pool.connection() as conn:
                if not self._ready:
                    self._create_schema(conn)
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise StoreUnavailable(f"the index database at {self.label} cannot be reached ({exc}); retry shortly") from exc

    @contextmanager
    def dedicated(self):
        """A connection of its own (a build's long transaction, the build lock), not from the pool."""
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the index database at {self.label} cannot be reached ({exc})") from exc
        with conn:
            if not self._ready:
                self._create_schema(conn)
            yield conn

    def _create_schema(self, conn) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY + 1])
            conn.execute(SCHEMA_DDL)
        self._ready = True

    # -- Store -------------------------------------------------------------------------------------------
    def current(self) -> tuple[str, int] | None:
        with self.connection() as conn:
            row = conn.execute("SELECT current FROM povqa.state").fetchone()
        return (self.label, int(row[0])) if row and row[0] is not None else None

    def open_reader(self) -> "PgReader":
        import psycopg

        for attempt in range(3):  # the generation read may be dropped by a build between the two statements
            token = self.current()
            if token is None:
                raise IndexNotFound(f"no index in the database {self.label}: run `povqa index` with this POVQA_STORE")
            try:
                return PgReader(self, token[1])
            except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName, IndexNotFound):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def writer(self) -> "PgWriter":
        return PgWriter(self)

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        with self.dedicated() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]:
                raise IndexBusy(f"another `povqa index` is writing the index in {self.label}; wait for it to finish")
            yield  # the lock goes with the connection

    def remove_stale(self) -> None:
        """Drop every generation that is not current and that no live lease holds."""
        with self.connection() as conn:
            conn.execute("DELETE FROM povqa.leases WHERE until < now()")
            stale = [g for (g,) in conn.execute(
                "SELECT g.id FROM povqa.generations g, povqa.state s WHERE g.id IS DISTINCT FROM s.current "
                "AND NOT EXISTS (SELECT 1 FROM povqa.leases l WHERE l.generation = g.id)")]
            for generation in stale:
                with conn.transaction():
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema_of(generation)} CASCADE")
                    conn.execute("DELETE FROM povqa.generations WHERE id = %s", [generation])
                log.info("dropped generation %d of %s", generation, self.label)

    # -- leases ------------------------------------------------------------------------------------------
    def take_lease(self, generation: int) -> uuid.UUID:
        lease = uuid.uuid4()
        with self.connection() as conn:
            conn.execute("INSERT INTO povqa.leases VALUES (%s, %s, now() + make_interval(secs => %s))",
                         [lease, generation, LEASE_S])
        with self._leases_lock:
            self._leases[lease] = generation
        return lease

    def release(self, lease: uuid.UUID) -> None:
        with self._leases_lock:
            self._leases.pop(lease, None)
        try:
            with self.connection() as conn:
                conn.execute("DELETE FROM povqa.leases WHERE reader = %s", [lease])
        except Exception:  # the lease lapses by itself
            pass

    def close(self) -> None:
        """Stop renewing leases and close the pool (tests; a server keeps its store for its lifetime)."""
        self._stop.set()
        self.pool.close()

    def _renew_leases(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._leases_lock:
                leases = list(self._leases.items())
            if not leases:
                continue
            try:
                with self.connection() as conn:
                    for lease, generation in leases:
                        conn.execute("INSERT INTO povqa.leases VALUES (%s, %s, now() + make_interval(secs => %s)) "
                                     "ON CONFLICT (reader) DO UPDATE SET until = excluded.until",
                                     [lease, generation, LEASE_S])
            except Exception as exc:  # the database is down: renewed on the next beat
                log.warning("could not renew index leases: %s", exc)

    # -- writing -----------------------------------------------------------------------------------------
    def upload(self, folder: Path, manifest: dict[str, Any], ann_min: int = ANN_MIN_CHUNKS) -> int:
        """Copy a finished build folder into a new generation and make it current, in one transaction."""
        dim = int(manifest["embedder"]["dim"])
        n_chunks = int(manifest["chunks"])
        ann = "hnsw" if n_chunks >= ann_min else "faiss"
        with self.dedicated() as conn:
            _vector_dumper(conn)
            with conn.transaction():
                generation = conn.execute("INSERT INTO povqa.generations (manifest, ann) VALUES (%s, %s) RETURNING id",
                                          [json.dumps(manifest, ensure_ascii=False), ann]).fetchone()[0]
                s = schema_of(generation)
                conn.execute(GENERATION_DDL.format(s=s, dim=dim))
                _copy_rows(conn, s, folder, dim)
                _copy_files(conn, s, folder)
                if ann == "hnsw":
                    conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    conn.execute(f"CREATE INDEX ON {s}.chunks USING hnsw (dense vector_ip_ops)")
                conn.execute("UPDATE povqa.state SET current = %s", [generation])  # the switch
                conn.execute("SELECT pg_notify('povqa_generation', %s)", [str(generation)])
        return generation


def _copy_rows(conn, s: str, folder: Path, dim: int) -> None:
    """documents, chunks (with their primary vectors) and pages from the build folder's meta.sqlite."""
    meta = sqlite3.connect(folder / META_DB)
    try:
        with conn.cursor().copy(f"COPY {s}.documents (doc_id, source, data, row_start, row_end, sent_start, sent_end) "
                                "FROM STDIN") as copy:
            for row in meta.execute("SELECT doc_id, source, data, row_start, row_end, sent_start, sent_end FROM documents"):
                copy.write_row(row)
        with conn.cursor().copy(f"COPY {s}.pages (doc_id, n, text) FROM STDIN") as copy:
            for row in meta.execute("SELECT doc_id, n, text FROM pages"):
                copy.write_row(row)
        vectors = np.load(folder / f"{PRIMARY}.npy", mmap_mode="r", allow_pickle=False)
        with conn.cursor().copy(f"COPY {s}.chunks (row, chunk_id, doc_id, data, dense) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "text", "text", "vector"])
            for row, chunk_id, doc_id, data in meta.execute("SELECT row, chunk_id, doc_id, data FROM chunks ORDER BY row"):
                copy.write_row((row, chunk_id, doc_id, data, np.asarray(vectors[row])))
    finally:
        meta.close()


def _copy_files(conn, s: str, folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        if path.name in (META_DB, MANIFEST):
            continue
        with open(path, "rb") as handle:
            part = 0
            while block := handle.read(PART_BYTES):
                conn.execute(f"INSERT INTO {s}.files VALUES (%s, %s, %s)", [path.name, part, block])
                part += 1
            if part == 0:
                conn.execute(f"INSERT INTO {s}.files VALUES (%s, 0, ''::bytea)", [path.name])


class PgWriter(IndexWriter):
    """Fills a local build folder as the file store's writer does; `commit` copies it into a new generation."""

    def __init__(self, store: PgStore):
        self.store = store
        self._work = Path(tempfile.mkdtemp(prefix="povqa-build-"))
        super().__init__(self._work)

    def commit(self, manifest: dict[str, Any]) -> Path:
        try:
            manifest = self.finish(manifest)
            generation = self.store.upload(self.path, manifest)
        finally:
            shutil.rmtree(self._work, ignore_errors=True)
        try:
            self.store.remove_stale()
        except Exception as exc:  # removed after the next build
            log.warning("old generations not removed yet: %s", exc)
        self.path = Path(f"{self.store.label}#generation-{generation}")
        return self.path

    def abort(self) -> None:
        try:
            super().abort()
        finally:
            shutil.rmtree(self._work, ignore_errors=True)


class PgVectorIndex:
    """The FAISS search call (`search(q, k)` -> distances, rows) answered by pgvector's HNSW index."""

    def __init__(self, store: PgStore, schema: str, ntotal: int):
        self.store, self.schema, self.ntotal = store, schema, ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        with self.store.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(min(EF_SEARCH_MAX, max(40, k)))}")
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
            raise StoreUnavailable(f"generation {self.generation_id} was removed; the server loads the current one") from exc

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
