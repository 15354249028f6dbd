"""What routes get through ``Depends``: the settings, the live Assistant, the API-key check; and the input checks
shared by /api and /v1.

Settings come from ``Depends(get_settings)``: override them with ``app.dependency_overrides`` or
``create_app(settings)``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.api.middleware import UNAUTHORIZED, client_allowed
from assistant.settings import Settings, get_settings
from languages.scripts import has_content

if TYPE_CHECKING:
    from assistant.api.live import LiveAssistant


def fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def get_assistant(request: Request):
    """The Assistant being served (reloaded when the index changes), or 503 saying how to build the index."""
    live: LiveAssistant | None = getattr(request.app.state, "live", None)
    assistant = live.get() if live is not None else None
    if assistant is None or live.damaged:
        detail = (live.damaged or live.error) if live is not None else None
        raise HTTPException(503, detail or "the index is not loaded yet", headers={"Retry-After": "30"})
    return assistant


#: The key as OpenAPI's security scheme, so /docs can send it ("Authorize"); the check itself is `require_api_key`.
bearer = HTTPBearer(auto_error=False, scheme_name="APIKey",
                    description="POVQA_API_KEY, when the server has one: `Authorization: Bearer <key>`.")


def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_settings)],
                    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> None:
    """When settings.api_key is set, demand ``Authorization: Bearer <key>`` (the API key or the admin key;
    constant-time comparison; an empty token never matches). `middleware.ApiKeyGate` checks the same before the
    body is read."""
    if not client_allowed(request.headers.get("authorization", ""), settings):
        raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings)]
AssistantDep = Annotated[Any, Depends(get_assistant)]


# C0/C1 control characters other than tab and line breaks, and lone UTF-16 surrogates (valid JSON escapes that
# are not characters: they cannot even be written back out as UTF-8)
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(text: str, what: str) -> str:
    bad = _BAD_CHARS.search(text)
    if bad:
        raise fail(422, f"the {what} contains a control character or lone surrogate (U+{ord(bad.group()):04X} at "
                        f"position {bad.start()}); remove it")
    return text


def check_question(question: str, settings: Settings) -> str:
    if not question.strip():
        raise fail(422, "the question is empty")
    if len(question) > settings.max_question_chars:
        raise fail(413, f"the question is {len(question)} characters long; the limit is {settings.max_question_chars}")
    check_text(question, "question")
    if not has_content(question):
        raise fail(422, "the question has no words or numbers to search for (only punctuation, symbols or "
                        "invisible characters)")
    return question


#: Of an earlier answer, what an LLM answerer reads (`assistant.llm.render_history`); nothing else reads them.
ANSWER_TURN_CHARS = 1000


def recent_history(turns: list[tuple[str, str]], settings: Settings) -> list[dict]:
    """The turns a question takes, checked: the last `server.max_history_turns`; each user turn cut to its last
    `server.max_history_chars` characters (a follow-up is embedded with the previous question: the work grows
    faster than its length), each assistant turn to its first `ANSWER_TURN_CHARS`."""
    keep, chars = settings.server.max_history_turns, settings.server.max_history_chars
    recent = turns[len(turns) - keep:] if keep else []
    return [{"role": role, "content": check_text(content[-chars:] if role == "user" else content[:ANSWER_TURN_CHARS],
                                                 "history")} for role, content in recent]


def within_collections(assistant, names: list[str] | None):
    """The assistant restricted to the collections `names` (None or empty: all), or 422 naming an unknown one."""
    from assistant.collections import UnknownCollection, check_collections

    if not names:
        return assistant
    for name in names:
        check_text(name, "collection name")
    try:
        check_collections(assistant.retriever.reader, names)
    except UnknownCollection as exc:
        raise fail(422, f"{exc} (GET /api/collections)") from exc
    return assistant.within(names)


def answer_store(request: Request):
    """Where the server keeps answers and feedback, or 503 saying why it cannot."""
    store = getattr(request.app.state, "answers", None)
    if store is None:
        reason = getattr(request.app.state, "answers_error", None) or "the answer store is not open"
        raise HTTPException(503, f"answers are not being kept: {reason}", headers={"Retry-After": "30"})
    return store
