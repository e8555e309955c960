"""Hypothesis profiles of the fuzzing suite (issue 12), chosen by HYPOTHESIS_PROFILE as for
the property tests (`tests/property/profile.py`):

    ci    (default)  a few hundred examples in all, derandomized, no example database: the same
                     examples on every run and every machine, the whole suite in well under a
                     minute
    long             tens of thousands of examples, random, with the example database (a failure
                     found once is tried first next time), printing statistics:
                     HYPOTHESIS_PROFILE=long pytest tests/fuzz -s -p no:cacheprovider

Registered under their own names (`fuzz-ci`, `fuzz-long`) and applied by the tests themselves
(`for_test`), never loaded globally, so the other suites' settings are left as they are.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_common = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    "print_blob": True,
}

settings.register_profile("fuzz-ci", max_examples=100, derandomize=True, database=None, **_common)
settings.register_profile("fuzz-long", max_examples=5000, **_common)

PROFILE = "fuzz-long" if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "long" else "fuzz-ci"
LONG = PROFILE == "fuzz-long"


def for_test(weight: float = 1.0) -> settings:
    """The settings of one fuzz test: the profile, its examples scaled by `weight`."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=max(1, int(base.max_examples * weight)))
