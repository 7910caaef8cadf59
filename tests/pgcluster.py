"""A private, throwaway PostgreSQL cluster for the test suite.

The suite tests against a real server (pg_stat_statements, HypoPG, real plans), but must never
touch a database the developer cares about, so every run gets its own cluster: ``initdb`` into a
fresh temporary directory, a free TCP port on 127.0.0.1, durability switched off for speed, and
everything removed again on ``stop()``.

This module deliberately has no pytest dependency; ``tests/conftest.py`` wraps it in a fixture.

Authentication (``pg_hba.conf``, first match wins, so order matters):

* the bootstrap superuser (``postgres``) is trusted over TCP and the socket, so the harness
  needs no password;
* every other role must log in over TCP with a SCRAM password, so tests can prove that a
  role's password works, that it is required, and that it never leaks into output.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["PgCluster", "find_bindir"]

_SERVER_EXES = ("initdb", "pg_ctl", "postgres")
_GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def find_bindir() -> str:
    """Locate the PostgreSQL server bin dir, with the same rule as scripts/ensure-prereqs.sh.

    ``$QPROF_PG_BINDIR`` wins; then the newest ``/usr/lib/postgresql/<major>/bin`` (Debian keeps
    several majors side by side and ``/usr/bin`` holds only client wrappers); then
    ``pg_config --bindir``. Raises RuntimeError naming the fix when nothing usable is found.
    """
    env = os.environ.get("QPROF_PG_BINDIR")
    candidates: list[Path] = []
    if env:
        candidates = [Path(env)]
    else:
        majors = sorted((int(p.parent.name), p) for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit())
        candidates = [p for _, p in reversed(majors)]
        pg_config = shutil.which("pg_config")
        if pg_config:
            try:
                out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30).stdout.strip()
                candidates.append(Path(out))
            except (OSError, subprocess.SubprocessError):
                pass
    for bindir in candidates:
        if all(os.access(bindir / exe, os.X_OK) for exe in _SERVER_EXES):
            return str(bindir)
    where = f"QPROF_PG_BINDIR={env}" if env else "/usr/lib/postgresql/*/bin or pg_config --bindir"
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in {where}; run scripts/ensure-prereqs.sh or set QPROF_PG_BINDIR")


def _free_port() -> int:
    """Ask the kernel for an unused port; start() retries if another process wins the race."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf_quote(value: str) -> str:
    """Quote a value for postgresql.conf (always quoting is valid for every GUC type)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _clean_env() -> dict[str, str]:
    """The caller's PG* variables (PGPASSWORD, PGSSLMODE, PGSERVICE…) must not leak into the harness."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class PgCluster:
    """One initdb'd PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    superuser: str = "postgres"
    host: str = "127.0.0.1"

    def __init__(self, bindir: str | None = None, *, settings: Mapping[str, str] | None = None):
        self.bindir = Path(bindir or find_bindir())
        self.settings: dict[str, str] = dict(settings or {})
        self.port: int = 0
        self.tmpdir: Path | None = None
        self._started = False
        self._atexit_registered = False
        self._lock = threading.Lock()
        # initdb refuses to run as root: then the cluster belongs to the OS user "postgres".
        self._as_root = os.geteuid() == 0

    # -- paths -------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self._require_tmpdir() / "data"

    @property
    def logfile(self) -> Path:
        return self._require_tmpdir() / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self._require_tmpdir()

    def _require_tmpdir(self) -> Path:
        if self.tmpdir is None:
            raise RuntimeError("PgCluster is not started")
        return self.tmpdir

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "PgCluster":
        """initdb, configure and start the server; on failure clean up and raise RuntimeError."""
        if self._started:
            return self
        if not self._atexit_registered:
            # Backstop for interrupted runs (Ctrl-C, sys.exit, SIGTERM below): never leave a
            # postmaster and its temp dir behind.
            atexit.register(self.stop)
            self._atexit_registered = True
            _exit_on_sigterm()
        try:
            self._initdb()
            self._configure()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory. Idempotent; safe after a half-done start()."""
        with self._lock:
            tmpdir, self.tmpdir = self.tmpdir, None
            self._started = False
            if tmpdir is None:
                return
            datadir = tmpdir / "data"
            if (datadir / "postmaster.pid").exists():
                # fast: clean shutdown in well under a second with fsync off; immediate as fallback.
                for mode, timeout in (("fast", 30), ("immediate", 15)):
                    res = self._run(
                        [self._exe("pg_ctl"), "stop", "-D", str(datadir), "-m", mode, "-w", "-t", str(timeout)],
                        check=False,
                        cwd=tmpdir,
                        timeout=timeout + 10,
                    )
                    if res.returncode == 0 or not (datadir / "postmaster.pid").exists():
                        break
                else:
                    _kill_postmaster(datadir)
            shutil.rmtree(tmpdir, ignore_errors=True)

    def restart(self) -> None:
        """Restart the server, e.g. after reload() of a setting that only applies at startup."""
        self._run(
            [self._exe("pg_ctl"), "restart", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60", "-l", str(self.logfile)],
            cwd=self.socket_dir,
            timeout=90,
        )

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self.port} dir={self.tmpdir}" if self._started else "stopped"
        return f"<PgCluster {self.bindir} {state}>"

    # -- connection strings ------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """libpq key=value conninfo over TCP (values quoted by psycopg, so any password works)."""
        params: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": dbname,
            "user": user or self.superuser,
        }
        if password is not None:
            params["password"] = password
        return make_conninfo("", **params)

    def url(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """postgresql:// URI over TCP (for SQLAlchemy-style configuration)."""
        auth = quote(user or self.superuser, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    # -- administration ----------------------------------------------------------------------
    def psql(self, sql_text: str, dbname: str = "postgres") -> str:
        """Run SQL through the psql binary as superuser; returns stdout (unaligned, tuples only).

        The script is fed on stdin so each statement runs on its own (CREATE DATABASE cannot
        share a multi-statement string); ON_ERROR_STOP turns the first error into an exception.
        """
        res = self._run_client(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                dbname,
                "-f",
                "-",
            ],
            input=sql_text,
        )
        return res.stdout

    def connect(self, dbname: str = "postgres", **kwargs: object) -> psycopg.Connection:
        """Superuser psycopg connection in autocommit mode (for DDL such as CREATE DATABASE)."""
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10, **kwargs)

    def create_database(self, name: str, *, extensions: Sequence[str] = ("pg_stat_statements",)) -> str:
        """CREATE DATABASE plus CREATE EXTENSION for each given extension; returns its dsn."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if extensions:
            with self.connect(name) as conn:
                for ext in extensions:
                    conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
        return self.dsn(name)

    def reload(self, settings: Mapping[str, str]) -> None:
        """ALTER SYSTEM the settings and reload, returning once new connections see them.

        pg_reload_conf() only signals the postmaster; we wait until a fresh backend reports a
        newer pg_conf_load_time(), so a test that changes e.g. log_min_duration_statement and
        then runs a query is not racing the reload. Settings that need a restart raise
        ValueError (call restart() instead of relying on them silently not applying).
        """
        for name in settings:
            if not _GUC_NAME.match(name):
                raise ValueError(f"invalid setting name: {name!r}")
        with self.connect() as conn:
            before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
            for name, value in settings.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(str(value))))
            time.sleep(0.01)  # pg_conf_load_time has microsecond resolution; ensure it can advance
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while True:
            with self.connect() as conn:
                now = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]  # type: ignore[index]
                if now > before:
                    pending = [
                        r[0]
                        for r in conn.execute(
                            "SELECT name FROM pg_settings WHERE pending_restart AND name = ANY(%s)",
                            [list(settings)],
                        )
                    ]
                    if pending:
                        raise ValueError(f"settings need restart(): {', '.join(pending)}")
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("configuration reload not observed within 10s\n" + self._log_tail())
            time.sleep(0.02)

    def log_text(self) -> str:
        """The whole server log so far (tests assert on log lines, e.g. for the log collector)."""
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- internals ---------------------------------------------------------------------------
    def _exe(self, name: str) -> str:
        return str(self.bindir / name)

    def _run(self, argv: list[str], *, check: bool = True, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server-side command, as the postgres OS user when we are root.

        cwd is the cluster dir because root's own cwd is often unreadable for postgres.
        """
        if self._as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        res = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}{res.stderr}" + self._log_tail())
        return res

    def _run_client(self, argv: list[str], *, input: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(argv, capture_output=True, text=True, input=input, env=_clean_env(), timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"psql failed ({res.returncode}):\n{res.stderr}")
        return res

    def _make_tmpdir(self) -> Path:
        base: str | None = None
        if self._as_root and not _traversable_by_others(Path(tempfile.gettempdir())):
            base = "/tmp"  # e.g. TMPDIR=/root/tmp: postgres could not reach the cluster dir
        path = Path(tempfile.mkdtemp(prefix="qprof-pg-", dir=base))
        if self._as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def _initdb(self) -> None:
        self.tmpdir = self._make_tmpdir()
        self._run(
            [
                self._exe("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.superuser,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            cwd=self.tmpdir,
        )

    def _configure(self) -> None:
        conf: dict[str, str] = {
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.socket_dir),
            "shared_preload_libraries": "pg_stat_statements",
            "pg_stat_statements.track": "all",
            "pg_stat_statements.max": "10000",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",  # stderr goes to server.log via pg_ctl -l
            "log_destination": "stderr",
            "password_encryption": "scram-sha-256",
            "lc_messages": "C",
        }
        conf.update(self.settings)
        lines = ["", "# --- qprof test cluster ---"]
        for name, value in conf.items():
            if not _GUC_NAME.match(name):
                raise ValueError(f"invalid setting name: {name!r}")
            lines.append(f"{name} = {_conf_quote(str(value))}")
        hba = "\n".join(
            [
                "# qprof test cluster: superuser trusted, everyone else needs a SCRAM password",
                "# TYPE  DATABASE  USER                  ADDRESS       METHOD",
                "local   all       all                                 trust",
                f"host    all       {self.superuser:<20}  127.0.0.1/32  trust",
                "host    all       all                   127.0.0.1/32  scram-sha-256",
                "",
            ]
        )
        # Files in datadir belong to postgres; as root we may still write them, ownership kept.
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("\n".join(lines) + "\n")
        (self.datadir / "pg_hba.conf").write_text(hba)

    def _start_server(self) -> None:
        last_error = ""
        for _attempt in range(5):
            self.port = _free_port()
            res = self._run(
                [self._exe("pg_ctl"), "start", "-D", str(self.datadir), "-w", "-t", "60", "-l", str(self.logfile), "-o", f"-p {self.port}"],
                check=False,
                cwd=self.socket_dir,
                timeout=90,
            )
            if res.returncode == 0:
                return
            last_error = f"{res.stdout}{res.stderr}"
            log = self.log_text()
            if "could not bind" not in log and "already in use" not in log:
                break  # not a port race: retrying will not help
        raise RuntimeError(f"PostgreSQL failed to start (port {self.port}):\n{last_error}{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        if self.tmpdir is None:
            return ""
        text = self.log_text().splitlines()[-lines:]
        return ("\n--- server log tail ---\n" + "\n".join(text)) if text else ""


def _traversable_by_others(path: Path) -> bool:
    """True if every component of path is o+x, i.e. the postgres user can reach below it."""
    for p in [path, *path.parents]:
        try:
            if not p.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _kill_postmaster(datadir: Path) -> None:
    """Last resort when pg_ctl cannot stop the server: SIGQUIT/SIGKILL the pid in postmaster.pid."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


_sigterm_installed = False


def _exit_on_sigterm() -> None:
    """Turn SIGTERM (CI timeouts, `kill`) into SystemExit so atexit handlers stop clusters.

    Only when nobody else installed a handler, and only from the main thread (a signal
    handler cannot be installed elsewhere).
    """
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _handler(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _handler)
    _sigterm_installed = True
