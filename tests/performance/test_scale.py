"""The tick-at-scale benchmark on a small fleet: structure and invariants only (numbers come from `gate bench`)."""

from __future__ import annotations

from bench.fleet import FleetConfig
from bench.scale import JumpClock, ScaleConfig, calls_per_held_hour, tick_at_scale

TINY = ScaleConfig(instances=60, groups=3, pools=2, aws_latency_s=0.0, azure_latency_s=0.0)


def test_every_waiting_instance_is_heartbeated_in_time_and_none_is_killed() -> None:
    out = tick_at_scale(TINY)
    assert [r["round"] for r in out["rounds"]] == ["first sight", "steady hold", "heartbeats due", "builds ended"]
    assert out["every_heartbeat_in_time"] and out["late_heartbeats"] == 0
    assert out["builds_killed"] == 0
    assert 0 < out["released"] <= TINY.instances // 2  # only the short builds may end
    first = out["rounds"][0]
    assert first["waiting"] == TINY.instances
    assert first["heartbeats"] >= TINY.instances  # nobody waits for judgment to get a heartbeat
    assert first["azure_calls_by_kind"]["list agents (pages)"] == TINY.pools  # one list per pool per round
    assert first["aws_calls_by_operation"]["DescribeAutoScalingGroups"] == 1  # 50 groups per call


def test_the_jump_clock_runs_and_jumps() -> None:
    clock = JumpClock(start=100.0)
    before = clock.now()
    clock.advance(30)
    assert clock.now() - before >= 30


def test_calls_per_held_hour_reports_each_heartbeat_timeout() -> None:
    base = FleetConfig(instances=20, hours=2, start_hour=15)
    rows = calls_per_held_hour(base, heartbeat_timeouts=(300, 3600))["rows"]
    assert [r["heartbeat_timeout_s"] for r in rows] == [300, 3600]
    for r in rows:
        assert r["held_instance_hours"] > 0
        beats, per_instance = r["heartbeats_per_held_hour"], r["per_instance_calls_per_held_hour"]
        assert 0 < beats <= per_instance <= r["aws_calls_per_held_hour"]
        assert r["builds_killed"] == 0
