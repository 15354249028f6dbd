"""The OpenAI-compatible adapter under /v1: chat clients ask with ``model: "povqa"`` (or ``"povqa-briefing"``).

Chat clients can't take text back, so a streamed completion carries the verified answer (never raw LLM text
with unchecked evidence keys), piece by piece, then the source list.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from assistant.api.deps import AssistantDep, SettingsDep, check_question, check_text, fail, require_api_key
from assistant.api.schemas import BRIEFING_MODEL_ID, MODEL_ID, ChatCompletionRequest
from assistant.api.streaming import SSE_HEADERS, answer_events, pieces
from assistant.settings import Settings
from assistant.types import Answer

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


def with_sources(answer: Answer) -> str:
    """The answer text followed by a numbered source list (for chat clients that only show text)."""
    if answer.refused or not answer.citations:
        return answer.answer
    lines = [f"[{c.n}] {c.title}, p. {c.page}: \u201c{c.quote}\u201d" for c in answer.citations]
    return answer.answer + "\n\nSources:\n" + "\n".join(lines)


def _chat_question(body: ChatCompletionRequest, settings: Settings) -> tuple[str, list[dict], str]:
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise fail(422, "the last message must be a user message (the question)")
    question = check_question(turns[-1][1], settings)
    history = [{"role": r, "content": check_text(c, "history")} for r, c in turns[:-1]]
    mode = "briefing" if body.model == BRIEFING_MODEL_ID else "answer"
    return question, history, mode


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None) -> bytes:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _completion_chunks(assistant, question: str, history: list[dict], mode: str,
                             cid: str, created: int, model: str) -> AsyncIterator[bytes]:
    """A streamed chat.completion: the role, the verified answer piece by piece, the sources, stop, [DONE]."""
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
    answer = None
    async for kind, value in answer_events(assistant, question, history, mode, None):
        if kind == "answer":
            answer = value
            for piece in pieces(answer.answer):
                yield _chunk(cid, created, model, {"content": piece})
        elif kind == "error":
            yield _chunk(cid, created, model, {"content": f"\n\n[error: {value}]"})
    if answer is not None and len(text := with_sources(answer)) > len(answer.answer):
        yield _chunk(cid, created, model, {"content": text[len(answer.answer):]})
    yield _chunk(cid, created, model, {}, "stop")
    yield b"data: [DONE]\n\n"


@router.get("/models")
def models() -> dict:
    created = 1_700_000_000
    return {"object": "list", "data": [
        {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "povqa"},
        {"id": BRIEFING_MODEL_ID, "object": "model", "created": created, "owned_by": "povqa"},
    ]}


@router.post("/chat/completions",
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
    return StreamingResponse(_completion_chunks(assistant, question, history, mode, cid, created, model),
                             media_type="text/event-stream", headers=SSE_HEADERS)
