"""Over HTTP: a release whose CompleteLifecycleAction is throttled after the gate deleted the agent is completed at
the next round on the gate's own recorded decision (`r=` in the hold tag), with the agent already deleted. Before,
the agent, seen busy earlier in the hold, was absent with no finished job of it to be seen (here: its job requests
come back emptied), so its idleness was never proven again and the instance was held to max hold."""

from __future__ import annotations

from gate.domain.holdstate import HOLD_TAG, decode
from tests.support.world import World, killed


def _hold_tag(world: World, iid: str) -> str:
    [reservation] = world.sb.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"]
    tags = {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}
    return str(tags.get(HOLD_TAG, ""))


def _tick(world: World, iid: str) -> list[dict[str, object]]:
    """One scheduled invocation a minute later, in a new container: no memory of the hold but the tag."""
    world.clock.advance(60)
    return [dict(r) for r in world.gate().tick(budget=0) if r["instance"] == iid]


def test_a_throttled_completion_after_the_delete_completes_next_round_on_the_recorded_decision(world: World) -> None:
    iid = world.scale_in(2)[0]
    world.ado.start_build(world.group.agents[iid], 30)
    held = [r for r in world.gate().tick(budget=0) if r["instance"] == iid]
    assert held[-1]["outcome"] == "held" and "draining" in held[-1]["reason"]  # disabled, seen busy (`b=`)

    world.emu.faults.inject("CompleteLifecycleAction", count=None)  # every attempt throttled, botocore's too
    failed = _tick(world, iid)
    assert failed[-1]["outcome"] == "error" and "CompleteLifecycleAction" in str(failed[-1]["reason"])
    assert world.agent(iid)["deleted"]  # deleted before the completion failed
    assert world.sb.instance_ids("ci-agents", ("Terminating:Wait",)) == [iid]
    recorded = decode(_hold_tag(world, iid))
    assert recorded is not None and recorded.released_at is not None and recorded.busy  # the decision, on AWS

    world.emu.faults.clear()
    world.ado.inject("empty_list", count=None, path_contains="jobrequests")  # no finished job of it to be seen
    after = _tick(world, iid)
    assert [r["outcome"] for r in after][-1] == "released"
    assert "release decided earlier" in str(after[-1]["reason"])
    assert world.history("complete")[iid][0]["result"] == "CONTINUE"
    assert not killed(world) and not world.history("timeout")
