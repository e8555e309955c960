"""The operator console (`helved console`, issue 16): a read model of every helved topic, an HTTP
API and server-rendered pages over it, and a few audited operator actions written as records.

    archive   every topic into a database (SQLAlchemy Core: SQLite file or PostgreSQL)
    queries   the read side: dashboard, search, sak, Oppdrag with its receipt, audit log
    checks    the dashboard's checks: stuck in OS's opening hours, pending/confirmed, double payments
    actions   operator actions as records (resend, manual receipt, handled, resubmit); refused when senseless
    auth      tokens, sessions, roles, CSRF
    api       the FastAPI application (JSON under /api, pages elsewhere, OpenAPI at /docs)
    present, svg, templates   masking idents, pretty values, the sak page's pictures, the pages
    sample    real helved output without a broker (tests, `helved console --sample`)
    server    the process: the archive following Kafka in a thread, uvicorn serving the app (or
              `start_in_thread`, beside `helved demo`)

See README.md beside this file.

The console never writes helved's state: it reads topics and produces records on the audit
topic (and, for a manual receipt, on the kvittering topic, as OS would; for a resubmission, on
the sender's input topic, as the sender would). The OS bridge acts on a resend's audit entry.
"""

from helved.console.archive import Archive, derive, open_archive

__all__ = ["Archive", "derive", "open_archive"]
