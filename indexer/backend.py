"""Where an index lives: the `Store` interface, the folder store (the default) and the choice by `POVQA_STORE`.

    POVQA_STORE=files                                   the versioned folder at POVQA_INDEX_DIR (indexer/store.py)
    POVQA_STORE=postgresql://user:pass@host:5432/db     PostgreSQL + pgvector, shared by several servers
                                                        (indexer/pgstore.py)

The writer (`indexer.build.build_index`) and the reader (`assistant.retrieval.Retriever.load`, the server's hot
reload) only talk to a `Store`: they never know which one they have. Both stores hand out the same
`IndexWriter` / `IndexReader` objects (the PostgreSQL ones are subclasses), so retrieval, answering and citing
run the same code over either. As paper-qa's `VectorStore` / `NumpyVectorStore` and txtai's ANN factory.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from contextlib import AbstractContextManager
from pathlib import Path

from indexer.store import IndexNotFound, IndexReader, IndexWriter, build_lock, current_version, remove_stale_versions

FILES = "files"


class StoreUnavailable(OSError):
    """The store cannot be reached just now (the database is down or restarting): a passing failure, answered
    503 with Retry-After; the next request tries again. Not a ConnectionError (that is a client that left)."""


class Store(ABC):
    """An index's home: its current generation, a reader of it, a writer of the next one, and one build at a time."""

    #: Shown in messages ("the index at ...").
    label: str

    @abstractmethod
    def current(self) -> Hashable | None:
        """A token of the current generation (it changes when a build commits), None when there is no index.
        Cheap: the server calls it about once a second."""

    @abstractmethod
    def open_reader(self) -> IndexReader:
        """A reader of the current generation (IndexNotFound when there is none)."""

    @abstractmethod
    def writer(self) -> IndexWriter:
        """A writer of a new generation; its `commit(manifest)` makes that generation current atomically."""

    @abstractmethod
    def build_lock(self) -> AbstractContextManager[None]:
        """Held for a whole build: a second `povqa index` on the same store fails fast (IndexBusy)."""

    def remove_stale(self) -> None:
        """Remove what a killed build left and generations nobody reads any more."""


class FileStore(Store):
    """Today's index: versioned folders under `index_dir` behind an atomically swapped `current` link."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self.label = str(self.index_dir)

    def current(self) -> Path | None:
        return current_version(self.index_dir)

    def open_reader(self) -> IndexReader:
        return IndexReader.open(self.index_dir)

    def writer(self) -> IndexWriter:
        return IndexWriter(self.index_dir)

    def build_lock(self) -> AbstractContextManager[None]:
        return build_lock(self.index_dir)

    def remove_stale(self) -> None:
        if self.index_dir.is_dir():
            remove_stale_versions(self.index_dir)


def is_database_url(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://"))


def open_store(spec: str | None, index_dir: Path) -> Store:
    """The store `spec` names (settings.store, POVQA_STORE): 'files' (default) or a libpq URL."""
    spec = (spec or FILES).strip()
    if spec == FILES:
        return FileStore(index_dir)
    if is_database_url(spec):
        return _database_store(spec)
    raise ValueError(f"POVQA_STORE={spec!r}: use 'files' or a PostgreSQL URL (postgresql://user:pass@host:5432/db)")


_DATABASES: dict[str, Store] = {}
_DATABASES_LOCK = threading.Lock()


def _database_store(url: str) -> Store:
    """One store (one connection pool) per database per process."""
    with _DATABASES_LOCK:
        if url not in _DATABASES:
            from indexer.pgstore import PgStore

            _DATABASES[url] = PgStore(url)
        return _DATABASES[url]


def close_database_stores() -> None:
    """Close every database store's pool (tests, between databases)."""
    with _DATABASES_LOCK:
        while _DATABASES:
            _DATABASES.popitem()[1].close()


__all__ = ["FILES", "FileStore", "IndexNotFound", "Store", "StoreUnavailable", "close_database_stores",
           "is_database_url", "open_store"]
