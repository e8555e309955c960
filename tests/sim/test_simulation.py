"""The seeded fault simulation (`helved.sim`) in CI: a few hundred seeds of crashes, lost
recovery volumes, bridge crashes and OS faults must keep every invariant; and the simulation
has teeth: with the intake topic or the changelog switched off it finds the double payments
issue 11 found over a real broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helved.sim import SimulationFailure, World, simulate

SEEDS = int(os.environ.get("HELVED_SIM_SEEDS", "120"))
CHUNK = 40


@pytest.mark.parametrize("first", range(0, SEEDS, CHUNK))
def test_every_invariant_holds_under_crashes_and_os_faults(first: int, tmp_path: Path) -> None:
    crashes = lost = 0
    for seed in range(first, min(first + CHUNK, SEEDS)):
        out = simulate(seed, tmp_path / str(seed))
        crashes += out.crashes
        lost += out.volumes_lost
    assert crashes > CHUNK // 2 and lost > 0, "the world must actually crash the pipeline"


def test_receipts_lost_for_good_leave_saker_visibly_waiting(tmp_path: Path) -> None:
    for seed in range(20):
        simulate(seed, tmp_path / str(seed), World(lose_receipts=True))


def _failures(world: World, tmp_path: Path, seeds: range) -> list[str]:
    found = []
    for seed in seeds:
        try:
            simulate(seed, tmp_path / str(seed), world)
        except SimulationFailure as exc:
            found.append(str(exc))
            assert Path(str(exc).split("replay file: ")[1].splitlines()[0]).exists()
    return found


def test_without_the_intake_topic_a_crash_makes_os_pay_twice(tmp_path: Path) -> None:
    # Reading the inputs straight into the sak step, a restart may apply decision n+1 of a sak
    # before decision n (different partitions): new Oppdrag bytes that OS books again.
    found = _failures(World(intake_topic=False, epochs_s=(30.0,)), tmp_path, range(25))
    assert found and all("rule" in f for f in found)


def test_without_the_changelog_a_lost_volume_makes_os_pay_twice(tmp_path: Path) -> None:
    found = _failures(World(changelog=False, epochs_s=(30.0,)), tmp_path, range(25))
    assert found and all("rule" in f for f in found)
