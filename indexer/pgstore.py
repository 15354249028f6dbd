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
through a connection pool. Its dense candidates come from its local copy of the build's dense.faiss, as a
folder store's do (the same answers at every size). A generation gets a pgvector HNSW index on chunks.dense, and
the reader asks pgvector for its candidates, only from ANN_MIN_CHUNKS chunks: off by default, as measured.
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
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from indexer.backend import Store, StoreUnavailable
from indexer.format import MANIFEST, META_DB, PRIMARY
from indexer.pgreader import PgReader, PgVectorIndex, schema_of
from indexer.store import IndexBusy, IndexNotFound, IndexWriter
from indexer.types import collection_of

log = logging.getLogger(__name__)

#: From this many chunks a generation gets an HNSW index and readers search it instead of the dense.faiss the
#: build wrote (the file store's own index: flat up to index.flat_limit, then IVF); None: never. Measured by
#: bench/pg_store.py (bench/RESULTS.md, pg-store) from 10k to 100k chunks: the local FAISS index answered in
#: 1.6-4 ms at recall@10 .996-1 where pgvector's HNSW took 3-18 ms at .88-1 (100 neighbours, ef_search
#: 100-400) or 15-52 ms at .996-1 (1,000 at ef_search 1000), and searches were 25 ms slower at 100k with it. The
#: readers hold the vectors anyway, so the HNSW index only costs (2,048 bytes a chunk, 43 s to build at 100k).
ANN_MIN_CHUNKS: int | None = None
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
ALTER TABLE {s}.files ALTER COLUMN data SET STORAGE EXTERNAL;  -- float arrays do not compress: do not try
"""


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
            raise StoreUnavailable(f"the index database at {self.label} cannot be reached ({exc}); retry shortly") \
                from exc

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
    def upload(self, folder: Path, manifest: dict[str, Any], ann_min: int | None = None,
               timings: dict[str, float] | None = None) -> int:
        """Copy a finished build folder into a new generation and make it current, in one transaction (the
        seconds of its steps go into `timings` when given)."""
        timings = {} if timings is None else timings
        ann_min = ANN_MIN_CHUNKS if ann_min is None else ann_min  # None: the module's choice
        t0 = time.perf_counter()
        dim = int(manifest["embedder"]["dim"])
        n_chunks = int(manifest["chunks"])
        ann = "hnsw" if ann_min is not None and n_chunks >= ann_min else "faiss"
        with self.dedicated() as conn:
            _vector_dumper(conn)
            with conn.transaction():
                generation = conn.execute("INSERT INTO povqa.generations (manifest, ann) VALUES (%s, %s) RETURNING id",
                                          [json.dumps(manifest, ensure_ascii=False), ann]).fetchone()[0]
                s = schema_of(generation)
                conn.execute(GENERATION_DDL.format(s=s, dim=dim))
                _copy_rows(conn, s, folder, dim)
                timings["rows_s"] = time.perf_counter() - t0
                _copy_files(conn, s, folder)
                timings["files_s"] = time.perf_counter() - t0 - timings["rows_s"]
                if ann == "hnsw":
                    t1 = time.perf_counter()
                    conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    conn.execute(f"CREATE INDEX ON {s}.chunks USING hnsw (dense vector_ip_ops)")
                    timings["hnsw_s"] = time.perf_counter() - t1
                conn.execute("UPDATE povqa.state SET current = %s", [generation])  # the switch
                conn.execute("SELECT pg_notify('povqa_generation', %s)", [str(generation)])
        timings["total_s"] = time.perf_counter() - t0
        return generation


def _copy_rows(conn, s: str, folder: Path, dim: int) -> None:
    """documents, chunks (with their primary vectors) and pages from the build folder's meta.sqlite."""
    meta = sqlite3.connect(folder / META_DB)
    try:
        with conn.cursor().copy(f"COPY {s}.documents (doc_id, source, data, row_start, row_end, sent_start, sent_end, "
                                "collection) FROM STDIN") as copy:
            for row in meta.execute("SELECT doc_id, source, data, row_start, row_end, sent_start, sent_end "
                                    "FROM documents"):
                copy.write_row((*row, collection_of(row[1])))  # Document.collection, for SQL
        with conn.cursor().copy(f"COPY {s}.pages (doc_id, n, text) FROM STDIN") as copy:
            for row in meta.execute("SELECT doc_id, n, text FROM pages"):
                copy.write_row(row)
        vectors = np.load(folder / f"{PRIMARY}.npy", mmap_mode="r", allow_pickle=False)
        with conn.cursor().copy(f"COPY {s}.chunks (row, chunk_id, doc_id, data, dense) "
                                "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "text", "text", "vector"])
            for row, chunk_id, doc_id, data in meta.execute(
                    "SELECT row, chunk_id, doc_id, data FROM chunks ORDER BY row"):
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


__all__ = ["ANN_MIN_CHUNKS", "PgReader", "PgStore", "PgVectorIndex", "PgWriter", "schema_of"]
