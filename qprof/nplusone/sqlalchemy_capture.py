"""``qprof.capture(engine)``: record what an application's SQLAlchemy engine runs, find N+1s.

Engine events (``before/after_cursor_execute``) see every statement, ORM and Core, with its
parameters and a wall-clock duration. Lazy loads are named through the Session-level
``do_orm_execute`` event, which knows the relationship being loaded (``Customer.orders``) just
before the SELECT it issues reaches the engine. An ``AsyncEngine`` is captured through its
``sync_engine``: the events fire inside SQLAlchemy's greenlet bridge all the same.

Which unit a statement belongs to comes from a context variable, so a middleware can give each
request (thread or asyncio task) its own unit while one listener serves them all.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from qprof.nplusone.callsite import callsite
from qprof.nplusone.detector import DEFAULT_MIN_MS, DEFAULT_THRESHOLD, Executed
from qprof.nplusone.recording import NPlusOneError, Recording, _unit, unit

__all__ = ["Capture", "EngineRecorder", "NPlusOneError", "capture", "sync_engine", "unit"]

_relationship: ContextVar[str | None] = ContextVar("qprof_relationship", default=None)
_TIMER_KEY = "_qprof_started"


def sync_engine(engine: Any) -> Any:
    """The ``Engine`` behind an Engine, an AsyncEngine or a Connection (``Engine`` itself: all engines)."""
    if engine is Engine:
        return Engine
    inner = getattr(engine, "sync_engine", None)
    if inner is not None:
        return inner
    if isinstance(engine, Engine):
        return engine
    inner = getattr(engine, "engine", None)
    if isinstance(inner, Engine):
        return inner
    raise TypeError(f"qprof.capture needs a SQLAlchemy Engine or AsyncEngine, not {type(engine).__name__}")


def _on_orm_execute(state: ORMExecuteState) -> None:
    """Remember which relationship the next SELECT loads (lazy and selectin loads alike)."""
    if not state.is_relationship_load:
        _relationship.set(None)
        return
    path = state.loader_strategy_path
    try:
        prop = path[-1] if path is not None and len(path) else None
    except (IndexError, TypeError):
        prop = None
    _relationship.set(str(prop) if prop is not None else None)


_orm_listeners = 0
_orm_lock = threading.Lock()


def _orm_listen(add: bool) -> None:
    """One class-level Session listener however many captures are active."""
    global _orm_listeners
    with _orm_lock:
        if add:
            _orm_listeners += 1
            if _orm_listeners == 1:
                event.listen(Session, "do_orm_execute", _on_orm_execute)
        else:
            _orm_listeners -= 1
            if _orm_listeners == 0:
                event.remove(Session, "do_orm_execute", _on_orm_execute)


class EngineRecorder:
    """Engine listeners that hand each executed statement to ``sink(executed)``.

    ``engine=None`` listens on every engine of the process (the pytest plugin, middleware
    without an explicit engine).
    """

    def __init__(self, engine: Any, sink: Callable[[Executed], None]) -> None:
        self.engine = sync_engine(Engine if engine is None else engine)
        self.sink = sink
        self.attached = False
        self.pid = os.getpid()

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if context is not None:
            setattr(context, _TIMER_KEY, time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        started = getattr(context, _TIMER_KEY, None) if context is not None else None
        elapsed = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        if os.getpid() != self.pid:
            return  # a forked child (a test that forks): its statements are not the parent's unit
        rows = getattr(cursor, "rowcount", -1)
        relationship = _relationship.get()
        if relationship is not None:
            _relationship.set(None)
        self.sink(
            Executed(
                sql=statement,
                params=parameters,
                duration_ms=elapsed,
                rows=rows if isinstance(rows, int) and rows >= 0 else None,
                unit=_unit.get() or "",
                relationship=relationship,
                callsite=callsite(),
                thread=threading.get_ident(),
            )
        )

    def attach(self) -> None:
        if self.attached:
            return
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        _orm_listen(True)
        self.attached = True

    def detach(self) -> None:
        """Remove the listeners; safe after the engine was disposed, and in a forked child."""
        if not self.attached:
            return
        self.attached = False
        for name, listener in (("before_cursor_execute", self._before), ("after_cursor_execute", self._after)):
            if event.contains(self.engine, name, listener):
                event.remove(self.engine, name, listener)
        _orm_listen(False)


class Capture(Recording):
    """What ran on an engine inside a ``with`` block, and the N+1s among it.

    ``statements`` is the list of :class:`Executed`; ``findings()`` runs the detector;
    ``report()`` is the human summary; with ``raise_on_nplusone=True`` leaving the block
    raises :class:`NPlusOneError` when there is any finding (unless the block raised itself).
    The engine may be disposed inside the block; statements from other threads on the same
    engine are recorded as streams of their own, a forked child's not at all.
    """

    def __init__(
        self,
        engine: Any,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        min_ms: float = DEFAULT_MIN_MS,
        raise_on_nplusone: bool = False,
        label: str = "capture",
    ) -> None:
        super().__init__(threshold=threshold, min_ms=min_ms, raise_on_nplusone=raise_on_nplusone, label=label)
        self._recorder = EngineRecorder(engine, self._record)

    def __enter__(self) -> Self:
        self._recorder.attach()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self._recorder.detach()
        self._judge(exc_type)


def capture(
    engine: Any,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    min_ms: float = DEFAULT_MIN_MS,
    raise_on_nplusone: bool = False,
    label: str = "capture",
) -> Capture:
    """``with qprof.capture(engine) as cap: …`` — see :class:`Capture`."""
    return Capture(engine, threshold=threshold, min_ms=min_ms, raise_on_nplusone=raise_on_nplusone, label=label)
