"""Shared by the `helved` commands that talk to a broker (send, status, sak, topics, os-emulator).

Human output never holds a person's ident; `--json` output neither (scripts get ids and
amounts, not fødselsnumre).

Exit codes (README, "Exit codes"): 0 done; 1 failed (FEILET, a broker that does not answer, a
missing topic); 2 a usage, configuration or file error; 3 no final status in time; 130
interrupted (Ctrl-C). Every failure is one line on stderr saying what to do, never a traceback.

Ctrl-C (`Interrupts`). Python runs a signal handler only between bytecodes, and some Kafka
client calls (a metadata request, a producer flush) block in C for their whole timeout and
mangle an exception raised around them. So a command is interrupted in two ways at once: the
usual `KeyboardInterrupt` where Python gets to raise it (the command unwinds, closing what it
opened), and a watchdog thread that sees the signal at once through `signal.set_wakeup_fd`: if
the command has not ended `GRACE_S` after Ctrl-C (or at a second Ctrl-C) it runs the cleanups
registered with `on_interrupt` (stop child processes) and ends the process with 130.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helved.config import Settings
from helved.errors import HelvedError

# Where the OS emulator service keeps its state (`helved os-emulator`, read by `helved sak`).
OS_STATE_ENV = "HELVED_OS_STATE_DIR"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

# Seconds a command has to end by itself after Ctrl-C before the watchdog ends it.
GRACE_S = 1.5

# Every client these commands create: a missing topic is an error, never created by a lookup.
NO_AUTO_CREATE: dict[str, Any] = {"allow.auto.create.topics": False}


class CommandError(HelvedError):
    """A failure to report in one line, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def broker_settings(timeout_s: float = 10.0) -> Settings:
    """Settings from the environment, with a broker that answers (checked, bounded in time)."""
    from helved.kafka import BrokerUnavailable

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None
    if settings.embedded_broker:
        raise CommandError(
            "HELVED_BOOTSTRAP_SERVERS is not set: name the broker (`helved demo` prints the "
            "address of its embedded one)",
            2,
        )
    try:
        wait_for_broker(settings, timeout_s)
    except BrokerUnavailable as exc:
        raise CommandError(f"{exc}; check HELVED_BOOTSTRAP_SERVERS and that the broker runs") from None
    return settings


def wait_for_broker(settings: Settings, timeout_s: float, slice_s: float = 0.5) -> None:
    """`check_broker`, in metadata requests of at most `slice_s` each, so Ctrl-C is seen
    between them (one request of the whole timeout blocks in C, deaf to it)."""
    from confluent_kafka import KafkaException

    from helved.kafka import BrokerUnavailable
    from helved.kafka.admin import admin_client

    admin = admin_client({**settings.kafka_client_config(), **NO_AUTO_CREATE})
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            admin.list_topics(timeout=max(min(slice_s, left), 0.05))
            return
        except KafkaException as exc:
            if left <= slice_s:
                raise BrokerUnavailable(
                    f"no Kafka broker answered at {settings.bootstrap_servers!r} within {timeout_s:g} s: "
                    f"{exc.args[0].str()}"
                ) from None


def require_topics(settings: Settings, topics: list[str], timeout_s: float = 10.0) -> None:
    """`CommandError` (exit 1) naming the first of `topics` that does not exist. Looks at the
    metadata of all topics, never of one by name (which may auto-create it)."""
    from helved.kafka.consumer import TopicMissing, consumer, partitions_of

    c = consumer(settings)
    try:
        partitions_of(c, topics, timeout_s)
    except TopicMissing as exc:
        prefix = f" (HELVED_TOPIC_PREFIX is {settings.topic_prefix!r})" if settings.topic_prefix else ""
        raise CommandError(f"{exc}{prefix}") from None
    finally:
        c.close()


def os_state_dir(given: str | None) -> Path | None:
    value = given or os.environ.get(OS_STATE_ENV, "").strip()
    return Path(value) if value else None


def report(prog: str, exc: CommandError) -> int:
    print(f"helved {prog}: {exc}", file=sys.stderr)
    return exc.code


# ---------------------------------------------------------------------------------------------
# Ctrl-C

_current: Interrupts | None = None


def on_interrupt(cleanup: Callable[[], None]) -> Callable[[], None]:
    """Have `cleanup` called (from the watchdog's thread) if the command must be ended after
    Ctrl-C without unwinding: stop child processes, remove temporary files. Returns the
    function that takes it back (call it once the command has cleaned up by itself)."""
    current = _current
    if current is not None:
        current.cleanups.append(cleanup)

    def forget() -> None:
        if current is not None and cleanup in current.cleanups:
            current.cleanups.remove(cleanup)

    return forget


class Interrupts:
    """Ctrl-C for one command (see the module docstring). A context manager; does nothing
    outside the main thread."""

    def __init__(self, prog: str, grace_s: float = GRACE_S) -> None:
        self.prog = prog
        self.grace_s = grace_s
        self.received = threading.Event()
        self.cleanups: list[Callable[[], None]] = []
        self._fds: tuple[int, int] | None = None
        self._old_wakeup = -1
        self._thread: threading.Thread | None = None
        self._said = False

    def __enter__(self) -> Interrupts:
        global _current
        if threading.current_thread() is threading.main_thread():
            r, w = os.pipe()
            os.set_blocking(w, False)
            self._fds = (r, w)
            self._old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            self._thread = threading.Thread(target=self._watch, name="helved-interrupts", daemon=True)
            self._thread.start()
        _current = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _current
        _current = None
        if self._fds is None:
            return
        r, w = self._fds
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(w)  # the watcher reads the end of the pipe and returns
        if self._thread is not None:
            self._thread.join(1.0)
        os.close(r)
        self._fds = None

    def say(self) -> None:
        """The one line an interrupted command prints."""
        if not self._said:
            self._said = True
            print(f"helved {self.prog}: interrupted", file=sys.stderr, flush=True)

    def _watch(self) -> None:
        assert self._fds is not None
        r = self._fds[0]
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([r], [], [], timeout)
            if not ready:
                self._end_now()
            data = os.read(r, 64)
            if not data:
                return
            if signal.SIGINT not in data:  # SIGTERM is the commands' own (a service's stop)
                continue
            if deadline is not None:
                self._end_now()  # a second Ctrl-C
            self.received.set()
            quiet_librdkafka()
            deadline = time.monotonic() + self.grace_s

    def _end_now(self) -> None:
        for cleanup in list(self.cleanups):
            try:
                cleanup()
            except Exception:  # an emergency: every cleanup gets its turn
                pass
        try:
            sys.stdout.flush()
        except Exception:
            pass
        os.write(2, f"helved {self.prog}: interrupted\n".encode())
        os._exit(EXIT_INTERRUPTED)


def quiet_librdkafka() -> None:
    """After Ctrl-C, librdkafka's complaints about connections going away are noise."""
    logging.getLogger("helved.kafka.librdkafka").setLevel(logging.CRITICAL)
