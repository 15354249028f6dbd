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

The modules:

    app.py         create_app: the lifespan, routers, error handlers, middleware, static files
    deps.py        what routes get through Depends: settings, the live Assistant, the API-key check
    schemas.py     the public request and response models
    routes.py      /, /docs, /healthz and /api/*
    openai.py      the OpenAI-compatible /v1 adapter
    streaming.py   server-sent events (the event order is described there)
    live.py        LiveAssistant: the served Assistant, hot-swapped when the index changes
    middleware.py  the body limit, secret redaction in logs, the open-server warning

The index and embedder are loaded in the lifespan into ``app.state.live`` (a `LiveAssistant`), which swaps in
a new index version in the background when `povqa index` writes one (no restart). Settings come
from ``Depends(get_settings)`` (override with ``app.dependency_overrides`` or ``create_app(settings)``).
``Assistant.ask`` is synchronous CPU work: it runs in the threadpool (plain ``def`` endpoints,
``run_in_threadpool``), so requests run concurrently without a global lock.
"""

from assistant.api.app import create_app
from assistant.api.deps import get_assistant, require_api_key
from assistant.api.live import LiveAssistant
from assistant.api.middleware import BodyLimit, RedactSecret, warn_if_exposed
from assistant.api.openai import with_sources
from assistant.api.streaming import stream_answer

__all__ = ["BodyLimit", "LiveAssistant", "RedactSecret", "create_app", "get_assistant", "require_api_key",
           "stream_answer", "warn_if_exposed", "with_sources"]
