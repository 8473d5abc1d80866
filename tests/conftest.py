"""Settings for the whole suite.

Hypothesis runs without its per-example deadline: CI machines are shared and often busy, and a
test that fails because the machine was slow is a flaky gate, not a finding. ``HYPOTHESIS_PROFILE``
picks another profile (``dev`` keeps the deadline for local profiling of slow strategies).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=timedelta(milliseconds=500))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
