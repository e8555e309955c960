"""The CronJob running `helved avstemming` (spec `avstemming.md` §6, Schedule)."""

from __future__ import annotations

from tests.test_k8s_manifests import VARIANTS, expand, one, parse_helved, render


def test_the_cronjob_runs_on_working_days_at_seven_oslo_time_never_twice_at_once() -> None:
    for path in VARIANTS.values():
        objs = render.render(path)
        cron = one(objs, "CronJob", "helved-avstemming")
        spec = cron["spec"]
        assert spec["schedule"] == "0 7 * * 1-5" and spec["timeZone"] == "Europe/Oslo"
        assert spec["concurrencyPolicy"] == "Forbid" and spec["jobTemplate"]["spec"]["backoffLimit"] >= 1
        (c,) = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        argv = expand(c, c["command"] + (c.get("args") or []), {})
        assert argv == ["helved", "avstemming"]
        parse_helved(argv)
