"""Which Hypothesis profile the property tests run under: HYPOTHESIS_PROFILE, default "ci"."""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis.errors import InvalidArgument

# Every property test's max_examples is its profile's max_examples times its weight.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def for_test(weight: float = 1.0) -> settings:
    """The settings of one property test: the profile, scaled by `weight`."""
    import tests.property.conftest  # noqa: F401  (registers the profiles when imported alone)

    try:
        base = settings.get_profile(PROFILE)
    except InvalidArgument:  # a profile of another suite: take ours
        base = settings.get_profile("ci")
    return settings(base, max_examples=max(1, int(base.max_examples * weight)))
