"""The `scale` section of `helved bench` at its smoke size, end to end: saker loaded through the
real dataflow with recovery on, resumed in a fresh process that must hold every one of them, then
running. Its figures are checked for what they count, never for how long anything took."""

from __future__ import annotations

import dataclasses

import pytest

from helved.bench.scale import SMOKE_SCALE, scale_rows, section_scale


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> dict:
    kwargs = dataclasses.asdict(SMOKE_SCALE)
    kwargs["workdir"] = str(tmp_path_factory.mktemp("scale"))
    return section_scale(**kwargs)


def test_the_load_confirms_every_utbetaling_of_every_sak(scale: dict) -> None:
    saker, per_sak = SMOKE_SCALE.saker, SMOKE_SCALE.utbetalinger
    load = scale["load"]
    assert load["requests"] == load["oppdrag"] == load["receipts"] == saker  # one decision, one Oppdrag each
    assert load["lines"] >= saker * per_sak  # every meldeperiode a new chain
    assert load["confirmed"] == scale["utbetalinger"] == saker * per_sak
    assert load["feilet"] == load["waited"] == load["rejected_by_os"] == 0
    snaps = scale["snapshots"]
    assert snaps["saker"] == saker and snaps["rows"] >= saker
    assert 0 < snaps["bytes_per_utbetaling"] <= snaps["disk_bytes_per_utbetaling"]


def test_the_resumed_process_holds_every_sak_and_diffs_against_it(scale: dict) -> None:
    saker, per_sak = SMOKE_SCALE.saker, SMOKE_SCALE.utbetalinger
    assert scale["resume"]["restored_saker"] == saker
    run = scale["running"]
    assert run["requests"] == min(SMOKE_SCALE.running_requests, saker)
    assert run["feilet"] == run["waited"] == run["rejected_by_os"] == 0
    assert run["oppdrag"] == run["receipts"] > 0
    # A restored sak's decision is diffed against its confirmed utbetalinger: an ENDR Oppdrag
    # with lines chained to the restored tails, a few lines (the corrected meldeperiode). A sak
    # that came back empty would send NY with a new chain for every meldeperiode.
    assert run["oppdrag_ny"] == 0 and run["oppdrag_endr"] == run["oppdrag"]
    assert run["chained_lines"] >= run["oppdrag"]
    assert run["lines"] < run["oppdrag"] * per_sak
    # the read-back sample is every sak here, with every utbetaling
    traced = scale["traced"]
    assert traced["saker"] == saker and traced["utbetalinger"] == saker * per_sak
    assert traced["bytes_per_utbetaling"] > 0


def test_every_figure_is_there(scale: dict) -> None:
    mem = scale["memory"]
    assert 0 < mem["rss_before_flow_bytes"] <= mem["peak_rss_bytes"] <= mem["peak_rss_with_final_snapshot_bytes"]
    assert mem["rss_after_resume_bytes"] <= mem["peak_rss_bytes"] and mem["rss_end_bytes"] > 0
    assert mem["trims"] == 1 and mem["freezes"] >= 1  # the housekeeping ran as in production
    resume = scale["resume"]
    assert resume["seconds"] >= resume["flow_start_to_first_output_s"] >= resume["flow_start_to_first_poll_s"] >= 0
    run = scale["running"]
    for key in ("gc_ms_all", "heartbeat_late_ms", "heartbeat_held_ms", "poll_ms"):
        assert run[key]["count"] > 0 and run[key]["max"] >= run[key]["p99"] >= run[key]["p50"] >= 0
    assert run["heartbeat_held_ms"]["max"] <= run["heartbeat_late_ms"]["max"]
    assert run["snapshot_calls"] >= scale["config"]["saker"]  # the input's end snapshots every sak
    # the paced running phase spans several epochs: snapshots were taken while it ran
    assert run["snapshot_polls"] and all(p["saker"] > 0 for p in run["snapshot_polls"])
    assert run["full_collection_ms"] >= 0 and run["gc_tracked_objects"] > 0
    assert len(scale["loadavg"]) == 3
    rows = scale_rows(scale)
    assert [t["target"] for t in scale["targets"]] == [r[0] for r in rows] and len(rows) == 6
    assert all(isinstance(t["met"], bool) for t in scale["targets"])
