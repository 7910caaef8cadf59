"""``qprof.django.middleware.QprofMiddleware``: each request is a unit; N+1s and a one-line
summary are logged when it ends, and the response says what the database cost.

Add it to ``MIDDLEWARE`` (first, so it sees every statement the other middleware runs too)::

    MIDDLEWARE = ["qprof.django.middleware.QprofMiddleware", ...]
    QPROF = {"threshold": 5, "min_ms": 50, "server_timing": True}   # optional; these are the defaults

Works under WSGI and ASGI (sync and async views: asgiref runs an async view's ORM calls in a
thread with a copy of the request's context, where the capture is). Findings go to the
``qprof.django`` logger (warning or info, by severity); each request gets one ``INFO`` line
(``GET /authors/ 200: 14 statements, 3.2 ms, 1 N+1``). ``Server-Timing: db;dur=3.2;desc="14
statements"`` shows up in browser devtools.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from qprof.django.recorder import collecting, install
from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Executed, detect
from qprof.nplusone.recording import unit

logger = logging.getLogger("qprof.django")


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(getattr(settings, "QPROF", {}) or {})


class QprofMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        options = _settings()
        self.threshold = int(options.get("threshold", DEFAULT_THRESHOLD))
        self.min_ms = float(options.get("min_ms", DEFAULT_MIN_MS))
        self.server_timing = bool(options.get("server_timing", True))
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        install()

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        statements: list[Executed] = []
        label = f"{request.method} {request.path}"
        with unit(label), collecting(statements.append):
            response = self.get_response(request)
        return self._finish(label, response, statements)

    async def _acall(self, request: Any) -> Any:
        statements: list[Executed] = []
        label = f"{request.method} {request.path}"
        with unit(label), collecting(statements.append):
            response = await self.get_response(request)
        return self._finish(label, response, statements)

    def _finish(self, label: str, response: Any, statements: list[Executed]) -> Any:
        for executed in statements:
            executed.unit = label
        total = sum(s.duration_ms for s in statements)
        if self.server_timing:
            timing = f'db;dur={total:.1f};desc="{len(statements)} statements"'
            existing = response.get("Server-Timing") if hasattr(response, "get") else None
            response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
        findings = detect(statements, threshold=self.threshold, min_ms=self.min_ms)
        status = getattr(response, "status_code", "")
        logger.info("%s %s: %d statements, %.1f ms, %d N+1", label, status, len(statements), total, len(findings))
        for finding in findings:
            logger.log(logging.WARNING if finding.severity == "warning" else logging.INFO, "%s", finding.describe())
        return response
