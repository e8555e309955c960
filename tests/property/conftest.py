"""Hypothesis profiles of the property tests (domain.md §5: OS pays what the last accepted
decision asked for).

    ci    (default)  a few hundred examples in all, derandomized, no example database: the same
                     examples on every run and every machine, finishing in well under a minute
    long             thousands of examples, random, with the example database (a failure found
                     once is tried first next time): HYPOTHESIS_PROFILE=long pytest tests/property

The profiles are registered here and applied by the property tests themselves
(`tests.property.profile.for_test`), never loaded globally, so the other suites' Hypothesis
settings are left as they are.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_common = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}

settings.register_profile("ci", max_examples=100, derandomize=True, database=None, **_common)
settings.register_profile("long", max_examples=2500, **_common)
