"""The whole of helved on one machine, for development: broker (embedded unless settings name
one), topics, `helved run` as child processes (one, or a Bytewax cluster on loopback) and the OS
bridge with the OS emulator as OS. Used by `helved demo`, the latency measurement, the
benchmarks and the end-to-end tests; production start-up is `helved.startup`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from helved.config import Settings
from helved.emulator import Faults
from helved.errors import HelvedError
from helved.kafka import EmbeddedBroker, check_broker, ensure_topics
from helved.startup import RecoveryDirError, settings_env

log = logging.getLogger(__name__)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGKILL when its parent dies, so a killed demo leaves no pipeline."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class PipelineProcess:
    """`helved run` as a child process with the given settings; output to `log_path`."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        if settings.recovery_dir is None:
            raise RecoveryDirError("the pipeline process needs a recovery directory")
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PipelineProcess:
        env = {**os.environ, **settings_env(self.settings)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "helved.cli", "-v", "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to the parent, which stops us in order
                # Only async-signal-safe work (one prctl call) between fork and exec.
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGINT, then SIGKILL after `timeout_s`. Either way the next start resumes from the
        last snapshot (Bytewax takes no snapshot on the way out)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# The whole stack


class StackFailed(HelvedError, RuntimeError):
    """A part of the stack stopped by itself."""


class Stack:
    """Broker (embedded when `settings` name none), topics, `helved run` (one process, or a
    Bytewax cluster of `processes` on loopback) and the OS bridge.

    The bridge runs in a thread of this process with the emulator as OS (`self.os`), its state
    in `workdir/os`; the pipeline's recovery directory is `workdir/recovery` unless `settings`
    names one. `stop()` stops the pipeline, then the bridge, then the broker.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        snapshot_s: float = 0.5,
        faults: Faults | None = None,
        seed: int | None = None,
        broker_timeout_s: float = 10.0,
        keep_os_history: bool = False,
        processes: int = 1,
    ) -> None:
        self.workdir = workdir
        self.processes = processes
        self.keep_os_history = keep_os_history
        self.broker_timeout_s = broker_timeout_s
        self._base = settings
        self.settings = settings
        self.snapshot_s = snapshot_s
        self.faults = faults
        self.seed = seed
        self.broker: EmbeddedBroker | None = None
        self.pipelines: list[PipelineProcess] = []
        self.os: Any = None  # EmulatedOs, imported late
        self.handed_over = 0
        self._bridge_thread: threading.Thread | None = None
        self._bridge_stop = threading.Event()
        self._bridge_error: BaseException | None = None

    @property
    def recovery_dir(self) -> Path:
        return self._base.recovery_dir or self.workdir / "recovery"

    @property
    def os_state_dir(self) -> Path:
        return self.workdir / "os"

    def start_broker(self) -> None:
        if self._base.embedded_broker:
            self.broker = EmbeddedBroker(log_path=self.workdir / "tansu.log").start()
            self.settings = dataclasses.replace(self._base, bootstrap_servers=self.broker.bootstrap)
        check_broker(self.settings, timeout_s=self.broker_timeout_s)
        ensure_topics(self.settings, self.settings.topics)

    @property
    def pipeline(self) -> PipelineProcess | None:
        """The pipeline process (process 0 of a cluster)."""
        return self.pipelines[0] if self.pipelines else None

    def start_pipeline(self) -> PipelineProcess:
        """`helved run` as one process with `settings.workers` workers."""
        (first,) = self.start_pipelines(1)
        return first

    def start_pipelines(self, processes: int, workers: int | None = None) -> list[PipelineProcess]:
        """`helved run` as a Bytewax cluster of `processes` processes on loopback (fresh ports),
        `workers` (default `settings.workers`) each, all on the one recovery directory: process
        0 creates its partitions when it is new. Replaces any pipeline processes still known
        (stop or kill them first)."""
        settings = dataclasses.replace(
            self.settings,
            recovery_dir=self.recovery_dir,
            snapshot_s=self.snapshot_s,
            workers=workers or self.settings.workers,
        )
        if processes == 1:
            self.pipelines = [PipelineProcess(settings, self.workdir / "pipeline.log").start()]
            return self.pipelines
        addresses = tuple(f"127.0.0.1:{port}" for port in free_ports(processes))
        self.pipelines = [
            PipelineProcess(
                dataclasses.replace(settings, addresses=addresses, process_id=i),
                self.workdir / f"pipeline-{i}.log",
            ).start()
            for i in range(processes)
        ]
        return self.pipelines

    def start_bridge(self) -> None:
        from helved.emulator.gateway import EmulatedOs
        from helved.os.bridge import BatchResult, run_bridge

        self.os = EmulatedOs(self.os_state_dir, self.faults, self.seed, keep_history=self.keep_os_history)
        self._bridge_stop.clear()
        self._bridge_error = None

        def counted(result: BatchResult) -> None:
            self.handed_over += result.handed_over

        def bridge() -> None:
            try:
                run_bridge(self.settings, self.os, self.os_state_dir, self._bridge_stop, on_batch=counted)
            except BaseException as exc:  # reported by check()
                log.exception("the OS bridge stopped")
                self._bridge_error = exc

        self._bridge_thread = threading.Thread(target=bridge, name="os-bridge", daemon=True)
        self._bridge_thread.start()

    def stop_bridge(self) -> None:
        self._bridge_stop.set()
        if self._bridge_thread is not None:
            self._bridge_thread.join(30)
            self._bridge_thread = None
        if self.os is not None:
            self.os.close()

    def start(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_broker()
            self.start_pipelines(self.processes)
            self.start_bridge()
        except BaseException:
            self.stop()
            raise
        return self

    def check(self) -> None:
        """Raise `StackFailed` if the pipeline process or the bridge has stopped by itself."""
        for i, pipeline in enumerate(self.pipelines):
            code = pipeline.exit_code()
            if code is not None:
                which = f" process {i}" if len(self.pipelines) > 1 else ""
                raise StackFailed(
                    f"the pipeline{which} (helved run) exited with code {code}; its log ends:\n{pipeline.log_tail()}"
                )
        if self._bridge_error is not None:
            raise StackFailed(f"the OS bridge stopped: {self._bridge_error!r}")

    def stop(self) -> None:
        for pipeline in self.pipelines:
            pipeline.stop()
        self.stop_bridge()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_ports(n: int) -> list[int]:
    """`n` TCP ports free on loopback right now (held open together, so all distinct)."""
    import socket

    socks = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def wait_until(predicate: Any, timeout_s: float, what: str, *, interval_s: float = 0.05, check: Any = None) -> None:
    """Poll `predicate()` until true; `TimeoutError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(interval_s)
