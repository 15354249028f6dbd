"""`povqa serve`: the HTTP shell over `Assistant` — JSON API, SSE streaming, OpenAI-compatible routes, chat page.

Routes (all errors are JSON ``{"detail": "..."}``):

    GET  /                                  the chat page (assistant/static/)
    GET  /healthz                           200 with counts once the index is loaded, 503 (Retry-After) if it
                                            is not, or is damaged on disk
    POST /api/ask                           Answer JSON, or server-sent events with ``"stream": true``
    POST /api/search                        {"results": [SearchResult, ...]}
    GET  /api/documents                     {"documents": [...]}
    GET  /api/documents/{doc_id}/pages/{n}  one page's text (to show a citation in place)
    GET  /v1/models, POST /v1/chat/completions   OpenAI-compatible (model "povqa")
    GET  /docs                              OpenAPI docs

The modules:

    app.py         create_app: the lifespan, routers, error handlers, middleware, static files
    deps.py        what routes get through Depends: settings, the live Assistant, the API-key check
    schemas.py     the public request and response models
    routes.py      /, /docs, /healthz and /api/*
    openai.py      the OpenAI-compatible /v1 adapter
    streaming.py   server-sent events (the event order is described there)
    live.py        LiveAssistant: the served Assistant, hot-swapped when the index changes, and whether its
                   files were damaged after loading
    middleware.py  the guards: security headers, the Host check of an open server, the key before the body,
                   body limits (size, time, all bodies together), errors as JSON; key redaction in logs
    slots.py       at most `server.max_concurrent_answers` questions at once; a client that leaves is dropped
    server.py      `povqa serve`'s uvicorn: a connection cap below ulimit -n, a deadline for request heads

The index and embedder are loaded in the lifespan into ``app.state.live`` (a `LiveAssistant`), which swaps in
a new index version in the background when `povqa index` writes one (no restart). Settings come
from ``Depends(get_settings)`` (override with ``app.dependency_overrides`` or ``create_app(settings)``).
``Assistant.ask`` is synchronous CPU work: it runs in the threadpool (through `slots.Slots`), so requests run
concurrently, up to `server.max_concurrent_answers`, without a global lock. The limits are the settings of
``Settings.server`` (README, "Limits" and "Public deployment").
"""

from assistant.api.app import create_app
from assistant.api.deps import get_assistant, require_api_key
from assistant.api.live import LiveAssistant
from assistant.api.middleware import BodyLimit, RedactSecret, warn_if_exposed
from assistant.api.openai import with_sources
from assistant.api.streaming import stream_answer

__all__ = ["BodyLimit", "LiveAssistant", "RedactSecret", "create_app", "get_assistant", "require_api_key",
           "stream_answer", "warn_if_exposed", "with_sources"]
