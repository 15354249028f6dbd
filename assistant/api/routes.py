"""The chat page, the offline OpenAPI docs, /healthz, and the JSON API under /api."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from assistant.api.deps import (AssistantDep, SettingsDep, check_question, check_text, fail, get_assistant,
                                require_api_key)
from assistant.api.schemas import (AskRequest, DocumentPublic, DocumentsResponse, Health, PageResponse, SearchRequest,
                                   SearchResponse)
from assistant.api.streaming import SSE_HEADERS, sse_events
from assistant.types import Answer

STATIC_DIR = Path(__file__).parent.parent / "static"
DOC_ID_PATTERN = r"^[0-9a-f]{16}$"

# -- open routes --
pages = APIRouter()


@pages.get("/", include_in_schema=False)
def index_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@pages.get("/docs", include_in_schema=False)
def docs_page(request: Request):
    """OpenAPI docs that work offline: Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-py package, not a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title="povqa API",
                               swagger_js_url="/docs-static/swagger-ui-bundle.js",
                               swagger_css_url="/docs-static/swagger-ui.css",
                               swagger_favicon_url="/docs-static/favicon-32x32.png")


@pages.get("/healthz", response_model=Health, responses={503: {"description": "No index: run `povqa index`."}})
def healthz(request: Request) -> Health:
    assistant = get_assistant(request)
    reader = assistant.retriever.reader
    return Health(documents=len(reader.documents), chunks=reader.n_chunks,
                  embedder=assistant.retriever.embedder.name, generator=assistant.answerer.name)


# -- /api (behind the API key when one is set) --
api = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])


@api.post("/ask", response_model=Answer,
          responses={200: {"content": {"text/event-stream": {}},
                           "description": "Answer JSON; with stream=true, SSE events delta/answer/error."}})
async def ask(body: AskRequest, settings: SettingsDep, assistant: AssistantDep):
    question = check_question(body.question, settings)
    history = [{"role": t.role, "content": check_text(t.content, "history")} for t in body.history]
    if not body.stream:
        return await run_in_threadpool(assistant.ask, question, history, body.mode, body.top_k)
    return StreamingResponse(sse_events(assistant, question, history, body.mode, body.top_k),
                             media_type="text/event-stream", headers=SSE_HEADERS)


@api.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, settings: SettingsDep, assistant: AssistantDep) -> SearchResponse:
    query = check_question(body.query, settings)
    return SearchResponse(results=[hit.result() for hit in assistant.retriever.search(query, body.top_k)])


@api.get("/documents", response_model=DocumentsResponse)
def documents(assistant: AssistantDep) -> DocumentsResponse:
    docs = assistant.retriever.reader.documents.values()
    return DocumentsResponse(documents=[DocumentPublic.model_validate(d.model_dump()) for d in docs])


@api.get("/documents/{doc_id}/pages/{n}", response_model=PageResponse)
def page(doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN, description="16 hex characters")],
         n: Annotated[int, PathParam(description="Page number, from 1")],
         assistant: AssistantDep) -> PageResponse:
    reader = assistant.retriever.reader
    document = reader.documents.get(doc_id)
    if document is None:
        raise fail(404, f"no document with id {doc_id}")
    if not 1 <= n <= document.pages:
        raise fail(404, f"page {n} is out of range: {document.title!r} has {document.pages} page(s)")
    text = reader.page_text(doc_id, n)
    if text is None:
        raise fail(404, f"page {n} of {document.title!r} has no stored text")
    return PageResponse(doc_id=doc_id, page=n, pages=document.pages, title=document.title, text=text)
