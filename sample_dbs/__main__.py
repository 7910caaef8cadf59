"""CLI: ``python -m qprof.sample_dbs {sqlite PATH | postgres CONNINFO} [options]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import build_sqlite, load_postgres


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qprof.sample_dbs", description="Build qprof's deterministic sample database.")
    sub = parser.add_subparsers(dest="engine", required=True)
    lite = sub.add_parser("sqlite", help="write a SQLite file (replaced atomically)")
    lite.add_argument("path")
    lite.add_argument("--scale", type=float, default=0.1, help="1.0 = 1M orders (default 0.1)")
    pg = sub.add_parser("postgres", help="load into schema public of a PostgreSQL database")
    pg.add_argument("conninfo", help="libpq conninfo string or postgresql:// URL")
    pg.add_argument("--scale", type=float, default=0.02, help="1.0 = 1M orders (default 0.02)")
    pg.add_argument("--replace", action="store_true", help="drop existing sample tables first")
    for p in (lite, pg):
        p.add_argument("--seed", type=int, default=42)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        if args.engine == "sqlite":
            path = build_sqlite(args.path, args.scale, args.seed, progress=print)
            where = str(path)
        else:
            load_postgres(args.conninfo, args.scale, args.seed, replace=args.replace, progress=print)
            where = "PostgreSQL (schema public)"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. psycopg.OperationalError; the message has no password
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"built sample database (scale {args.scale}, seed {args.seed}) in {where} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
