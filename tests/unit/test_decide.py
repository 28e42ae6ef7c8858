"""The decision rules, without servers. The property tests replay random observation sequences and check,
against an independent oracle, that no hook is ever completed while an agent is busy."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.actions import Complete, DeleteAgent, DisableAgent, Heartbeat, SetTag
from gate.decide import Decision, Observation, Policy, decide
from gate.model import HELD_SINCE_TAG, IDLE_SINCE_TAG, Agent, JobRequest, Outcome, Waiting

T0 = 1_800_000_000.0
POLICY = Policy(max_hold_seconds=3600, idle_confirm_seconds=15, unregistered_grace_seconds=120)


def agent(id: int = 1, *, enabled: bool = False, busy: bool = False, disableable: bool = True) -> Agent:
    return Agent(
        "azure-devops",
        7,
        "pool",
        id,
        f"agent-i-0123456789abcdef{id}",
        enabled,
        assigned_request=100 + id if busy else None,
        disableable=disableable,
    )


def waiting(**kw: object) -> Waiting:
    return dataclasses.replace(Waiting("g", "i-0123456789abcdef0", "hook", held_since=T0), **kw)  # type: ignore[arg-type]


def kinds(d: Decision) -> list[type]:
    return [type(a) for a in d.actions]


def test_first_sight_tags_hold_start_and_drains_before_judging() -> None:
    d = decide(waiting(held_since=None), Observation([agent(enabled=True)]), POLICY, T0)
    assert d.outcome is Outcome.HELD
    assert d.actions[0] == SetTag(HELD_SINCE_TAG, "2027-01-15T08:00:00.000Z")
    assert kinds(d)[1:] == [DisableAgent, Heartbeat]
    assert d.held_since == T0 and "draining" in d.reason


def test_busy_agent_is_held_with_heartbeat_and_idle_timer_cleared() -> None:
    d = decide(waiting(idle_since=T0 + 5), Observation([agent(busy=True)]), POLICY, T0 + 30)
    assert d.outcome is Outcome.HELD and "runs request 101" in d.reason
    assert SetTag(IDLE_SINCE_TAG, "") in d.actions and Heartbeat() in d.actions
    assert d.idle_since is None


def test_heartbeat_only_when_due() -> None:
    obs = Observation([agent(busy=True)])
    assert Heartbeat() not in decide(waiting(), obs, POLICY, T0 + 100, last_heartbeat=T0 + 70).actions
    assert Heartbeat() in decide(waiting(), obs, POLICY, T0 + 100, last_heartbeat=T0 + 40).actions


def test_idle_needs_confirmation_then_job_request_check_then_release() -> None:
    first = decide(waiting(), Observation([agent()]), POLICY, T0 + 10)
    assert first.outcome is Outcome.HELD and first.idle_since == T0 + 10 and "confirming" in first.reason
    early = decide(waiting(idle_since=T0 + 10), Observation([agent()]), POLICY, T0 + 20)
    assert early.outcome is Outcome.HELD and not early.final
    ask = decide(waiting(idle_since=T0 + 10), Observation([agent()]), POLICY, T0 + 25)
    assert ask.needs_job_requests == (agent(),) and not ask.final
    jobs = {1: [JobRequest(5, 1, finished=True)]}
    done = decide(waiting(idle_since=T0 + 10), Observation([agent()], job_requests=jobs), POLICY, T0 + 25)
    assert done.outcome is Outcome.RELEASED
    assert kinds(done) == [DeleteAgent, Complete] and done.actions[-1] == Complete("CONTINUE")  # delete first


def test_unfinished_job_request_counts_as_busy() -> None:
    jobs = {1: [JobRequest(9, 1, finished=False)]}
    d = decide(waiting(idle_since=T0), Observation([agent()], job_requests=jobs), POLICY, T0 + 60)
    assert d.outcome is Outcome.HELD and "unfinished job request 9" in d.reason and d.idle_since is None


def test_no_delete_when_disabled_by_setting() -> None:
    policy = dataclasses.replace(POLICY, delete_agent_on_release=False, check_job_requests=False)
    d = decide(waiting(idle_since=T0), Observation([agent()]), policy, T0 + 60)
    assert kinds(d) == [Complete]


def test_reenabled_agent_is_disabled_again_and_confirmation_restarts() -> None:
    d = decide(waiting(idle_since=T0), Observation([agent(enabled=True)]), POLICY, T0 + 60)
    assert d.outcome is Outcome.HELD and DisableAgent(agent(enabled=True)) in d.actions
    assert d.idle_since is None and SetTag(IDLE_SINCE_TAG, "") in d.actions


def test_agent_system_down_holds_fail_safe() -> None:
    d = decide(waiting(idle_since=T0), Observation(None, error="HTTP 503"), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and "HTTP 503" in d.reason and "fail safe" in d.reason
    assert not d.final and d.idle_since is None


@pytest.mark.parametrize(("held", "outcome"), [(60, Outcome.HELD), (120, Outcome.RELEASED)])
def test_no_agent_waits_for_grace(held: float, outcome: Outcome) -> None:
    d = decide(waiting(), Observation([]), POLICY, T0 + held)
    assert d.outcome is outcome
    assert (Complete("CONTINUE") in d.actions) is (outcome is Outcome.RELEASED)
    assert DeleteAgent not in kinds(d)


@pytest.mark.parametrize(("result", "deletes"), [("CONTINUE", True), ("ABANDON", False)])
def test_max_hold_forces_with_configured_result(result: str, deletes: bool) -> None:
    policy = dataclasses.replace(POLICY, forced_result=result)  # type: ignore[arg-type]
    d = decide(waiting(), Observation([agent(busy=True)]), policy, T0 + 3600)
    assert d.outcome is Outcome.FORCED and "max hold reached" in d.reason and "runs request" in d.reason
    assert Complete(result) in d.actions  # type: ignore[arg-type]
    assert kinds(d)[0] is Complete  # nothing may block a forced completion
    assert (DeleteAgent in kinds(d)) is deletes  # a retained (ABANDON) instance keeps its agent registered


def test_max_hold_wins_even_when_azure_is_down() -> None:
    d = decide(waiting(), Observation(None, error="timeout"), POLICY, T0 + 4000)
    assert d.outcome is Outcome.FORCED


def test_leaving_warm_pool_releases_at_once() -> None:
    d = decide(waiting(lifecycle_state="Warmed:Terminating:Wait"), Observation([agent(busy=True)]), POLICY, T0)
    assert d.outcome is Outcome.RELEASED and d.actions == (Complete("CONTINUE"),)


def test_github_runner_cannot_be_disabled_but_is_still_waited_for() -> None:
    runner = agent(enabled=True, busy=True, disableable=False)
    d = decide(waiting(), Observation([runner]), POLICY, T0 + 30)
    assert DisableAgent not in kinds(d) and d.outcome is Outcome.HELD and "busy" in d.reason


def test_all_agents_of_an_instance_must_be_idle() -> None:
    d = decide(waiting(idle_since=T0), Observation([agent(1), agent(2, busy=True)]), POLICY, T0 + 60)
    assert d.outcome is Outcome.HELD and "#2" in d.reason


# -- properties ----------------------------------------------------------------------------------------------
step = st.fixed_dictionaries(
    {
        "dt": st.floats(min_value=0, max_value=400),
        "agents": st.lists(
            st.fixed_dictionaries({"enabled": st.booleans(), "busy": st.booleans(), "job": st.booleans()}),
            max_size=3,
        ),
        "azure_down": st.booleans(),
        "reenable": st.booleans(),
    }
)


@settings(max_examples=400, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=40), policy_ix=st.integers(0, 2))
def test_never_completes_while_busy_and_only_after_confirmed_idle(steps: list[dict], policy_ix: int) -> None:
    policy = [
        POLICY,
        dataclasses.replace(POLICY, idle_confirm_seconds=0),
        dataclasses.replace(POLICY, forced_result="ABANDON"),
    ][policy_ix]
    w = waiting(held_since=None)
    now, enabled_override = T0, set[int]()
    idle_streak_start: float | None = None
    for s in steps:
        now += s["dt"]
        agents = [
            agent(i, enabled=a["enabled"] and (i not in enabled_override or s["reenable"]), busy=a["busy"])
            for i, a in enumerate(s["agents"])
        ]
        jobs = {i: [JobRequest(i, i, finished=not a["job"])] for i, a in enumerate(s["agents"])}
        obs = Observation(None, error="down") if s["azure_down"] else Observation(agents)
        d = decide(w, obs, policy, now)
        if d.needs_job_requests:
            d = decide(w, dataclasses.replace(obs, job_requests=jobs), policy, now)
            really_busy = any(a.busy for a in agents) or any(a["job"] for a in s["agents"])
        else:
            really_busy = any(a.busy for a in agents)
        # Oracle: how long have we seen every agent drained and idle, on every observation?
        drained_idle = (
            obs.agents is not None and bool(agents) and not really_busy and not any(a.enabled for a in agents)
        )
        idle_streak_start = (idle_streak_start if idle_streak_start is not None else now) if drained_idle else None
        if d.final:
            held = now - (w.held_since if w.held_since is not None else now)
            if d.outcome is Outcome.FORCED:
                assert held >= policy.max_hold_seconds
            elif agents and obs.agents is not None:
                assert d.outcome is Outcome.RELEASED
                assert not really_busy, "completed while an agent was busy"
                assert not any(isinstance(a, DisableAgent) for a in d.actions), "completed in the same round as a drain"
                assert idle_streak_start is not None and now - idle_streak_start >= policy.idle_confirm_seconds
            else:
                assert obs.agents is not None, "completed while the agent system was unreachable"
                assert held >= policy.unregistered_grace_seconds
            return
        enabled_override |= {a.agent.id for a in d.actions if isinstance(a, DisableAgent)}
        w = dataclasses.replace(w, held_since=d.held_since, idle_since=d.idle_since)


@settings(max_examples=200, deadline=None)
@given(busy_for=st.floats(min_value=0, max_value=3000), tick=st.floats(min_value=1, max_value=60))
def test_a_build_ending_is_released_within_confirmation_plus_two_ticks(busy_for: float, tick: float) -> None:
    """Liveness: once the build ends, release follows within idle_confirm + 2 ticks (no hold forever)."""
    w, now, jobs = waiting(held_since=None), T0, {1: [JobRequest(1, 1, finished=True)]}
    enabled = True
    while True:
        busy = now - T0 < busy_for
        d = decide(w, Observation([agent(enabled=enabled, busy=busy)], job_requests=jobs), POLICY, now)
        if d.final:
            assert d.outcome is Outcome.RELEASED and not busy
            assert now - (T0 + busy_for) <= POLICY.idle_confirm_seconds + 2 * tick
            return
        enabled = enabled and not any(isinstance(a, DisableAgent) for a in d.actions)
        w = dataclasses.replace(w, held_since=d.held_since, idle_since=d.idle_since)
        now += tick
