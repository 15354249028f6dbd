"""`povqa serve`: the HTTP shell over `Assistant` — JSON API, SSE streaming, OpenAI-compatible routes, chat page.

Routes (all errors are JSON ``{"detail": "..."}``):

    GET  /                                  the chat page (assistant/static/)
    GET  /healthz                           200 with counts once the index is loaded, 503 otherwise
    POST /api/ask                           Answer JSON, or server-sent events with ``"stream": true``
    POST /api/search                        {"results": [SearchResult, ...]}
    GET  /api/documents                     {"documents": [...]}
    GET  /api/documents/{doc_id}/pages/{n}  one page's text (to show a citation in place)
    GET  /v1/models, POST /v1/chat/completions   OpenAI-compatible (model "povqa")
    GET  /docs                              OpenAPI docs

Server-sent events of ``POST /api/ask`` with ``"stream": true``, in order:

    event: delta    data: {"text": "..."}      a piece of the answer text, as it is produced (0..n times)
    event: answer   data: {Answer JSON}        the final, verified answer (exactly once, last)
    event: error    data: {"detail": "..."}    instead of `answer` when answering failed mid-stream

The extractive answerer emits its answer sentence by sentence (briefing: bullet by bullet), so the
deltas concatenate to ``answer.answer``. The LLM answerer emits the model's raw deltas (with its
evidence keys); the `answer` event carries the post-processed text with numbered, verified
citations, which replaces the streamed text.

The index and embedder are loaded in the lifespan into ``app.state.live`` (a `LiveAssistant`), which swaps in
a new index version in the background when `povqa index` writes one (no restart). Settings come
from ``Depends(get_settings)`` (override with ``app.dependency_overrides`` or ``create_app(settings)``).
``Assistant.ask`` is synchronous CPU work: it runs in the threadpool (plain ``def`` endpoints,
``run_in_threadpool``), so requests run concurrently without a global lock.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.llm import LLMError
from assistant.settings import Settings, get_settings
from assistant.types import Answer, SearchResult

log = logging.getLogger("povqa.api")

STATIC_DIR = Path(__file__).with_name("static")
MAX_BODY_BYTES = 1_000_000
MAX_HISTORY_TURNS = 50
MODEL_ID = "povqa"
BRIEFING_MODEL_ID = "povqa-briefing"
DOC_ID_PATTERN = r"^[0-9a-f]{16}$"


# -- request and response schemas (the public shapes; internal types stay internal) ---------------

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


# -- helpers --------------------------------------------------------------------------------------

def _fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _load_failure(exc: Exception) -> str:
    """What /healthz and /api say when the assistant could not be loaded at start-up."""
    from indexer.store import IndexError_

    if isinstance(exc, IndexError_):  # its message says what to run
        detail = f"the index is not loaded: {exc}"
        return detail if "povqa index" in detail else detail + " (build it with `povqa index`)"
    return f"the assistant could not start: {exc}"


class LiveAssistant:
    """The Assistant being served, swapped for a fresh one when `povqa index` makes a new index version current.

    At most every `check_s` seconds a request looks at where the index's `current` link points (one readlink);
    when it moved, a background thread opens the new version (reusing the loaded embedders) and swaps it in with
    one assignment. Requests keep being answered from the old version meanwhile, and those in flight finish on
    it (its files stay open even after the build deletes its folder). A version that fails to load is logged
    once and the old one kept. A server started before any index exists picks the first one up the same way.
    """

    def __init__(self, settings: Settings, assistant=None, check_s: float = 1.0):
        self.settings = settings
        self.assistant = assistant
        self.error: str | None = None
        self.check_s = check_s
        self.version: Path | None = assistant.retriever.reader.path if assistant is not None else None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None

    def load_now(self) -> None:
        """The first load (in the lifespan): blocking; a failure is kept as the 503 message."""
        from indexer.store import current_version

        version = current_version(self.settings.index_dir)
        try:
            self.assistant = self._open(version)
            self.version, self.error = version, None
            reader = self.assistant.retriever.reader
            log.info("index loaded: %d documents, %d chunks", len(reader.documents), reader.n_chunks)
        except Exception as exc:  # start anyway: /healthz and /api answer 503 with the reason
            self.version, self.error = version, _load_failure(exc)
            log.error("%s", self.error)
            return
        self.warm_up()

    WARM_UP_QUESTIONS = ("Quels pays ont coopéré avec le centre ?", "中心与哪些国家合作？")

    def warm_up(self) -> None:
        """Answer throwaway (non-English) questions before serving, so the first user does not pay for what
        loads on first use: the language identifier, the second embedder, the sparse head, the thread pools
        (the first question after `make run` took 2.7 s instead of ~0.1 s), jieba's dictionary for the
        lexicon's Chinese words (0.9 s)."""
        t0 = time.perf_counter()
        try:
            for question in self.WARM_UP_QUESTIONS:
                self.assistant.ask(question)
        except Exception as exc:  # never keeps the server from starting; the real question will say what is wrong
            log.warning("warm-up question failed: %s", exc)
            return
        log.info("warmed up in %.1f s", time.perf_counter() - t0)

    def get(self):
        self._maybe_reload()
        return self.assistant

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_s:
            return
        from indexer.store import current_version

        with self._lock:
            if now - self._checked < self.check_s or (self._loading is not None and self._loading.is_alive()):
                return
            self._checked = now
            version = current_version(self.settings.index_dir)
            if version is None or version == self.version:
                return
            self._loading = threading.Thread(target=self._reload, args=(version,), name="povqa-reload", daemon=True)
            self._loading.start()

    def _reload(self, version: Path) -> None:
        try:
            fresh = self._open(version)
        except Exception as exc:
            log.error("a new index version at %s could not be loaded; still serving the previous one: %s", version, exc)
            self.version = version  # retried when the index changes again
            return
        reader = fresh.retriever.reader
        # the version actually opened: if another build made a newer one current meanwhile, the next check loads it
        self.assistant, self.version, self.error = fresh, reader.path, None
        log.info("index reloaded from %s: %d documents, %d chunks", version.name, len(reader.documents), reader.n_chunks)

    def _open(self, version: Path | None):
        """An Assistant over `version`, with the running one's embedders, answerer and refusal model."""
        from assistant.pipeline import Assistant
        from assistant.retrieval import Retriever

        old = self.assistant
        if old is None:
            return Assistant.load(self.settings)
        if version is None:
            raise FileNotFoundError(f"no index in {self.settings.index_dir}")
        retriever = Retriever.load(self.settings, embedder=old.retriever.embedder,
                                   second=old.retriever.second if old.retriever.second is not None else True,
                                   index_dir=self.settings.index_dir, language_means=old.retriever.language_means)
        return Assistant(retriever, old.answerer, self.settings, calibration=old.calibration, reranker=old.reranker)


def get_assistant(request: Request):
    """The Assistant being served (reloaded when the index changes), or 503 saying how to build the index."""
    live: LiveAssistant | None = getattr(request.app.state, "live", None)
    assistant = live.get() if live is not None else None
    if assistant is None:
        raise _fail(503, (live.error if live is not None else None) or "the index is not loaded yet")
    return assistant


def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> None:
    """When settings.api_key is set, demand ``Authorization: Bearer <key>`` (constant-time comparison)."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings)]
AssistantDep = Annotated[Any, Depends(get_assistant)]


# C0/C1 control characters other than tab and line breaks, and lone UTF-16 surrogates (valid JSON escapes that
# are not characters: they cannot even be written back out as UTF-8)
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(text: str, what: str) -> str:
    bad = _BAD_CHARS.search(text)
    if bad:
        raise _fail(422, f"the {what} contains a control character or lone surrogate (U+{ord(bad.group()):04X} at "
                         f"position {bad.start()}); remove it")
    return text


def _check_question(question: str, settings: Settings) -> str:
    if not question.strip():
        raise _fail(422, "the question is empty")
    if len(question) > settings.max_question_chars:
        raise _fail(413, f"the question is {len(question)} characters long; the limit is {settings.max_question_chars}")
    return _check_text(question, "question")


def _pieces(text: str) -> list[str]:
    """Split an extractive answer after each citation marker (sentences) or line (bullets); joins back to `text`."""
    if "\n" in text:
        return [p for p in re.split(r"(?<=\n)", text) if p]
    return [p for p in re.split(r"(?<=\])(?=\s)", text) if p]


def _sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def with_sources(answer: Answer) -> str:
    """The answer text followed by a numbered source list (for chat clients that only show text)."""
    if answer.refused or not answer.citations:
        return answer.answer
    lines = [f"[{c.n}] {c.title}, p. {c.page}: \u201c{c.quote}\u201d" for c in answer.citations]
    return answer.answer + "\n\nSources:\n" + "\n".join(lines)


def _swagger_ui_dir() -> Path:
    """The Swagger UI files shipped by swagger-ui-py (located, not imported: we need only its static files)."""
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def stream_answer(assistant, question: str, history: list[dict], mode: str, top_k: int | None
                  ) -> Iterator[tuple[str, Any]]:
    """`Assistant.events`, plus deltas for answerers that don't stream (extractive: one per sentence/bullet).

    A blocking generator: iterate it in the threadpool.
    """
    streamed = False
    for kind, value in assistant.events(question, history, mode, top_k):
        if kind == "delta":
            streamed = True
        elif kind == "answer" and not streamed:
            for piece in _pieces(value.answer):
                yield "delta", piece
        yield kind, value


async def _events(assistant, question: str, history: list[dict], mode: str, top_k: int | None
                  ) -> AsyncIterator[tuple[str, Any]]:
    """`stream_answer` run in the threadpool; a failure after the stream started becomes ("error", detail)."""
    try:
        async for event in iterate_in_threadpool(stream_answer(assistant, question, history, mode, top_k)):
            yield event
    except Exception as exc:  # the response has started: report in-band
        log.exception("answering failed")
        yield "error", f"answering failed: {type(exc).__name__}: {exc}"


def _chat_question(body: ChatCompletionRequest, settings: Settings) -> tuple[str, list[dict], str]:
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise _fail(422, "the last message must be a user message (the question)")
    question = _check_question(turns[-1][1], settings)
    history = [{"role": r, "content": _check_text(c, "history")} for r, c in turns[:-1]]
    mode = "briefing" if body.model == BRIEFING_MODEL_ID else "answer"
    return question, history, mode


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None) -> bytes:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# -- middleware -----------------------------------------------------------------------------------

class BodyLimit:
    """Reject request bodies over `limit` bytes with 413 (by Content-Length, or while reading a chunked body)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        try:
            too_big = length is not None and int(length) > self.limit
        except ValueError:
            too_big = True
        if too_big:
            await self._reject(send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._reject(send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        payload = json.dumps({"detail": f"request body too large: the limit is {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


# -- the app --------------------------------------------------------------------------------------

def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings, host: str) -> None:
    """Log a warning when the API is open (no key) and reachable from other machines."""
    if settings.api_key is None and not _loopback(host):
        log.warning("POVQA_API_KEY is not set and the server listens on %s: anyone who can reach it can use "
                    "the API; set POVQA_API_KEY to require 'Authorization: Bearer <key>'", host)


class RedactSecret(logging.Filter):
    """Replaces a secret in log records with '***' (a client that puts the API key in a URL gets it logged by
    the access log otherwise)."""

    LOGGERS = ("uvicorn.access", "uvicorn.error", "povqa.api")

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def _clean(self, value: Any) -> Any:
        return value.replace(self.secret, "***") if isinstance(value, str) and self.secret in value else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True


def create_app(settings: Settings | None = None, assistant=None) -> FastAPI:
    """The FastAPI app. `settings` overrides `get_settings`; a ready `assistant` skips loading the index."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = app.dependency_overrides.get(get_settings, get_settings)()
        redact = RedactSecret(current.api_key.get_secret_value()) if current.api_key else None
        for name in RedactSecret.LOGGERS if redact else ():
            logging.getLogger(name).addFilter(redact)
        app.state.live = LiveAssistant(current, assistant)
        if assistant is None:
            await run_in_threadpool(app.state.live.load_now)
        try:
            yield
        finally:
            for name in RedactSecret.LOGGERS if redact else ():
                logging.getLogger(name).removeFilter(redact)

    app = FastAPI(
        title="povqa",
        summary="Cited answers from poverty-reduction and development-cooperation documents, or a refusal.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: the default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    app.add_middleware(BodyLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: e.get(k) for k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": _validation_message(exc), "errors": errors}, status_code=422)

    @app.exception_handler(LLMError)
    async def llm_error(request: Request, exc: LLMError) -> JSONResponse:
        log.error("%s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=502)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    protected = [Depends(require_api_key)]

    # -- open routes --
    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # OpenAPI docs that work offline: Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-py package, not a CDN.
    app.mount("/docs-static", StaticFiles(directory=_swagger_ui_dir()), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs_page():
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=app.openapi_url, title="povqa API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon-32x32.png")

    @app.get("/healthz", response_model=Health, responses={503: {"description": "No index: run `povqa index`."}})
    def healthz(request: Request) -> Health:
        assistant = get_assistant(request)
        reader = assistant.retriever.reader
        return Health(documents=len(reader.documents), chunks=reader.n_chunks,
                      embedder=assistant.retriever.embedder.name, generator=assistant.answerer.name)

    # -- /api --
    @app.post("/api/ask", response_model=Answer, dependencies=protected,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "Answer JSON; with stream=true, SSE events delta/answer/error."}})
    async def ask(body: AskRequest, settings: SettingsDep, assistant: AssistantDep):
        question = _check_question(body.question, settings)
        history = [{"role": t.role, "content": _check_text(t.content, "history")} for t in body.history]
        if not body.stream:
            return await run_in_threadpool(assistant.ask, question, history, body.mode, body.top_k)

        async def events() -> AsyncIterator[bytes]:
            async for kind, value in _events(assistant, question, history, body.mode, body.top_k):
                if kind == "delta":
                    yield _sse("delta", {"text": value})
                elif kind == "answer":
                    yield _sse("answer", value.model_dump_json())
                else:
                    yield _sse("error", {"detail": value})

        return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.post("/api/search", response_model=SearchResponse, dependencies=protected)
    def search(body: SearchRequest, settings: SettingsDep, assistant: AssistantDep) -> SearchResponse:
        query = _check_question(body.query, settings)
        return SearchResponse(results=[hit.result() for hit in assistant.retriever.search(query, body.top_k)])

    @app.get("/api/documents", response_model=DocumentsResponse, dependencies=protected)
    def documents(assistant: AssistantDep) -> DocumentsResponse:
        docs = assistant.retriever.reader.documents.values()
        return DocumentsResponse(documents=[DocumentPublic.model_validate(d.model_dump()) for d in docs])

    @app.get("/api/documents/{doc_id}/pages/{n}", response_model=PageResponse, dependencies=protected)
    def page(doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN, description="16 hex characters")],
             n: Annotated[int, PathParam(description="Page number, from 1")],
             assistant: AssistantDep) -> PageResponse:
        reader = assistant.retriever.reader
        document = reader.documents.get(doc_id)
        if document is None:
            raise _fail(404, f"no document with id {doc_id}")
        if not 1 <= n <= document.pages:
            raise _fail(404, f"page {n} is out of range: {document.title!r} has {document.pages} page(s)")
        text = reader.page_text(doc_id, n)
        if text is None:
            raise _fail(404, f"page {n} of {document.title!r} has no stored text")
        return PageResponse(doc_id=doc_id, page=n, pages=document.pages, title=document.title, text=text)

    # -- /v1: OpenAI-compatible --
    @app.get("/v1/models", dependencies=protected)
    def models() -> dict:
        created = 1_700_000_000
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "povqa"},
            {"id": BRIEFING_MODEL_ID, "object": "model", "created": created, "owned_by": "povqa"},
        ]}

    @app.post("/v1/chat/completions", dependencies=protected,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "chat.completion, or chat.completion.chunk events then [DONE]."}})
    async def chat_completions(body: ChatCompletionRequest, settings: SettingsDep, assistant: AssistantDep):
        question, history, mode = _chat_question(body, settings)
        cid, created, model = _completion_id(), int(time.time()), body.model or MODEL_ID
        if not body.stream:
            answer = await run_in_threadpool(assistant.ask, question, history, mode, None)
            text = with_sources(answer)
            return {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        async def chunks() -> AsyncIterator[bytes]:
            # Chat clients can't take text back, so they get the verified answer (never raw LLM text
            # with unchecked evidence keys), piece by piece, then the source list.
            yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
            answer = None
            async for kind, value in _events(assistant, question, history, mode, None):
                if kind == "answer":
                    answer = value
                    for piece in _pieces(answer.answer):
                        yield _chunk(cid, created, model, {"content": piece})
                elif kind == "error":
                    yield _chunk(cid, created, model, {"content": f"\n\n[error: {value}]"})
            if answer is not None and len(text := with_sources(answer)) > len(answer.answer):
                yield _chunk(cid, created, model, {"content": text[len(answer.answer):]})
            yield _chunk(cid, created, model, {}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)

    return app
