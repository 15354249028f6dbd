"""The on-disk index: versioned folders behind an atomically swapped `current` link (layout: indexer/format.py).

A build writes a new `v-*` folder next to the live one, then swaps the link, so a
crash (even SIGKILL) at any point leaves the previous index readable. Nothing is
ever unpickled: metadata is JSON / SQLite, arrays are loaded with allow_pickle=False.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.bm25 import BM25
from indexer.config import IndexSettings
from indexer.dense_index import make_faiss_index
from indexer.format import CURRENT, DENSE_INDEX, FORMAT_VERSION, MANIFEST, META_DB, expected_files, expected_rows
from indexer.types import Chunk, Document


class IndexError_(RuntimeError):
    """Base class for index problems; messages say what to run."""


class IndexNotFound(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


class IndexBusy(IndexError_):
    pass


class IndexDamaged(IndexError_):
    """A version folder that lacks a file its manifest needs, or holds one that cannot be read."""


def current_version(index_dir: Path) -> Path | None:
    link = Path(index_dir) / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    return target if (target / MANIFEST).exists() else None


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder (a second `povqa index` fails fast)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusy(f"another `povqa index` is writing {index_dir}; wait for it to finish") from exc
        yield


class IndexWriter:
    """Writes one new version folder; `commit()` makes it current."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.path = self.index_dir / f".build-{stamp}-{uuid.uuid4().hex[:6]}"
        self.path.mkdir()
        self._db = sqlite3.connect(self.path / META_DB)
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF;
            PRAGMA synchronous=OFF;
            CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT, data TEXT NOT NULL,
                                    row_start INTEGER, row_end INTEGER, sent_start INTEGER, sent_end INTEGER);
            CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT, doc_id TEXT, data TEXT NOT NULL);
            CREATE TABLE pages (doc_id TEXT, n INTEGER, text TEXT NOT NULL, PRIMARY KEY (doc_id, n));
            """
        )
        self.n_chunks = 0
        self.n_sentences = 0
        self.faiss_info: dict[str, Any] = {}

    def add_document(self, document: Document, chunks: Sequence[Chunk], pages: Sequence[str]) -> None:
        row_start, sent_start = self.n_chunks, self.n_sentences
        self._db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?)",
            [(row_start + i, c.chunk_id, c.doc_id, c.model_dump_json()) for i, c in enumerate(chunks)],
        )
        self._db.executemany(
            "INSERT INTO pages VALUES (?, ?, ?)", [(document.doc_id, n, t) for n, t in enumerate(pages, 1)]
        )
        self.n_chunks += len(chunks)
        self.n_sentences += sum(len(c.sentences) for c in chunks)
        self._db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (document.doc_id, document.source, document.model_dump_json(), row_start, self.n_chunks,
             sent_start, self.n_sentences),
        )

    def save_array(self, name: str, array: np.ndarray) -> None:
        np.save(self.path / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)

    def save_array_parts(self, name: str, parts: Sequence[np.ndarray], dim: int, dtype=np.float32) -> np.ndarray:
        """Write the rows of `parts` (float32 unless `dtype`), in order, into <name>.npy without concatenating them in memory
        (a copy of every sentence vector of the corpus, 1.8 GB for a 50 MB note with both real embedders);
        returns the written array, memory-mapped read-only."""
        rows = sum(len(p) for p in parts)
        path = self.path / f"{name}.npy"
        if rows == 0:
            np.save(path, np.zeros((0, dim), dtype), allow_pickle=False)
        else:
            out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, dim))
            start = 0
            for part in parts:
                out[start : start + len(part)] = part
                start += len(part)
            out.flush()
            del out
        return np.load(path, mmap_mode="r", allow_pickle=False)

    def save_faiss(self, vectors: np.ndarray, kind: str | None = None, settings: IndexSettings | None = None) -> None:
        """Write dense.faiss, of the kind `choose_kind` picks for its size (with `settings`) unless `kind` is given."""
        index, self.faiss_info = make_faiss_index(vectors, kind, settings=settings)
        faiss.write_index(index, str(self.path / DENSE_INDEX))

    def save_bm25(self, bm25: BM25) -> None:
        bm25.save(self.path)

    def finish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Close the build folder's database and write its manifest (with versions and counts); returns it."""
        self._db.commit()
        self._db.close()
        manifest = {**manifest, "format_version": FORMAT_VERSION, "chunks": self.n_chunks,
                    "sentences": self.n_sentences, "faiss": self.faiss_info or {"type": "flat"}}
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
        return manifest

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Make this build the current index, atomically, and remove older versions."""
        self.finish(manifest)
        _fsync_tree(self.path)
        final = self.index_dir / self.path.name.replace(".build-", "v-", 1)
        os.rename(self.path, final)
        link_tmp = self.index_dir / f".current-{uuid.uuid4().hex[:6]}"
        os.symlink(final.name, link_tmp)
        os.replace(link_tmp, self.index_dir / CURRENT)  # the atomic swap
        fsync_dir(self.index_dir)
        self.path = final
        remove_stale_versions(self.index_dir)
        return final

    def abort(self) -> None:
        try:
            self._db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


def remove_stale_versions(index_dir: Path) -> None:
    """Delete unfinished builds and versions other than the current one."""
    live = current_version(index_dir)
    for entry in Path(index_dir).iterdir():
        if entry.name.startswith((".build-", "v-", ".current-")) and (live is None or entry.resolve() != live):
            if entry.is_symlink() or entry.is_file():
                entry.unlink(missing_ok=True)
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _fsync_tree(path: Path) -> None:
    for file in path.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(path)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new, renamed or removed files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Arrays up to this size are read into memory when opened (`RowFile`). Not a tuning knob: it changes how rows
#: are read, never what is read; tests pass `resident_bytes` to exercise both paths.
RESIDENT_BYTES = 16 << 20


class RowFile:
    """A memory-mapped .npy array whose scattered rows are read with `preadv` instead of page faults.

    Reading a few hundred candidate rows through the memory map faults in far more than those rows (the
    kernel maps whole folios around each fault: ~300 KB per row measured on Linux 6.18, so one query at 100k
    chunks added 130 MB of resident memory, and the resident set crept towards the size of the arrays).
    `preadv` copies just the rows, in one call per run of consecutive rows (a chunk's sentences are
    consecutive). Slices, whole-array reads and large selections go through the memory map as before.

    Arrays of at most `resident_bytes` (default RESIDENT_BYTES: the per-row norms and the sentence-to-chunk map
    up to 1M chunks, every array of a small index) are read into memory when opened: a question reads a few
    hundred scattered rows of each of them, and one `preadv` per run of rows cost ~0.75 ms per array at 100k chunks.
    """

    def __init__(self, path: Path, resident_bytes: int = RESIDENT_BYTES):
        self._mm = np.load(path, mmap_mode="r", allow_pickle=False)
        self.shape, self.dtype, self.ndim = self._mm.shape, self._mm.dtype, self._mm.ndim
        self._fd = os.open(path, os.O_RDONLY)
        self._row_bytes = self._mm.dtype.itemsize * int(np.prod(self._mm.shape[1:], dtype=np.int64))
        self._resident = np.array(self._mm) if self._mm.nbytes <= resident_bytes else None

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._mm, dtype=dtype)

    def __getitem__(self, key):
        if self._resident is not None:
            return self._resident[key]
        if isinstance(key, (list, np.ndarray)) and self.ndim >= 1 and len(self) and self._mm.flags.c_contiguous:
            rows = np.asarray(key)
            if rows.ndim == 1 and rows.dtype.kind in "iu" and len(rows):
                first, last = int(rows[0]), int(rows[-1])
                if 0 <= first and last - first + 1 == len(rows) and last < len(self) and (np.diff(rows) == 1).all():
                    return self._mm[first : last + 1]  # one run of rows (every chunk of a small index): a view
                if len(rows) <= len(self) // 16:
                    return self._read_rows(rows.astype(np.int64))
        return self._mm[key]

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        n = len(self)
        rows = np.where(rows < 0, rows + n, rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if not len(rows):
            return out
        # One preadv per run of consecutive rows, into a byte view of `out`; the offsets are worked out in numpy
        # first, as the per-run Python work was most of the cost (0.91 -> 0.55 ms for 200 runs).
        size = self._row_bytes
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        firsts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
        offsets = (self._mm.offset + rows[firsts] * size).tolist()
        fd, preadv = self._fd, os.preadv
        for a, b, offset in zip((firsts * size).tolist(), (ends * size).tolist(), offsets):
            got = preadv(fd, [buffer[a:b]], offset)
            if got != b - a:
                raise OSError(f"short read from {self._mm.filename}: {got} of {b - a} bytes")
        return out

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:  # also when __init__ failed before opening it
            os.close(self._fd)
            self._fd = -1

    # A server that reloads a new index version drops the old reader without closing it (requests may still be
    # using it): its descriptors must go with it, or every re-index leaks one per array.
    __del__ = close


def _open_array(path: Path) -> RowFile:
    try:
        return RowFile(path)
    except (ValueError, OSError) as exc:  # truncated, not an array
        raise IndexDamaged(f"the index at {path.parent} is damaged: {path.name} cannot be read ({exc}); rebuild it "
                           "with `povqa index`") from exc


class IndexReader:
    """Read access to one index version. Thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest: dict[str, Any] = json.loads((self.path / MANIFEST).read_text("utf-8"))
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"the index at {self.path.parent} has format {self.manifest.get('format_version')}, "
                f"this povqa reads format {FORMAT_VERSION}: re-index with `povqa index`"
            )
        missing = [name for name in expected_files(self.manifest) if not (self.path / name).is_file()]
        if missing:
            raise IndexDamaged(f"the index at {self.path} is incomplete: {', '.join(missing)} missing; rebuild it "
                               "with `povqa index`")
        self._db = sqlite3.connect(f"file:{self.path / META_DB}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.documents: dict[str, Document] = {}
        self.doc_rows: dict[str, tuple[int, int, int, int]] = {}
        for doc_id, data, r0, r1, s0, s1 in self._db.execute(
            "SELECT doc_id, data, row_start, row_end, sent_start, sent_end FROM documents ORDER BY row_start"
        ):
            self.documents[doc_id] = Document.model_validate_json(data)
            self.doc_rows[doc_id] = (r0, r1, s0, s1)
        self.n_chunks = int(self.manifest["chunks"])
        # Every file is opened now, not on first use: a build that makes a newer version current deletes this
        # folder, and a server still answering from this version must not find its files gone.
        self._arrays: dict[str, RowFile] = {f.stem: _open_array(f) for f in sorted(self.path.glob("*.npy"))}
        for name, rows in expected_rows(self.manifest).items():
            if name in self._arrays and len(self._arrays[name]) != rows:
                raise IndexDamaged(f"the index at {self.path} is damaged: {name}.npy has {len(self._arrays[name])} "
                                   f"rows, not {rows}; rebuild it with `povqa index`")
        self._faiss: faiss.Index | None = faiss.read_index(str(self.path / DENSE_INDEX))
        self._bm25: BM25 | None = None

    @property
    def location(self) -> Path:
        """Where this version is, for people (`povqa index` prints it)."""
        return self.path

    @property
    def generation(self) -> Path:
        """What the store's `current()` returns while this reader's version is current (the server's reload check)."""
        return self.path

    @classmethod
    def open(cls, index_dir: Path) -> "IndexReader":
        version = current_version(Path(index_dir))
        if version is None:
            raise IndexNotFound(f"no index in {index_dir}: run `povqa index` first (or `make run`)")
        return cls(version)

    def check_compatible(self, embedder_name: str, chunking: dict[str, Any] | None = None) -> None:
        built = self.manifest.get("embedder", {}).get("name")
        if built != embedder_name:
            raise IndexMismatch(
                f"the index at {self.path.parent} was built with embedder {built!r}, but {embedder_name!r} is "
                f"configured: re-index with `povqa index` (or set POVQA_EMBEDDER back to {built!r})"
            )
        if chunking is not None and self.manifest.get("chunking") != chunking:
            raise IndexMismatch(
                f"the index at {self.path.parent} was built with chunking {self.manifest.get('chunking')}, "
                f"but {chunking} is configured: re-index with `povqa index`"
            )

    # -- chunks and pages -------------------------------------------------
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        with self._lock:
            found = dict(self._db.execute(f"SELECT row, data FROM chunks WHERE row IN ({marks})", rows).fetchall())
        return [Chunk.model_validate_json(found[r]) for r in rows]

    def chunk(self, row: int) -> Chunk:
        return self.chunks([row])[0]

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        with self._lock:
            rows = self._db.execute("SELECT row, data FROM chunks ORDER BY row").fetchall()
        for row, data in rows:
            yield row, Chunk.model_validate_json(data)

    def page_text(self, doc_id: str, n: int) -> str | None:
        with self._lock:
            hit = self._db.execute("SELECT text FROM pages WHERE doc_id = ? AND n = ?", (doc_id, n)).fetchone()
        return hit[0] if hit else None

    def pages(self, doc_id: str) -> list[str]:
        with self._lock:
            return [t for (t,) in self._db.execute("SELECT text FROM pages WHERE doc_id = ? ORDER BY n", (doc_id,))]

    # -- arrays and indexes -----------------------------------------------
    def has_array(self, name: str) -> bool:
        return name in self._arrays

    def array(self, name: str) -> RowFile:
        """The array `name`, memory-mapped; index it with row numbers to read just those rows."""
        if name not in self._arrays:
            self._arrays[name] = RowFile(self.path / f"{name}.npy")
        return self._arrays[name]

    @property
    def exact_faiss(self) -> bool:
        """Whether dense.faiss scores its hits exactly (flat, IVF-Flat) or approximately (PQ codes: re-score)."""
        return self.manifest.get("faiss", {}).get("type", "flat") != "ivfpq"

    @property
    def faiss_index(self) -> faiss.Index:
        if self._faiss is None:
            self._faiss = faiss.read_index(str(self.path / DENSE_INDEX))
        return self._faiss

    def bm25(self, tokenize) -> BM25:
        if self._bm25 is None:
            self._bm25 = BM25.load(self.path, tokenize)
        return self._bm25

    def close(self) -> None:
        self._db.close()
        for array in self._arrays.values():
            array.close()
