"""WSGI and ASGI middleware: each request is a unit; N+1s are logged when the request ends.

One engine listener serves all requests; a context variable routes each statement to the
request that ran it (a thread per request under WSGI servers, a task per request under ASGI
servers). With ``server_timing=True`` the response gets a ``Server-Timing`` header with the
database time and statement count so far (``db;dur=12.3;desc="7 statements"``), which browser
devtools show next to the request. Headers leave before the body, so statements run while a
response streams are not in that header; they are still judged for N+1s when the request ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextvars import Context, ContextVar, copy_context
from typing import Any

from qprof.nplusone.recording import _unit
from qprof.nplusone.sqlalchemy_capture import EngineRecorder
from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Executed, NPlusOne, detect

logger = logging.getLogger("qprof.nplusone")
_request: ContextVar[list[Executed] | None] = ContextVar("qprof_request", default=None)


def _collect(executed: Executed) -> None:
    statements = _request.get()
    if statements is not None:
        statements.append(executed)


class _Base:
    def __init__(
        self,
        app: Any,
        engine: Any = None,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        min_ms: float = DEFAULT_MIN_MS,
        server_timing: bool = False,
        on_findings: Callable[[str, list[NPlusOne]], None] | None = None,
    ) -> None:
        self.app = app
        self.threshold, self.min_ms, self.server_timing = threshold, min_ms, server_timing
        self.on_findings = on_findings or self._log
        self.recorder = EngineRecorder(engine, _collect)
        self.recorder.attach()

    @staticmethod
    def _log(label: str, findings: list[NPlusOne]) -> None:
        for finding in findings:
            logger.warning("%s", finding.describe())

    def _finish(self, label: str, statements: list[Executed]) -> None:
        findings = detect(statements, threshold=self.threshold, min_ms=self.min_ms)
        if findings:
            self.on_findings(label, findings)

    @staticmethod
    def timing_value(statements: list[Executed]) -> str:
        total = sum(s.duration_ms for s in statements)
        return f'db;dur={total:.1f};desc="{len(statements)} statements"'

    def close(self) -> None:
        """Detach the engine listener (tests, app shutdown)."""
        self.recorder.detach()


class NPlusOneWSGIMiddleware(_Base):
    """``app = NPlusOneWSGIMiddleware(app, engine, server_timing=True)``.

    The response streams through untouched: a body the app produces lazily (a generator) is
    handed to the server chunk by chunk, each chunk computed inside the request's context, and
    the request is judged when the server closes the body (PEP 3333 says it must), so
    statements run while streaming count too. The ``Server-Timing`` header is sent with the
    headers, so it covers only the statements run before the app called ``start_response``.
    """

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        label = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
        statements: list[Executed] = []
        # one Context per request, entered for the app call, every chunk and close(): the server
        # may pull chunks after this call returned (and, in some servers, from another thread)
        context = copy_context()
        context.run(_enter, statements, label)

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            if self.server_timing:
                headers = [*headers, ("Server-Timing", self.timing_value(statements))]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = context.run(self.app, environ, start)
        except BaseException:
            self._finish(label, statements)
            raise
        if isinstance(body, (list, tuple)):  # already complete: keep it, servers can size it
            self._finish(label, statements)
            return body
        return _StreamedBody(body, context, lambda: self._finish(label, statements))


def _enter(statements: list[Executed], label: str) -> None:
    _request.set(statements)
    _unit.set(label)


class _StreamedBody:
    """The app's response iterable, run inside the request's context; ``close()`` ends the unit."""

    def __init__(self, body: Iterable[bytes], context: Context, finish: Callable[[], None]) -> None:
        self._body = body
        self._context = context
        self._finish: Callable[[], None] | None = finish
        self._chunks: Iterator[bytes] | None = None

    def __iter__(self) -> _StreamedBody:
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._context.run(iter, self._body)
        return self._context.run(next, self._chunks)

    def close(self) -> None:
        """Close the app's iterable (its cleanup may run statements too), then report once."""
        finish, self._finish = self._finish, None
        if finish is None:
            return
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                self._context.run(close)
        finally:
            finish()


class NPlusOneASGIMiddleware(_Base):
    """``app = NPlusOneASGIMiddleware(app, engine, server_timing=True)`` (HTTP requests only)."""

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        label = f"{scope.get('method', 'GET')} {scope.get('path', '/')}"
        statements: list[Executed] = []
        token, unit_token = _request.set(statements), _unit.set(label)

        async def send_with_timing(message: dict) -> None:
            if self.server_timing and message.get("type") == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", self.timing_value(statements).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            _request.reset(token)
            _unit.reset(unit_token)
        self._finish(label, statements)
