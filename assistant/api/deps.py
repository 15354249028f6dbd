"""What routes get through ``Depends``: the settings, the live Assistant, the API-key check; and the input checks
shared by /api and /v1.

Settings come from ``Depends(get_settings)``: override them with ``app.dependency_overrides`` or
``create_app(settings)``.
"""

from __future__ import annotations

import hmac
import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from assistant.settings import Settings, get_settings

if TYPE_CHECKING:
    from assistant.api.live import LiveAssistant


def fail(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def get_assistant(request: Request):
    """The Assistant being served (reloaded when the index changes), or 503 saying how to build the index."""
    live: LiveAssistant | None = getattr(request.app.state, "live", None)
    assistant = live.get() if live is not None else None
    if assistant is None:
        raise fail(503, (live.error if live is not None else None) or "the index is not loaded yet")
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
    return check_text(question, "question")
