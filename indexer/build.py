"""`povqa index`: files -> documents -> chunks -> vectors -> a new index version, incrementally.

A file whose bytes are unchanged since the last build (same SHA-256) keeps its
chunks and vectors; only new or changed files are loaded and embedded, and files
that are gone are dropped. When nothing changed, nothing is written.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.backend import Store, open_store
from indexer.bm25 import BM25
from indexer.centring import save_centring_stats
from indexer.chunking import chunk_blocks
from indexer.config import BuildSettings
from indexer.embedders import Embedder, get_embedder
from indexer.format import (
    CHUNK_ARRAYS,
    LEXICON,
    LEXICON_TERMS,
    LEXICON_VERSION,
    PRIMARY,
    PRIMARY_SENT,
    SECOND,
    SECOND_SENT,
    SENT_CHUNK,
    SPARSE_IDS,
    SPARSE_K,
    SPARSE_WEIGHTS,
    index_signature,
    package_versions,
    pooled_sentences,
    sparse_head,
)
from indexer.lexicon import build_lexicon, read_lexicon
from indexer.loaders import SUPPORTED_SUFFIXES, IngestError, UnsupportedFile, file_sha256, load_document
from indexer.ocr import get_ocr_engine, ocr_manifest
from indexer.pipeline import Embedding, bm25_text, passage_text, read_and_embed
from indexer.report import BuildProgress, BuildReport, FileReport
from indexer.store import IndexError_, IndexReader, IndexWriter
from indexer.tokenize import tokenize
from indexer.types import Chunk, Document

log = logging.getLogger(__name__)


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


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    pages: list[str]
    report: FileReport
    # vectors by array name; filled either from the previous index or by embedding
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def build_index(
    paths: Sequence[Path] | None,
    settings: BuildSettings,
    embedder: Embedder | None = None,
    second_embedder: Embedder | None | bool = True,
    progress: BuildProgress | None = None,
    index_dir: Path | None = None,
    store: Store | None = None,
) -> BuildReport:
    """Index `paths` (default: settings.corpus_dir) into `store` (default: the one settings.store names, for the
    file store at `index_dir`, default settings.index_dir)."""
    if not isinstance(settings, BuildSettings):
        raise TypeError("build_index takes indexer.config.BuildSettings: pass settings.build_settings()")
    progress = progress or BuildProgress()
    store = store or open_store(settings.store, Path(index_dir or settings.index_dir))
    paths = [Path(p) for p in (paths or [settings.corpus_dir])]
    embedder = embedder or settings.get_embedder()
    if second_embedder is True:
        spec = settings.second_embedder
        second_embedder = get_embedder(spec) if spec else None
    second: Embedder | None = second_embedder or None
    started = time.perf_counter()
    report = BuildReport()

    with store.build_lock():
        store.remove_stale()  # debris of a build that was killed
        previous = _open_previous(store, settings, embedder, second)
        # Read the files on one thread and embed the new ones as they come (indexer/pipeline.py).
        embedding = Embedding(embedder, second, progress, sparse=bool(sparse_head(settings, embedder)),
                              known_words=previous_lexicon(previous), on_done=lambda p: progress.file_done(p.report),
                              pooled=pooled_sentences(settings, embedder))
        pending = _read_files(paths, settings, previous, report, embedding)
        to_embed = [p for p in pending if p.report.status == "indexed"]
        report.embedded_chunks = sum(len(p.chunks) for p in to_embed)
        report.embedded_texts, report.embedded_words = embedding.texts, len(embedding.words)
        report.files.extend(p.report for p in pending)
        _report_removed(previous, pending, report, progress)

        report.documents = len(pending)
        report.chunks = sum(len(p.chunks) for p in pending)
        if _unchanged(previous, pending, to_embed):
            report.index_path = previous.location
        else:
            report.index_path = _write(store, pending, settings, embedder, second, previous, progress, embedding.words)
            report.written = True
        if previous:
            previous.close()  # its lease too: the generation it read can go now
            store.remove_stale()
    report.seconds = time.perf_counter() - started
    return report


def _read_files(paths: Sequence[Path], settings: BuildSettings, previous: IndexReader | None, report: BuildReport,
                embedding: Embedding) -> list[_Pending]:
    """The files under `paths` to index, read (or taken from `previous` when their bytes did not change) and the
    new ones embedded by `embedding`; the files skipped, failed or seen twice go into `report` as they come."""
    prev_by_sha: dict[str, Document] = (
        {d.sha256: d for d in previous.documents.values()} if previous else {}
    )
    seen_sha: dict[str, str] = {}

    def skipped(item: FileReport) -> None:
        report.files.append(item)
        embedding.progress.file_done(item)

    return read_and_embed(
        discover(paths), lambda path, source: _prepare_file(path, source, settings, previous, prev_by_sha, seen_sha),
        embedding, embedding.progress, skipped)


def _report_removed(previous: IndexReader | None, pending: list[_Pending], report: BuildReport,
                    progress: BuildProgress) -> None:
    """Report the documents of the previous index that are no longer in the indexed folders."""
    current_docs = {p.document.doc_id for p in pending}
    for doc in (previous.documents.values() if previous else []):
        if doc.doc_id not in current_docs and doc.source not in {p.document.source for p in pending}:
            removed = FileReport(doc.source, "removed", message="no longer in the indexed folders")
            report.files.append(removed)
            progress.file_done(removed)


def _unchanged(previous: IndexReader | None, pending: list[_Pending], to_embed: list[_Pending]) -> bool:
    """Whether the previous index already holds exactly these documents (then nothing is written)."""
    previous_sources = {d.source for d in previous.documents.values()} if previous else set()
    return (
        previous is not None
        and not to_embed
        and {p.document.doc_id for p in pending} == set(previous.documents)
        and {p.document.source for p in pending} == previous_sources
        and previous.has_array(LEXICON)  # an index from before the lexicon (or this version of it) gets one
        and previous.manifest.get("lexicon", {}).get("version") == LEXICON_VERSION
    )


def _open_previous(store: Store, settings: BuildSettings, embedder: Embedder, second: Embedder | None) -> IndexReader | None:
    if store.current() is None:
        return None
    try:
        reader = store.open_reader()
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
    settings: BuildSettings,
    previous: IndexReader | None,
    prev_by_sha: dict[str, Document],
    seen_sha: dict[str, str],
) -> _Pending | FileReport | functools.partial:
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
    if previous is not None and old is not None and not _ocr_outdated(old):
        return functools.partial(_reuse, path, source, previous, old)  # done on the thread that owns `previous`
    return _load(path, source, sha, settings)


def _ocr_outdated(document: Document) -> bool:
    """Whether a file's scanned pages were read by another OCR engine than the one installed now, or by none
    while one is installed now: then it is read again. With no engine now, what was read before is kept."""
    if not document.ocr:
        return False
    engine = get_ocr_engine()
    return engine is not None and document.ocr != engine.label


def _reuse(path: Path, source: str, previous: IndexReader, old: Document) -> _Pending:
    """An unchanged file: its document, chunks, pages and vectors as the previous index has them."""
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
    file_report = FileReport(source, "unchanged", pages=document.pages, chunks=len(chunks), unit=document.page_unit)
    return _Pending(document, chunks, previous.pages(old.doc_id), file_report, arrays)


def _load(path: Path, source: str, sha: str, settings: BuildSettings) -> _Pending | FileReport:
    """A new or changed file, loaded and chunked (not embedded yet)."""
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
        page_labels=loaded.page_labels,
        ocr=loaded.ocr,
    )
    file_report = FileReport(source, "indexed", pages=loaded.page_count, chunks=len(chunks), embedded=len(chunks),
                             unit=document.page_unit)
    return _Pending(document, chunks, loaded.pages, file_report)


def save_lexicon(writer: IndexWriter, bm25: BM25, embedder: Embedder, previous: dict[str, np.ndarray],
                 progress: BuildProgress) -> int:
    """The corpus words and their vectors (indexer/lexicon.py), only the words `previous` lacks embedded."""
    document_frequency = np.diff(np.asarray(bm25.indptr))
    ids, vectors = build_lexicon(  # the words were embedded with their chunks (indexer/pipeline.py) up to MAX_WORDS
        bm25.vocab, document_frequency, embedder, previous,
        on_start=lambda n: progress.stage(f"embedding {n} more lexicon words") if n else None)
    writer.save_array(LEXICON_TERMS, ids)
    writer.save_array(LEXICON, vectors)
    return len(ids)


def previous_lexicon(previous: IndexReader | None) -> dict[str, np.ndarray]:
    """word -> vector of the last build's lexicon (same embedder: `_open_previous` checked), to reuse."""
    if previous is None or not previous.has_array(LEXICON):
        return {}
    return dict(zip(*read_lexicon(previous, previous.bm25(tokenize).vocab)))


def _write(store: Store, pending: list[_Pending], settings: BuildSettings, embedder: Embedder,
           second: Embedder | None, previous: IndexReader | None = None,
           progress: BuildProgress | None = None, words: dict[str, np.ndarray] | None = None) -> Path:
    """Write the index; `words`: lexicon word vectors embedded in this run (the previous index's are reused)."""
    progress = progress or BuildProgress()
    progress.stage("writing the index")
    pending = sorted(pending, key=lambda p: p.document.source)
    writer = store.writer()
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
                writer.save_faiss(arrays[name], settings=settings.index)
        if sparse_head(settings, embedder):
            for name, dtype in ((SPARSE_IDS, np.uint16), (SPARSE_WEIGHTS, np.float16)):
                writer.save_array_parts(name, [p.arrays[name] for p in pending], SPARSE_K, dtype)
        save_centring_stats(writer, arrays)
        writer.save_array(SENT_CHUNK, np.concatenate(sent_chunk) if sent_chunk else np.zeros(0, np.int32))
        by_id = {p.document.doc_id: p.document for p in pending}
        bm25 = BM25.build((bm25_text(c, by_id[c.doc_id]) for p in pending for c in p.chunks), tokenize)
        writer.save_bm25(bm25)
        words = save_lexicon(writer, bm25, embedder, {**previous_lexicon(previous), **(words or {})}, progress)
        manifest = {
            **index_signature(settings, embedder, second),
            "versions": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "documents": len(pending),
            "lexicon": {"version": LEXICON_VERSION, "words": words},
            "ocr": ocr_manifest(get_ocr_engine()),  # each document records the engine that read it, if any
        }
        return writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
