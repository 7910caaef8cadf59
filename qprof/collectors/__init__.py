"""Collectors read statistics, schema and plans into the model.

The SQL they run lives in ``sql/*.sql`` beside them (read by :func:`qprof.sqlfiles.load_sql`),
chosen by server/extension version and bound with parameters, never assembled from user input.
:mod:`qprof.collectors.logs` reads PostgreSQL server logs, for N+1 detection, ``advise --log``
and ``record`` alike.
"""

from __future__ import annotations
