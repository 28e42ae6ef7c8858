"""Fail-safe holds are loud (issue #18, class 10).

A hold an error keeps (the agent system or one of its routes unavailable, credentials refused, ECS unavailable, EC2 or
tags failing) is right to hold, but must not hold silently until max hold, or for good on a retained instance. Each
such decision carries its cause (`failsafe` on gate.domain.decide.Decision and on the record), and every invocation
writes
one FailsafeHolds EMF line while any lasts, whether or not the unchanged hold's record was written; the Terraform
module alarms when it stays above 0 (infra/modules/termination-gate/monitoring.tf, tests/infra). A deleted group is
"not found", not "has no lifecycle hook". `gate doctor` asks the job-requests route with the gate's own credentials.

All over HTTP: the AWS emulator, the fake Azure DevOps (fault `route_not_found`: the route answers 404 for good), the
real gate driven like the Lambda (a tick a minute on the world's ManualClock), and the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from gate.domain.model import Outcome
from gate.service import passes
from tests.functional.liveness.conftest import busy, lambda_for
from tests.functional.safety.conftest import doctor
from tests.support.world import World


def route_gone(world: World) -> None:
    world.ado.inject("route_not_found", path_contains="jobrequests", count=None)


def failsafe_held(records: list[dict[str, Any]], instance: str) -> list[dict[str, Any]]:
    return [r for r in records if r["instance"] == instance and r["outcome"] == "held" and r.get("failsafe")]


def test_a_job_requests_route_gone_for_good_holds_with_its_cause_and_the_metric_every_tick(world: World) -> None:
    """Idle victim, job-requests route 404 for good: the gate disables the agent, then cannot see its job requests.
    It holds (fail safe) with cause agent_system on the record, and writes FailsafeHolds on every tick while the hold
    lasts, also the ticks whose unchanged held record was not written; once the route is back it releases and the
    metric stops."""
    route_gone(world)
    [victim] = world.scale_in(2)
    fn = lambda_for(world)
    log = world.sb.log
    fn.minutes(6, events=False)

    held = failsafe_held(fn.records, victim)
    assert held and all(r["failsafe"] == "agent_system" for r in held), fn.records
    assert "job requests" in held[-1]["reason"] and "HTTP 404 VssResourceNotFoundException" in held[-1]["reason"]
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Wait"
    assert not world.history("complete")
    lines = log.failsafe_lines
    # From the tick that first asked for the job requests (the first one disables the agent and waits the lag bound):
    assert len(lines) >= 5, lines
    assert all(line["FailsafeHolds"] == 1 and line["instances"] == {victim: "agent_system"} for line in lines)
    assert lines[-1]["causes"] == {"agent_system": 1}
    emf = lines[-1]["_aws"]["CloudWatchMetrics"][0]
    assert emf["Metrics"] == [{"Name": "FailsafeHolds", "Unit": "Count"}] and emf["Dimensions"] == [["FunctionName"]]

    world.ado.clear_faults()
    before = len(lines)
    fn.minutes(2, events=False)
    assert [h["result"] for h in world.history("complete")[victim]] == ["CONTINUE"]
    assert len(log.failsafe_lines) == before  # no fail-safe hold left: nothing written


def test_the_metric_does_not_depend_on_the_held_record_being_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strictest de-duplication of unchanged holds (no held record at all after the first tick): the
    FailsafeHolds line is still written on every tick, so the alarm's periods never go empty while the hold lasts."""
    route_gone(world)
    [victim] = world.scale_in(2)
    fn = lambda_for(world)
    fn.minutes(1, events=False)
    monkeypatch.setattr(passes, "worth_logging", lambda done, decision, last: done.outcome is not Outcome.HELD)
    written, lines = len(fn.records), len(world.sb.log.failsafe_lines)
    fn.minutes(4, events=False)
    assert len(fn.records) == written  # no decision record in these four ticks
    new = world.sb.log.failsafe_lines[lines:]
    assert len(new) == 4 and all(line["instances"] == {victim: "agent_system"} for line in new), new


def test_instances_heartbeated_while_auto_scaling_cannot_list_them_are_counted(world: World) -> None:
    """DescribeAutoScalingGroups throttled for good: a warm container still heartbeats what was waiting (liveness),
    judges nothing, and counts those instances as fail-safe holds (cause autoscaling) on every tick."""
    waiting = world.scale_in(2)
    busy(world, waiting, 3600)
    fn = lambda_for(world)
    fn.minutes(1, events=False)
    assert not world.sb.log.failsafe_lines  # a busy build is a hold on the evidence, not a fail-safe one
    world.emu.faults.inject("DescribeAutoScalingGroups", count=None)
    fn.minutes(2, events=False)  # each call is retried with botocore's back-off in wall time: two ticks suffice
    lines = world.sb.log.failsafe_lines
    assert len(lines) == 2 and all(line["instances"] == {waiting[0]: "autoscaling"} for line in lines), lines
    assert not world.history("timeout")


@pytest.fixture
def retaining() -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 2, heartbeat_timeout=300, retain_on_abandon=True)
        yield World(sb, clock, group)


def test_a_retained_instance_kept_by_the_missing_route_is_counted_too(retaining: World) -> None:
    """A retained instance (ABANDON with TerminateHookAbandon = retain) is kept until its agents are proven idle:
    with the route gone for good that is forever, so it is a fail-safe hold like any other."""
    world = retaining
    [victim] = world.scale_in(1)
    world.sb.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=world.group.hook,
        InstanceId=victim,
        LifecycleActionResult="ABANDON",
    )
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"
    route_gone(world)
    fn = lambda_for(world)
    fn.minutes(4, events=False)
    held = failsafe_held(fn.records, victim)
    assert held and held[-1]["failsafe"] == "agent_system", fn.records
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"
    lines = world.sb.log.failsafe_lines
    assert len(lines) >= 3 and all(line["instances"] == {victim: "agent_system"} for line in lines), lines


def test_a_deleted_group_is_not_found_not_a_group_without_the_hook(world: World) -> None:
    world.sb.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=world.group.name, ForceDelete=True)
    fn = lambda_for(world)
    fn.minutes(2, events=False)
    errors = [r for r in fn.records if r["outcome"] == "error"]
    assert len(errors) == 2, fn.records  # once per invocation
    for error in errors:
        assert error["group"] == world.group.name
        assert error["reason"].startswith("Auto Scaling group ci-agents not found"), error
        assert "GATE_GROUPS" in error["reason"] and "lifecycle hook" not in error["reason"], error


def test_gate_doctor_reports_a_missing_job_requests_route(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy = doctor(world, monkeypatch)
    assert healthy.exit_code == 0, healthy
    assert "ok  job requests of pool linux-agents readable" in healthy.stdout, healthy

    route_gone(world)
    result = doctor(world, monkeypatch)
    assert result.exit_code == 2, result
    [line] = [x for x in result.stdout.splitlines() if "job-requests route" in x]
    assert line.startswith("FIX the job-requests route of pool linux-agents is missing"), line
    assert "HTTP 404" in line and "GATE_CHECK_JOB_REQUESTS=false" in line, line
    assert "1 problem(s)" in result.stdout, result


def test_decide_names_the_cause_of_every_error_hold_and_only_those() -> None:
    """The pure rule behind the records: the three error-hold branches of gate.domain.decide carry a cause; a hold on
    the
    evidence (a busy agent) does not."""
    from gate.domain.decide import EcsFacts, Observation, Policy, decide
    from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, encode
    from gate.domain.model import Agent, Waiting

    t0, action = 1_800_000_000.0, "8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"
    tags = {HOLD_TAG: encode(HoldState(action_hash(action), held_since=t0, disabled_at=t0))}
    w = Waiting("g", "i-0123456789abcdef0", "hook", action_id=action, tags=tags)
    idle = Agent("azure-devops", 7, "pool", 1, "agent-i-0123456789abcdef0", False)
    policy = Policy(check_job_requests=False)
    later = t0 + 3600
    assert decide(w, Observation(None, "HTTP 503"), policy, later).failsafe == "agent_system"
    no_identity = decide(Waiting("g", w.instance_id, "hook"), Observation([idle]), policy, later)
    assert no_identity.failsafe == "action_identity"
    seen = {HOLD_TAG: encode(HoldState(action_hash(action), held_since=t0, disabled_at=t0, seen=frozenset({(7, 1)})))}
    ecs_down = Observation([idle], ecs=EcsFacts(None, error="AccessDenied"))
    ecs_policy = Policy(check_job_requests=False, ecs_drain=True)
    decision = decide(Waiting("g", w.instance_id, "hook", action_id=action, tags=seen), ecs_down, ecs_policy, later)
    assert decision.outcome == "held" and decision.failsafe == "ecs", decision
    busy = dataclasses.replace(idle, assigned_request=42)
    assert decide(w, Observation([busy]), policy, later).failsafe is None
