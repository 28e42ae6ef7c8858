"""AWS misbehaving: throttling is retried (NTH #1174), lost actions end as `gone`, never a crash."""

from __future__ import annotations

import pytest

from tests.support.world import World


@pytest.mark.parametrize(
    ("action", "code", "status"),
    [
        ("RecordLifecycleActionHeartbeat", "Throttling", 400),
        ("CompleteLifecycleAction", "Throttling", 400),
        ("DescribeAutoScalingGroups", "Throttling", 400),
        ("CompleteLifecycleAction", "ResourceContention", 500),
    ],
)
def test_throttled_calls_are_retried(world: World, action: str, code: str, status: int) -> None:
    iid = world.scale_in(2)[0]
    seen = len(world.emu.faults.calls)
    world.emu.faults.inject(action, code=code, status=status, count=2)
    records = world.gate().tick(budget=60)
    mine = [r["outcome"] for r in records if r["instance"] == iid]
    assert mine[-1] == "released" and "error" not in mine
    statuses = [c["status"] for c in world.emu.faults.calls[seen:] if c["action"] == action]
    assert statuses[:3] == [status, status, 200]  # retried by botocore, not given up


def test_persistent_throttling_is_an_error_and_the_next_tick_recovers(world: World) -> None:
    iid = world.scale_in(2)[0]
    world.emu.faults.inject("RecordLifecycleActionHeartbeat", count=None)
    records = world.gate().tick(budget=0)
    mine = [r for r in records if r["instance"] == iid]
    assert mine[0]["outcome"] == "error" and "Rate exceeded" in mine[0]["reason"]  # the heartbeat pass, alarmed
    assert [r["outcome"] for r in mine].count("error") == 1  # the decision did not try the heartbeat again
    world.emu.faults.clear()
    assert [r["outcome"] for r in world.gate().tick(budget=60) if r["instance"] == iid][-1] == "released"


def test_completed_by_someone_else_is_gone(world: World) -> None:
    iid = world.scale_in(2)[0]
    world.ado.start_build(world.group.agents[iid], 600)
    gate = world.gate()
    gate.tick(budget=10)
    world.sb.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="ci-agents",
        LifecycleHookName=world.group.hook,
        InstanceId=iid,
        LifecycleActionResult="CONTINUE",
    )
    records = gate.run([_waiting(world, iid)], budget=120)
    assert [r["outcome"] for r in records if r["instance"] == iid][-1] == "gone"


def _waiting(world: World, iid: str):  # type: ignore[no-untyped-def]
    from gate.domain.model import Waiting

    return Waiting("ci-agents", iid, world.group.hook)


def test_instance_terminated_externally_is_gone(world: World) -> None:
    iid = world.scale_in(2)[0]
    world.ado.start_build(world.group.agents[iid], 600)
    gate = world.gate()
    gate.tick(budget=10)
    world.sb.client("ec2").terminate_instances(InstanceIds=[iid])
    records = gate.run([_waiting(world, iid)], budget=120)
    assert [r["outcome"] for r in records][-1] == "gone"
    assert world.gate().tick(budget=0) == []  # nothing left waiting for it


def test_hook_deleted_mid_hold_is_gone(world: World) -> None:
    iid = world.scale_in(2)[0]
    world.ado.start_build(world.group.agents[iid], 600)
    gate = world.gate()
    gate.tick(budget=10)
    world.sb.client("autoscaling").delete_lifecycle_hook(
        AutoScalingGroupName="ci-agents", LifecycleHookName=world.group.hook
    )
    records = gate.run([_waiting(world, iid)], budget=120)
    assert [r["outcome"] for r in records][-1] == "gone"
    assert not world.history("timeout")


def test_one_instance_failing_unexpectedly_does_not_starve_the_others(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, b = world.scale_in(1)
    gate = world.gate()
    real = gate.aws.heartbeat

    def heartbeat(waiting):  # type: ignore[no-untyped-def]
        if waiting.instance_id == a:
            raise KeyError("surprise")  # not an AWS error the edge knows
        return real(waiting)

    monkeypatch.setattr(gate.aws, "heartbeat", heartbeat)
    world.ado.start_build(world.group.agents[a], 600)
    world.ado.start_build(world.group.agents[b], 600)
    records = gate.tick(budget=0)
    outcomes = {(r["instance"], r["outcome"]) for r in records}
    assert (a, "error") in outcomes and (b, "held") in outcomes and (b, "error") not in outcomes
    assert world.history("heartbeat").get(b)


def test_slow_heartbeats_all_go_out_first_and_judgment_stops_at_the_deadline(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Heartbeats that take 10 s each (throttled hard): every waiting instance still gets its heartbeat in every
    invocation (the heartbeat pass runs them concurrently, before any judgment), and judgment, now past the
    invocation's deadline, is left to the next invocation instead of running past the Lambda timeout."""
    waiting = set(world.scale_in(1))
    for iid in waiting:
        world.ado.start_build(world.group.agents[iid], 3600)
    for _ in range(3):
        served: list[str] = []
        gate = world.gate()
        real = gate.aws.heartbeat

        def slow(w, real=real, served=served):  # type: ignore[no-untyped-def]
            world.clock.advance(10)  # two of them: 20 s, past the 15 s a zero-budget invocation has
            served.append(w.instance_id)
            return real(w)

        monkeypatch.setattr(gate.aws, "heartbeat", slow)
        gate.tick(budget=0)
        assert sorted(served) == sorted(waiting)
    assert all(world.agent(iid)["enabled"] for iid in waiting)  # never judged: no time was left
    assert not world.history("timeout")
