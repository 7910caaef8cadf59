"""One redaction for every secret that could leave the process.

Secrets reach qprof in two ways: connection strings (``--db``, ``$QPROF_DB``, profiles, store
URLs) and statement text (pg_stat_statements, server logs, workload files) holding
``ALTER ROLE … PASSWORD '…'``, ``USER MAPPING … OPTIONS (password '…')`` or a conninfo inside a
literal (``dblink('host=… password=…')``, ``CONNECTION 'postgresql://u:pw@…'``). Every exit —
stdout, stderr, JSON, reports, the history store, migration files — goes through the functions
here:

* :func:`conninfo` — a connection string for display, every secret key dropped;
* :func:`statement` — statement text with secret literals replaced by ``'***'`` (PostgreSQL's
  own lexer decides where a literal ends: ``E'…'``, ``$tag$…$tag$``, ``U&'…'``);
* :func:`text` — free text (a log line, an error message) by pattern, erring on hiding;
* :func:`known` — every secret value qprof was given, scrubbed from any text (the output sinks'
  safety net for a message that quotes one in a form the patterns do not know).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

# The conninfo keywords libpq treats as secret: PQconndefaults() marks them with dispchar "*"
# (password, sslpassword, oauth_client_secret), plus the SCRAM keys derived from the password
# (dispchar "D", but as good as the password). A test compares this with the libpq in use.
SECRET_KEYS: tuple[str, ...] = ("password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key")
MASK = "***"
SECRET_LITERAL = "'***'"
# A secret shorter than this is not scrubbed from arbitrary text by value (it would mangle
# ordinary words); the structural patterns still hide it wherever it appears as a value.
MIN_KNOWN_LENGTH = 4
LEX_LIMIT = 200_000

_KEYS = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_NEEDLES = (*SECRET_KEYS, "://")
# key=value in a DSN or URI query: a quoted value (possibly cut off) or up to the next blank.
_KEY_VALUE = re.compile(
    rf"""(?<!\w)((?:PG)?(?:{_KEYS}))(\s*=\s*)     # also PGPASSWORD=…, app.password=… in options
         (?!'\*\*\*'(?!\w)|(?:\$\d+|\?)(?![^\s&'",);]))   # already hidden, or a whole placeholder ($1, ?)
         ( ''[^\n]*?(?:''|(?=\n)|\Z)   # ''quoted'' inside a SQL literal
         | '(?:[^'\\]|\\.)*'?       # 'quoted value', the quote may be missing at a cut
         | "(?:[^"\\]|\\.)*"?
         | [^\s&'"]+(?:&(?!\w+=)[^\s&'"]*)*   # unquoted; a URI's next &key= ends it
         )""",
    re.IGNORECASE | re.VERBOSE,
)
# scheme://user:password@host — greedy up to the last "@" of the word, so a malformed URI with a
# raw "@" in its password still hides all of it.
# The scheme starts at a word's start: unanchored, every position of a long alphanumeric run would
# be tried as a scheme start (quadratic on a megabyte statement).
_URI_USERINFO = re.compile(r"((?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\[\]]*:)(\S*)(@)")
# Blanks and comments between a keyword and its literal (PASSWORD /* c */ '…', PASSWORD -- c⏎ '…').
_GAP = r"(?:\s|/\*.*?\*/|--[^\n]*\n)"
# A literal after a secret keyword (PASSWORD '…', "password" '…', password = '…') in text the
# lexer cannot read (a log line, a cut-off statement): everything from the opening quote to the
# end of the line goes, since where such a literal ends is a guess (JSON-escaped backslashes,
# standard_conforming_strings, a cut).
_KEYWORD_LITERAL = re.compile(
    rf"""((?<![\w$])"?(?:{_KEYS})"?(?:{_GAP}*={_GAP}*|{_GAP}+)(?:ENCRYPTED{_GAP}+)?)(?!'\*\*\*')
         (?: \$([A-Za-z_]\w*|)\$.*?(?:\$\2\$|\Z) | (?:[EeUu]&?)?' ) [^\n]*""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)

_known: set[str] = set()


def _mentions_secret(value: str) -> bool:
    lowered = value.lower()
    return any(needle in lowered for needle in _NEEDLES)


# -- connection strings ----------------------------------------------------------------------
def conninfo(value: str) -> str:
    """A connection string for display: ``key=value`` pairs without any secret key.

    An unparseable string shows as a placeholder: libpq's parse error may quote the secret.
    """
    if not value:
        return ""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(value)
    except psycopg.Error:
        return "(unparseable conninfo)"
    # a host holding "@" is a URI password's tail after a raw "@" (rv:Raw@65x@host): show the host only
    shown = {key: val.rpartition("@")[2] if key == "host" and val else val for key, val in params.items()}
    return " ".join(f"{key}={val}" for key, val in shown.items() if key.lower() not in SECRET_KEYS)


def conninfo_secrets(value: str) -> list[str]:
    """The secret values in a connection string, found by libpq's parser or, for a string it
    rejects, by pattern (the URI's userinfo password, every ``key=value`` of a secret key)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    found: list[str] = []
    try:
        params = conninfo_to_dict(value)
    except psycopg.Error:
        params = {}
    found += [str(params[key]) for key in params if key.lower() in SECRET_KEYS and params[key]]
    for match in _URI_USERINFO.finditer(value):
        found.append(match.group(2))
        # a raw "@" in the password: libpq takes what follows the first "@" as the host, so
        # messages show its tail ("host=65x@127.0.0.1") — each tail piece goes, with its "@"
        found += [piece + "@" for piece in match.group(2).split("@")[1:] if piece]
    for match in _KEY_VALUE.finditer(value):
        found.append(match.group(3).strip("'\""))
    # a URI password may be percent-encoded in the text and decoded in a message
    with_decoded = set(found) | {unquote(secret) for secret in found}
    return sorted((s for s in with_decoded if s), key=len, reverse=True)


def remember(secrets: Iterable[str | None]) -> None:
    """Secrets qprof was given: :func:`known` scrubs them from everything printed."""
    for secret in secrets:
        if secret and len(secret) >= MIN_KNOWN_LENGTH:
            _known.add(secret)


def forget() -> None:
    """Forget the remembered secrets: a long-lived process (the test suite's in-process CLI runner)
    starting another command, as a new ``qprof`` process would."""
    _known.clear()


def remember_conninfo(value: str) -> None:
    remember(conninfo_secrets(value))


def _is_keyword(word: str) -> bool:
    """A SQL keyword (``select``, ``user``): scrubbing it by value would mangle every statement,
    and as a password it is hidden by the structural patterns wherever it is a value."""
    from pglast import keywords

    lowered = word.lower()
    return any(
        lowered in group for group in (keywords.RESERVED_KEYWORDS, keywords.UNRESERVED_KEYWORDS, keywords.COL_NAME_KEYWORDS, keywords.TYPE_FUNC_NAME_KEYWORDS)
    )


def _pattern(secret: str) -> str:
    """``secret`` as a whole token: not inside a longer word (password ``postgres`` leaves
    ``postgresql`` alone; ``select`` leaves ``low_selectivity``)."""
    left = r"(?<![\w])" if re.match(r"\w", secret) else ""
    right = r"(?![\w])" if re.search(r"\w$", secret) else ""
    return left + re.escape(secret) + right


_compiled: dict[frozenset[str], re.Pattern[str] | None] = {}


def _scrubber(secrets: frozenset[str]) -> re.Pattern[str] | None:
    if secrets not in _compiled:
        ordered = sorted(secrets, key=len, reverse=True)
        _compiled[secrets] = re.compile("|".join(_pattern(s) for s in ordered)) if ordered else None
    return _compiled[secrets]


def _mask(match: re.Match[str]) -> str:
    # a piece of a password with a raw "@" ("65x@" of rv:Raw@65x@host) keeps the "@" it ends with
    return MASK + "@" if match.group().endswith("@") else MASK


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every one of ``secrets`` (as whole tokens) replaced by ``***``."""
    pattern = _scrubber(frozenset(s for s in secrets if s))
    return pattern.sub(_mask, message) if pattern else message


_known_pattern: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def _known_scrubber() -> re.Pattern[str] | None:
    """The pattern for every remembered secret (also as JSON or CSV would escape it), rebuilt only
    when a secret was added: it runs on every string printed."""
    global _known_pattern
    current = frozenset(_known)
    if _known_pattern[0] != current:
        forms: set[str] = set()
        for secret in current:
            if _is_keyword(secret):
                continue
            forms.add(secret)
            forms.add(secret.replace("\\", "\\\\").replace('"', '\\"'))  # JSON
            forms.add(secret.replace('"', '""'))  # CSV
        _known_pattern = (current, _scrubber(frozenset(forms)))
    return _known_pattern[1]


def known(output: str) -> str:
    """``output`` without any secret qprof was given (also as JSON or CSV would escape it)."""
    if not _known or not output:
        return output
    pattern = _known_scrubber()
    return pattern.sub(_mask, output) if pattern else output


# -- statement text ----------------------------------------------------------------------------
def _literal_body(literal: str) -> tuple[str, str, str]:
    """(opening delimiter, content, closing delimiter) of one SQL string literal token."""
    if literal.startswith("$"):
        tag = literal[: literal.index("$", 1) + 1]
        if literal.endswith(tag) and len(literal) >= 2 * len(tag):
            return tag, literal[len(tag) : -len(tag)], tag
        return tag, literal[len(tag) :], ""
    opening = literal.index("'") + 1
    closing = "'" if literal.endswith("'") and len(literal) > opening else ""
    return literal[:opening], literal[opening : len(literal) - len(closing)], closing


def _hide_connection_secrets(content: str) -> str:
    content = _URI_USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), content)
    return _KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + MASK, content)


_COMMENTS = ("C_COMMENT", "SQL_COMMENT")


def _lexed_literal_spans(sql: str) -> list[tuple[int, int, str]] | None:
    """(start, end, replacement) for every secret literal or comment, or None when the text
    does not lex."""
    from pglast.parser import ParseError, scan

    try:
        tokens = scan(sql)
    except (ParseError, ValueError):
        return None
    spans: list[tuple[int, int, str]] = []
    words: list[str] = []  # the tokens so far, comments left out: PASSWORD /* c */ '…' is PASSWORD '…'
    for token in tokens:
        start, end = token.start, token.end + 1
        if token.name in _COMMENTS:
            comment = sql[start:end]
            hidden = text(comment) if _mentions_secret(comment) else comment
            if hidden != comment:  # a DSN or a password typed into a comment
                spans.append((start, end, hidden))
            continue
        if token.name not in ("SCONST", "USCONST"):
            words.append(sql[start:end].strip('"').lower())
            continue
        before = words[-3:]
        words.append("'")
        if before and before[-1] == "=":
            before.pop()
        if before and before[-1] == "encrypted":
            before.pop()
        if before and before[-1] in SECRET_KEYS:
            spans.append((start, end, SECRET_LITERAL))
            continue
        literal = sql[start:end]
        if _mentions_secret(literal):
            opening, content, closing = _literal_body(literal)
            quoted = opening.endswith("'")  # '' (and \' in E'…') stand for one quote inside
            plain = content.replace("''", "'").replace("\\'", "'") if quoted else content
            # a DO body or EXECUTE string is SQL itself: PASSWORD '…' inside it goes too
            hidden = text(_hide_connection_secrets(plain))
            if hidden != plain:
                spans.append((start, end, opening + (hidden.replace("'", "''") if quoted else hidden) + closing))
    return spans


def statement(sql: str) -> str:
    """Statement text with every secret literal replaced (see the module docstring).

    Text the lexer rejects (a log line cut inside a literal) falls back to :func:`text`.
    """
    if not sql or not _mentions_secret(sql):
        return sql
    # the lexer makes a Python object per token: megabytes of SQL take the patterns instead
    spans = _lexed_literal_spans(sql) if len(sql) <= LEX_LIMIT else None
    if spans is None:
        return text(sql)
    for start, end, replacement in reversed(spans):
        sql = sql[:start] + replacement + sql[end:]
    return known(sql)


def text(value: str) -> str:
    """Free text (a log line, an error message) with secrets hidden by pattern.

    A literal after PASSWORD hides the rest of its line: a cut-off or escaped line should show
    less, never part of a password.
    """
    if not value or not _mentions_secret(value):
        return known(value) if value else value
    value = _hide_connection_secrets(value)
    value = _KEYWORD_LITERAL.sub(lambda m: m.group(1) + SECRET_LITERAL, value)
    return known(value)


def output(value: str) -> str:
    """Any string on its way out (a statement, a message quoting one, a log line): the lexer's
    exact literal boundaries first, then the free-text patterns for what is not a literal."""
    return text(statement(value))


_SECRET_FLAGS = ("--password", "--passwd", "--token", "--secret", "--api-key")


def command_line(argv: Iterable[str]) -> list[str]:
    """A command line for reports and the store: a secret flag's value (``--password x``,
    ``--token=x``) hidden, every argument through :func:`output` (URIs, conninfo, PGPASSWORD=…)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(MASK)
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if flag.lower() in _SECRET_FLAGS:
            shown.append(f"{flag}={MASK}" if eq else arg)
            hide_next = not eq
            continue
        shown.append(output(arg))
    return shown


def document(value: object) -> object:
    """A JSON-like document (dicts, lists, strings) with :func:`output` applied to every string."""
    if isinstance(value, str):
        return output(value)
    if isinstance(value, dict):
        return {key: document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [document(item) for item in value]
    return value
