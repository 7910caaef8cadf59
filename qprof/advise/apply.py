"""``--apply``: create the recommended indexes the way a careful DBA would — one at a time,
``CONCURRENTLY``, under a lock timeout — and never destroy one qprof did not build.

The building itself (qprof's marks on each index, locks, cleanup) is :mod:`qprof.advise.builds`;
an index is built under qprof's build name and renamed to its final name once it is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qprof.advise.builds import (
    Leftover,
    Owned,
    advisory_lock,
    build_owned,
    drop_owned,
    is_valid,
    keep_owned,
    real_size,
    signals_as_interrupt,
    writable_connection,
)
from qprof.advise.generator import Recommendation
from qprof.errors import StatementFailed


def apply_recommendations(
    target: Any,
    recs: Sequence[Recommendation],
    *,
    lock_timeout: float,
    build_timeout: float | None = None,
    leftovers: list[Leftover] | None = None,
    cleanup_seconds: float | None = None,
) -> list[dict[str, Any]]:
    """Create each index not already applied; report per index (created, valid, ms, size, error).

    A build that fails, ends INVALID or is interrupted (Ctrl-C, SIGTERM) has what it created
    dropped again before the error or interrupt goes on; what cannot be dropped is appended to
    ``leftovers``.
    """
    leftovers = leftovers if leftovers is not None else []
    report = []
    with (
        signals_as_interrupt(),
        writable_connection(target, lock_timeout=lock_timeout, build_timeout=build_timeout) as conn,
        advisory_lock(conn, target.engine),
    ):
        for rec in recs:
            if rec.applied:
                report.append({"index": rec.name, "created": True, "valid": rec.valid, "note": "kept from --verify"})
                continue
            entry: dict[str, Any] = {"index": rec.name, "created": False, "valid": False}
            owned = Owned()
            done = False
            try:
                ms = build_owned(conn, rec, target.engine, owned, purpose="advise --apply")
                entry["ms"] = round(ms, 1)
                valid = is_valid(conn, owned, target.engine)
                entry["valid"] = valid
                if not valid:
                    entry["error"] = "the index was built INVALID and has been dropped again"
                else:
                    size = real_size(conn, owned, target.engine)
                    failure = keep_owned(conn, owned, rec, target.engine)
                    if failure:
                        raise StatementFailed(f"renaming the built index to {rec.name} failed: {failure}")
                    done = True
                    entry["created"] = True
                    rec.applied, rec.valid = True, True
                    rec.real_size_bytes = rec.real_size_bytes or size
                    entry["size_bytes"] = rec.real_size_bytes
                    if rec.partitioned:
                        entry["how"] = owned.how
            except StatementFailed as exc:
                entry["error"] = exc.message
            finally:
                # Failed, INVALID or interrupted: drop what this build created (and only that).
                if not done and owned.names:
                    left = drop_owned(conn, owned, target.engine, seconds=cleanup_seconds)
                    leftovers.extend(left)
                    if left:
                        entry["leftover"] = [item.to_dict() for item in left]
            if entry.get("error"):
                rec.error = entry["error"]
            report.append(entry)
    return report
