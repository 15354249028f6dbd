"""The chat page, the offline OpenAPI docs, /healthz, and the JSON API under /api."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from pydantic import BeforeValidator

from starlette.concurrency import run_in_threadpool

from assistant.api.answers import keeper
from assistant.api.deps import (AssistantDep, SettingsDep, check_question, fail, get_assistant, recent_history,
                                require_api_key, within_collections)
from assistant.api.middleware import PAGE_CSP
from assistant.api.schemas import (AskRequest, DocumentPublic, DocumentsResponse, Health, PageResponse, SearchRequest,
                                   SearchResponse)
from assistant.api.slots import ClientGone, slots
from assistant.api.streaming import SSE_HEADERS, sse_events
from assistant.types import Answer

STATIC_DIR = Path(__file__).parent.parent / "static"
DOC_ID_PATTERN = r"^[0-9a-f]{16}$"

# -- open routes --
pages = APIRouter()


@pages.get("/", include_in_schema=False)
def index_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache",
                                                             "Content-Security-Policy": PAGE_CSP})


def docs_csp(html: str) -> str:
    """The docs page's policy: its own files, and its one inline script by hash."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                      for body in re.findall(r"<script>(.*?)</script>", html, re.S))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@pages.get("/docs", include_in_schema=False)
def docs_page(request: Request):
    """OpenAPI docs that work offline: Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-py package, not a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    page = get_swagger_ui_html(openapi_url=request.app.openapi_url, title="povqa API",
                               swagger_js_url="/docs-static/swagger-ui-bundle.js",
                               swagger_css_url="/docs-static/swagger-ui.css",
                               swagger_favicon_url="/docs-static/favicon-32x32.png")
    html = page.body.decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_csp(html)})


@pages.get("/healthz", response_model=Health,
           responses={503: {"description": "No index (run `povqa index`), or the loaded one is damaged; with "
                                           "Retry-After."}})
def healthz(request: Request) -> Health:
    assistant = get_assistant(request)
    damage = request.app.state.live.damage()
    if damage:
        raise HTTPException(503, damage, headers={"Retry-After": "30"})
    reader = assistant.retriever.reader
    return Health(documents=len(reader.documents), chunks=reader.n_chunks,
                  embedder=assistant.retriever.embedder.name, generator=assistant.answerer.name)


def plain_integer(value: object) -> object:
    """Digits only, with an optional minus: not '1_0', '+1', ' 1' or '1e3', which int() would take."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]{1,30}", value):
        raise ValueError("a page number is written with digits only")
    return value


# -- /api (behind the API key when one is set) --
api = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)])


GONE = 499  # nginx's "client closed request": nobody reads it, the access log shows it


@api.post("/ask", response_model=Answer,
          responses={200: {"content": {"text/event-stream": {}},
                           "description": "Answer JSON; with stream=true, SSE events delta/answer/error."}})
async def ask(body: AskRequest, request: Request, settings: SettingsDep, assistant: AssistantDep):
    question = check_question(body.question, settings)
    history = recent_history([(t.role, t.content) for t in body.history], settings)
    restricted = within_collections(assistant, body.collections)
    keep = keeper(request, question, body.mode, history, body.collections)  # the answer gets its id
    if not body.stream:
        try:
            answer = await slots(request).run(request, restricted.ask, question, history, body.mode, body.top_k)
        except ClientGone:
            return Response(status_code=GONE)
        return await run_in_threadpool(keep, answer)
    return StreamingResponse(sse_events(restricted, question, history, body.mode, body.top_k, slots(request), keep),
                             media_type="text/event-stream", headers=SSE_HEADERS)


@api.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, request: Request, settings: SettingsDep, assistant: AssistantDep):
    query = check_question(body.query, settings)
    retriever = within_collections(assistant, body.collections).retriever
    try:
        hits = await slots(request).run(request, retriever.search, query, body.top_k)
    except ClientGone:
        return Response(status_code=GONE)
    return SearchResponse(results=[hit.result() for hit in hits])


@api.get("/documents", response_model=DocumentsResponse)
def documents(assistant: AssistantDep) -> DocumentsResponse:
    docs = assistant.retriever.reader.documents.values()
    return DocumentsResponse(documents=[DocumentPublic.model_validate({**d.model_dump(), "collection": d.collection})
                                        for d in docs])


@api.get("/documents/{doc_id}/pages/{n}", response_model=PageResponse)
def page(doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN, description="16 hex characters")],
         n: Annotated[int, BeforeValidator(plain_integer), PathParam(description="Page number, from 1")],
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
    return PageResponse(doc_id=doc_id, page=n, pages=document.pages, title=document.title, text=text,
                        location=document.location(n))
