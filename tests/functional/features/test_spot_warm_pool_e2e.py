"""Spot interruption warnings and warm-pool lifecycle events through the real handler, on the emulator.

The AWS emulator does not do warm pools (nor Spot reclaims): the events are crafted in the shapes AWS documents
and delivered to the handler; the lifecycle actions they name are real ones of the emulator (a scale-in put the
instance in Terminating:Wait), so completion and heartbeats are checked against the emulator's own records. A
warm-pool event is no evidence of its own: the gate judges the instance in the state Auto Scaling reports."""

from __future__ import annotations

import copy
from typing import Any

from emulator.sandbox import Sandbox
from gate.bootstrap import build_gate
from gate.domain.clock import ManualClock
from gate.handler import dispatch
from tests.functional.features.conftest import ACCOUNT, history, make_group, protect


def spot_event(instance_id: str, account: str = ACCOUNT, region: str = "us-east-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": account,
        "time": "2026-11-24T10:00:00Z",
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "instance-action": "terminate"},
    }


def test_spot_warning_disables_the_instance_agents_at_once(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=3)
    victim, other = group.instances[0], group.instances[1]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[victim], 600)
    gate = build_gate(
        sandbox.settings(),
        aws_endpoint=sandbox.aws_endpoint,
        clock=clock,
        log=sandbox.log,
        region="us-east-1",
        account=ACCOUNT,
        session=sandbox.session,
    )
    [record] = dispatch(gate, spot_event(victim))
    assert record["outcome"] == "spot" and record["instance"] == victim and record["group"] == "ci-agents"
    assert "disabled 1 agent(s)" in record["reason"]
    agent = sandbox.ado.agent(group.agents[victim])
    assert agent is not None and agent["enabled"] is False and agent["busy"]  # the build runs on: nothing saves it
    assert sandbox.ado.build(build)["finished_at"] is None
    kept = sandbox.ado.agent(group.agents[other])
    assert kept is not None and kept["enabled"]
    assert not history(sandbox, "complete") and sandbox.lifecycle_states("ci-agents")[victim] == "InService"

    # a duplicate warning: nothing left to disable, still logged as spot
    [again] = dispatch(gate, spot_event(victim))
    assert again["outcome"] == "spot" and "disabled 0 agent(s), 1 already disabled" in again["reason"]

    # foreign events are skipped, never acted on
    assert dispatch(gate, spot_event(other, account="210987654321"))[0]["outcome"] == "skipped"
    assert dispatch(gate, spot_event(other, region="eu-west-1"))[0]["outcome"] == "skipped"
    assert dispatch(gate, spot_event("i-0123456789abcdef0"))[0]["outcome"] == "skipped"  # not in a group
    kept = sandbox.ado.agent(group.agents[other])
    assert kept is not None and kept["enabled"]


def test_spot_in_dry_run_disables_nothing(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=1)
    gate = sandbox.gate(sandbox.settings(dry_run=True))
    [record] = dispatch(gate, spot_event(group.instances[0]))
    assert record["outcome"] == "spot" and "would disable 1 agent(s)" in record["reason"]
    assert sandbox.ado is not None
    agent = sandbox.ado.agent(group.agents[group.instances[0]])
    assert agent is not None and agent["enabled"]


def waiting_busy_instance(sandbox: Sandbox) -> tuple[str, dict[str, Any], int]:
    """A busy instance in Terminating:Wait (emulator) and the lifecycle event AWS emitted for it."""
    group = make_group(sandbox, size=2)
    busy = group.instances[0]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 600)
    protect(sandbox, "ci-agents", group.instances[1:])
    sandbox.scale_to("ci-agents", 1)
    [event] = sandbox.receive_events()
    assert event["detail"]["EC2InstanceId"] == busy
    return busy, event, build


def test_an_event_from_the_warm_pool_is_judged_like_any_other(sandbox: Sandbox, clock: ManualClock) -> None:
    """`Origin: WarmPool` is no evidence: a pool kept Running runs its user data, so its agent may have registered
    and taken a job, and the event's word never outweighs what Auto Scaling and the agent system say."""
    busy, event, build = waiting_busy_instance(sandbox)
    warm = copy.deepcopy(event)
    warm["detail"].update({"Origin": "WarmPool", "Destination": "EC2"})
    records = dispatch(sandbox.gate(), warm)
    assert {r["outcome"] for r in records} == {"held"} and not history(sandbox, "complete")
    assert sandbox.ado is not None
    agent = sandbox.ado.agent(sandbox.groups["ci-agents"].agents[busy])
    assert agent is not None and agent["enabled"] is False  # the safe action, as for any hold
    assert sandbox.ado.build(build)["finished_at"] is None  # not killed
    sandbox.ado.finish_build(build)
    clock.advance(60)  # past the assignment lag bound
    records = dispatch(sandbox.gate(), warm)
    assert records[-1]["outcome"] == "released"
    assert history(sandbox, "complete")[busy][0]["result"] == "CONTINUE"
    agent = sandbox.ado.agent(sandbox.groups["ci-agents"].agents[busy])
    assert agent is not None and agent["deleted"]  # no registration left behind


def test_scale_in_into_the_warm_pool_is_held_like_a_termination(sandbox: Sandbox, clock: ManualClock) -> None:
    busy, event, build = waiting_busy_instance(sandbox)
    into = copy.deepcopy(event)
    into["detail"].update({"Origin": "AutoScalingGroup", "Destination": "WarmPool"})  # stopping kills the build too
    records = dispatch(sandbox.gate(), into)
    assert {r["outcome"] for r in records} == {"held"} and not history(sandbox, "complete")
    assert history(sandbox, "heartbeat")[busy][0]["by"] == "instance"  # never by the event's token
    assert sandbox.ado is not None
    sandbox.ado.finish_build(build)
    clock.advance(60)  # past the assignment lag bound (docs/judgment.md): the release may follow the next look
    records = dispatch(sandbox.gate(), into)  # a late duplicate of the event, after the build
    assert records[-1]["outcome"] == "released"
    assert history(sandbox, "complete")[busy][0]["result"] == "CONTINUE"
