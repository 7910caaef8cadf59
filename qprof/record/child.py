"""Run the load-test command as a child process, with Ctrl-C going where the user expects.

Its output passes straight through (inherited stdin/stdout/stderr). A Ctrl-C typed in a
terminal reaches every process of the foreground group, so the child already has it; a SIGINT
sent to qprof alone (``kill -INT``, a CI runner) is forwarded. SIGTERM and SIGHUP are always
forwarded. After a second interrupt the child has ``KILL_AFTER`` seconds to exit before it is
killed, so the window can still be closed and stored.
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
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class ChildResult:
    exit_code: int
    interrupted: bool = False
    error: str | None = None  # the command could not be started


def _terminal_sent_it(signum: int) -> bool:
    """Whether a terminal delivered ``signum`` to our whole process group (the child has it too)."""
    if signum != signal.SIGINT:
        return False
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
    try:
        child = subprocess.Popen(list(argv), stdout=sys.stderr.fileno() if stdout_to_stderr else None)
    except OSError as exc:
        return ChildResult(126 if isinstance(exc, PermissionError) else 127, error=f"cannot run {argv[0]}: {exc.strerror or exc}")
    state = {"interrupts": 0, "deadline": None}

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            state["interrupts"] += 1
            if state["interrupts"] == 1:
                warn("interrupted: waiting for the command to stop, then closing the window (Ctrl-C again to stop it harder)")
            elif state["deadline"] is None:
                state["deadline"] = time.monotonic() + KILL_AFTER
                warn(f"interrupted again: the command gets {KILL_AFTER:g} s to exit before it is killed")
        else:
            state["interrupts"] = max(state["interrupts"], 1)
        if not _terminal_sent_it(signum) and child.poll() is None:
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
