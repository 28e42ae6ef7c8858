"""`gate bench`'s service hook part on a small day (bench/hookbench.py, bench/fleet.py): the storm and the latency
targets of issue 19, with the real receiver and the real consumer on simulated time."""

from __future__ import annotations

import pytest

from bench.fleet import FleetConfig
from bench.hookbench import (
    STORM_PER_MINUTE,
    TARGET_HOOK_P95_S,
    TARGET_STORM_AGENT_LISTS,
    TARGET_STORM_DESCRIBE_GROUPS,
    release_with_and_without_hook,
)

pytestmark = pytest.mark.serverless  # no server: part of make test-fast

SMALL = FleetConfig(instances=20, hours=3, start_hour=14, seed=7)


def test_a_storm_is_coalesced_and_a_build_end_still_releases_within_5_s() -> None:
    doc = release_with_and_without_hook(SMALL, strategies=("gate",))
    storm = doc["storm"]
    assert storm["calls"] >= STORM_PER_MINUTE * storm["minutes"]
    assert storm["messages"] < storm["calls"] / 5  # deduplicated per second before the queue
    assert 0 < storm["agent_lists_max_per_minute"] <= TARGET_STORM_AGENT_LISTS  # the rounds; final looks apart
    assert storm["final_looks_max_per_minute"] >= 0
    assert 0 < storm["describe_groups_max_per_minute"] <= TARGET_STORM_DESCRIBE_GROUPS
    assert storm["builds_killed"] == 0
    polling, hooked = doc["rows"]
    assert hooked["after_build_p95_s"] is not None and hooked["after_build_p95_s"] <= TARGET_HOOK_P95_S
    assert hooked["after_build_p95_s"] < polling["after_build_p95_s"]
    assert hooked["service_hook_rounds"] <= hooked["service_hook_messages"] <= hooked["service_hook_calls"]
