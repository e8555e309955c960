"""`helved console`'s process: the archive following Kafka in a thread, the HTTP side on uvicorn.

Without a broker (`sample=True`) the archive is filled once with real helved output from an
in-process replay (`helved.console.sample`) and actions go straight into the archive.
"""

from __future__ import annotations

import logging
import socket
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


@dataclass
class Running:
    """A console served from a thread of another process (`helved demo`): `close()` stops the
    server, then the archive's follower, then closes the archive."""

    console: Console
    server: Any
    thread: threading.Thread
    url: str

    def close(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)
        self.console.close()


def start_in_thread(console: Console, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 15.0) -> Running:
    """Serve `console` from a daemon thread on `host`:`port` (0: a free port, bound here, so no
    other process can take it between choosing and binding). Returns once uvicorn accepts
    connections; raises RuntimeError (and closes the console) if it does not within `timeout_s`."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        console.close()
        raise
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(console.app, access_log=False, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported below, or by the caller's checks
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="console-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=5)
            console.close()
            why = repr(errors[0]) if errors else "it did not start in time"
            raise RuntimeError(f"the console's HTTP server did not start: {why}")
        time.sleep(0.02)
    shown = f"[{host}]" if ":" in host else host
    return Running(console, server, thread, f"http://{shown}:{bound}/")


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
