"""`povqa serve`'s uvicorn, with connection limits that one process can hold (settings.server).

uvicorn alone lets any number of connections sit without sending a complete request: each holds a descriptor
(and its buffers) until the process runs out (`accept` then fails in a loop, logging a traceback each time)
and `limit_concurrency` only refuses a request once its head has arrived. `GuardedH11` adds the two missing
guards: a cap on open connections, checked as each is accepted (one over the cap gets a 503 and is closed at
once), below the open-file limit; and a deadline for the request line and headers. Request bodies are bounded
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
    room = limit - in_use - RESERVED_FDS
    cap = max(1, min(settings.server.max_connections, room))
    if cap < settings.server.max_connections:
        log.warning("at most %d connections (POVQA_SERVER__MAX_CONNECTIONS=%d does not fit the open-file limit %d; "
                    "raise it with `ulimit -n`)", cap, settings.server.max_connections, limit)
    return cap


_FULL_BODY = json.dumps({"detail": "the server has too many open connections; retry shortly"}).encode()
FULL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
        b"connection: close\r\ncontent-length: " + str(len(_FULL_BODY)).encode() + b"\r\n\r\n" + _FULL_BODY)


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a cap on open connections and a deadline for each request's head."""

    max_connections = 200
    header_timeout_s = 10.0
    refused = 0  # connections refused since the last log line (one line per 10 s at most, not one each)
    _logged = 0.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._head_deadline = None
        if len(self.connections) >= self.max_connections:
            self.transport = transport
            transport.write(FULL)
            transport.close()
            self._note_refused()
            return
        super().connection_made(transport)
        self._arm()

    @classmethod
    def _note_refused(cls) -> None:
        cls.refused += 1
        now = time.monotonic()
        if now - cls._logged >= 10:
            log.warning("%d connection(s) refused in the last %.0f s: %d open, the limit (POVQA_SERVER__MAX_CONNECTIONS)",
                        cls.refused, min(now - cls._logged, 10), cls.max_connections)
            cls.refused, cls._logged = 0, now

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timeout(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no complete request head yet
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_deadline is not None and self.conn.their_state is not h11.IDLE:
            self._disarm()  # a request head arrived; its body has `body_timeout_s` (middleware.BodyLimit)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's head must arrive in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.flow is None:  # refused in connection_made: never set up
            return
        super().connection_lost(exc)


def uvicorn_config(app, settings: Settings, host: str, port: int):
    """The uvicorn Config `povqa serve` runs: the guarded protocol, keep-alive, header size, backlog."""
    import uvicorn

    server = settings.server
    protocol = type("GuardedH11", (GuardedH11,), {"max_connections": connection_cap(settings),
                                                  "header_timeout_s": server.header_timeout_s})
    return uvicorn.Config(app, host=host, port=port, log_level="info", http=protocol,
                          timeout_keep_alive=server.keep_alive_s, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                          backlog=server.backlog, timeout_graceful_shutdown=10)


def serve(app, settings: Settings, host: str, port: int) -> None:
    import uvicorn

    config = uvicorn_config(app, settings, host, port)
    log.info("limits: %d connections, %g s for a request head, %d answers at once",
             config.http.max_connections, settings.server.header_timeout_s, settings.server.max_concurrent_answers)
    uvicorn.Server(config).run()
