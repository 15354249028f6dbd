"""The app factory: the FastAPI app with its lifespan, routers, error handlers, middleware and static files."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.api import answers, documents, feedback, openai, routes
from assistant.api.admin import AdminGate, UploadLimit
from assistant.api.live import LiveAssistant
from assistant.api.middleware import ApiKeyGate, BodyLimit, Errors, HostCheck, RedactSecret, SecurityHeaders
from assistant.answerstore import AnswerStore
from assistant.jobs import JobRunner
from assistant.api.slots import Slots
from assistant.llm import LLMError
from assistant.settings import Settings, get_settings

log = logging.getLogger("povqa.api")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the index and embedder once into ``app.state.live`` (unless `create_app` got a ready assistant), and
    keep the API key out of the logs while serving."""
    current = app.dependency_overrides.get(get_settings, get_settings)()
    check_key(current)
    app.state.settings = current
    app.state.slots = Slots(current.server.max_concurrent_answers)
    redactions = [RedactSecret(key.get_secret_value()) for key in (current.api_key, current.admin_key) if key]
    for name in RedactSecret.LOGGERS:
        for redact in redactions:
            logging.getLogger(name).addFilter(redact)
    assistant = app.state.preloaded_assistant
    app.state.live = LiveAssistant(current, assistant)
    if assistant is None:
        await run_in_threadpool(app.state.live.load_now)
    open_answers(app, current)
    app.state.jobs = JobRunner(current, app.state.live)
    app.state.jobs.recover()  # a job a killed server left: finished now
    try:
        yield
    finally:
        app.state.jobs.close()
        if app.state.answers is not None:
            app.state.answers.close()
        for name in RedactSecret.LOGGERS:
            for redact in redactions:
                logging.getLogger(name).removeFilter(redact)
        app.state.settings = None


def open_answers(app: FastAPI, settings: Settings) -> None:
    """The kept answers' store into ``app.state.answers``; one that cannot be opened is logged, and the server
    answers without keeping answers (their routes say why, 503)."""
    app.state.answers, app.state.answers_error = None, None
    try:
        app.state.answers = AnswerStore(settings.answers_path, settings.server.keep_answers_days)
    except (sqlite3.Error, OSError) as exc:
        app.state.answers_error = f"{settings.answers_path} cannot be opened ({exc})"
        log.error("answers are not kept: %s", app.state.answers_error)


def check_key(settings: Settings) -> None:
    """An empty key would let an empty bearer token in: refuse to serve with one (Settings refuses it from the
    environment; this catches one set in code)."""
    if settings.api_key is not None and not settings.api_key.get_secret_value().strip():
        raise ValueError("the API key is set but empty: unset POVQA_API_KEY for an open server, or set a key")
    if settings.admin_key is not None and not settings.admin_key.get_secret_value().strip():
        raise ValueError("the admin key is set but empty: unset POVQA_ADMIN_KEY, or set a key")


# -- errors: every one is JSON {"detail": "..."} --------------------------------------------------

def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{k: e.get(k) for k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse({"detail": _validation_message(exc), "errors": errors}, status_code=422)


async def llm_error(request: Request, exc: LLMError) -> JSONResponse:
    log.error("%s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=502)


def _swagger_ui_dir() -> Path:
    """The Swagger UI files shipped by swagger-ui-py (located, not imported: we need only its static files)."""
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def create_app(settings: Settings | None = None, assistant=None, host: str | None = None) -> FastAPI:
    """The FastAPI app. `settings` overrides `get_settings`; a ready `assistant` skips loading the index; `host`:
    the address it is served on (`povqa serve --host`), which decides who may upload without an admin key
    (`admin`)."""
    app = FastAPI(
        title="povqa",
        summary="Cited answers from poverty-reduction and development-cooperation documents, or a refusal.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs_page from local files: the default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.preloaded_assistant = assistant
    app.state.bind_host = host
    app.state.settings = None  # set in the lifespan
    if settings is not None:
        check_key(settings)
        app.dependency_overrides[get_settings] = lambda: settings
    # outermost last: headers on every answer, then Host, then the key, then the body, then errors as JSON
    for guard in (Errors, UploadLimit, BodyLimit, AdminGate, ApiKeyGate, HostCheck, SecurityHeaders):
        app.add_middleware(guard)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LLMError, llm_error)

    app.include_router(routes.pages)
    app.mount("/static", StaticFiles(directory=routes.STATIC_DIR), name="static")
    # OpenAPI docs that work offline: Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-py package, not a CDN.
    app.mount("/docs-static", StaticFiles(directory=_swagger_ui_dir()), name="docs-static")
    app.include_router(routes.api)
    for router in (documents.router, documents.staff, answers.router, feedback.router):
        app.include_router(router)
    app.include_router(openai.router)
    return app
