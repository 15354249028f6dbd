"""The public request and response shapes of the HTTP API (internal types stay internal)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.types import SearchResult

MAX_HISTORY_TURNS = 50
MODEL_ID = "povqa"
BRIEFING_MODEL_ID = "povqa-briefing"


# -- /api ----------------------------------------------------------------------------------------

class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in any language.")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="Earlier turns of the conversation, oldest first.")
    mode: Literal["answer", "briefing"] = "answer"
    top_k: int | None = Field(None, ge=1, le=50, description="Passages handed to the answerer.")
    stream: bool = Field(False, description="Answer with server-sent events (delta..., answer).")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    top_k: int = Field(5, ge=1, le=50)


class SearchResponse(BaseModel):
    results: list[SearchResult]


class DocumentPublic(BaseModel):
    doc_id: str
    title: str
    source: str
    pages: int
    chunks: int
    language: str


class DocumentsResponse(BaseModel):
    documents: list[DocumentPublic]


class PageResponse(BaseModel):
    doc_id: str
    page: int
    pages: int
    title: str
    text: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    documents: int
    chunks: int
    embedder: str
    generator: str


# -- /v1 (OpenAI-compatible) ----------------------------------------------------------------------

class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", "input_text"))
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The OpenAI request; sampling parameters (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY_TURNS + 10)
    stream: bool = False
