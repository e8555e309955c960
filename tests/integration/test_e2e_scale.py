"""Scale out over the real broker: `helved run` as a Bytewax cluster of two processes on loopback
(`-i`/`-a`), one of them killed mid-stream, the cluster resumed from the same recovery directory
with another shape, twice.

The comparison is the one of the single-process kill test: the same final statuses, the same
Oppdrag each handed to OS exactly once, the same payments and no record a crash-free run would
not write. Every wait is bounded; nothing here asserts a wall-clock time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helved.devstack import PipelineProcess, Stack, wait_until
from helved.kafka import EmbeddedBroker

from .e2e import (
    WAIT_S,
    Watch,
    assert_as_without_crashes,
    executions,
    fresh_settings,
    restart_inputs,
    send,
    wait_for_a_snapshot,
    wait_for_run,
    wait_for_the_bridge,
    wave,
)

pytestmark = pytest.mark.integration

SAKER = 12


def kill_one(stack: Stack, victim: int) -> None:
    """SIGKILL process `victim` of the cluster and wait for the others to stop by themselves: a
    Bytewax cluster cannot go on without a peer (on Kubernetes the pods are restarted and
    reconnect). A survivor that hangs instead would stall the whole pipeline unseen."""
    stack.pipelines[victim].kill()
    survivors: list[PipelineProcess] = [p for i, p in enumerate(stack.pipelines) if i != victim]
    wait_until(
        lambda: all(p.exit_code() is not None for p in survivors),
        WAIT_S,
        f"the other processes stop after process {victim} was killed",
    )
    for p in survivors:
        assert p.exit_code() != 0, "a survivor exited as if the dataflow had finished"


def test_a_two_process_cluster_killed_and_resumed_with_other_shapes_pays_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = fresh_settings(broker, "e2e-scale")
    # A long epoch: what the cluster wrote since its last snapshot is written again after a kill.
    with Stack(settings, tmp_path, snapshot_s=2.0, processes=2) as stack:
        topics = stack.settings.topics
        inputs = restart_inputs(stack.settings, SAKER)
        keys = [r.key for r in inputs if r.key is not None]
        waves = [wave(inputs, step) for step in (1, 2, 3)]
        keys_of = [[r.key for r in w if r.key] for w in waves]
        rest = [r for r in inputs if r not in waves[0] and r not in waves[1]]  # wave 3 and 2 invalid
        watch = Watch(stack, [topics.status, topics.oppdrag])
        assert [p.settings.process_id for p in stack.pipelines] == [0, 1]
        assert len(set(stack.pipelines[0].settings.addresses)) == 2
        try:
            # 2 processes x 1 worker: wave 1 answered and snapshotted; killed the moment wave 2's
            # first Oppdrag is out, so the resumed cluster writes it (and its neighbours) again.
            send(stack.settings, waves[0])
            watch.until(lambda: watch.all_final(keys_of[0]), "wave 1 final")
            wait_for_a_snapshot(stack)
            send(stack.settings, waves[1])
            watch.until(lambda: watch.sent_to_os(keys_of[1]) >= 1, "a first Oppdrag of wave 2")
            kill_one(stack, victim=1)

            # 2 processes x 2 workers, from the same recovery directory. Wave 3 goes out while OS
            # is away (the bridge stopped): its Oppdrag are in flight when the snapshot is taken
            # and the cluster is killed.
            stack.start_pipelines(2, workers=2)
            wait_for_run(stack, 2)
            watch.until(lambda: watch.all_final(keys_of[1]), "wave 2 final after the first restart")
            stack.stop_bridge()
            send(stack.settings, rest)
            watch.until(
                lambda: watch.sent_to_os(keys_of[2]) == SAKER and watch.all_final(["bad-1", "bad-2"]),
                "every Oppdrag of wave 3 out, the invalid ones FEILET",
            )
            assert watch.oks(keys_of[2]) == 0, "OS answered while the bridge was stopped"
            wait_for_a_snapshot(stack)
            kill_one(stack, victim=0)

            # 1 process x 3 workers: scaled down. OS comes back; its receipts for Oppdrag the
            # two-process cluster sent must reach the sak's new owner and confirm them.
            stack.start_pipelines(1, workers=3)
            wait_for_run(stack, 3)
            stack.start_bridge()
            watch.until(lambda: watch.all_final(keys), "every final status after the second restart")
            wait_for_the_bridge(stack)
        finally:
            watch.close()
        oppdrag = assert_as_without_crashes(stack, watch, inputs, saker=SAKER)
        runs = executions(stack.recovery_dir)
    # Three runs of 2, 4 and 3 workers, each later one resumed from a snapshot of the one before.
    assert [workers for workers, _ in runs] == [2, 4, 3]
    assert runs[0][1] < runs[1][1] < runs[2][1]
    assert len(oppdrag) > 3 * SAKER, "no Oppdrag was emitted again: the kills came too late to test a replay"
