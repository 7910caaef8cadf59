"""Run the load-test command as a child process, with Ctrl-C going where the user expects.

Its output passes straight through (inherited stdin/stdout/stderr). The child gets exactly one
SIGINT whoever sends it: run from a terminal's foreground (qprof's group owns the tty) the child
stays in qprof's process group, so a typed Ctrl-C reaches it directly and is never forwarded;
otherwise the child gets a process group of its own, so a SIGINT to qprof's whole group
(``kill -INT -PGID``, ``timeout -s INT``, a CI runner) does not reach it, and qprof forwards the
first one (a repeat within ``SAME_SIGNAL_S`` is the same interrupt: ``timeout`` signals both
qprof and its group). SIGTERM and SIGHUP are always forwarded. After a second interrupt the
child has ``KILL_AFTER`` seconds to exit before it is killed, so the window can still be closed
and stored.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from qprof.output import warn

KILL_AFTER = 5.0
SAME_SIGNAL_S = 0.2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class ChildResult:
    exit_code: int
    interrupted: bool = False
    error: str | None = None  # the command could not be started


def _terminal_foreground() -> bool:
    """Whether qprof's process group owns the terminal (a typed Ctrl-C reaches the whole group)."""
    try:
        return sys.stdin.isatty() and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run_command(argv: Sequence[str], *, stdout_to_stderr: bool = False) -> ChildResult:
    """Run ``argv`` to its end; its exit code (128+N when killed by signal N), never an exception.

    ``stdout_to_stderr``: the command's output goes to our stderr, leaving stdout to a report
    a script parses (``--format json``)."""
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        return ChildResult(127, error=f"command not found: {argv[0]}")
    foreground = _terminal_foreground()
    try:
        child = subprocess.Popen(list(argv), stdout=sys.stderr.fileno() if stdout_to_stderr else None, process_group=None if foreground else 0)
    except OSError as exc:
        return ChildResult(126 if isinstance(exc, PermissionError) else 127, error=f"cannot run {argv[0]}: {exc.strerror or exc}")
    state: dict = {"interrupts": 0, "deadline": None, "last": None}

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            now, last = time.monotonic(), state["last"]
            state["last"] = now
            if last is not None and now - last < SAME_SIGNAL_S:
                return  # the same interrupt delivered twice (to qprof and to its group)
            state["interrupts"] += 1
            if state["interrupts"] == 1:
                warn("interrupted: waiting for the command to stop, then closing the window (Ctrl-C again to stop it harder)")
            elif state["deadline"] is None:
                state["deadline"] = time.monotonic() + KILL_AFTER
                warn(f"interrupted again: the command gets {KILL_AFTER:g} s to exit before it is killed")
        else:
            state["interrupts"] = max(state["interrupts"], 1)
        if signum == signal.SIGINT and (foreground or state["interrupts"] > 1):
            return  # the terminal gave it to the child already; or it had its one and gets KILL_AFTER
        if child.poll() is None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

    previous = {}
    for signum in FORWARDED:
        try:
            previous[signum] = signal.signal(signum, on_signal)
        except ValueError:  # not the main thread
            pass
    try:
        while True:
            try:
                code = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if state["deadline"] is not None and time.monotonic() > state["deadline"]:
                    child.kill()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    exit_code = 128 - code if code < 0 else code
    return ChildResult(exit_code, interrupted=state["interrupts"] > 0)


def wait_for(seconds: float) -> bool:
    """Sleep ``seconds`` (a --duration window); True when Ctrl-C/SIGTERM ended it early."""
    stopped = {"early": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stopped["early"] = True

    previous = {}
    for signum in FORWARDED:
        try:
            previous[signum] = signal.signal(signum, on_signal)
        except ValueError:
            pass
    try:
        deadline = time.monotonic() + seconds
        while not stopped["early"] and time.monotonic() < deadline:
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return stopped["early"]


class deferred_interrupts:
    """Hold Ctrl-C/SIGTERM while the window is closed and stored (``caught`` lists them): one
    more Ctrl-C must not lose a window whose load already ran."""

    def __enter__(self) -> Self:
        self.caught: list[int] = []
        self.previous = {}
        for signum in FORWARDED:
            try:
                self.previous[signum] = signal.signal(signum, lambda n, _f: self.caught.append(n))
            except ValueError:
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
