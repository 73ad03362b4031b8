"""The rules every response follows, applied once around the whole app, not per route.

Plain ASGI middleware (not Starlette's BaseHTTPMiddleware): it adds no task
per request, which matters when a mail provider posts a burst of one-click
unsubscribes right after a big send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("feeds.web.access")

# No resource from another host, no framing, no inline code: the pages load one
# stylesheet and one script from this server and post forms only to it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the security headers to every HTTP response, error pages included."""

    def __init__(self, app: ASGIApp, *, https: bool):
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    """The client sent more than the cap; raised out of ``receive``."""


class BodyLimit:
    """Answers 413 to a request body over the cap, by its Content-Length or as it streams in.

    A form is a few kilobytes even with every category ticked; a client that
    sends megabytes is not a reader, and must not make the server buffer them.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, too_large: ASGIApp):
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self.too_large(scope, receive, send)
                return
        received = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a body it never got is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
        if exceeded and not started:
            await self.too_large(scope, receive, send)


class AccessLog:
    """One line per request: method, route pattern, status, milliseconds.

    The route pattern, not the path: tokens live in paths, and neither they nor
    query strings nor client addresses belong in a log file.
    """

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float] = time.perf_counter):
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    route_pattern(scope),
                    status,
                    (self.clock() - started) * 1000,
                )


def route_pattern(scope: Scope) -> str:
    """The matched route's path pattern (``/unsubscribe/{token}``), or a placeholder."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "(no route)"
    return scope.get("root_path", "") + path
