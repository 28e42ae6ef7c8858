"""Foreign hooks are checked (issue #18, class 8).

Auto Scaling keeps a terminating instance in Terminating:Wait until every terminating hook's action is done, and for
a terminating instance ABANDON "stops any remaining actions, such as other lifecycle hooks" while CONTINUE "allows
any other lifecycle hooks to complete" (EC2 Auto Scaling User Guide, lifecycle action result). So another hook that
defaults to ABANDON and times out before the gate's max hold ends the gate's hold with it, and the build dies, while
the gate's own hook is perfectly healthy. The tick and `gate doctor` read every terminating hook of each group and
say so, naming the hook and the fixes; a hook that cannot end the wait first is not reported.

All over HTTP: the AWS emulator (several hooks per group, timeouts applying each hook's DefaultResult), the fake
Azure DevOps, the real gate driven like the Lambda (a tick a minute on the world's ManualClock), and the CLI.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.cli.conftest import gate
from tests.functional.liveness.conftest import busy, lambda_for
from tests.functional.safety.conftest import doctor
from tests.support.world import World

FOREIGN = "log-shipper"
ECS_HOOK = "ecs-managed-draining-termination-hook"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def put_hook(world: World, name: str, timeout: int, result: str) -> None:
    world.sb.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=name,
        LifecycleTransition=TERMINATING,
        HeartbeatTimeout=timeout,
        DefaultResult=result,
    )


def foreign_errors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["outcome"] == "error" and "terminating lifecycle hook" in r["reason"]]


@pytest.mark.parametrize(("result", "ends_the_wait"), [("ABANDON", True), ("CONTINUE", False)])
def test_the_emulator_waits_for_every_hook_and_a_timed_out_hook_applies_its_default_result(
    world: World, result: str, ends_the_wait: bool
) -> None:
    """The fault itself, in the emulator: nobody heartbeats the foreign hook. At its timeout an ABANDON ends the
    gate's action too (the instance terminates although the gate's hook waits on), a CONTINUE ends only its own."""
    put_hook(world, FOREIGN, 60, result)
    [victim] = world.scale_in(2)
    hooks = {a["hook"] for a in world.emu.lifecycle_actions() if a["instance_id"] == victim}
    assert hooks == {world.group.hook, FOREIGN}
    world.clock.advance(61)
    states = world.sb.lifecycle_states(world.group.name)
    timeouts = [(h["hook"], h["result"]) for h in world.history("timeout")[victim]]
    assert timeouts == [(FOREIGN, result)]
    if ends_the_wait:
        assert victim not in states and not world.emu.lifecycle_actions()
    else:
        assert states[victim] == "Terminating:Wait"
        assert [a["hook"] for a in world.emu.lifecycle_actions()] == [world.group.hook]


def test_a_foreign_abandon_hook_that_times_out_first_is_an_error_naming_it_and_the_fix(world: World) -> None:
    """A 300 s ABANDON hook nobody heartbeats, next to the gate's: one `error` per invocation names it and the fix,
    while the gate goes on holding the busy instance; five minutes later the foreign hook kills the build (what the
    error warned about: the gate cannot prevent it)."""
    put_hook(world, FOREIGN, 300, "ABANDON")
    waiting = world.scale_in(2)
    busy(world, waiting, 3600)
    fn = lambda_for(world)
    fn.minutes(3, events=False)
    errors = foreign_errors(fn.records)
    assert len(errors) == 3, fn.records  # once per group per invocation
    for error in errors:
        assert error["group"] == world.group.name and error["hook"] == world.group.hook
        reason = error["reason"]
        assert f"{FOREIGN} (DefaultResult ABANDON, HeartbeatTimeout 300 s" in reason, reason
        assert "ends the wait before the gate's max hold (14400 s)" in reason, reason
        for fix in ("heartbeat it", "set its DefaultResult to CONTINUE", "remove it"):
            assert fix in reason, reason
    assert any(r["outcome"] == "held" and r["instance"] == waiting[0] for r in fn.records)
    fn.minutes(3, events=False)
    [(hook, result)] = [(h["hook"], h["result"]) for h in world.history("timeout")[waiting[0]]]
    assert (hook, result) == (FOREIGN, "ABANDON")  # the foreign hook ended the gate's hold, the build with it


def test_gate_doctor_reports_the_foreign_hook_with_the_fix(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    put_hook(world, FOREIGN, 300, "ABANDON")
    result = doctor(world, monkeypatch)
    assert result.exit_code == 2, result
    [line] = [x for x in result.stdout.splitlines() if FOREIGN in x]
    assert line.startswith("FIX group ci-agents: terminating lifecycle hook log-shipper (DefaultResult ABANDON"), line
    assert "heartbeat it" in line and "set its DefaultResult to CONTINUE" in line and "remove it" in line, line
    assert "ok  hook asg-termination-gate on ci-agents" in result.stdout
    status = gate("status", width=400)  # the views still show what is true: doctor is where the problem is said
    assert status.exit_code == 0, status


def test_hooks_that_cannot_end_the_wait_first_are_not_reported(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ABANDON hook whose timeout outlasts the gate's max hold (here 600 s: 1,200 s), and ECS managed draining's
    hook as ECS creates it (DefaultResult CONTINUE, 3,600 s; ECS completes it): neither is an error."""
    put_hook(world, FOREIGN, 1200, "ABANDON")
    put_hook(world, ECS_HOOK, 3600, "CONTINUE")
    waiting = world.scale_in(2)
    busy(world, waiting, 3600)
    fn = lambda_for(world, max_hold_seconds=600)
    fn.minutes(2, events=False)
    assert not foreign_errors(fn.records) and not [r for r in fn.records if r["outcome"] == "error"], fn.records
    result = doctor(world, monkeypatch, max_hold_seconds="600")
    assert "other terminating hooks on ci-agents cannot end a hold early" in result.stdout, result
    assert result.exit_code == 0, result


def test_the_rule_pure_abandon_only_and_the_margin() -> None:
    """gate.service.hooks' reading, as the tick and doctor use it: only ABANDON counts; a timeout within the gate's
    max hold
    plus the 300 s margin (the hold clock may start a tick late) counts; raising the timeout is offered only when
    AWS allows one that long (7200 s)."""
    from gate.service.hooks import foreign_hook_problem, read_foreign

    def described(timeout: int, result: str) -> list[dict[str, Any]]:
        return [
            {"LifecycleHookName": "gate", "LifecycleTransition": TERMINATING, "HeartbeatTimeout": 300},
            {"LifecycleHookName": "launch", "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"},
            {
                "LifecycleHookName": FOREIGN,
                "LifecycleTransition": TERMINATING,
                "HeartbeatTimeout": timeout,
                "DefaultResult": result,
            },
        ]

    assert [h.name for h in read_foreign("gate", described(60, "ABANDON"))] == [FOREIGN]
    assert foreign_hook_problem("g", read_foreign("gate", described(60, "CONTINUE")), 600) is None
    assert foreign_hook_problem("g", read_foreign("gate", described(900, "ABANDON")), 600) is None
    short = foreign_hook_problem("g", read_foreign("gate", described(899, "ABANDON")), 600)
    assert short is not None and "raise its HeartbeatTimeout to at least 900 s" in short
    long_hold = foreign_hook_problem("g", read_foreign("gate", described(7200, "ABANDON")), 14_400)
    assert long_hold is not None and "raise its HeartbeatTimeout" not in long_hold
    capped = foreign_hook_problem("g", read_foreign("gate", described(30, "ABANDON")), 14_400)
    assert capped is not None and "global timeout 3000 s, which caps even a heartbeated wait" in capped
