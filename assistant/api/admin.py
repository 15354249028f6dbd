"""Who may change the corpus and read users' feedback, and the upload's own body limit.

    POVQA_API_KEY     ask, search, documents, answers, feedback (and /v1)
    POVQA_ADMIN_KEY   all of that, and the staff routes: upload, delete, jobs, feedback export

Without an admin key the staff routes are open only on a server bound to loopback (then behind POVQA_API_KEY, if
set); bound to any other address they answer 403 saying to set POVQA_ADMIN_KEY. Both checks run before the body
is read (`AdminGate`), and again as a route dependency (`require_admin`, which also puts the key in the OpenAPI
docs). The bind address is what `povqa serve --host` was given (`create_app(host=...)`); an app served some other
way is judged by the address each connection arrived on.

`UploadLimit`: an upload is streamed to disk (spooled by the multipart parser, then written into the corpus), not
held in memory like other bodies (`middleware.BodyLimit` lets it through): it is refused with 413 by its
Content-Length before a byte is read, or as soon as it grows past `server.max_upload_bytes`, and with 408 when it
takes longer than `server.upload_timeout_s`.
"""

from __future__ import annotations

import re
import time

import anyio
from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.middleware import CLOSE, _loopback, app_settings, declares_more_than, key_matches, send_json
from assistant.settings import Settings

STAFF_ROUTES = (("POST", re.compile(r"/api/documents/?")), ("DELETE", re.compile(r"/api/documents/[^/]+")),
                ("GET", re.compile(r"/api/jobs/[^/]+")), ("GET", re.compile(r"/api/feedback/export")))
UPLOAD = ("POST", re.compile(r"/api/documents/?"))


def is_staff_route(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in STAFF_ROUTES)


def bind_host(scope: Scope) -> str:
    """The address the server listens on (`povqa serve --host`), else the one this connection arrived on."""
    host = getattr(scope["app"].state, "bind_host", None)
    if host is None:
        server = scope.get("server") or ("", None)
        host = str(server[0] or "")
    return host


def admin_denial(settings: Settings, authorization: str, host: str) -> tuple[int, str] | None:
    """(status, message) when a staff route must be refused, else None."""
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    api = settings.api_key.get_secret_value() if settings.api_key else None
    if admin is not None:
        if key_matches(authorization, admin):
            return None
        if api is not None and key_matches(authorization, api):
            return 403, ("this route is for staff: send the admin key (POVQA_ADMIN_KEY) as 'Authorization: Bearer "
                         "<admin key>', not the API key")
        return 401, "missing or wrong admin key: send 'Authorization: Bearer <admin key>' (POVQA_ADMIN_KEY)"
    if not _loopback(host):
        return 403, (f"uploading, deleting and exporting feedback are turned off on a server that listens on {host}"
                     " without an admin key: set POVQA_ADMIN_KEY on the server and send 'Authorization: Bearer "
                     "<admin key>' (or serve on 127.0.0.1)")
    if api is not None and not key_matches(authorization, api):
        return 401, "missing or wrong API key: send 'Authorization: Bearer <key>'"
    return None


class AdminGate:
    """The staff routes' key check, before the body is read."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_staff_route(scope["method"], scope.get("path", "")):
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            denied = admin_denial(app_settings(scope), authorization, bind_host(scope))
            if denied:
                status, message = denied
                await send_json(send, status, message, {"WWW-Authenticate": "Bearer"} if status == 401 else None)
                return
        await self.app(scope, receive, send)


def require_admin(request: Request) -> None:
    """The same check as `AdminGate`, as a dependency of the staff routes."""
    denied = admin_denial(app_settings(request.scope), request.headers.get("authorization", ""),
                          bind_host(request.scope))
    if denied:
        raise HTTPException(denied[0], denied[1], headers={"WWW-Authenticate": "Bearer"} if denied[0] == 401 else None)


def is_upload(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == UPLOAD[0] and bool(UPLOAD[1].fullmatch(scope.get("path", "")))


class UploadLimit:
    """An upload's size and time limits, while it streams (see the module's docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_upload(scope):
            await self.app(scope, receive, send)
            return
        server = app_settings(scope).server
        limit = server.max_upload_bytes
        if declares_more_than(scope, limit):
            await send_json(send, 413, f"upload too large: the limit is {limit} bytes (POVQA_SERVER__MAX_UPLOAD_BYTES)",
                            CLOSE)
            return
        deadline = time.monotonic() + server.upload_timeout_s
        received = 0

        async def limited() -> Message:
            nonlocal received
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"the upload did not arrive within {server.upload_timeout_s:g} s "
                                         "(POVQA_SERVER__UPLOAD_TIMEOUT_S)", headers=CLOSE) from None
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, f"upload too large: the limit is {limit} bytes "
                                         "(POVQA_SERVER__MAX_UPLOAD_BYTES)", headers=CLOSE)
            return message

        await self.app(scope, limited, send)
