"""Guards around the app: the request-body limit, secret redaction in logs, the open-server warning."""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.settings import Settings

log = logging.getLogger("povqa.api")

MAX_BODY_BYTES = 1_000_000


class BodyLimit:
    """Reject request bodies over `limit` bytes with 413 (by Content-Length, or while reading a chunked body)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        try:
            too_big = length is not None and int(length) > self.limit
        except ValueError:
            too_big = True
        if too_big:
            await self._reject(send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._reject(send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        payload = json.dumps({"detail": f"request body too large: the limit is {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class RedactSecret(logging.Filter):
    """Replaces a secret in log records with '***' (a client that puts the API key in a URL gets it logged by
    the access log otherwise)."""

    LOGGERS = ("uvicorn.access", "uvicorn.error", "povqa.api")

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def _clean(self, value: Any) -> Any:
        return value.replace(self.secret, "***") if isinstance(value, str) and self.secret in value else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings, host: str) -> None:
    """Log a warning when the API is open (no key) and reachable from other machines."""
    if settings.api_key is None and not _loopback(host):
        log.warning("POVQA_API_KEY is not set and the server listens on %s: anyone who can reach it can use "
                    "the API; set POVQA_API_KEY to require 'Authorization: Bearer <key>'", host)
