"""Server-sent events: the answer as a stream of events, and their wire format.

``POST /api/ask`` with ``"stream": true`` sends, in order:

    event: delta    data: {"text": "..."}      a piece of the answer text, as it is produced (0..n times)
    event: answer   data: {Answer JSON}        the final, verified answer (exactly once, last)
    event: error    data: {"detail": "..."}    instead of `answer` when answering failed mid-stream

The extractive answerer emits its answer sentence by sentence (briefing: bullet by bullet), so the
deltas concatenate to ``answer.answer``. The LLM answerer emits the model's raw deltas (with its
evidence keys); the `answer` event carries the post-processed text with numbered, verified
citations, which replaces the streamed text.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from assistant.api.slots import Slots

log = logging.getLogger("povqa.api")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def pieces(text: str) -> list[str]:
    """Split an extractive answer after each citation marker (sentences) or line (bullets); joins back to `text`."""
    if "\n" in text:
        return [p for p in re.split(r"(?<=\n)", text) if p]
    return [p for p in re.split(r"(?<=\])(?=\s)", text) if p]


def sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n".encode()


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
            for piece in pieces(value.answer):
                yield "delta", piece
        yield kind, value


async def answer_events(assistant, question: str, history: list[dict], mode: str, top_k: int | None,
                        slots: Slots | None = None) -> AsyncIterator[tuple[str, Any]]:
    """`stream_answer` run in the threadpool, once an answering slot is free; a failure after the stream started
    becomes ("error", detail). When the client goes away the response is cancelled: the step running in its
    worker thread finishes, then the generator is closed (an LLM's stream with it) and the slot freed."""
    if slots is not None:
        await slots.acquire(None)  # cancelled, taking no slot, if the client leaves while waiting
    events = stream_answer(assistant, question, history, mode, top_k)
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    except Exception as exc:  # the response has started: report in-band
        log.exception("answering failed")
        yield "error", f"answering failed: {type(exc).__name__}: {exc}"
    finally:
        events.close()  # not running: a worker-thread step is always waited for, even when cancelled
        if slots is not None:
            slots.release()


async def sse_events(assistant, question: str, history: list[dict], mode: str, top_k: int | None,
                     slots: Slots | None = None, keep: Callable[[Any], Any] | None = None) -> AsyncIterator[bytes]:
    """The body of a streamed ``POST /api/ask``: delta... then answer (or error), as SSE frames. `keep`: stores
    the answer and returns it with its id (`api.answers.keeper`)."""
    async for kind, value in answer_events(assistant, question, history, mode, top_k, slots):
        if kind == "delta":
            yield sse("delta", {"text": value})
        elif kind == "answer":
            yield sse("answer", (await run_in_threadpool(keep, value) if keep else value).model_dump_json())
        else:
            yield sse("error", {"detail": value})
