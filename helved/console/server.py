"""`helved console`'s process: the archive following Kafka in a thread, the HTTP side on uvicorn.

Without a broker (`sample=True`) the archive is filled once with real helved output from an
in-process replay (`helved.console.sample`) and actions go straight into the archive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helved.console.actions import Actions, ArchivePublisher, KafkaPublisher
from helved.console.archive import Archive, follow, ingest_all, open_archive
from helved.console.auth import Auth, Tokens

log = logging.getLogger(__name__)


@dataclass
class Console:
    """A running console: its archive, the archive's follower thread, the app."""

    archive: Archive
    auth: Auth
    app: Any
    stop: threading.Event = field(default_factory=threading.Event)
    follower: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)

    def close(self) -> None:
        self.stop.set()
        if self.follower is not None:
            self.follower.join(timeout=10)
        self.archive.close()


def build(
    dsn: str,
    tokens: Tokens,
    *,
    settings: Any = None,
    sample: bool = False,
    sample_decisions: int = 100,
    say: Callable[[str], None] = print,
) -> Console:
    """The console over the archive at `dsn`: following the broker of `settings`, or filled
    with the sample when `sample` is true."""
    from helved.config import Topics
    from helved.console.api import create_app

    topics = settings.topics if settings is not None else Topics()
    archive = open_archive(dsn, topics)
    auth = Auth(tokens)
    if sample:
        from helved.console import sample as sample_

        start = time.perf_counter()
        recs = sample_.archive_records(sample_.standard(topics, decisions=sample_decisions))
        stats = ingest_all(archive, recs)
        say(
            f"helved console: sample archived ({stats.inserted} new of {stats.received} records, {time.perf_counter() - start:.1f} s)"
        )
        actions = Actions(archive, ArchivePublisher(archive))
        console = Console(archive, auth, create_app(archive, actions, auth))
        return console
    assert settings is not None
    actions = Actions(archive, KafkaPublisher(settings))
    console = Console(archive, auth, create_app(archive, actions, auth))

    def run() -> None:
        try:
            follow(archive, settings, console.stop)
        except BaseException as exc:  # reported by the serving loop
            log.error("helved console: the archive stopped following Kafka: %s", exc)
            console.errors.append(exc)

    console.follower = threading.Thread(target=run, name="console-archive", daemon=True)
    console.follower.start()
    return console


def serve(console: Console, host: str, port: int, say: Callable[[str], None] = print) -> None:
    """Serve until interrupted. uvicorn's access log is off: helved's own line per request
    names the path with idents masked and never the query."""
    import uvicorn

    config = uvicorn.Config(console.app, host=host, port=port, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    tokens = console.auth.tokens
    shown = f"[{host}]" if ":" in host else host
    say(f"helved console: http://{shown}:{port}/  (API: /docs)")
    say(f"  operator token: {tokens.operator}")
    say(f"  viewer token:   {tokens.viewer}")
    try:
        server.run()
    finally:
        console.close()
