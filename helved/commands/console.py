"""`helved console`: the operator console (issue 16). Archives every helved topic into a database
(SQLite file by default, PostgreSQL with a DSN) and serves the dashboard, message browser, sak
pages, audited actions and the API (`/docs`) on http://HOST:PORT/. Prints one token per role.

    helved console                          # HELVED_BOOTSTRAP_SERVERS' broker, ./helved-console.sqlite
    helved console --dsn postgresql://user@host/db --port 8090
    helved console --sample                 # no broker: real helved output from an in-process replay
"""

from __future__ import annotations

import argparse
import os

from helved.cli_support import CommandError, report


def run(args: argparse.Namespace) -> int:
    from helved.console.archive import default_dsn
    from helved.console.auth import Tokens

    try:
        tokens = Tokens.from_env()
    except ValueError as exc:
        return report("console", CommandError(str(exc), 2))
    dsn = args.dsn or default_dsn(os.environ)
    try:
        settings = None
        if not args.sample:
            from helved.cli_support import broker_settings

            settings = broker_settings(args.broker_timeout)
        from helved.console.server import build, serve

        console = build(dsn, tokens, settings=settings, sample=args.sample)
    except CommandError as exc:
        return report("console", exc)
    except Exception as exc:  # the database or the broker refused: one line, no traceback
        return report("console", CommandError(f"cannot start: {type(exc).__name__}: {exc}", 1))
    serve(console, args.host, args.port)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="the operator console: archive every topic, serve pages and an API")
    p.add_argument(
        "--dsn",
        help="archive database: a SQLite path/URL or a PostgreSQL DSN (default: HELVED_CONSOLE_DSN or ./helved-console.sqlite)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    p.add_argument(
        "--sample", action="store_true", help="no broker: fill the archive from an in-process replay of sample requests"
    )
    p.add_argument("--broker-timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    p.set_defaults(func=run)
