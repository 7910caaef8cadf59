"""Statements Django runs, through ``connection.execute_wrappers``, for every database alias.

One wrapper function is installed once per connection object (Django keeps one per alias and
thread): on the connections of the installing thread at once, and on every connection opened
later through the ``connection_created`` signal (request threads, ``sync_to_async`` threads of
async views). It costs a context-variable lookup when nothing is being captured. What is being
captured is a context variable too, so a request (thread or asyncio task — asgiref copies the
context into the threads that run async views' ORM calls) sees only its own statements.

Related-object loads are named from the stack: a lazy foreign key (``book.author``) runs inside
``ForwardManyToOneDescriptor.__get__`` (fix: ``select_related('author')``); a reverse relation's
manager (``author.books.all()``) marks its queryset with the foreign key it filters on (fix:
``prefetch_related('books')``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any, Self

from qprof.nplusone.callsite import callsite
from qprof.nplusone.detector import Executed
from qprof.nplusone.recording import Recording, _unit

Sink = Callable[[Executed], None]
_sinks: ContextVar[tuple[Sink, ...]] = ContextVar("qprof_django_sinks", default=())
_installed = False
_install_lock = threading.Lock()
_codes: dict[str, Any] = {}


def _relation_codes() -> dict[str, Any]:
    if not _codes:
        from django.db.models.fields.related_descriptors import (
            ForwardManyToOneDescriptor,
            ReverseOneToOneDescriptor,
        )
        from django.db.models.query import QuerySet

        _codes["forward"] = ForwardManyToOneDescriptor.__get__.__code__
        _codes["reverse_one"] = ReverseOneToOneDescriptor.__get__.__code__
        _codes["fetch"] = QuerySet._fetch_all.__code__
    return _codes


class _Relation:
    """What the library frames of one statement say about the relation being loaded."""

    __slots__ = ("codes", "loader", "relationship")

    def __init__(self, codes: dict[str, Any]) -> None:
        self.codes, self.relationship, self.loader = codes, None, None

    def __call__(self, frame: FrameType) -> None:
        if self.relationship is not None:
            return
        code, codes = frame.f_code, self.codes
        try:
            if code is codes["forward"]:
                field = frame.f_locals["self"].field
                self.relationship = f"{field.model.__name__}.{field.name}"
                self.loader = f"select_related('{field.name}')"
            elif code is codes["reverse_one"]:
                related = frame.f_locals["self"].related
                name = related.get_accessor_name()
                self.relationship = f"{related.model.__name__}.{name}"
                self.loader = f"select_related('{name}')"
            elif code is codes["fetch"]:
                known = frame.f_locals["self"]._known_related_objects
                if known:
                    field = next(iter(known))  # the child's foreign key a related manager filters on
                    name = field.remote_field.get_accessor_name()
                    if name:
                        self.relationship = f"{field.remote_field.model.__name__}.{name}"
                        self.loader = f"prefetch_related('{name}')"
        except (AttributeError, KeyError, StopIteration, TypeError):
            pass


def _wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    sinks = _sinks.get()
    if not sinks:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        relation = _Relation(_relation_codes())
        site = callsite(sys._getframe(1), relation)
        cursor = context.get("cursor") if isinstance(context, dict) else None
        rows = getattr(cursor, "rowcount", -1)
        executed = Executed(
            sql=sql,
            params=params,
            duration_ms=elapsed,
            rows=rows if isinstance(rows, int) and rows >= 0 else None,
            relationship=relation.relationship,
            callsite=site,
            loader=relation.loader,
            thread=threading.get_ident(),
            unit=_unit.get() or "",
        )
        for sink in sinks:
            sink(executed)


def _attach(connection: Any) -> None:
    # first, so a user's ``with connection.execute_wrapper(...)`` (which pops the last) keeps working
    if _wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _wrapper)


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    _attach(connection)


def install() -> None:
    """Hook every database alias's connections (idempotent; the middleware calls it at start-up)."""
    global _installed
    from django.db import connections
    from django.db.backends.signals import connection_created

    with _install_lock:
        if not _installed:
            connection_created.connect(_on_connection_created, weak=False, dispatch_uid="qprof-nplusone")
            _installed = True
    for alias in connections:
        _attach(connections[alias])


@contextmanager
def collecting(sink: Sink) -> Iterator[None]:
    """Statements run in this context (and contexts copied from it) go to ``sink`` too."""
    install()
    token = _sinks.set((*_sinks.get(), sink))
    try:
        yield
    finally:
        _sinks.reset(token)


class DjangoCapture(Recording):
    """What Django ran inside a ``with`` block, and the N+1s among it (as ``qprof.capture``)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("label", "django capture")
        super().__init__(**options)
        self._context: Any = None

    def __enter__(self) -> Self:
        self._context = collecting(self._record)
        self._context.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._context.__exit__(exc_type, exc, tb)
        self._judge(exc_type)


def capture(**options: Any) -> DjangoCapture:
    """``with qprof.django.capture() as cap: …`` — for ``manage.py shell`` and tests outside pytest."""
    return DjangoCapture(**options)
