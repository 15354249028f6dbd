"""Answering slots: at most `server.max_concurrent_answers` questions are worked on at once, and a request whose
client goes away is dropped — unanswered while it waits for a slot, and no longer waited for once it runs (the
worker thread cannot be interrupted: its slot is freed when it finishes, so abandoned work never piles up past
the limit). A streamed answer stops at its next event when the client goes (`streaming.answer_events`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("povqa.api")
T = TypeVar("T")

POLL_S = 0.2  # how often a waiting request looks whether its client is still there


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


class Slots:
    def __init__(self, n: int):
        self.n = n
        self._semaphore: asyncio.Semaphore | None = None  # made in the serving loop, on first use

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.n)
        return self._semaphore

    async def acquire(self, request: Request | None) -> None:
        """Wait for a slot, first come first served; ClientGone if the client disconnects first (then no slot is
        taken). Not `asyncio.wait_for`, which can lose a slot granted just as it times out."""
        acquiring = asyncio.ensure_future(self.semaphore.acquire())
        try:
            while not acquiring.done():
                await asyncio.wait({acquiring}, timeout=POLL_S)
                if not acquiring.done() and request is not None and await request.is_disconnected():
                    raise ClientGone
        except BaseException:  # gone, or cancelled (a streamed response whose client left)
            acquiring.cancel()
            acquiring.add_done_callback(self._give_back)
            raise

    def _give_back(self, acquiring: asyncio.Future) -> None:
        if not acquiring.cancelled() and acquiring.exception() is None:
            self.release()

    def release(self, *_: Any) -> None:
        self.semaphore.release()

    async def run(self, request: Request, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the threadpool once a slot is free; ClientGone if the client leaves before it is done."""
        await self.acquire(request)
        task = asyncio.ensure_future(run_in_threadpool(fn, *args))
        task.add_done_callback(self.release)
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.add_done_callback(_drop_result)
                raise ClientGone


def _drop_result(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a question whose client had gone failed: %s", task.exception())


def slots(request: Request) -> Slots:
    return request.app.state.slots
