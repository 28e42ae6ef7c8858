"""Scale-in protection while busy, end to end: the tick protects busy InService instances from the tick's own
agent list, the emulator's scale-in then picks idle instances, and the gate removes only protection it set."""

from __future__ import annotations

from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from gate.service.protection import PROTECTED_TAG
from tests.functional.features.conftest import history, make_group, protect, protection, tags


def agent_list_calls(sandbox: Sandbox) -> int:
    assert sandbox.ado is not None
    return sum(1 for c in sandbox.ado.calls if c["path"].endswith("/agents") and c["method"] == "GET")


# These tests are about protection; the assignment lag bound (60 s) has its own tests in tests/judgment.
LAG = 5


def test_busy_instances_are_protected_so_idle_ones_go_first(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=4)
    a, b, c, d = group.instances
    assert sandbox.ado is not None
    builds = [sandbox.ado.start_build(group.agents[iid], 600) for iid in (a, b)]
    protect(sandbox, "ci-agents", [d])  # an operator's protection: no gate:protected tag
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, protect_busy=True))

    before = agent_list_calls(sandbox)
    assert gate.tick() == []  # nothing waits: protection only
    assert agent_list_calls(sandbox) - before == 1  # one list call per pool: the tick's own
    assert gate.aws.calls.get("SetInstanceProtection") == 1  # both busy instances in one batch
    assert protection(sandbox, "ci-agents") == {a: True, b: True, c: False, d: True}
    assert tags(sandbox, a)[PROTECTED_TAG] == "true" and PROTECTED_TAG not in tags(sandbox, d)

    # rate limit: a second tick right away does not sync again (DescribeAutoScalingGroups: find_waiting's and the
    # retained clean-up's, gate/service/retained.py)
    assert gate.protector is not None
    synced, describes = gate.protector.last_sync, gate.aws.calls["DescribeAutoScalingGroups"]
    gate.tick(budget=0)
    assert gate.protector.last_sync == synced and gate.aws.calls["DescribeAutoScalingGroups"] == describes + 2

    # the group now picks the idle, unprotected instance: the hook has nothing to hold
    sandbox.scale_to("ci-agents", 3)
    assert sandbox.lifecycle_states("ci-agents")[c] == "Terminating:Wait"
    gate.tick()
    assert history(sandbox, "complete")[c][0]["result"] == "CONTINUE"

    assert gate.aws.calls["SetInstanceProtection"] == 1  # still busy and protected: nothing to change

    # builds end: the gate removes its own protection, never the operator's
    for build in builds:
        sandbox.ado.finish_build(build)
    clock.advance(60)
    gate.tick()
    assert protection(sandbox, "ci-agents") == {a: False, b: False, d: True}
    assert tags(sandbox, a)[PROTECTED_TAG] == "" and PROTECTED_TAG not in tags(sandbox, d)
    sandbox.scale_to("ci-agents", 1)
    assert sandbox.lifecycle_states("ci-agents")[d] == "InService"
    assert {sandbox.lifecycle_states("ci-agents")[i] for i in (a, b)} == {"Terminating:Wait"}
    assert all(r["outcome"] != "error" for r in sandbox.log.records)


def test_protection_is_left_alone_when_the_agent_system_is_down(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=2)
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[group.instances[0]], 600)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, protect_busy=True))
    gate.tick()
    assert protection(sandbox, "ci-agents")[group.instances[0]] is True
    sandbox.ado.finish_build(build)
    sandbox.ado.inject("unauthorized", seconds=120)
    clock.advance(60)
    gate.tick()  # no evidence of idleness: keep the protection
    assert protection(sandbox, "ci-agents")[group.instances[0]] is True
    sandbox.ado.clear_faults()
    clock.advance(60)
    gate.tick()
    assert protection(sandbox, "ci-agents")[group.instances[0]] is False


def test_a_tag_without_protection_is_cleared_and_dry_run_touches_nothing(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=2)
    iid = group.instances[0]
    sandbox.client("ec2").create_tags(Resources=[iid], Tags=[{"Key": PROTECTED_TAG, "Value": "true"}])
    assert sandbox.ado is not None
    sandbox.ado.start_build(group.agents[group.instances[1]], 600)
    sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, protect_busy=True, dry_run=True)).tick()
    assert protection(sandbox, "ci-agents") == {iid: False, group.instances[1]: False}
    sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, protect_busy=True)).tick()
    assert tags(sandbox, iid)[PROTECTED_TAG] == ""  # someone unprotected it: the stale claim goes
    assert protection(sandbox, "ci-agents")[group.instances[1]] is True
