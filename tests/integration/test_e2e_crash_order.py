"""Issue 11 over the real broker: senders that key each decision by its own transaction key
(any partition) and wait for its final status before sending the next; `helved run` killed
(SIGKILL) three times and the OS bridge stopped once during the load, with the default 10 s
snapshots; and a recovery directory deleted mid-traffic. What OS pays and every final status
must be what the decisions say, as without any crash.

Every wait is bounded; nothing here asserts a wall-clock time.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from helved.demo import decision, meldeperiode
from helved.kafka import EmbeddedBroker
from helved.records import OutRecord
from helved.runner import Stack
from helved.sim import expected_paid

from .e2e import Watch, executions, fresh_settings, send, wait_for_run, wait_for_the_bridge

pytestmark = pytest.mark.integration

SAKER = 10
DECISIONS = 3
START = ["2025-08-04", "2025-08-18", "2025-09-01"]


def _decisions(n: int) -> list[tuple[str, dict[str, Any]]]:
    """Sak `n`'s decisions, each under its own key: a new sak, a change plus a new meldeperiode,
    then a correction that stops the first meldeperiode."""
    sak, beløp = f"O-{n}", 400 + 100 * n
    days = [
        meldeperiode(START[0], beløp),
        meldeperiode(START[0], beløp, changes={"2025-08-06": beløp // 2}) + meldeperiode(START[1], beløp),
        meldeperiode(START[1], beløp) + meldeperiode(START[2], beløp + 50),
    ]
    return [
        (f"tx-{n}-{j}", decision(sak, f"B-{j}", f"2025-09-0{j + 1}T09:30:00", days[j])) for j in range(DECISIONS)
    ]


class Senders:
    """Every sak's sender: the next decision only once the previous one has a final status."""

    def __init__(self, stack: Stack, watch: Watch) -> None:
        self.stack, self.watch = stack, watch
        self.plan = {n: _decisions(n) for n in range(SAKER)}
        self.sent = {n: 0 for n in range(SAKER)}
        self.ts = 1_756_000_000_000

    def step(self) -> bool:
        """Send what may be sent now; True when everything was sent."""
        out = []
        for n, decisions in self.plan.items():
            k = self.sent[n]
            if k < len(decisions) and (k == 0 or self.watch.log.final(decisions[k - 1][0]) is not None):
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
    replies = stack.os.replies
    assert not any(r.replay for r in replies), "an Oppdrag was handed to OS twice"
    assert all(r.verdict.alvorlighetsgrad == "00" for r in replies), [r.verdict for r in replies]
    assert len(replies) == SAKER * DECISIONS


def _kill_and_restart(stack: Stack, *, lose_volume: bool = False) -> None:
    assert stack.pipeline is not None
    runs = 0 if lose_volume else len(executions(stack.recovery_dir))
    stack.pipeline.kill()
    if lose_volume:
        shutil.rmtree(stack.recovery_dir)
    stack.start_pipeline()
    wait_for_run(stack, runs + 1)


def test_own_keys_with_waiting_survive_three_kills_and_a_bridge_restart(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = fresh_settings(broker, "e2e-order")
    with Stack(settings, tmp_path, snapshot_s=10.0) as stack:
        watch = Watch(stack, [stack.settings.topics.status])
        senders = Senders(stack, watch)
        try:
            senders.drive_until(5, "5 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(10, "10 final statuses")
            stack.stop_bridge()
            stack.start_bridge()
            senders.drive_until(15, "15 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(22, "22 final statuses")
            _kill_and_restart(stack)
            senders.drive_until(SAKER * DECISIONS, "every final status")
            wait_for_the_bridge(stack)
        finally:
            watch.close()
        assert_as_the_decisions_say(stack, senders)


def test_a_recovery_directory_lost_mid_traffic_changes_nothing_os_pays(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
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
