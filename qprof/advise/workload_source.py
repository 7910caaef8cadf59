"""Where ``qprof advise`` gets its statements and their weights.

* pg_stat_statements (default on PostgreSQL): the top ``--top`` statements by total time with at
  least ``--min-calls`` calls and ``--min-mean-ms`` mean time; weight = calls.
* ``--workload PATH`` files or folders of SQL: weight 1 unless ``-- calls: N`` says otherwise.
* ``--sql "…"`` (repeatable): weight 1.
* ``--log FILE`` (PostgreSQL server logs): weight = executions; a statement the application
  sent with bind parameters keeps the first logged values (the workload's own, preferred to
  guesses from pg_stats).

On PostgreSQL, :func:`make_plannable` rewrites the normalized text these sources give
(``interval $3``, ``$70000``, ``ANY(ARRAY[$1, $2])`` …) into text PREPARE accepts, before the
advisor analyzes, costs or times anything (:mod:`qprof.pgtext`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qprof import sqltext
from qprof.errors import BadInput, QprofError
from qprof.workload import load_workload


@dataclass
class AdviseStatement:
    """One workload statement as the advisor sees it."""

    key: str  # stable identity: the queryid, or the workload name
    sql: str
    calls: int = 1
    params: list | None = None  # sample values for $1..$n; None when unknown
    queryid: str | None = None
    name: str | None = None
    mean_ms: float | None = None
    rows: int | None = None  # rows returned/affected over all calls (pg_stat_statements)
    source: str = ""
    tables: frozenset[tuple[str, str]] = frozenset()
    candidates: set[Any] = field(default_factory=set)
    analysis: Any = None

    @property
    def label(self) -> str:
        return self.name or (f"queryid {self.queryid}" if self.queryid else sqltext.one_line(self.sql, 60))

    @property
    def weight(self) -> float:
        return float(max(self.calls, 1))

    @property
    def total_ms(self) -> float | None:
        """Time the workload spent in it (calls × mean), when the source measured it."""
        return self.calls * self.mean_ms if self.mean_ms is not None else None


def make_plannable(statements: Sequence[AdviseStatement], engine: str) -> list[tuple[AdviseStatement, str]]:
    """Rewrite PostgreSQL statements in place so PREPARE accepts them; their values follow any renumbering.

    Returns the statements that cannot be planned at all, each with the reason (more
    parameters than PostgreSQL binds). SQLite statements are left as they are.
    """
    from qprof.pgtext import plannable

    if engine != "postgresql":
        return []
    failed = []
    for statement in statements:
        try:
            rewritten = plannable(statement.sql)
        except BadInput as exc:
            failed.append((statement, exc.message))
            continue
        statement.sql = rewritten.sql
        statement.params = rewritten.params(statement.params)
    return failed


def from_pg_stat_statements(target: Any, *, min_calls: int = 1, min_mean_ms: float = 0.0, top: int | None = 50) -> list[AdviseStatement]:
    """The statements that cost the most in this database, weighted by their call counts."""
    from qprof.collectors.pg_statements import collect_statements

    stats = collect_statements(target, min_calls=min_calls)
    chosen = [s for s in stats if s.text_visible and s.mean_ms >= min_mean_ms and s.calls >= min_calls and _indexable_kind(s.query)]
    chosen.sort(key=lambda s: (-s.total_ms, s.queryid))
    if top:
        chosen = chosen[:top]
    return [
        AdviseStatement(
            key=str(s.queryid),
            sql=s.query,
            calls=s.calls,
            queryid=str(s.queryid),
            mean_ms=s.mean_ms,
            rows=s.rows,
            source="pg_stat_statements",
        )
        for s in chosen
    ]


def _indexable_kind(sql: str) -> bool:
    """Queries and DML; DDL and utility statements (COPY, CREATE, VACUUM …) are not the advisor's business."""
    try:
        return sqltext.is_query(sqltext.parse(sql, "postgresql"))
    except QprofError:
        from qprof.pgtext import statement_kind

        read = statement_kind(sql)  # PostgreSQL's own parser: a utility statement sqlglot cannot read
        return read is None or read[0] != "utility"  # else keep it: it is reported as unparseable


def from_workload_paths(paths: Iterable[Path | str]) -> list[AdviseStatement]:
    """Statements of workload files/folders; weight from ``-- calls:`` markers, else 1."""
    statements: list[AdviseStatement] = []
    for path in paths:
        for item in load_workload(path):
            statements.append(
                AdviseStatement(
                    key=item.name,
                    sql=item.sql,
                    calls=item.calls,
                    params=list(item.params) if item.params else None,
                    name=item.name,
                    source=item.source,
                )
            )
    return _unique_keys(statements)


def from_sql_texts(texts: Sequence[str]) -> list[AdviseStatement]:
    """``--sql`` statements, weight 1; ``IN ($1,$2)`` spaced as in workload files (any engine)."""
    from qprof.pgtext import space_placeholders

    statements = []
    for number, text in enumerate(texts, start=1):
        text = space_placeholders(text.strip().rstrip(";").strip())
        if not text:
            raise BadInput(f"--sql #{number} is empty")
        statements.append(AdviseStatement(key=f"sql_{number}", sql=text, name=f"sql_{number}", source="--sql"))
    return statements


def from_logs(paths: Sequence[Path], prefix: str | None = None) -> list[AdviseStatement]:
    """Statements found in PostgreSQL server logs, grouped by fingerprint, weight = executions seen.

    Each is costed with the values its first logged execution ran with — the workload's own,
    preferred to guesses from pg_stats: bound parameters (``DETAIL: parameters: $1 = '…'``) and
    the literals of the text, which become ``$n`` too (:func:`qprof.pgtext.parametrize`), so no
    value appears in the text qprof prints. A statement where a string literal would stay in
    the text (a utility statement's ``PASSWORD '…'``, a bit string), or one PostgreSQL's parser
    rejects, keeps the fingerprint (``?`` → ``$n``, no literal either) and gets a generic plan.
    Logged durations give its mean time.
    """
    from qprof.fingerprint import fingerprint
    from qprof.collectors.logs import iter_log_statements

    counts: dict[str, int] = {}
    durations: dict[str, list[float]] = {}
    bound: dict[str, tuple[str, list] | None] = {}
    for logged in iter_log_statements([Path(p) for p in paths], prefix):
        key = fingerprint(logged.sql)
        counts[key] = counts.get(key, 0) + 1
        if logged.duration_ms is not None:
            durations.setdefault(key, [0.0, 0])[0] += logged.duration_ms  # type: ignore[index]
            durations[key][1] += 1
        if key not in bound:
            bound[key] = _own_values(logged.sql, logged.params)
    statements = []
    for number, (key, count) in enumerate(sorted(counts.items(), key=lambda item: -item[1]), start=1):
        name = f"log_{number}"
        sql, params = bound.get(key) or (question_marks_to_dollars(key), None)
        total, timed = durations.get(key, (0.0, 0))
        statements.append(
            AdviseStatement(
                key=name,
                sql=sql,
                calls=int(count),
                params=params,
                name=name,
                source="log",
                mean_ms=total / timed if timed else None,
            )
        )
    return statements


def _own_values(sql: str, params: tuple | None) -> tuple[str, list] | None:
    """The logged text with its literals as ``$n`` after the bound ones, and all the values; None
    when they do not fit together or a literal would stay in the text (see :func:`parametrize`)."""
    from qprof.pgtext import parametrize

    try:
        if sqltext.placeholder_count(sql) != len(params or ()):
            return None
    except QprofError:
        return None
    found = parametrize(sql.strip().rstrip(";").strip())
    if found is None:
        return None
    text, literals = found
    return text, [*(params or ()), *literals]


def question_marks_to_dollars(sql: str) -> str:
    """The log parser's ``?`` placeholders as PostgreSQL's ``$1, $2, …`` (tokens, never inside literals)."""
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except Exception:  # noqa: BLE001 - leave it to the parser to report
        return sql
    pieces, cursor, number = [], 0, 0
    for token in tokens:
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            number += 1
            pieces.append(sql[cursor : token.start])
            pieces.append(f"${number}")
            cursor = token.end + 1
    pieces.append(sql[cursor:])
    return "".join(pieces)


def _unique_keys(statements: list[AdviseStatement]) -> list[AdviseStatement]:
    seen: dict[str, int] = {}
    for statement in statements:
        count = seen.get(statement.key, 0)
        seen[statement.key] = count + 1
        if count:
            statement.key = f"{statement.key}#{count + 1}"
    return statements
