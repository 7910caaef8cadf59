"""This qprof run's identity, and its scratch folder.

Every index qprof builds carries the run id (:mod:`qprof.advise.builds`); SQLite scratch copies
live in ``<tmp>/qprof-run-<pid>-<run>/``, removed at exit — or, when the run was killed outright,
by the next run once that pid is gone (the process start time guards against a reused pid).
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RUN_DIR = re.compile(r"^qprof-run-([0-9]+)-([0-9a-f]{8})$")


@dataclass(frozen=True)
class Run:
    """This process's identity on the database: written into every index it builds."""

    id: str
    pid: int
    host: str
    started: datetime

    @property
    def lock_id(self) -> int:
        """The run id as a signed int4 (pg_advisory_lock's second key); pg_locks shows it unsigned."""
        value = int(self.id, 16)
        return value - (1 << 32) if value >= 1 << 31 else value

    def comment(self, purpose: str, mark: str) -> str:
        """qprof's build comment; ``mark`` ties it to the index (see builds.mark_digest)."""
        return f"qprof build run={self.id} pid={self.pid} host={self.host} at={self.started:%Y-%m-%dT%H:%M:%SZ} mark={mark} ({purpose})"


_RUN: Run | None = None


def current_run() -> Run:
    global _RUN
    if _RUN is None or _RUN.pid != os.getpid():  # a forked child is a run of its own
        _RUN = Run(secrets.token_hex(4), os.getpid(), socket.gethostname()[:64].replace(" ", "_"), datetime.now(UTC))
    return _RUN


# -- scratch folders --------------------------------------------------------------------------
def start_time(pid: int) -> str | None:
    """The process's start time (Linux /proc), so a reused pid is not taken for the owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return started is None or start_time(pid) in (None, started)


# Where every run also says it is alive, whatever TMPDIR each run has: a run that builds on a
# SQLite file under one TMPDIR is still seen as alive by a cleanup under another. (The host's
# /tmp: a run on another host sharing the file over a network is not seen — see README.)
LIVE_ROOT = Path("/tmp") if os.name == "posix" else Path(tempfile.gettempdir())


def _live_dir() -> Path:
    return LIVE_ROOT / f"qprof-live-{os.getuid() if hasattr(os, 'getuid') else 0}"


def _mark_alive(run_: Run) -> None:
    try:
        folder = _live_dir()
        folder.mkdir(mode=0o755, exist_ok=True)  # readable: another user's cleanup must see it too
        marker = folder / run_.id
        marker.write_text(f"{run_.pid} {start_time(run_.pid) or '-'} {run_.host}\n")
        atexit.register(marker.unlink, True)
    except OSError:  # no fixed folder: the run folder below still says it (same TMPDIR only)
        pass


def _live_markers() -> Iterator[tuple[Path, str, int, str | None]]:
    for folder in LIVE_ROOT.glob("qprof-live-*"):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for marker in entries:
            try:
                pid, started, *_ = marker.read_text().split()
                yield marker, marker.name, int(pid), None if started == "-" else started
            except (OSError, ValueError):
                continue


def run_dir() -> Path:
    """This run's folder for scratch copies: ``<tmp>/qprof-run-<pid>-<run>``, removed at exit (and
    by the next run once this pid is gone, when this one was killed)."""
    run_ = current_run()
    path = Path(tempfile.gettempdir()) / f"qprof-run-{run_.pid}-{run_.id}"
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (path / "owner").write_text(f"{run_.pid} {start_time(run_.pid) or ''}\n")
        atexit.register(shutil.rmtree, path, True)
        _mark_alive(run_)
    return path


def _run_dirs() -> Iterator[tuple[Path, int, str, str | None]]:
    try:
        entries = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return
    for path in entries:
        match = RUN_DIR.match(path.name)
        if not match or not path.is_dir():
            continue
        try:
            started = (path / "owner").read_text().split()[1:2]
        except OSError:
            started = []
        yield path, int(match.group(1)), match.group(2), started[0] if started else None


def live_run_ids() -> set[str]:
    """The runs whose process is alive: by their run folder in this TMPDIR or their marker in the
    fixed folder (any TMPDIR)."""
    alive = {run_id for _, pid, run_id, started in _run_dirs() if _alive(pid, started)}
    return alive | {run_id for _, run_id, pid, started in _live_markers() if _alive(pid, started)}


def remove_stale_run_dirs() -> list[Path]:
    """Remove the scratch folders of qprof runs whose process is gone (killed outright)."""
    removed = []
    for path, pid, run_id, started in _run_dirs():
        if run_id == current_run().id or _alive(pid, started):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    for marker, run_id, pid, started in _live_markers():
        if run_id != current_run().id and not _alive(pid, started):
            try:
                marker.unlink(missing_ok=True)
            except OSError:  # another user's: theirs to remove
                pass
    return removed
