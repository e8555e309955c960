"""Production start-up: the pipeline with recovery (`helved run`; `dataflows/helved_flow.py`
restores the changelog with it when started by `python -m bytewax.run`).

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

The whole stack on one machine (broker, `helved run` as child processes, the OS bridge with the
emulator) for the demo, the benchmarks and the end-to-end tests is `helved.devstack`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import orjson

from helved.config import Settings
from helved.errors import HelvedError
from helved.kafka import check_broker, ensure_topics
from helved.metrics import METRICS
from helved.statelog import ChangelogStates

# The logger keeps the name it had as `helved.runner`: log queries select on it.
log = logging.getLogger("helved.runner")


MARKER = "helved-recovery.json"


class RecoveryDirError(HelvedError, RuntimeError):
    """The recovery directory cannot be used with these settings."""


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

    A sak the recovery snapshot does not hold starts from it (`helved.flow.SakLogic`).
    With a new recovery directory (a first start, or a lost volume) that is every sak: the inputs
    are read again from their start, and what each sak applied before is dropped by its marks.
    """
    from helved.kafka.consumer import Follower

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

    from helved import metrics
    from helved.flow import get_flow
    from helved.kafka.faults import watch_broker

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
    flow = get_flow(settings, restored=restored)
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
        "HELVED_FETCH_WAIT_MS": str(settings.fetch_wait_ms),
    }
    return env
