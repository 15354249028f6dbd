"""Guards around the app, outermost first: security headers, the Host check of an open server, the API-key gate
(401 before the body is read), the body limits (size, time, all bodies together), and JSON errors that keep the
connection open. Plus secret redaction in logs and the open-server warning."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.settings import Settings, get_settings

log = logging.getLogger("povqa.api")

MAX_BODY_BYTES = 1_000_000  # the default of settings.server.max_body_bytes

#: The chat page: its script and style are files of this server; no inline code, no other origin, no frames.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: Everything else (JSON, files): nothing may run or load, nothing may frame it.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin")]


def app_settings(scope: Scope) -> Settings:
    """The settings the app serves with: set in the lifespan, else what `get_settings` (or its override) gives."""
    app = scope["app"]
    settings = getattr(app.state, "settings", None)
    return settings if settings is not None else app.dependency_overrides.get(get_settings, get_settings)()


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


CLOSE = {"Connection": "close"}  # the rest of the body is not read: the connection cannot carry another request


class SecurityHeaders:
    """nosniff, no framing, no referrer on every response; a Content-Security-Policy where a route set none."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def host_name(header: str) -> str:
    """The name in a Host header: no port, no brackets, lower case, no trailing dot."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def host_allowed(header: str, allowed: str) -> bool:
    """localhost (and *.localhost), any IP address (DNS rebinding needs a name), or a name of `allowed`."""
    name = host_name(header)
    names = {n.strip().lower().rstrip(".") for n in allowed.split(",") if n.strip()}
    if not name or "*" in names or name in names or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class HostCheck:
    """Without an API key, answer only Hosts that a DNS-rebinding web page cannot send (400 otherwise)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            settings = app_settings(scope)
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if settings.api_key is None and not host_allowed(host, settings.server.allowed_hosts):
                await send_json(send, 400, f"Host {host[:100]!r} is not served: without an API key povqa answers "
                                "only localhost and IP addresses (a guard against DNS rebinding); add the name to "
                                "POVQA_SERVER__ALLOWED_HOSTS, or set POVQA_API_KEY")
                return
        await self.app(scope, receive, send)


def protected(path: str) -> bool:
    return path in ("/api", "/v1") or path.startswith(("/api/", "/v1/"))


def key_matches(authorization: str, key: str) -> bool:
    """``Bearer <key>``, compared in constant time; an empty token never matches."""
    import hmac

    scheme, _, given = authorization.partition(" ")
    given = given.strip()
    return scheme.lower() == "bearer" and bool(given) and hmac.compare_digest(given.encode(), key.encode())


UNAUTHORIZED = "missing or wrong API key: send 'Authorization: Bearer <key>'"


def client_allowed(authorization: str, settings: Settings) -> bool:
    """Whether a client may use /api and /v1: no API key is set, or it sent it (or the admin key)."""
    keys = [k.get_secret_value() for k in (settings.api_key, settings.admin_key) if k is not None]
    return settings.api_key is None or any(key_matches(authorization, k) for k in keys)


class ApiKeyGate:
    """With an API key set, /api and /v1 answer 401 before their body is read or validated."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and protected(scope["path"]):
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not client_allowed(authorization, app_settings(scope)):
                await send_json(send, 401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
                return
        await self.app(scope, receive, send)


def declares_more_than(scope: Scope, limit: int) -> bool:
    """The request's Content-Length is over `limit` bytes, or is not a number (then the body is not trusted)."""
    length = dict(scope.get("headers") or []).get(b"content-length")
    try:
        return length is not None and int(length) > limit
    except ValueError:
        return True


class BodyLimit:
    """Read the whole request body before the app sees it, within limits: `max_body_bytes` (413, by
    Content-Length or while reading), `body_timeout_s` (408: a client that sends slowly cannot hold a connection
    and its buffer), and `max_buffered_bytes` for all bodies being received at once (503)."""

    def __init__(self, app: ASGIApp, limit: int | None = None):
        self.app = app
        self.limit = limit  # None: settings.server.max_body_bytes
        self.buffered = 0  # bytes of the bodies held right now, all requests together

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") or \
                (scope["method"] == "POST" and scope.get("path", "").rstrip("/") == "/api/documents"):
            await self.app(scope, receive, send)  # an upload streams to disk, within its own limits: admin.UploadLimit
            return
        server = app_settings(scope).server
        limit = self.limit or server.max_body_bytes
        if declares_more_than(scope, limit):
            await self._too_large(send, limit)
            return
        parts: list[bytes] = []
        held = 0
        try:
            try:
                with anyio.fail_after(server.body_timeout_s):
                    more = True
                    while more:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            return
                        part = message.get("body", b"")
                        more = message.get("more_body", False)
                        if held + len(part) > limit:
                            await self._too_large(send, limit)
                            return
                        if self.buffered + len(part) > server.max_buffered_bytes:
                            await send_json(send, 503, "the server is receiving too many request bodies at once; "
                                            "retry in a few seconds", {"Retry-After": "5", **CLOSE})
                            return
                        parts.append(part)
                        held += len(part)
                        self.buffered += len(part)
            except TimeoutError:
                await send_json(send, 408, f"the request body did not arrive within {server.body_timeout_s:g} s",
                                CLOSE)
                return
            body = b"".join(parts)
            parts.clear()
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.buffered -= held

    async def _too_large(self, send: Send, limit: int) -> None:
        await send_json(send, 413, f"request body too large: the limit is {limit} bytes", CLOSE)


class Errors:
    """An exception becomes JSON without closing the connection: 503 with Retry-After when the index cannot be
    read (damaged on disk: /healthz says so too), else 500. Inside the other guards, so the answer keeps them."""

    RETRY_AFTER_S = 30

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:  # a streamed body failed after its start: nothing more can be said
                raise
            live = getattr(scope["app"].state, "live", None)
            damage = live.mark_damaged(exc) if live is not None else None
            if damage:
                log.error("%s %s: %s", scope["method"], scope["path"], damage)
                await send_json(send, 503, damage, {"Retry-After": str(self.RETRY_AFTER_S)})
                return
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await send_json(send, 500, f"internal error: {type(exc).__name__}")


class RedactSecret(logging.Filter):
    """Replaces a secret in log records with '***', written plainly or percent-encoded (once or twice, any case
    of hex digits, '+' for a space): a client that puts the API key in a URL gets it logged by the access log
    otherwise, as sent or re-quoted."""

    LOGGERS = ("uvicorn.access", "uvicorn.error", "povqa.api")

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret
        self.pattern = re.compile("".join(self._char(ch) for ch in secret))

    @staticmethod
    def _char(ch: str) -> str:
        """One character of the secret: itself, or its UTF-8 bytes percent-encoded (once or twice; even letters
        and digits, which a client may encode too)."""
        hexes = [f"{b:02X}" for b in ch.encode()]
        forms = [re.escape(ch), "".join(f"%(?:25)?(?i:{h})" for h in hexes)]
        if ch == " ":
            forms.append(r"\+")
        return "(?:" + "|".join(forms) + ")"

    def _clean(self, value: Any) -> Any:
        return self.pattern.sub("***", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings, host: str) -> None:
    """Log a warning when the API is open (no key) and reachable from other machines, or its key is short."""
    if settings.api_key is None and not _loopback(host):
        log.warning("POVQA_API_KEY is not set and the server listens on %s: anyone who can reach it can use "
                    "the API; set POVQA_API_KEY to require 'Authorization: Bearer <key>'", host)
    elif settings.api_key is not None and len(settings.api_key.get_secret_value()) < 16 and not _loopback(host):
        log.warning("POVQA_API_KEY is shorter than 16 characters and the server listens on %s: use a long random "
                    "key (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)", host)
    if settings.admin_key is None and not _loopback(host):
        log.warning("POVQA_ADMIN_KEY is not set and the server listens on %s: uploading, deleting and exporting "
                    "feedback are refused (403) until it is", host)
