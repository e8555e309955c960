"""Running helved against a broker: the pipeline with recovery (`helved run`), and the whole
stack (broker, topics, pipeline process, OS bridge) for `helved demo`, the latency measurement
and the end-to-end tests.

`run_pipeline` runs the dataflow in the calling process through Bytewax's `cli_main` (what
`python -m bytewax.run` calls), not as a child process: a signal to `helved run`, SIGKILL
included, reaches the dataflow itself and nothing is left orphaned. Start-up, in order:

1. check that a broker answers (bounded: a broker that is down gives `BrokerUnavailable`);
2. create the topics that are missing and check every partition count (`ensure_topics`);
3. initialise the recovery directory when missing (atomically: a temporary sibling renamed into
   place), or check that it belongs to this topic set;
4. run with recovery: state and input offsets are snapshotted together every `snapshot_s`
   seconds (the epoch). SIGINT/SIGTERM/SIGKILL stop at once without a final snapshot; the next
   start resumes from the last one and produces the last epoch's output again, byte-identical.

Tansu keeps everything in memory: when it restarts, wipe the recovery directory (and the OS
bridge's state directory) with it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from helved.config import Settings
from helved.emulator import Faults
from helved.kafka import EmbeddedBroker, check_broker, ensure_topics
from helved.statelog import ChangelogStates
from helved.metrics import METRICS

log = logging.getLogger(__name__)

# Tansu does not wake a waiting fetch when a record arrives: without this every hop through
# the pipeline waits up to librdkafka's default 500 ms. Harmless on Kafka, which does.
PIPELINE_CONSUMER_CONFIG: dict[str, Any] = {"fetch.wait.max.ms": 50}

MARKER = "helved-recovery.json"


class RecoveryDirError(RuntimeError):
    """The recovery directory cannot be used with these settings."""


# ---------------------------------------------------------------------------------------------
# helved run


def prepare_recovery_dir(path: Path, settings: Settings) -> bool:
    """Initialise `path` as a Bytewax recovery directory unless it is one; True if created.

    The directory records the topic prefix and partition count it was made for (snapshots hold
    input offsets per topic partition): another prefix or partition count is refused.
    """
    from bytewax.recovery import init_db_dir

    wanted = {"flow": "helved", "topic_prefix": settings.topic_prefix, "partitions": settings.partitions}
    if path.exists() and any(path.glob("part-*.sqlite3")):
        marker = path / MARKER
        if not marker.exists():
            log.warning("recovery directory %s has no %s; using it as it is", path, MARKER)
            return False
        found = orjson.loads(marker.read_bytes())
        if found != wanted:
            raise RecoveryDirError(
                f"recovery directory {path} was made for {found}, not {wanted}: "
                "use another directory (or remove this one to start from the beginning of every topic)"
            )
        return False
    if path.exists() and any(path.iterdir()):
        raise RecoveryDirError(f"{path} is not empty and holds no Bytewax recovery partitions")
    if settings.process_id != 0:
        # In a cluster only process 0 creates partitions. On one machine the processes share
        # the directory and the others find process 0's partitions; on Kubernetes each pod has
        # its own volume and the others keep none (k8s/base: every partition on pod 0).
        # Either way each partition exists exactly once in the cluster.
        path.mkdir(parents=True, exist_ok=True)
        log.info("recovery directory %s: process %d creates no partitions", path, settings.process_id)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.init-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    # Bytewax resumes with any worker count on these partitions (see initial_recovery_parts).
    parts = settings.initial_recovery_parts
    init_db_dir(temp, parts)
    (temp / MARKER).write_bytes(orjson.dumps(wanted))
    if path.exists():
        path.rmdir()  # empty, checked above
    temp.rename(path)
    log.info("initialised recovery directory %s (%d partitions)", path, parts)
    return True


def restore_states(settings: Settings, *, new_recovery_dir: bool, timeout_s: float = 600.0) -> ChangelogStates:
    """Step 3b: every sak's last state from the changelog topic, before any input is read.

    A sak the recovery snapshot does not hold starts from it (`dataflows.helved_flow.SakLogic`).
    With a new recovery directory (a first start, or a lost volume) that is every sak: the inputs
    are read again from their start, and what each sak applied before is dropped by its marks.
    """
    from helved.follow import Follower

    topic = settings.topics.sak_state
    latest: dict[str | None, bytes | None] = {}
    deadline = time.monotonic() + timeout_s
    read = 0
    with Follower(settings, [topic]) as follower:
        while not follower.at_end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not read {topic} to its end within {timeout_s:g} s")
            for rec in follower.poll():
                latest[rec.key] = rec.value
                read += 1
    states = ChangelogStates.from_records(latest.items())
    METRICS.restored_states(len(states), new_recovery_dir=new_recovery_dir)
    if new_recovery_dir and len(states):
        log.warning(
            "new recovery directory %s while %s holds history: restored %s from %d changelog "
            "records; every input is read again from its start and what a sak applied before is dropped",
            settings.recovery_dir,
            topic,
            states.summary(),
            read,
        )
    else:
        log.info("changelog %s: %s (for saker the recovery snapshot lacks)", topic, states.summary())
    return states


def run_pipeline(settings: Settings, *, broker_timeout_s: float = 10.0) -> None:
    """`helved run`: the four start-up steps of the module docstring, then the dataflow until
    it is stopped. Needs `settings.bootstrap_servers` and `settings.recovery_dir`."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from dataflows.helved_flow import get_flow
    from helved.kafka.faults import watch_broker
    from helved import metrics

    if settings.recovery_dir is None:
        raise RecoveryDirError("no recovery directory: set HELVED_RECOVERY_DIR (or --recovery-dir)")
    check_broker(settings, timeout_s=broker_timeout_s)  # 1.
    ensure_topics(settings, settings.topics)  # 2.
    created = prepare_recovery_dir(settings.recovery_dir, settings)  # 3.
    restored = restore_states(settings, new_recovery_dir=created)  # 3b.
    # Broker faults (topics gone or changed while running, snapshot offsets beyond a
    # partition's end) end this process with one line and exit code 3 (helved.kafka.faults).
    watch_broker(
        settings,
        "helved run",
        settings.topics.all(),
        state=f"the recovery directory {settings.recovery_dir} and the OS bridge's state",
        recovery_dir=settings.recovery_dir,
    )
    flow = get_flow(settings, restored=restored, consumer_config=PIPELINE_CONSUMER_CONFIG)
    # helved's metrics: on Bytewax's /metrics when its dataflow API is on, else on a port of
    # their own (HELVED_METRICS_PORT; 0 = off). See helved.metrics.
    if not metrics.bytewax_api_serves_metrics():
        served = metrics.serve()
        if served is not None:
            log.info("metrics on :%d/metrics", served)
    log.info(
        "pipeline on %s: process %d of %d, %d worker(s) each, snapshot every %g s, recovery in %s",
        settings.bootstrap_servers,
        settings.process_id,
        settings.processes,
        settings.workers,
        settings.snapshot_s,
        settings.recovery_dir,
    )
    cli_main(  # 4.
        flow,
        workers_per_process=settings.workers,
        process_id=settings.process_id if settings.addresses else None,
        addresses=list(settings.addresses) if settings.addresses else None,
        epoch_interval=timedelta(seconds=settings.snapshot_s),
        recovery_config=RecoveryConfig(settings.recovery_dir, timedelta(seconds=settings.backup_s)),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The `HELVED_*` variables that make `Settings.from_env()` equal `settings` (holds the
    SASL password when there is one: pass it to a child process, never print it)."""
    env = {
        "HELVED_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "HELVED_SECURITY_PROTOCOL": settings.security_protocol,
        "HELVED_SASL_MECHANISM": settings.sasl_mechanism,
        "HELVED_SASL_USERNAME": settings.sasl_username or "",
        "HELVED_SASL_PASSWORD": settings.sasl_password or "",
        "HELVED_SSL_CA_LOCATION": settings.ssl_ca_location or "",
        "HELVED_TOPIC_PREFIX": settings.topic_prefix,
        "HELVED_PARTITIONS": str(settings.partitions),
        "HELVED_RECOVERY_DIR": str(settings.recovery_dir or ""),
        "HELVED_SNAPSHOT_S": repr(settings.snapshot_s),
        "HELVED_BACKUP_S": repr(settings.backup_s),
        "HELVED_WORKERS": str(settings.workers),
        "HELVED_ADDRESSES": ";".join(settings.addresses),
        "HELVED_PROCESS_ID": str(settings.process_id),
        "HELVED_RECOVERY_PARTS": "" if settings.recovery_parts is None else str(settings.recovery_parts),
    }
    return env


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
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
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


class StackFailed(RuntimeError):
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
        from helved.bridge import BatchResult, run_bridge
        from helved.emulated_os import EmulatedOs

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


def wait_until(
    predicate: Any, timeout_s: float, what: str, *, interval_s: float = 0.05, check: Any = None
) -> None:
    """Poll `predicate()` until true; `TimeoutError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(interval_s)
