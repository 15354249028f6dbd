"""`povqa serve`'s uvicorn, with connection limits that one process can hold (settings.server).

uvicorn alone lets any number of connections sit without sending a complete request: each holds a descriptor
(and its buffers) until the process runs out (`accept` then fails in a loop, logging a traceback each time),
and `limit_concurrency` only refuses a request once its head has arrived. `GuardedH11` adds the two missing
guards: a cap on open connections below the open-file limit, enforced as each is accepted (see there), and a
deadline for the request line and headers. Request bodies are bounded
in size, time and total by `middleware.BodyLimit`. For a public deployment put a reverse proxy in front (README,
"Public deployment").
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from assistant.settings import Settings

log = logging.getLogger("povqa.api")

#: Descriptors kept for everything but connections: the index's files, models, logs, worker threads.
RESERVED_FDS = 128
#: An idle connection younger than this is never closed to make room: a client that has just connected has
#: that long to send its request head before a newcomer can take its place (a newcomer is refused instead).
EVICT_AFTER_S = 1.0
MAX_HEADER_BYTES = 16 * 1024  # request line + headers


def open_file_limit() -> int:
    """The soft limit on open files, raised to the hard limit first where it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(settings: Settings) -> int:
    """settings.server.max_connections, lowered to fit the descriptors this process may still open."""
    limit = open_file_limit()
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 16
    room = limit - in_use - RESERVED_FDS - settings.server.backlog  # a burst of accepts, closed a moment later
    cap = max(1, min(settings.server.max_connections, room))
    if cap < settings.server.max_connections:
        log.warning("at most %d connections (POVQA_SERVER__MAX_CONNECTIONS=%d does not fit the open-file limit %d; "
                    "raise it with `ulimit -n`)", cap, settings.server.max_connections, limit)
    return cap


_FULL_BODY = json.dumps({"detail": "the server has too many open connections; retry shortly"}).encode()
FULL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
        b"connection: close\r\ncontent-length: " + str(len(_FULL_BODY)).encode() + b"\r\n\r\n" + _FULL_BODY)


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a cap on open connections and a deadline for each request's head.

    At the cap, a new connection closes the connection that has waited longest without a request head (idle:
    a slow or silent client, or a keep-alive one between requests), if that one has waited `EVICT_AFTER_S`;
    otherwise the new one is answered 503 and closed. So a flood of silent connections cannot lock out a
    client that sends its request at once. Per server (`uvicorn_config` makes a subclass): `max_connections`,
    `header_timeout_s`, and the shared state below."""

    max_connections = 200
    header_timeout_s = 10.0
    admitted = 0  # connections let in and not closed yet
    idle: dict = {}  # connections without a request head, oldest first
    counts: dict = {}  # evicted / refused since the last log line
    logged = 0.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._head_deadline = None
        self._counted = False
        cls = type(self)
        if cls.admitted >= cls.max_connections and not self._evict_oldest_idle():
            self.transport = transport
            transport.write(FULL)
            transport.close()
            self._note("refused")
            return
        cls.admitted += 1
        self._counted = True
        super().connection_made(transport)
        self._became_idle()

    def _evict_oldest_idle(self) -> bool:
        cls = type(self)
        while cls.idle:
            oldest, since = next(iter(cls.idle.items()))
            if time.monotonic() - since < EVICT_AFTER_S:
                return False
            oldest._forget()
            if not oldest.transport.is_closing():
                oldest.transport.close()
                self._note("evicted")
                return True
        return False

    def _forget(self) -> None:
        """No longer counted: closing, or closed."""
        type(self).idle.pop(self, None)
        self._disarm()
        if self._counted:
            self._counted = False
            type(self).admitted -= 1

    def _note(self, what: str) -> None:
        cls = type(self)
        cls.counts[what] = cls.counts.get(what, 0) + 1
        now = time.monotonic()
        if now - cls.logged >= 10:  # one line per 10 s at most, however many
            log.warning("at the connection limit (%d, POVQA_SERVER__MAX_CONNECTIONS): %s", cls.max_connections,
                        ", ".join(f"{n} connection(s) {w}" for w, n in sorted(cls.counts.items())))
            cls.counts, cls.logged = {}, now

    def _became_idle(self) -> None:
        type(self).idle[self] = time.monotonic()
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timeout(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no complete request head yet
            self._forget()
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self in type(self).idle:
            type(self).idle.pop(self, None)  # a request head arrived; its body has `body_timeout_s` (BodyLimit)
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._became_idle()  # until the next request's head

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.flow is None:  # refused in connection_made: never set up
            return
        super().connection_lost(exc)


def uvicorn_config(app, settings: Settings, host: str, port: int, **options):
    """The uvicorn Config `povqa serve` runs: the guarded protocol, keep-alive, header size, backlog (`options`:
    more uvicorn.Config arguments, e.g. for tests)."""
    import uvicorn

    server = settings.server
    protocol = type("GuardedH11", (GuardedH11,), {"max_connections": connection_cap(settings), "idle": {},
                                                  "counts": {}, "header_timeout_s": server.header_timeout_s})
    return uvicorn.Config(app, host=host, port=port, http=protocol, timeout_keep_alive=server.keep_alive_s,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, backlog=server.backlog,
                          timeout_graceful_shutdown=10, **{"log_level": "info", **options})


def serve(app, settings: Settings, host: str, port: int) -> None:
    import uvicorn

    config = uvicorn_config(app, settings, host, port)
    log.info("limits: %d connections, %g s for a request head, %d answers at once",
             config.http.max_connections, settings.server.header_timeout_s, settings.server.max_concurrent_answers)
    uvicorn.Server(config).run()
