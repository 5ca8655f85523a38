"""Request bodies refused past their endpoint's size limit (413), before they are parsed.

:class:`LimitBodies` is a pure ASGI middleware. A request whose ``Content-Length`` is over
its endpoint's limit is answered 413 at once, its body never read; one without
``Content-Length`` (chunked) is counted while the app reads it and answered 413 as soon as
the count passes the limit, so no endpoint ever holds more than its limit of one request.

An endpoint that takes a file (the upload) may receive ``BRRR_UPLOAD_MAX_BYTES`` plus the
multipart envelope; every other request, JSON or form, ``BRRR_API_MAX_JSON_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge, body_media, error_body
from connectors.settings import Settings

#: Bytes of a multipart request around its file (boundaries, part headers, other fields).
MULTIPART_ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """The largest body an endpoint takes, and how its 413 is worded.

    Parameters
    ----------
    max_bytes : int
        Largest body accepted, bytes.
    code : str
        The 413's error code (``body_too_large``, ``file_too_large``).
    setting : str
        The environment variable that sets the limit, named in the message.
    advice : str
        What the client can do instead.
    """

    max_bytes: int
    code: str
    setting: str
    advice: str

    def refusal(self, size_bytes: int | None) -> BodyTooLarge:
        """The 413 of a body of ``size_bytes`` (None: counted past the limit, not declared)."""
        size = "over" if size_bytes is None else f"{_mib(size_bytes)}, over"
        return BodyTooLarge(
            self.code,
            f"the request body is {size} this endpoint's limit of {_mib(self.max_bytes)} "
            f"({self.setting}): {self.advice}",
        )


def body_limits(routes: Sequence[BaseRoute], settings: Settings) -> Callable[[Scope], BodyLimit]:
    """The limit of each request: the upload limit on routes that take a file, the JSON
    limit everywhere else (unknown paths included).

    Parameters
    ----------
    routes : sequence of BaseRoute
        The app's routes (``app.router.routes``), complete.
    settings : Settings
        ``upload_max_bytes`` and ``api_max_json_bytes``.
    """
    upload = BodyLimit(
        settings.upload_max_bytes + MULTIPART_ENVELOPE_BYTES,
        "file_too_large",
        "BRRR_UPLOAD_MAX_BYTES",
        "split the recording, or ask the administrator to raise the limit",
    )
    json_limit = BodyLimit(
        settings.api_max_json_bytes,
        "body_too_large",
        "BRRR_API_MAX_JSON_BYTES",
        "send a smaller body (batches of many files: split them)",
    )
    # FastAPI keeps included routers as such: their routes, with their full paths, come
    # from iter_route_contexts.
    file_routes = [
        c for c in iter_route_contexts(routes) if body_media(c.original_route) == "multipart"
    ]

    def limit_of(scope: Scope) -> BodyLimit:
        for route in file_routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return upload
        return json_limit

    return limit_of


class LimitBodies:
    """ASGI middleware: 413 for a body over its endpoint's limit (module docstring).

    Parameters
    ----------
    app : ASGIApp
        The app inside.
    limit_of : callable
        The :class:`BodyLimit` of a request's scope (:func:`body_limits`).
    """

    def __init__(self, app: ASGIApp, limit_of: Callable[[Scope], BodyLimit]) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = _content_length(scope)
        if declared == -1:
            await _answer(
                scope,
                send,
                400,
                "invalid_request",
                "the Content-Length header is not a whole number of bytes: send the body's "
                "length, or no Content-Length with a chunked body",
            )
            return
        if declared is not None and declared > limit.max_bytes:
            refusal = limit.refusal(declared)
            await _answer(scope, send, 413, refusal.code, refusal.message)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise limit.refusal(None)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            # Read by something that does not answer it (a route without a handler for it).
            if started:
                raise
            await _answer(scope, send, 413, exc.code, exc.message)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent, -1 when not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _answer(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    response = JSONResponse(error_body(code, message), status_code=status)
    await response(scope, no_body, send)


def _mib(n_bytes: int) -> str:
    if n_bytes < 2**20:
        return f"{n_bytes / 1024:.0f} KiB"
    return f"{n_bytes / 2**20:.1f} MiB"
