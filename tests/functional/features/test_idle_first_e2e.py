"""Idle-first selection end to end: the group names the gate's termination policy function first, the AWS emulator
invokes it on scale-in as Auto Scaling does (emulator/termination_policy.py), and the idle instance goes while the
busy one keeps its build. When the policy cannot tell (the agent system down, or slower than its deadline) it hands
the choice back (every instance offered: the group's Default policy picks and the hook holds the busy pick); when the
function itself fails or times out, nothing is terminated and the emulator invokes it again later, as AWS does."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from emulator.sandbox import Sandbox
from gate import bootstrap, handler
from gate.bootstrap import build_selector
from gate.domain.clock import ManualClock
from gate.domain.selection import Selection
from gate.service.selection import Selector
from gate.service.triggers import Gate
from tests.functional.features.conftest import ACCOUNT, history, make_group

FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:asg-termination-gate-selection"
LAG = 5  # the assignment lag bound has its own tests (tests/functional/judgment)


def with_policy(sandbox: Sandbox, group: str = "ci-agents") -> None:
    sandbox.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group, TerminationPolicies=[FUNCTION, "Default"]
    )


def register(sandbox: Sandbox, selector: Selector) -> list[Selection]:
    """The function for the policy's ARN: the selector's answer (what gate.handler.select_instances returns)."""
    answers: list[Selection] = []

    def invoke(event: dict[str, Any]) -> dict[str, list[str]]:
        answers.append(selector.select(event))
        return answers[-1].answer()

    assert sandbox.emulator is not None
    sandbox.emulator.targets.register(FUNCTION, invoke)
    return answers


def scale_in(sandbox: Sandbox, desired: int, invocations: int = 1) -> None:
    """Lower the desired capacity and wait until the emulator has asked the policy `invocations` times in all and
    acted on the answers (Auto Scaling's scale-in is asynchronous)."""
    sandbox.scale_to("ci-agents", desired)
    assert sandbox.emulator is not None
    assert sandbox.emulator.policies.wait(invocations), "the emulator never invoked the termination policy"


def busy_and_idle(sandbox: Sandbox) -> tuple[str, str, Gate]:
    """Two instances; the older one (the Default policy's pick) runs a build."""
    group = make_group(sandbox, size=2)
    busy, idle = group.instances
    assert sandbox.ado is not None
    sandbox.ado.start_build(group.agents[busy], 3600)
    with_policy(sandbox)
    return busy, idle, sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG))


def test_scale_in_takes_the_idle_instance_not_the_busy_one(sandbox: Sandbox, clock: ManualClock) -> None:
    busy, idle, gate = busy_and_idle(sandbox)
    answers = register(sandbox, build_selector(gate))

    scale_in(sandbox, 1)

    assert sandbox.emulator is not None
    [call] = sandbox.emulator.policies.invocations
    assert call["payload"]["Cause"] == "SCALE_IN"
    assert call["payload"]["CapacityToTerminate"] == [
        {"AvailabilityZone": "us-east-1a", "Capacity": 1, "InstanceMarketOption": "on-demand"}
    ]
    assert {i["InstanceId"] for i in call["payload"]["Instances"]} == {busy, idle}
    assert call["answer"] == [idle] and not answers[0].fallback
    assert sandbox.lifecycle_states("ci-agents") == {busy: "InService", idle: "Terminating:Wait"}

    # the hook still gates the chosen one: drained, judged idle after the lag bound, released
    gate.tick()
    clock.advance(LAG + 1)
    gate.tick()
    assert history(sandbox, "complete")[idle][0]["result"] == "CONTINUE"
    assert busy not in history(sandbox, "complete")
    assert sandbox.lifecycle_states("ci-agents") == {busy: "InService"}
    assert all(r["outcome"] != "error" for r in sandbox.log.records)


def test_agent_system_down_hands_the_choice_back_and_the_hook_holds_the_busy_pick(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    busy, idle, gate = busy_and_idle(sandbox)
    answers = register(sandbox, build_selector(gate))
    assert sandbox.ado is not None
    sandbox.ado.inject("server_error", seconds=60)

    scale_in(sandbox, 1)

    assert answers[0].fallback and "agent system unavailable" in answers[0].reason
    assert sorted(answers[0].instance_ids) == sorted([busy, idle])  # every instance offered, never []
    # the group's next policy (Default: the oldest) picks the busy one; the gate holds it
    assert sandbox.lifecycle_states("ci-agents") == {busy: "Terminating:Wait", idle: "InService"}
    sandbox.ado.clear_faults()
    gate.tick()
    clock.advance(LAG + 1)
    gate.tick()
    assert busy not in history(sandbox, "complete")
    assert any(r["outcome"] == "held" and r["instance"] == busy for r in sandbox.log.records)


def test_an_agent_system_slower_than_the_deadline_hands_the_choice_back(sandbox: Sandbox) -> None:
    busy, idle, gate = busy_and_idle(sandbox)
    selector = build_selector(gate)
    selector.budget = 0.3
    answers = register(sandbox, selector)
    assert sandbox.ado is not None
    sandbox.ado.inject("slow", count=None, delay=1.0)

    scale_in(sandbox, 1)

    assert answers[0].fallback and sorted(answers[0].instance_ids) == sorted([busy, idle])
    assert sandbox.emulator is not None and sandbox.emulator.policies.invocations[0]["outcome"] == "ok"
    sandbox.ado.clear_faults()


@pytest.mark.parametrize("failure", ["error", "timeout"])
def test_a_failing_function_terminates_nothing_and_is_invoked_again(
    sandbox: Sandbox, clock: ManualClock, failure: str
) -> None:
    busy, idle, gate = busy_and_idle(sandbox)
    assert sandbox.emulator is not None
    policies = sandbox.emulator.policies
    policies.time_limit = 0.2
    release = threading.Event()

    def broken(event: dict[str, Any]) -> dict[str, list[str]]:
        if failure == "timeout":
            release.wait(30)  # answers long after Auto Scaling stopped waiting
            return {"InstanceIDs": [busy]}
        raise RuntimeError("function error")

    sandbox.emulator.targets.register(FUNCTION, broken)
    scale_in(sandbox, 1)
    release.set()
    assert [c["outcome"] for c in policies.invocations] == [failure]
    assert sandbox.lifecycle_states("ci-agents") == {busy: "InService", idle: "InService"}  # the scale-in waits

    gate.tick()  # nothing is asked again before `retry_seconds` (on the emulator's clock)
    assert len(policies.invocations) == 1

    register(sandbox, build_selector(gate))  # fixed
    clock.advance(policies.retry_seconds)
    assert policies.wait(2)
    assert [c["outcome"] for c in policies.invocations] == [failure, "ok"]
    assert policies.invocations[-1]["answer"] == [idle] and idle in history(sandbox, "wait")
    assert sandbox.lifecycle_states("ci-agents")[busy] == "InService"


def test_the_lambda_entry_answers_every_instance_when_misconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_selector", None)
    monkeypatch.setattr(bootstrap, "_gate", None)
    monkeypatch.delenv("GATE_GROUPS", raising=False)
    event = {
        "AutoScalingGroupName": "ci-agents",
        "CapacityToTerminate": [{"AvailabilityZone": "a", "Capacity": 1, "InstanceMarketOption": "on-demand"}],
        "Instances": [{"AvailabilityZone": "a", "InstanceId": "i-1", "InstanceMarketOption": "on-demand"}],
        "Cause": "SCALE_IN",
    }
    assert handler.select_instances(event, None) == {"InstanceIDs": ["i-1"]}
    assert handler.select_instances({"nonsense": True}, None) == {"InstanceIDs": []}


def test_an_instance_without_agent_goes_first_only_past_the_grace(sandbox: Sandbox, clock: ManualClock) -> None:
    """Three instances: a busy one, one whose agent never registered (removed here), one busy too. The agentless one
    is ready only once it was launched longer than GATE_UNREGISTERED_GRACE_SECONDS ago (EC2's LaunchTime)."""
    group = make_group(sandbox, size=3)
    a, b, c = group.instances
    assert sandbox.ado is not None
    for iid in (a, c):
        sandbox.ado.start_build(group.agents[iid], 3600)
    sandbox.ado.remove_agent(group.agents[b])
    with_policy(sandbox)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, unregistered_grace_seconds=300))
    answers = register(sandbox, build_selector(gate))

    scale_in(sandbox, 2)  # just launched: its agent may be registering now
    assert answers[0].fallback and "1 unknown" in answers[0].reason and "2 busy" in answers[0].reason
    assert sandbox.lifecycle_states("ci-agents")[a] == "Terminating:Wait"  # the Default pick; the hook holds it

    clock.advance(301)  # past the grace since its launch (EC2's LaunchTime)
    scale_in(sandbox, 1, invocations=2)
    assert answers[-1].instance_ids == (b,) and not answers[-1].fallback
    assert sandbox.lifecycle_states("ci-agents")[b] == "Terminating:Wait"
    assert sandbox.lifecycle_states("ci-agents")[c] == "InService"
