"""A heartbeat that fails in the round's heartbeat pass is sent once more at the round's end, after judgment (the
Auto Scaling throttling that timed hooks out in the fleet bench): over HTTP to the AWS emulator, on a ManualClock."""

from __future__ import annotations

from typing import Any

from gate.domain.model import Waiting
from tests.support.world import World

HEARTBEAT = "RecordLifecycleActionHeartbeat"
ONE_CALL = (
    6  # the first attempt and the SDK's five retries (gate.adapters.aws.RETRY_CONFIG): all throttled, one failure
)


def _calls(world: World, seen: int) -> list[dict[str, Any]]:
    return list(world.emu.faults.calls[seen:])


def _busy(world: World) -> str:
    iid = world.scale_in(2)[0]
    world.ado.start_build(world.group.agents[iid], 600)
    return iid


def test_a_throttled_heartbeat_is_sent_again_after_judgment_in_the_same_invocation(world: World) -> None:
    iid = _busy(world)
    gate = world.gate()
    seen = len(world.emu.faults.calls)
    world.emu.faults.inject(HEARTBEAT, count=ONE_CALL)
    run = gate.rounds.run(None, 0)  # one round
    calls = _calls(world, seen)
    beats = [c["status"] for c in calls if c["action"] == HEARTBEAT]
    assert beats == [400] * ONE_CALL + [200]  # the pass's call failed; the second chance's went through
    assert (run.second_chances, run.second_chances_sent) == (1, 1)
    assert iid not in gate.heartbeats.failing and iid in gate.heartbeats.last_sent
    # The pass came first, the second chance after judgment (EC2 details, the action's identity): it delayed nothing.
    actions = [c["action"] for c in calls]
    assert (
        actions.index(HEARTBEAT)
        < actions.index("DescribeInstances")
        < len(actions) - 1 - actions[::-1].index(HEARTBEAT)
    )
    mine = [r for r in run.records if r["instance"] == iid]
    assert [r["outcome"] for r in mine].count("error") == 1 and "heartbeat failed" in mine[0]["reason"]


def test_the_second_chance_is_once_per_round(world: World) -> None:
    _busy(world)
    gate = world.gate()
    seen = len(world.emu.faults.calls)
    world.emu.faults.inject(HEARTBEAT, count=None)  # throttled throughout
    run = gate.rounds.run(None, 0)
    beats = [c for c in _calls(world, seen) if c["action"] == HEARTBEAT]
    assert len(beats) == 2 * ONE_CALL  # the pass's call and one more, never a third
    assert (run.second_chances, run.second_chances_sent) == (1, 0)


def test_an_action_gone_is_not_retried(world: World) -> None:
    iid = _busy(world)
    world.sb.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="ci-agents",
        LifecycleHookName=world.group.hook,
        InstanceId=iid,
        LifecycleActionResult="CONTINUE",
    )
    gate = world.gate()
    seen = len(world.emu.faults.calls)
    run = gate.rounds.run([Waiting("ci-agents", iid, world.group.hook)], 0)
    beats = [c for c in _calls(world, seen) if c["action"] == HEARTBEAT]
    assert len(beats) == 1  # `No active Lifecycle Action`: gone, not retried
    assert run.second_chances == 0
    assert [r["outcome"] for r in run.records if r["instance"] == iid] == ["gone"]


def test_no_second_chance_past_the_deadline(world: World) -> None:
    """Judgment runs the invocation to its deadline (the agent list answers after it): the failed heartbeat is left to
    the next invocation rather than started late."""
    _busy(world)
    gate = world.gate()
    real = gate.source.list_pools  # type: ignore[attr-defined]

    def late():  # type: ignore[no-untyped-def]
        world.clock.advance(30)  # past the 15 s a zero-budget invocation has
        return real()

    gate.source.list_pools = late  # type: ignore[attr-defined]
    seen = len(world.emu.faults.calls)
    world.emu.faults.inject(HEARTBEAT, count=ONE_CALL)
    run = gate.rounds.run(None, 0)
    beats = [c["status"] for c in _calls(world, seen) if c["action"] == HEARTBEAT]
    assert beats == [400] * ONE_CALL
    assert run.second_chances == 0


def test_a_cold_container_asks_describe_groups_once_more(world: World) -> None:
    """Its first DescribeAutoScalingGroups throttled, a cold container has no last answer to heartbeat: asks again."""
    iid = _busy(world)
    gate = world.gate()
    seen = len(world.emu.faults.calls)
    world.emu.faults.inject("DescribeAutoScalingGroups", count=ONE_CALL)
    run = gate.rounds.run(None, 0)
    calls = _calls(world, seen)
    describes = [c["status"] for c in calls if c["action"] == "DescribeAutoScalingGroups"]
    assert describes[: ONE_CALL + 1] == [400] * ONE_CALL + [200]
    assert [c["status"] for c in calls if c["action"] == HEARTBEAT] == [200]  # heartbeated in this invocation
    assert iid in gate.heartbeats.last_sent and "held" in [r["outcome"] for r in run.records if r["instance"] == iid]
