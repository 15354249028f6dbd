"""Indexing throughput: `povqa index` on a corpus against a bare loop of the embedders' own batch calls.

    python -m bench.index_speed [--corpus docs_corpus] [--results bench/RESULTS.md]

Both embedders are loaded (and warmed on one text) before either timing starts, so model loading counts in
neither. Then, in the same process: (1) `build_index` into a fresh folder (read PDFs, clean, chunk, embed
chunks and sentences with both embedders, BM25, centring statistics, SQLite, fsync, atomic swap); (2) a bare
loop of `embed_batch` over exactly the texts the build embedded (chunk texts, then sentence texts, for each
embedder, in the build's batch sizes; then the chunk texts through the primary embedder's sparse head, when
the index stores its latent terms; then the cross-lingual lexicon's corpus words through the primary
embedder). The ratio of the two throughputs is what everything around the
embedder costs (target: the index runs at >= 0.9x the bare embedder loop).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.settings import Settings
from bench.common import RESULTS, load, machine_md, write_section
from indexer.build import build_index, passage_text, previous_lexicon
from indexer.embedders import Embedder, Mode, get_embedder
from indexer.format import SPARSE_K
from indexer.store import IndexReader

TARGET_RATIO = 0.9


class Timed(Embedder):
    """Wraps an embedder and adds up the wall and CPU time spent in its `embed_batch` (what the build spends
    embedding, as opposed to everything around it)."""

    def __init__(self, inner: Embedder):
        self.inner, self.name, self.dim, self.batch_size = inner, inner.name, inner.dim, inner.batch_size
        self.sparse_name, self.sparse_dim = inner.sparse_name, inner.sparse_dim
        self.wall = self.cpu = 0.0

    def embed_sparse(self, texts, k: int, progress=None):
        w, c = time.perf_counter(), time.process_time()
        try:
            return self.inner.embed_sparse(texts, k, progress)
        finally:
            self.wall += time.perf_counter() - w
            self.cpu += time.process_time() - c

    def embed_batch(self, texts, mode: Mode):
        w, c = time.perf_counter(), time.process_time()
        try:
            return self.inner.embed_batch(texts, mode)
        finally:
            self.wall += time.perf_counter() - w
            self.cpu += time.process_time() - c


def bare_loop(embedders: list[Embedder], chunk_texts: list[str], sentence_texts: list[str],
              sparse: bool = False, words: Sequence[str] = ()) -> float:
    """The embedders' own calls over the texts the index embeds: chunks and sentences with each embedder,
    the chunks with the primary embedder's sparse head when the index stores it, and the lexicon's words
    with the primary embedder."""
    t0 = time.perf_counter()
    for emb in embedders:
        for texts in (chunk_texts, sentence_texts):
            for i in range(0, len(texts), emb.batch_size):
                emb.embed_batch(texts[i : i + emb.batch_size], "passage")
    if sparse:
        embedders[0].embed_sparse(chunk_texts, SPARSE_K)
    for i in range(0, len(words), embedders[0].batch_size):
        embedders[0].embed_batch(list(words[i : i + embedders[0].batch_size]), "passage")
    return time.perf_counter() - t0


def run(corpus: Path, results: Path = RESULTS, embedder: Embedder | None = None,
        second: Embedder | None | bool = True, settings: Settings | None = None) -> dict:
    load_start = load()
    settings = settings or Settings()
    embedder = embedder or settings.get_embedder()
    if second is True:
        spec = settings.retrieval.second_embedder
        second = get_embedder(spec) if spec else None
    embedders = [embedder] + ([second] if second else [])
    for emb in embedders:  # warm-up: model load and first-call costs count in neither timing
        emb.embed_batch(["warm-up"], "passage")
    work = Path(tempfile.mkdtemp(prefix="povqa-bench-index-"))
    try:
        timed = [Timed(e) for e in embedders]
        t0, c0 = time.perf_counter(), time.process_time()
        report = build_index([corpus], settings.build_settings(), embedder=timed[0], second_embedder=timed[1] if second else None,
                             index_dir=work / "index")
        t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
        reader = IndexReader.open(work / "index")
        chunks = [c for _, c in reader.iter_chunks()]
        words = list(previous_lexicon(reader))  # the lexicon's words
        reader.close()
        chunk_texts = [passage_text(c) for c in chunks]
        sentence_texts = [s for c in chunks for s in c.sentence_texts()]
        c0 = time.process_time()
        t_bare = bare_loop(embedders, chunk_texts, sentence_texts, sparse=reader.manifest.get("sparse") is not None,
                           words=words)
        c_bare = time.process_time() - c0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pages = sum(f.pages for f in report.files if f.status == "indexed")
    n_chunks, n_texts = report.chunks, report.embedded_texts
    out = {
        "files": sum(f.status == "indexed" for f in report.files), "pages": pages, "chunks": n_chunks,
        "sentences": len(sentence_texts), "texts_embedded": n_texts, "lexicon_words": len(words),
        "embedders": [e.name for e in embedders],
        "index_s": t_index, "bare_s": t_bare,
        "index_chunks_per_s": n_chunks / t_index, "index_pages_per_s": pages / t_index,
        "bare_chunks_per_s": n_chunks / t_bare, "bare_pages_per_s": pages / t_bare,
        "ratio": t_bare / t_index, "index_cpu_s": c_index, "bare_cpu_s": c_bare, "cpu_ratio": c_bare / c_index,
        "embed_in_build_s": sum(t.wall for t in timed), "embed_in_build_cpu_s": sum(t.cpu for t in timed),
    }
    out["outside_embedding_s"] = t_index - out["embed_in_build_s"]
    out["outside_embedding_cpu_s"] = c_index - out["embed_in_build_cpu_s"]
    load_end = load()
    verdict = "holds" if out["ratio"] >= TARGET_RATIO else (
        f"missed by {TARGET_RATIO - out['ratio']:.2f} (x{out['ratio']:.2f})")
    body = f"""## Indexing throughput

`python -m bench.index_speed --corpus {corpus}` (`make bench-index`)

{machine_md(load_start, load_end)}

{out['files']} files, {pages} pages, {n_chunks} chunks, {out['sentences']} sentences; each chunk and each
sentence is embedded by every embedder ({', '.join(out['embedders'])}): {n_texts} texts in all, and the
cross-lingual lexicon's {len(words)} corpus words by the first. Models were loaded and warmed before either timing.

| | seconds | chunks/s | pages/s |
|---|---|---|---|
| `povqa index` (build_index: read, clean, chunk, embed, BM25, write) | {t_index:.1f} | {out['index_chunks_per_s']:.2f} | {out['index_pages_per_s']:.2f} |
| bare `embed_batch` loop over the same texts | {t_bare:.1f} | {out['bare_chunks_per_s']:.2f} | {out['bare_pages_per_s']:.2f} |
| ratio (index throughput / bare throughput) | | {out['ratio']:.3f} | |

CPU time of this process (less sensitive to the other jobs on the machine than wall time): `povqa index`
{c_index:.1f} s, bare loop {c_bare:.1f} s, ratio {out['cpu_ratio']:.3f}. Inside the build, the embedders' own
`embed_batch` calls took {out['embed_in_build_s']:.1f} s wall / {out['embed_in_build_cpu_s']:.1f} s CPU; everything
else (reading and cleaning the PDFs, chunking, BM25, centring statistics, SQLite, fsync) took
{out['outside_embedding_s']:.1f} s wall / {out['outside_embedding_cpu_s']:.1f} s CPU, i.e. the build's own overhead is
{out['outside_embedding_s'] / t_index:.1%} of its wall time.

Target: index throughput >= {TARGET_RATIO}x the bare embedder loop (wall clock): **{verdict}**.
"""
    write_section("index", body, results)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("docs_corpus"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out = run(args.corpus, args.results)
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()})


if __name__ == "__main__":
    main()
