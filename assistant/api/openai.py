"""The OpenAI-compatible adapter under /v1: chat clients ask with ``model: "povqa"`` (or ``"povqa-briefing"``).

Chat clients can't take text back, so a streamed completion carries the verified answer (never raw LLM text
with unchecked evidence keys), piece by piece, then the source list.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from assistant.api.deps import (AssistantDep, SettingsDep, check_question, fail, recent_history, require_api_key,
                                within_collections)
from assistant.api.schemas import BRIEFING_MODEL_ID, MODEL_ID, ChatCompletionRequest
from assistant.api.slots import ClientGone, Slots, slots
from assistant.api.streaming import SSE_HEADERS, answer_events, pieces
from assistant.settings import Settings
from assistant.types import Answer, place

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

MODELS = (MODEL_ID, BRIEFING_MODEL_ID)
#: One token of the approximate count: a CJK character, a word, or a punctuation mark.
TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\W\u3040-\u30ff\u3400-\u4dbf"
                   r"\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+|[^\w\s]")


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN.finditer(text))


def with_sources(answer: Answer) -> str:
    """The answer text followed by a numbered source list (for chat clients that only show text)."""
    if answer.refused or not answer.citations:
        return answer.answer
    lines = [f"[{c.n}] {c.title}, {place(c.page, c.location)}: \u201c{c.quote}\u201d" for c in answer.citations]
    return answer.answer + "\n\nSources:\n" + "\n".join(lines)


def check_supported(body: ChatCompletionRequest) -> None:
    """400 with the reason for what povqa cannot honour (silently ignoring it would mislead the client)."""
    if body.model not in MODELS:
        raise fail(400, f"unknown model {body.model[:40]!r}: this server answers as {MODEL_ID!r} or "
                        f"{BRIEFING_MODEL_ID!r} (GET /v1/models)")
    if body.n not in (None, 1):
        raise fail(400, f"n={body.n} is not supported: povqa gives one answer (n must be 1)")
    if body.tools or body.functions:
        raise fail(400, "tools and functions are not supported: povqa answers from its documents only")
    if body.logprobs:
        raise fail(400, "logprobs are not supported: the answer is quoted, not sampled")
    if body.response_format and body.response_format.get("type", "text") != "text":
        raise fail(400, f"response_format {str(body.response_format.get('type'))[:40]!r} is not supported: "
                        "only text")


def _chat_question(body: ChatCompletionRequest, settings: Settings) -> tuple[str, list[dict], str]:
    check_supported(body)
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise fail(422, "the last message must be a user message (the question)")
    question = check_question(turns[-1][1], settings)
    history = recent_history(turns[:-1], settings)
    mode = "briefing" if body.model == BRIEFING_MODEL_ID else "answer"
    return question, history, mode


def finish(text: str, body: ChatCompletionRequest) -> tuple[str, str]:
    """The reply as the request bounds it, and its finish_reason: cut before the first stop string ("stop"),
    then after max_tokens tokens ("length")."""
    stops = [body.stop] if isinstance(body.stop, str) else body.stop or []
    cuts = [text.find(s) for s in stops if s and s in text]
    if cuts:
        text = text[:min(cuts)]
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None:
        for i, match in enumerate(TOKEN.finditer(text), 1):
            if i == limit and match.end() < len(text.rstrip()):
                return text[:match.end()], "length"
    return text, "stop"


def usage(question: str, history: list[dict], reply: str) -> dict:
    prompt = count_tokens(question) + sum(count_tokens(t["content"]) for t in history)
    completion = count_tokens(reply)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


class Chunks:
    """The chat.completion.chunk events of one streamed completion."""

    def __init__(self, model: str, with_usage: bool):
        self.id, self.created, self.model, self.with_usage = _completion_id(), int(time.time()), model, with_usage

    def __call__(self, delta: dict | None, finish_reason: str | None = None, usage: dict | None = None) -> bytes:
        data = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if self.with_usage:
            data["usage"] = usage
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _completion_chunks(assistant, question: str, history: list[dict], mode: str, body: ChatCompletionRequest,
                             answer_slots: Slots) -> AsyncIterator[bytes]:
    """A streamed chat.completion: the role, the verified answer piece by piece, the sources, the finish reason,
    the usage when asked for, [DONE]."""
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk = Chunks(body.model, include_usage)
    yield chunk({"role": "assistant", "content": ""})
    sent, reason = "", "stop"
    async for kind, value in answer_events(assistant, question, history, mode, None, answer_slots):
        if kind == "answer":
            text, reason = finish(with_sources(value), body)
            answer_part = text[:len(value.answer)]
            parts = pieces(answer_part) + ([text[len(answer_part):]] if len(text) > len(answer_part) else [])
            for piece in parts:
                yield chunk({"content": piece})
            sent = text
        elif kind == "error":
            sent = f"\n\n[error: {value}]"
            yield chunk({"content": sent})
    yield chunk({}, reason)
    if include_usage:
        yield chunk(None, usage=usage(question, history, sent))
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
                              "description": "chat.completion, or chat.completion.chunk events then [DONE]."},
                        400: {"description": "Something povqa does not support: an unknown model, n > 1, tools, "
                                             "logprobs, a non-text response_format."}})
async def chat_completions(body: ChatCompletionRequest, request: Request, settings: SettingsDep,
                           assistant: AssistantDep):
    question, history, mode = _chat_question(body, settings)
    assistant = within_collections(assistant, body.collections)
    if body.stream:
        return StreamingResponse(_completion_chunks(assistant, question, history, mode, body, slots(request)),
                                 media_type="text/event-stream", headers=SSE_HEADERS)
    try:
        answer = await slots(request).run(request, assistant.ask, question, history, mode, None)
    except ClientGone:
        return Response(status_code=499)
    text, reason = finish(with_sources(answer), body)
    return {
        "id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}],
        "usage": usage(question, history, text),
    }
