"""WSGI and ASGI middleware: each request is a unit; N+1s are logged when the request ends.

One engine listener serves all requests; a context variable routes each statement to the
request that ran it (a thread per request under WSGI servers, a task per request under ASGI
servers). With ``server_timing=True`` the response gets a ``Server-Timing`` header with the
database time and statement count so far (``db;dur=12.3;desc="7 statements"``), which browser
devtools show next to the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from qprof.nplusone.sqlalchemy_capture import EngineRecorder, _unit
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
    """``app = NPlusOneWSGIMiddleware(app, engine, server_timing=True)``."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        label = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
        statements: list[Executed] = []
        token, unit_token = _request.set(statements), _unit.set(label)
        try:

            def start(status: str, headers: list, exc_info: Any = None) -> Callable:
                if self.server_timing:
                    headers = [*headers, ("Server-Timing", self.timing_value(statements))]
                return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

            body = self.app(environ, start)
            chunks = list(body)  # run the whole request inside this request's context
            if hasattr(body, "close"):
                body.close()
        finally:
            _request.reset(token)
            _unit.reset(unit_token)
        self._finish(label, statements)
        return chunks


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
