"""The public request and response shapes of the HTTP API (internal types stay internal)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from assistant.types import Answer, SearchResult

#: Turns a request may send; a question takes only the last `server.max_history_turns` of them.
MAX_HISTORY_TURNS = 1000
MODEL_ID = "povqa"
COLLECTIONS_FIELD = dict(max_length=100, description="Answer from the documents of these collections only (GET "
                         "/api/collections); unset or empty: all. An unknown name is refused (422).")
BRIEFING_MODEL_ID = "povqa-briefing"


# -- /api ----------------------------------------------------------------------------------------

class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: StrictStr = Field(max_length=100_000, description="Cut to its last `POVQA_SERVER__MAX_HISTORY_CHARS` "
                                                                 "characters.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(min_length=1, description="The question, in any language.")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                description="Earlier turns of the conversation, oldest first; the last "
                                "`POVQA_SERVER__MAX_HISTORY_TURNS` are used.")
    mode: Literal["answer", "briefing"] = "answer"
    top_k: StrictInt | None = Field(None, ge=1, le=50, description="Passages handed to the answerer.")
    stream: StrictBool = Field(False, description="Answer with server-sent events (delta..., answer).")
    collections: list[StrictStr] | None = Field(None, **COLLECTIONS_FIELD)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StrictStr = Field(min_length=1)
    top_k: StrictInt = Field(5, ge=1, le=50)
    collections: list[StrictStr] | None = Field(None, **COLLECTIONS_FIELD)


class SearchResponse(BaseModel):
    results: list[SearchResult]


class DocumentPublic(BaseModel):
    doc_id: str
    title: str
    source: str
    pages: int
    chunks: int
    language: str
    collection: str = Field(description="Its collection: the first folder below the corpus folder, or 'default'.")


class DocumentsResponse(BaseModel):
    documents: list[DocumentPublic]


class PageResponse(BaseModel):
    doc_id: str
    page: int
    pages: int
    title: str
    text: str
    location: str = Field("", description="What the page is called: 'page 3', 'slide 4', \"Sheet 'Budget', rows "
                                          "12–18\"; '' for a file without pages (a note, a Word file, a web page).")


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


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = Field(False, description="Send a last chunk with `usage` (and no choices).")


class ChatCompletionRequest(BaseModel):
    """The OpenAI request. Honoured: model, messages, stream, stream_options.include_usage, max_tokens /
    max_completion_tokens (the reply is cut, finish_reason "length"), stop. Rejected with 400: n > 1, tools and
    functions, logprobs, a response_format other than text. Sampling parameters (temperature, top_p, seed, ...)
    are accepted and ignored: the answer quotes the documents."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr = Field(MODEL_ID, max_length=200, description=f"'{MODEL_ID}' or '{BRIEFING_MODEL_ID}'.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY_TURNS)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(None, ge=1, description="Longest reply, in tokens (counted approximately: "
                                         "a word, a CJK character or a punctuation mark each count one).")
    max_completion_tokens: StrictInt | None = Field(None, ge=1, description="The same as max_tokens.")
    stop: StrictStr | list[StrictStr] | None = Field(None, description="The reply ends before the first of these.")
    n: StrictInt | None = Field(None, ge=1, description="1 only: povqa gives one answer.")
    tools: list[dict[str, Any]] | None = Field(None, description="Not supported: a non-empty list is refused.")
    functions: list[dict[str, Any]] | None = Field(None, description="Not supported: a non-empty list is refused.")
    logprobs: StrictBool | None = Field(None, description="Not supported: true is refused.")
    response_format: dict[str, Any] | None = Field(None, description="Only {\"type\": \"text\"}.")
    collections: list[StrictStr] | None = Field(None, **COLLECTIONS_FIELD)


# -- the staff workflow: collections, upload jobs, kept answers, feedback --------------------------

class CollectionPublic(BaseModel):
    name: str
    documents: int
    chunks: int


class CollectionsResponse(BaseModel):
    collections: list[CollectionPublic]


class JobFilePublic(BaseModel):
    name: str = Field(description="The safe name the file was stored under (never a path the client sent).")
    collection: str
    status: str = Field(description="queued, then as `povqa index` says: indexed, unchanged, duplicate, failed, "
                                    "skipped, removed.")
    line: str = Field(description="The line `povqa index` prints for the file ('' while queued).")
    stored_as: str = Field(description="Its path in the corpus folder (the document's `source`), once stored.")
    doc_id: str | None
    kept: bool = Field(description="False when the file is not in the corpus: it could not be indexed.")


class JobPublic(BaseModel):
    id: str
    kind: Literal["upload", "delete"]
    status: Literal["queued", "running", "done", "failed"]
    stage: str = Field(description="queued, waiting (for another build), storing, reading, embedding, then what "
                                   "the build says it is doing, loading (the server loads the new index), done.")
    error: str | None = Field(description="Why the job failed; the index was not changed.")
    files: list[JobFilePublic]
    progress: dict[str, int | str] = Field(description="files_done of files_total (the corpus folder's files), "
                                           "chunks_done (the chunks of the files done so far), and the build's "
                                           "work: done of total, counted in `unit` (pages of the files read and "
                                           "embedded in this build).")
    lines: list[str] = Field(description="The build's lines of what changed (all but `unchanged`), as `povqa index` "
                                         "prints them: this job's files and any other change it found.")
    created: float
    finished: float | None


class JobResponse(BaseModel):
    job: JobPublic


class KeptAnswer(Answer):
    """An answer as the server kept it, with what it answered."""

    question: str
    mode: Literal["answer", "briefing"]
    history: list[dict[str, Any]]
    collections: list[str]
    created: float = Field(description="When it was given (Unix time); kept for POVQA_SERVER__KEEP_ANSWERS_DAYS.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: StrictStr = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: StrictStr = Field("", max_length=5000)
    expected: StrictStr = Field("", max_length=5000, description="What the answer should have said or quoted: a "
                                "sentence of a document, as written, makes the feedback an evaluation case.")


class FeedbackResponse(BaseModel):
    answer_id: str
    rating: str
    replaced: bool = Field(description="An earlier rating of the same answer was replaced.")
    eval_case: bool = Field(description="Whether it is exported as an evaluation case (GET /api/feedback/export).")
    note: str = Field(description="What it became, or why it is not an evaluation case.")
