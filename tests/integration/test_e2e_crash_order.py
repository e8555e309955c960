"""Issue 11 over the real broker: senders that key each decision by its own transaction key
(any partition) and wait for its final status before sending the next; `helved run` killed
(SIGKILL) three times and the OS bridge once during the load (and senders keying each sak
into one partition, sending without waiting), with the default 10 s
snapshots; and a recovery directory deleted mid-traffic. What OS pays and every final status
must be what the decisions say, as without any crash.

Every wait is bounded; nothing here asserts a wall-clock time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from helved.demo import decision, meldeperiode
from helved.devstack import Stack, wait_until
from helved.kafka import EmbeddedBroker
from helved.kafka.consumer import read_all
from helved.kafka.partitioner import key_in_same_partition
from helved.os.bridge import Journal
from helved.records import OutRecord
from helved.sim import expected_paid
from helved.startup import settings_env

from .e2e import Watch, executions, fresh_settings, send, wait_for_run, wait_for_the_bridge

pytestmark = pytest.mark.integration

SAKER = 10
DECISIONS = 3
START = ["2025-08-04", "2025-08-18", "2025-09-01"]


def _decisions(n: int, partitions: int, one_partition: bool) -> list[tuple[str, dict[str, Any]]]:
    """Sak `n`'s decisions, each under its own key: a new sak, a change plus a new meldeperiode,
    then a correction that stops the first meldeperiode. With `one_partition` the keys are
    chosen to land in the partition of the first (`key_in_same_partition`)."""
    sak, beløp = f"O-{n}", 400 + 100 * n
    days = [
        meldeperiode(START[0], beløp),
        meldeperiode(START[0], beløp, changes={"2025-08-06": beløp // 2}) + meldeperiode(START[1], beløp),
        meldeperiode(START[1], beløp) + meldeperiode(START[2], beløp + 50),
    ]
    keys = [f"tx-{n}-{j}" for j in range(DECISIONS)]
    if one_partition:
        keys = [key_in_same_partition(k, keys[0], partitions) for k in keys]
    return [(keys[j], decision(sak, f"B-{j}", f"2025-09-0{j + 1}T09:30:00", days[j])) for j in range(DECISIONS)]


class Senders:
    """Every sak's sender. Keyed by its own transaction key (any partition), a sender sends the
    next decision only once the previous one has a final status; keyed into one partition per
    sak (`one_partition`), it sends without waiting."""

    def __init__(self, stack: Stack, watch: Watch, one_partition: bool = False) -> None:
        self.stack, self.watch = stack, watch
        self.wait = not one_partition
        self.plan = {n: _decisions(n, stack.settings.partitions, one_partition) for n in range(SAKER)}
        self.sent = {n: 0 for n in range(SAKER)}
        self.ts = 1_756_000_000_000

    def step(self) -> bool:
        """Send what may be sent now; True when everything was sent."""
        out = []
        for n, decisions in self.plan.items():
            k = self.sent[n]
            if k < len(decisions) and (
                k == 0 or not self.wait or self.watch.log.final(decisions[k - 1][0]) is not None
            ):
                key, msg = decisions[k]
                self.ts += 1000
                out.append(OutRecord(self.stack.settings.topics.dagpenger, key, orjson.dumps(msg), (), self.ts))
                self.sent[n] += 1
        if out:
            send(self.stack.settings, out)
        return all(v == DECISIONS for v in self.sent.values())

    def finals(self) -> int:
        return sum(self.watch.log.final(key) is not None for ds in self.plan.values() for key, _ in ds)

    def drive_until(self, finals: int, what: str) -> None:
        def progressed() -> bool:
            self.step()
            return self.finals() >= finals

        self.watch.until(progressed, what, timeout_s=90.0)


def _os_pays(stack: Stack, sak: str) -> dict[str, dict[date, int]]:
    got = stack.os.paid("DP", sak)
    return {k: {d: int(a) for d, a in sorted(v.items()) if a} for k, v in got.items() if any(v.values())}


def assert_as_the_decisions_say(stack: Stack, senders: Senders) -> None:
    for n, decisions in senders.plan.items():
        for key, _ in decisions:
            final = senders.watch.log.final(key)
            assert final is not None and final["status"] == "OK", (key, final)
        assert _os_pays(stack, f"O-{n}") == expected_paid(decisions[-1][1]), f"O-{n}"
    # Each decision's Oppdrag handed to OS exactly once (the bridge journal keeps one entry per
    # content hash; a second Oppdrag for a decision would be a second entry), none unfinished.
    journal = Journal(stack.os_state_dir / "bridge.sqlite")
    try:
        assert journal.counts() == (SAKER * DECISIONS, 0)
        suspects = journal.suspects()
    finally:
        journal.close()
    # An Oppdrag reaches OS twice only through the one window no gateway without transactions can
    # close (SIGKILL between OS accepting it and the bridge's journal write; module docstring of
    # helved.os.bridge): then the bridge must have reported it as a suspected double payment, and
    # OS (which knows the document) booked it once — the payments above are exact either way.
    replays = sum(r.replay for r in stack.os.replies)
    assert replays <= len(suspects), (
        f"an Oppdrag was handed to OS twice without being reported ({replays} > {len(suspects)})"
    )
    assert len(suspects) <= 1, suspects  # one bridge kill: at most one interrupted hand-over


def _bridge_process(stack: Stack) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env(stack.settings)}
    return subprocess.Popen(
        [sys.executable, "-m", "helved.cli", "os-emulator", "--state-dir", str(stack.os_state_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_and_restart(stack: Stack, *, lose_volume: bool = False) -> None:
    assert stack.pipeline is not None
    runs = 0 if lose_volume else len(executions(stack.recovery_dir))
    stack.pipeline.kill()
    if lose_volume:
        shutil.rmtree(stack.recovery_dir)
    stack.start_pipeline()
    wait_for_run(stack, runs + 1)


@pytest.mark.parametrize("one_partition", [False, True], ids=["own-keys-waiting", "one-partition-no-wait"])
def test_three_kills_and_a_bridge_kill_change_nothing(
    broker: EmbeddedBroker, tmp_path: Path, one_partition: bool
) -> None:
    settings = fresh_settings(broker, "e2e-order")
    with Stack(settings, tmp_path, snapshot_s=10.0) as stack:  # the default snapshot interval
        watch = Watch(stack, [stack.settings.topics.status])
        senders = Senders(stack, watch, one_partition)
        try:
            senders.drive_until(5, "5 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(10, "10 final statuses")
            # The OS bridge as its own process (`helved os-emulator` on the same state), killed
            # with SIGKILL while decisions flow, then back in the stack.
            stack.stop_bridge()
            bridge = _bridge_process(stack)
            try:
                senders.drive_until(13, "13 final statuses through the bridge process")
            finally:
                bridge.kill()
                bridge.wait(30)
            stack.start_bridge()
            senders.drive_until(15, "15 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(22, "22 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(SAKER * DECISIONS, "every final status")
            _wait_for_the_journal(stack)
        finally:
            watch.close()
        assert_as_the_decisions_say(stack, senders)


def _wait_for_the_journal(stack: Stack) -> None:
    """Until the bridge's journal has finished every distinct Oppdrag on the topic (whichever
    bridge process handed it over)."""
    journal = Journal(stack.os_state_dir / "bridge.sqlite")
    try:
        wait_until(
            lambda: (
                journal.counts()[0] == len({r.value for r in read_all(stack.settings, [stack.settings.topics.oppdrag])})
            ),
            30.0,
            "the bridge's journal caught up",
            check=stack.check,
        )
    finally:
        journal.close()


def test_a_recovery_directory_lost_mid_traffic_changes_nothing_os_pays(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = fresh_settings(broker, "e2e-volume")
    with Stack(settings, tmp_path, snapshot_s=2.0) as stack:
        watch = Watch(stack, [stack.settings.topics.status])
        senders = Senders(stack, watch)
        try:
            senders.drive_until(12, "12 final statuses")
            _kill_and_restart(stack, lose_volume=True)
            senders.drive_until(SAKER * DECISIONS, "every final status")
            wait_for_the_bridge(stack)
        finally:
            watch.close()
        assert_as_the_decisions_say(stack, senders)
        assert len(executions(stack.recovery_dir)) == 1, "the restart ran on a new recovery directory"
