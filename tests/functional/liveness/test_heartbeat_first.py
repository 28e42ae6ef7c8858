"""Heartbeats first: whatever EC2 and Azure DevOps do, every waiting hook is heartbeated and no build is killed."""

from __future__ import annotations

from itertools import pairwise

from tests.functional.liveness.conftest import assert_live, busy, heartbeats, lambda_for
from tests.support.world import World


def test_a_round_heartbeats_before_any_ec2_call(world: World) -> None:
    waiting = world.scale_in(1)
    busy(world, waiting)
    seen = len(world.emu.faults.calls)
    lambda_for(world).invoke({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    actions = [c["action"] for c in world.emu.faults.calls[seen:]]
    first_ec2 = actions.index("DescribeInstances")
    assert actions[0] == "DescribeAutoScalingGroups"
    assert actions[:first_ec2].count("RecordLifecycleActionHeartbeat") == len(waiting)


def test_ec2_describe_instances_throttled_still_heartbeats_every_hook(world: World) -> None:
    """EC2 answers RequestLimitExceeded to every DescribeInstances (Auto Scaling is healthy): the hooks live on, the
    instances are left unjudged (no tag, no disable) and each invocation says so once, as an alarmed error."""
    waiting = world.scale_in(1)
    busy(world, waiting)
    world.emu.faults.inject("DescribeInstances", code="RequestLimitExceeded", status=503, count=None)
    fn = lambda_for(world)
    fn.minutes(4)
    assert_live(world, fn)
    beats = heartbeats(world)
    assert set(beats) == set(waiting) and all(len(b) >= 3 for b in beats.values())
    errors = [r for r in fn.records if r["outcome"] == "error"]
    assert errors and all("RequestLimitExceeded" in r["reason"] for r in errors)
    ec2 = [r for r in errors if r["reason"].startswith("describe instances failed")]
    assert len(fn.durations) - 1 <= len(ec2) <= len(fn.durations)  # one per invocation (an event may beat the tick)
    assert all(world.agent(iid)["enabled"] for iid in waiting)  # not judged without its tags
    world.emu.faults.clear()
    fn.minutes(1)
    assert not any(world.agent(iid)["enabled"] for iid in waiting)  # judged as soon as EC2 answers


def test_azure_devops_down_still_heartbeats(world: World) -> None:
    waiting = world.scale_in(1)
    busy(world, waiting)
    world.ado.inject("down", count=None)
    fn = lambda_for(world)
    fn.minutes(8)
    assert_live(world, fn)
    assert set(heartbeats(world)) == set(waiting)
    held = [r for r in fn.records if r.get("instance")]  # besides one `error` per invocation: no agent system
    assert held and all(r["outcome"] == "held" and "fail safe" in r["reason"] for r in held)


def test_endless_pagination_holds_without_stalling_heartbeats(world: World) -> None:
    """A continuation token that repeats forever: the client stops at the repeat (an Azure error: hold), the
    invocation ends in time, heartbeats go on, and each round costs a couple of requests, not thousands."""
    waiting = world.scale_in(1)
    busy(world, waiting, 1200)
    world.ado.inject("endless_pages", count=None, path_contains="/agents")
    fn = lambda_for(world)
    before = len(world.ado.calls)
    fn.minutes(5)
    assert_live(world, fn)
    assert set(heartbeats(world)) == set(waiting)
    held = [r for r in fn.records if r["outcome"] == "held"]
    assert held and all("fail safe" in r["reason"] for r in held)
    rounds = 5 * 6
    assert len(world.ado.calls) - before <= 3 * rounds
    world.ado.clear_faults()
    fn.minutes(25)
    assert_live(world, fn)
    assert {r["instance"] for r in fn.records if r["outcome"] == "released"} == set(waiting)


def test_slow_azure_devops_with_many_busy_instances_kills_nothing() -> None:
    """Thirty busy instances wait at once and Azure DevOps takes 10 s per call (the issue's fault): judgment gets
    through a few instances per invocation, but every hook is heartbeated each round before any of it."""
    from tests.functional.liveness.conftest import make_world

    for world in make_world(size=30):
        waiting = world.scale_in(0)
        assert len(waiting) == 30
        busy(world, waiting, 1500)
        world.ado.inject("latency", count=None, delay=10)
        # One judgment worker and a margin of one call: see conftest (latency on a ManualClock adds up).
        fn = lambda_for(world, agent_concurrency=1, invocation_margin_seconds=12)
        fn.minutes(15, events=False)  # a big scale-in with lost events: the tick finds all thirty at once
        assert_live(world, fn)
        beats = heartbeats(world)
        assert set(beats) == set(waiting)
        for times in beats.values():  # no gap near the 300 s HeartbeatTimeout
            assert max(b - a for a, b in pairwise(times)) < 200
        disabled = [iid for iid in waiting if not world.agent(iid)["enabled"]]
        assert disabled  # judgment progressed meanwhile


def test_retry_after_of_a_day_never_stops_heartbeats(world: World) -> None:
    waiting = world.scale_in(1)
    busy(world, waiting, 1800)
    world.ado.inject("rate_limit", count=1, retry_after=86_400)
    fn = lambda_for(world)
    fn.minutes(20)
    assert_live(world, fn)
    beats = heartbeats(world)
    assert set(beats) == set(waiting) and all(len(b) >= 10 for b in beats.values())


def test_describe_groups_failing_a_warm_container_still_heartbeats_what_was_waiting(world: World) -> None:
    """DescribeAutoScalingGroups fails for minutes (throttled past its retries, or denied by an edited policy): the
    warm container heartbeats the instances its last answer listed, so no hook times out; judgment waits for an answer.
    The fault is a non-retried AccessDenied so that botocore's real-time back-off does not slow the suite; a throttle
    that outlasts the retries reaches the same path."""
    waiting = world.scale_in(1)
    busy(world, waiting)
    fn = lambda_for(world)
    fn.minutes(1)  # the container has seen them waiting
    world.emu.faults.inject(
        "DescribeAutoScalingGroups", code="AccessDenied", status=403, message="not authorized", count=None
    )
    before = {iid: len(b) for iid, b in heartbeats(world).items()}
    fn.minutes(7, events=False)  # HeartbeatTimeout 300 s: without heartbeats every hook would time out
    assert_live(world, fn)
    after = heartbeats(world)
    assert all(len(after[iid]) >= before.get(iid, 0) + 3 for iid in waiting), (before, after)
    errors = [r["reason"] for r in fn.records if r["outcome"] == "error"]
    assert sum("describe groups failed" in r for r in errors) >= 7, errors  # alarmed, once per invocation
    world.emu.faults.clear()
    fn.minutes(1)
    assert_live(world, fn)
