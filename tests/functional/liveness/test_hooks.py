"""The hook is read, not assumed: its HeartbeatTimeout sets the cadence and caps the hold; a wrong hook is an error."""

from __future__ import annotations

from itertools import pairwise

import pytest

from gate.service.hooks import Hook, HookProblem, read_hook
from tests.functional.liveness.conftest import TICK, assert_live, busy, heartbeats, lambda_for, make_world
from tests.support.world import World

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


@pytest.mark.parametrize(("heartbeat_timeout", "max_hold"), [(30, 2_700), (60, 5_700), (7_200, 14_400)])
def test_the_hooks_own_timeout_sets_cadence_and_caps_the_hold(heartbeat_timeout: int, max_hold: float) -> None:
    """30 s would time out between fixed 60 s heartbeats; 60 s gives AWS a 6,000 s global timeout, shorter than the
    4 h max hold, so the gate forces before AWS's DefaultResult would (a 300 s margin)."""
    for world in make_world(heartbeat_timeout=heartbeat_timeout):
        waiting = world.scale_in(1)
        busy(world, waiting, 3600)
        fn = lambda_for(world)
        policy = fn.gate.policy_for("ci-agents")
        assert policy.max_hold_seconds == max_hold
        fn.minutes(10)
        assert_live(world, fn)
        for times in heartbeats(world).values():
            assert max(b - a for a, b in pairwise(times)) < heartbeat_timeout


def _hook_world(world: World, name: str, transition: str = TERMINATING) -> None:
    world.sb.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName="ci-agents",
        LifecycleHookName=name,
        LifecycleTransition=transition,
        HeartbeatTimeout=300,
        DefaultResult="ABANDON",
    )


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("missing", "has no lifecycle hook named asg-termination-gate (it has no terminating hook)"),
        ("renamed", "its terminating hooks: someone-elses-hook"),
        ("launching", "is on autoscaling:EC2_INSTANCE_LAUNCHING"),
    ],
)
def test_a_wrong_hook_is_one_error_per_invocation_and_nothing_is_touched(setup: str, says: str) -> None:
    for world in make_world(with_hook=False):
        if setup == "renamed":
            _hook_world(world, "someone-elses-hook")
        if setup == "launching":
            _hook_world(world, "asg-termination-gate", "autoscaling:EC2_INSTANCE_LAUNCHING")
        world.scale_in(1)
        fn = lambda_for(world)
        fn.minutes(3, events=False)
        assert [r["outcome"] for r in fn.records] == ["error"] * 3, fn.records  # no `gone`, no `held`
        assert all(says in r["reason"] and r["group"] == "ci-agents" for r in fn.records)
        assert world.untouched()  # no heartbeat, no completion, no agent disabled


def test_the_hook_is_read_once_per_container_per_five_minutes(world: World) -> None:
    world.scale_in(2)
    fn = lambda_for(world)
    seen = len(world.emu.faults.calls)
    fn.minutes(4)
    reads = [c for c in world.emu.faults.calls[seen:] if c["action"] == "DescribeLifecycleHooks"]
    assert len(reads) == 1
    fn.minutes(2)
    reads = [c for c in world.emu.faults.calls[seen:] if c["action"] == "DescribeLifecycleHooks"]
    assert len(reads) == 2


def test_an_unreadable_hook_on_a_cold_container_still_heartbeats(world: World) -> None:
    """DescribeLifecycleHooks throttled for good: the gate heartbeats at the cadence the shortest legal hook needs."""
    waiting = world.scale_in(1)
    busy(world, waiting)
    world.emu.faults.inject("DescribeLifecycleHooks", count=None)
    fn = lambda_for(world)
    fn.invoke(TICK)
    assert_live(world, fn)
    assert set(heartbeats(world)) == set(waiting)
    assert fn.gate.hooks.heartbeat_every("ci-agents") == 10


def test_read_hook_names_the_mismatch() -> None:
    described = [
        {"LifecycleHookName": "ecs-managed-draining-termination-hook", "LifecycleTransition": TERMINATING},
        {"LifecycleHookName": "gate", "LifecycleTransition": TERMINATING, "HeartbeatTimeout": 90},
    ]
    hook = read_hook("g", "gate", described)
    assert isinstance(hook, Hook) and hook.heartbeat_every == 30 and hook.global_timeout == 9_000
    problem = read_hook("g", "other", described)
    assert isinstance(problem, HookProblem)
    assert "ecs-managed-draining-termination-hook, gate" in problem.reason


def test_a_steady_busy_hold_heartbeats_at_the_hooks_cadence_not_every_invocation() -> None:
    """A held record repeated every minute is not re-proven by a heartbeat each time: with a 7,200 s hook (cadence
    2,400 s) an hour-long busy hold costs a handful of heartbeats (first sight, the proof of each new claim, the
    cadence), not one a minute."""
    for world in make_world(heartbeat_timeout=7200):
        waiting = world.scale_in(1)
        busy(world, waiting, 3600)
        fn = lambda_for(world)
        fn.minutes(60)
        assert_live(world, fn)
        held = [r for r in fn.records if r["outcome"] == "held"]
        assert len(held) >= 60 * len(waiting)  # every invocation still records each held instance
        for times in heartbeats(world).values():
            assert len(times) <= 6, times
