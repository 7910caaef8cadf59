"""Recorded windows: ``qprof record -- COMMAND`` wraps a load test in two snapshots.

A run is (name, start snapshot, end snapshot, command, exit code, log file and the byte
offsets where the window began and ended). Percentiles come only from measurements: each
duration the server logged inside the window, joined to its pg_stat_statements entry by the
statement's fingerprint (:mod:`qprof.record.percentiles`). SLO gates (:mod:`qprof.record.slo`)
are checked on the window's report.
"""

from __future__ import annotations
