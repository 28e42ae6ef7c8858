"""The decision rules, without servers. The property tests replay random worlds (agents missing from lists, fields
missing, busy flags lagging up to the lag bound, stale or foreign tags, future timestamps) and check, against the
world's own truth, that no hook is ever completed while a job runs on one of the instance's agents."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gate.adapters.aws import AwsError
from gate.domain.actions import Complete, ConfirmDisables, DeleteAgent, DisableAgent, SetTag
from gate.domain.decide import Decision, Observation, Policy, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, decode, encode
from gate.domain.model import (
    HELD_SINCE_TAG,
    IDLE_SINCE_TAG,
    Agent,
    JobRequest,
    Outcome,
    ServiceTime,
    Waiting,
)
from gate.domain.timestamps import format_ts
from gate.service.execute import execute

T0 = 1_800_000_000.0
ACTION = "8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"
POLICY = Policy(max_hold_seconds=3600, idle_confirm_seconds=15, unregistered_grace_seconds=120)
LAG = POLICY.assignment_lag_seconds


def agent(id: int = 1, *, enabled: bool = False, busy: bool = False, **kw: Any) -> Agent:
    return Agent(
        "azure-devops",
        7,
        "pool",
        id,
        f"agent-i-0123456789abcdef{id}",
        enabled,
        assigned_request=100 + id if busy else None,
        **kw,
    )


def tags(**state: Any) -> dict[str, str]:
    return {HOLD_TAG: encode(HoldState(action_hash(ACTION), **state))}


def waiting(**kw: Any) -> Waiting:
    base = Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION, tags=tags(held_since=T0))
    return dataclasses.replace(base, **kw)


def state_of(d: Decision) -> HoldState:
    s = decode(d.tags.get(HOLD_TAG))
    assert s is not None
    return s


def step(w: Waiting, d: Decision, returned: float | None = None) -> Waiting:
    """The next look's tags after the decision was carried out: its disables returned at `returned` (default: at
    once), which the executor records (gate.service.execute._settle)."""
    tags = dict(d.tags)
    state = decode(tags.get(HOLD_TAG))
    if state is not None and state.pending and not d.final:
        tags[HOLD_TAG] = encode(state.settled(returned if returned is not None else state.disabled_at or 0.0))
    return dataclasses.replace(w, tags=tags)


def lost(w: Waiting, d: Decision) -> Waiting:
    """The next look's tags when the executor's last write was lost (a crash, a failed CreateTags, another container):
    the decision's own tags, its disables still pending."""
    return dataclasses.replace(w, tags=dict(d.tags))


def kinds(d: Decision) -> list[type]:
    return [type(a) for a in d.actions]


def release_after_lag(w: Waiting, obs: Observation, now: float) -> Decision:
    """Decide as the edge does: answer needs_agents / needs_job_requests, then decide again."""
    d = decide(w, obs, POLICY, now, proven=True)
    if d.needs_job_requests:
        jobs: dict[int, list[JobRequest]] = {a.id: [] for a in d.needs_job_requests}
        d = decide(w, dataclasses.replace(obs, job_requests=jobs), POLICY, now, proven=True)
    return d


# -- identity and proof ------------------------------------------------------------------------------------------
def test_no_identity_holds_touching_nothing_unless_proven_ours_then_only_disables() -> None:
    """No hold skips a safe action: without an identity nothing is tagged, but an action proven ours (a heartbeat
    under our hook succeeded) still has its enabled agents disabled."""
    unproven = decide(waiting(action_id=None, tags={}), Observation([agent(enabled=True)]), POLICY, T0)
    assert unproven.outcome is Outcome.HELD and unproven.actions == () and "no identity" in unproven.reason
    d = decide(waiting(action_id=None, tags={}), Observation([agent(enabled=True)]), POLICY, T0, proven=True)
    assert d.outcome is Outcome.HELD and kinds(d) == [DisableAgent] and "no identity" in d.reason and not d.tags


def test_not_proven_ours_touches_nothing() -> None:
    d = decide(waiting(tags={}), Observation([agent(enabled=True)]), POLICY, T0, proven=False)
    assert d.outcome is Outcome.HELD and d.actions == () and "not proven" in d.reason


def test_first_sight_tags_first_then_disables_and_sends_no_heartbeat() -> None:
    d = decide(waiting(tags={}), Observation([agent(enabled=True)]), POLICY, T0, proven=True)
    assert kinds(d) == [SetTag, DisableAgent]  # idle: no job to end after the disable, no acknowledgement to stamp
    s = state_of(d)
    assert s.action == action_hash(ACTION) and s.held_since == T0 and s.disabled_at == T0 and s.seen == {(7, 1)}
    busy = decide(waiting(tags={}), Observation([agent(enabled=True, busy=True)]), POLICY, T0, proven=True)
    assert kinds(busy) == [SetTag, DisableAgent, ConfirmDisables]
    assert state_of(busy).confirmed_at is None and busy.actions[-1] == ConfirmDisables(state_of(busy))


def test_a_bound_hold_needs_no_new_proof() -> None:
    d = decide(waiting(), Observation([agent(busy=True)]), POLICY, T0 + 30, proven=False)
    assert d.outcome is Outcome.HELD and "busy" in d.reason


def test_hold_tag_of_another_action_is_ignored_and_replaced_not_forced() -> None:
    old = {HOLD_TAG: encode(HoldState(action_hash("another-activity"), held_since=T0 - 10 * 3600))}
    d = decide(waiting(tags=old), Observation([agent(busy=True)]), POLICY, T0, proven=True)
    assert d.outcome is Outcome.HELD and state_of(d).held_since == T0 and state_of(d).action == action_hash(ACTION)


def test_legacy_unbound_tags_are_ignored_and_cleared() -> None:
    legacy = {HELD_SINCE_TAG: format_ts(T0 - 10 * 3600), IDLE_SINCE_TAG: format_ts(T0 - 10 * 3600)}
    d = decide(waiting(tags=legacy), Observation([agent(busy=True)]), POLICY, T0, proven=True)
    assert (
        d.outcome is Outcome.HELD
        and SetTag(HELD_SINCE_TAG, "") in d.actions
        and SetTag(IDLE_SINCE_TAG, "") in d.actions
    )
    assert HELD_SINCE_TAG not in d.tags


def test_future_timestamps_count_as_now() -> None:
    w = waiting(tags=tags(held_since=T0 + 10 * 3600, disabled_at=T0 + 10 * 3600, seen=frozenset({(7, 1)})))
    d = decide(w, Observation([agent(busy=True)]), POLICY, T0)
    assert d.held_since == T0 and d.outcome is Outcome.HELD
    later = decide(step(w, d), Observation([agent(busy=True)]), POLICY, T0 + 3600)  # the clamped start is kept
    assert later.outcome is Outcome.FORCED


# -- lag bound and release -----------------------------------------------------------------------------------------
def test_idle_victim_waits_the_lag_bound_then_releases_on_one_look() -> None:
    first = decide(waiting(tags={}), Observation([agent(enabled=True)]), POLICY, T0, proven=True)
    w = step(waiting(), first)
    early = decide(w, Observation([agent()]), POLICY, T0 + LAG - 1)
    assert early.outcome is Outcome.HELD and "lag bound" in early.reason and early.recheck_at == T0 + LAG
    ask = decide(w, Observation([agent()]), POLICY, T0 + LAG)
    assert ask.needs_job_requests == (agent(),) and not ask.final
    done = release_after_lag(w, Observation([agent()]), T0 + LAG)
    assert done.outcome is Outcome.RELEASED and kinds(done) == [SetTag, DeleteAgent, Complete, SetTag]
    record = done.actions[0]  # the release decision, written before the delete (docs/judgment.md)
    before = decode(w.tags[HOLD_TAG])
    assert before is not None and isinstance(record, SetTag)
    assert decode(record.value) == dataclasses.replace(before, released_at=T0 + LAG)
    assert done.actions[-1] == SetTag(HOLD_TAG, "") and HOLD_TAG not in done.tags


def test_job_assigned_just_before_the_disable_is_seen_within_the_lag_bound() -> None:
    w = step(waiting(), decide(waiting(tags={}), Observation([agent(enabled=True)]), POLICY, T0, proven=True))
    # invisible for 30 s: the agent looks idle and its job requests look finished ...
    held = release_after_lag(w, Observation([agent()]), T0 + 30)
    assert held.outcome is Outcome.HELD
    # ... then the busy flag shows: still held
    assert decide(w, Observation([agent(busy=True)]), POLICY, T0 + 31).outcome is Outcome.HELD


def test_a_build_ending_after_the_lag_bound_is_released_at_the_next_look() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    assert decide(w, Observation([agent(busy=True)]), POLICY, T0 + 900).outcome is Outcome.HELD
    assert release_after_lag(w, Observation([agent()]), T0 + 910).outcome is Outcome.RELEASED


# -- a job that ended after the acknowledged disable ends the lag bound early -------------------------------------
SEEN = frozenset({(7, 1)})
SKEW = POLICY.clock_skew_seconds
MARGIN = POLICY.ack_margin_seconds  # finishTime must pass the acknowledgement by this much (an unseen clock step)


def acked(ack: float | None = T0 + 1, seen: frozenset[tuple[int, int]] = SEEN) -> Waiting:
    """A hold whose disable was decided at T0 and acknowledged by the agent system at `ack`."""
    return waiting(tags=tags(held_since=T0, disabled_at=T0, confirmed_at=ack, seen=seen))


def ended_at(finished_at: float | None, now: float, w: Waiting | None = None) -> Decision:
    """The edge's two steps inside the lag bound: the decision asks for the job requests, then decides on them."""
    w = w or acked()
    ask = decide(w, Observation([agent()]), POLICY, now)
    assert ask.outcome is Outcome.HELD and ask.needs_job_requests == (agent(),), ask.reason
    jobs = {1: [JobRequest(9, 1, finished=True, finished_at=finished_at)]}
    return decide(w, Observation([agent()], job_requests=jobs), POLICY, now)


def test_a_build_ending_after_the_acknowledged_disable_is_released_inside_the_lag_bound() -> None:
    d = ended_at(T0 + 1 + MARGIN + 2, now=T0 + 20)
    assert d.outcome is Outcome.RELEASED and "after the disable was acknowledged" in d.reason
    assert kinds(d) == [SetTag, DeleteAgent, Complete, SetTag]


@pytest.mark.parametrize(
    ("finished_at", "why"),
    [
        (T0 - 5, "the last job ended before the disable: a job may have been assigned since, invisible"),
        (T0 + 0.5, "before the acknowledgement, both on the service's clock"),
        (T0 + 1 + MARGIN - 0.5, "inside the margin: a step of the service's clock the skew check cannot see"),
        (None, "a finished request without its finishTime proves nothing"),
    ],
)
def test_a_job_that_did_not_provably_end_after_the_acknowledgement_waits_the_lag_bound(
    finished_at: float | None, why: str
) -> None:
    d = ended_at(finished_at, now=T0 + 10)
    assert d.outcome is Outcome.HELD and "lag bound" in d.reason and d.recheck_at == T0 + LAG, why


@pytest.mark.parametrize(("before", "after"), [(0.0, -3.0), (4.0, -4.0), (SKEW, -SKEW)])
def test_a_backward_clock_step_within_the_skew_allowance_never_passes_an_earlier_finish_as_evidence(
    before: float, after: float
) -> None:
    """The service's clock steps back between a job's end and the disable's answer, staying within the skew
    allowance on both sides (an NTP correction the skew check cannot see). The job ended 0.1 s before the disable
    answered (gate time T0); its finishTime, written before the step, reads later than the acknowledgement, which
    is the answer's `Date` rounded up. Without the margin it ended the bound, and the job assigned in between,
    still invisible, was released."""
    finish = T0 - 0.1 + before
    ack = math.floor(T0 + after) + 1.0
    assert finish > ack  # the old rule's evidence
    d = ended_at(finish, now=T0 + 10, w=acked(ack=ack))
    assert d.outcome is Outcome.HELD and "lag bound" in d.reason and d.recheck_at == T0 + LAG
    assert MARGIN == 2 * SKEW + 1


def test_a_finish_the_margin_after_the_acknowledgement_ends_the_bound() -> None:
    """The margin's edge, inclusive: a job that ended that much after the acknowledgement ended after the disable."""
    assert ended_at(T0 + 1 + MARGIN, now=T0 + 20).outcome is Outcome.RELEASED
    assert ended_at(T0 + 1 + MARGIN - 0.001, now=T0 + 20).outcome is Outcome.HELD


def test_without_an_acknowledgement_only_the_lag_bound_releases() -> None:
    """A failed stamp, or an agent first seen already disabled: no job requests asked for, the bound applies."""
    d = decide(acked(ack=None), Observation([agent()]), POLICY, T0 + 10)
    assert d.outcome is Outcome.HELD and not d.needs_job_requests and d.recheck_at == T0 + LAG


@pytest.mark.parametrize("ack", [T0 + 3600, T0 - 10], ids=["in the future", "before its disable"])
def test_an_implausible_acknowledgement_is_dropped(ack: float) -> None:
    d = decide(acked(ack=ack), Observation([agent()]), POLICY, T0 + 10)
    assert d.outcome is Outcome.HELD and not d.needs_job_requests and state_of(d).confirmed_at is None


def test_a_new_disable_or_a_new_agent_voids_the_acknowledgement() -> None:
    again = decide(acked(), Observation([agent(enabled=True)]), POLICY, T0 + 10)  # re-enabled by someone
    assert state_of(again).confirmed_at is None and state_of(again).disabled_at == T0 + 10
    newcomer = decide(acked(), Observation([agent(1), agent(2, busy=True)]), POLICY, T0 + 10)
    assert state_of(newcomer).confirmed_at is None and state_of(newcomer).disabled_at == T0 + 10


def test_every_agent_needs_its_own_job_ended_after_the_acknowledgement() -> None:
    w = acked(seen=frozenset({(7, 1), (7, 2)}))
    late = T0 + 1 + MARGIN + 1
    one = {1: [JobRequest(9, 1, True, late)], 2: [JobRequest(8, 2, True, T0 - 100)]}
    d = decide(w, Observation([agent(1), agent(2)], job_requests=one), POLICY, T0 + 20)
    assert d.outcome is Outcome.HELD and d.recheck_at == T0 + LAG
    both = {1: [JobRequest(9, 1, True, late)], 2: [JobRequest(8, 2, True, late)]}
    assert decide(w, Observation([agent(1), agent(2)], job_requests=both), POLICY, T0 + 20).final


def test_an_absent_agent_or_an_unfinished_request_keeps_the_lag_bound() -> None:
    w = acked(seen=frozenset({(7, 1), (7, 2)}))
    direct = {(7, 2): None}
    d = decide(w, Observation([agent(1)], direct=direct), POLICY, T0 + 20)
    assert d.outcome is Outcome.HELD and not d.needs_job_requests
    running = {1: [JobRequest(9, 1, True, T0 + 30), JobRequest(10, 1, False)]}
    assert decide(acked(), Observation([agent()], job_requests=running), POLICY, T0 + 40).outcome is Outcome.HELD


def test_unfinished_job_request_counts_as_busy() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    jobs = {1: [JobRequest(9, 1, finished=False)]}
    d = decide(w, Observation([agent()], job_requests=jobs), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and "unfinished job request 9" in d.reason


def test_missing_busy_field_is_unknown_unless_job_requests_are_checked() -> None:
    policy = dataclasses.replace(POLICY, check_job_requests=False)
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    unknown = agent(assigned_known=False)
    d = decide(w, Observation([unknown]), policy, T0 + 600)
    assert d.outcome is Outcome.HELD and d.needs_job_requests == (unknown,) and "busy field" in d.reason
    busy = decide(w, Observation([unknown], job_requests={1: [JobRequest(3, 1, False)]}), policy, T0 + 600)
    assert busy.outcome is Outcome.HELD
    done = decide(w, Observation([unknown], job_requests={1: [JobRequest(3, 1, True)]}), policy, T0 + 600)
    assert done.outcome is Outcome.RELEASED


def test_no_delete_when_disabled_by_setting() -> None:
    policy = dataclasses.replace(POLICY, delete_agent_on_release=False, check_job_requests=False)
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    assert kinds(decide(w, Observation([agent()]), policy, T0 + 600)) == [Complete, SetTag]


def test_reenabled_agent_is_disabled_again_and_the_lag_bound_restarts() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    d = decide(w, Observation([agent(enabled=True)]), POLICY, T0 + 600)
    assert DisableAgent(agent(enabled=True)) in d.actions and state_of(d).disabled_at == T0 + 600


def test_a_new_agent_restarts_the_lag_bound_even_if_already_disabled() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    d = release_after_lag(w, Observation([agent(1), agent(2)]), T0 + 600)
    assert d.outcome is Outcome.HELD and state_of(d).disabled_at == T0 + 600 and (7, 2) in state_of(d).seen


# -- positive evidence: absent is unknown ---------------------------------------------------------------------------
def test_seen_agent_missing_from_the_list_is_asked_for_and_present_means_judged() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    d = decide(w, Observation([]), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and d.needs_agents == ((7, 1),) and not d.final
    busy = decide(w, Observation([], direct={(7, 1): agent(busy=True)}), POLICY, T0 + 600)
    assert busy.outcome is Outcome.HELD and "runs request" in busy.reason


def test_absent_agent_needs_two_looks_and_the_lag_bound_apart_and_no_unfinished_job_then_is_deleted() -> None:
    """A 404 alone does not prove nothing runs (the agent may be back under a new id, or in a pool the gate does not
    watch): absence is confirmed over max(idle_confirm, the lag bound) from the first absent look."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    gone = Observation([], direct={(7, 1): None})
    first = release_after_lag(w, gone, T0 + 600)
    assert first.outcome is Outcome.HELD and "absent" in first.reason and state_of(first).absent_since == T0 + 600
    assert first.recheck_at == T0 + 600 + LAG
    w = step(w, first)
    assert release_after_lag(w, gone, T0 + 615).outcome is Outcome.HELD  # idle_confirm alone is no longer enough
    assert release_after_lag(w, gone, T0 + 600 + LAG - 1).outcome is Outcome.HELD
    ask = decide(w, gone, POLICY, T0 + 600 + LAG)
    assert [a.id for a in ask.needs_job_requests] == [1]
    jobs = {1: [JobRequest(4, 1, False)]}
    running = decide(w, dataclasses.replace(gone, job_requests=jobs), POLICY, T0 + 600 + LAG)
    assert running.outcome is Outcome.HELD and state_of(running).absent_since is None
    done = decide(w, dataclasses.replace(gone, job_requests={1: []}), POLICY, T0 + 600 + LAG)
    assert done.outcome is Outcome.RELEASED and kinds(done) == [Complete, DeleteAgent, SetTag]


def test_an_absent_agent_seen_busy_needs_a_finished_job_request_not_an_empty_answer() -> None:
    """Chaos seed 120: the agent seen busy re-registered under a new id (same name) and took a job, while the agent
    lists and job requests came back emptied (`{"count": 0, "value": []}`). A 404 and two empty lists confirmed the
    old id absent; its empty job-request answer must not count as idle: its finished job stays in its requests."""
    seen = frozenset({(7, 1)})
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=seen, busy=seen, absent=seen, absent_since=T0 + 600))
    gone = Observation([], direct={(7, 1): None})
    now = T0 + 600 + LAG
    emptied = decide(w, dataclasses.replace(gone, job_requests={1: []}), POLICY, now)
    assert emptied.outcome is Outcome.HELD and "not proven idle" in emptied.reason
    assert not any(isinstance(a, (Complete, DeleteAgent)) for a in emptied.actions)
    unfinished_only = decide(w, dataclasses.replace(gone, job_requests={1: [JobRequest(4, 1, False)]}), POLICY, now)
    assert unfinished_only.outcome is Outcome.HELD  # a job request still running: no evidence of the end either
    # Finished (its finishTime or result present) with a time that cannot be read (a zone-less finishTime): the job
    # ended; when does not matter to this rule (only the acknowledged-disable rule compares times).
    zoneless = decide(w, dataclasses.replace(gone, job_requests={1: [JobRequest(4, 1, True)]}), POLICY, now)
    assert zoneless.outcome is Outcome.RELEASED
    finished = {1: [JobRequest(4, 1, True, finished_at=T0 + 30)]}
    done = decide(w, dataclasses.replace(gone, job_requests=finished), POLICY, now)
    assert done.outcome is Outcome.RELEASED and kinds(done) == [Complete, DeleteAgent, SetTag]
    # Azure DevOps leaves assignedRequest out of an idle agent's record: the one job-request round of the edge,
    # asked for that present agent, must take in the absent agent's requests as well.
    both = frozenset({(7, 1), (7, 2)})
    w2 = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=both, busy=seen, absent=seen, absent_since=T0 + 600))
    present = Observation([agent(2, assigned_known=False)], direct={(7, 1): None})
    ask = decide(w2, present, POLICY, now)
    assert sorted(a.id for a in ask.needs_job_requests) == [1, 2]
    partial = decide(w2, dataclasses.replace(present, job_requests={2: []}), POLICY, now)
    assert partial.outcome is Outcome.HELD and "not looked at" in partial.reason
    idle_victim = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=seen, absent=seen, absent_since=T0 + 600))
    never_busy = decide(idle_victim, dataclasses.replace(gone, job_requests={1: []}), POLICY, now)
    assert never_busy.outcome is Outcome.RELEASED  # never seen busy: no job to show, the empty answer stands


def test_a_new_registration_is_a_new_agent_and_restarts_the_absence() -> None:
    """Clean-workspace agents deregister after each job and register again under a new id: the old one's absence
    counts only when no other registration for the instance appeared since; the new one is disabled, and the lag
    bound restarts from it."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    first = release_after_lag(w, Observation([], direct={(7, 1): None}), T0 + 600)
    assert state_of(first).absent_since == T0 + 600
    w = step(w, first)
    new = agent(2, enabled=True)
    d = decide(w, Observation([new], direct={(7, 1): None}), POLICY, T0 + 630)
    assert DisableAgent(new) in d.actions and d.outcome is Outcome.HELD
    s = state_of(d)
    assert s.absent_since is None and s.disabled_at == T0 + 630 and (7, 2) in s.seen
    w = step(w, d)
    idle = Observation([agent(2)], direct={(7, 1): None})
    assert release_after_lag(w, idle, T0 + 600 + LAG).outcome is Outcome.HELD  # not confirmed from T0 + 600
    again = release_after_lag(w, idle, T0 + 630 + LAG)  # the lag bound from the new agent is over ...
    assert again.outcome is Outcome.HELD and state_of(again).absent_since == T0 + 630 + LAG  # ... absence restarts
    w = step(w, again)
    assert release_after_lag(w, idle, T0 + 630 + 2 * LAG).outcome is Outcome.RELEASED


def test_agent_reappearing_resets_the_absence() -> None:
    w = waiting(
        tags=tags(
            held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)}), absent=frozenset({(7, 1)}), absent_since=T0 + 500
        )
    )
    d = decide(w, Observation([agent()]), POLICY, T0 + 600)
    assert state_of(d).absent == frozenset() and state_of(d).absent_since is None


def test_agent_system_down_holds_fail_safe() -> None:
    d = decide(waiting(), Observation(None, error="HTTP 503"), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and "HTTP 503" in d.reason and "fail safe" in d.reason and not d.final


@pytest.mark.parametrize(("held", "outcome"), [(60, Outcome.HELD), (120, Outcome.RELEASED)])
def test_no_agent_ever_seen_waits_for_grace(held: float, outcome: Outcome) -> None:
    first = decide(waiting(), Observation([]), POLICY, T0)  # the first complete list starts the grace
    assert first.outcome is Outcome.HELD and state_of(first).listed_since == T0
    d = decide(step(waiting(), first), Observation([]), POLICY, T0 + held)
    assert d.outcome is outcome
    assert (Complete("CONTINUE") in d.actions) is (outcome is Outcome.RELEASED)
    assert DeleteAgent not in kinds(d)


def test_too_many_agents_for_one_tag_never_release_on_evidence() -> None:
    many = [agent(i) for i in range(1000, 1040)]
    w = waiting(tags={})
    d = decide(w, Observation(many), POLICY, T0, proven=True)
    assert state_of(d).overflow
    assert release_after_lag(step(w, d), Observation(many), T0 + 3000).outcome is Outcome.HELD


def test_an_overflowed_hold_still_disables_every_enabled_agent() -> None:
    """Once the hold overflows the tag, an agent whose disable failed, or that registered during the hold, is still
    disabled at the next look (it used to take jobs all hold long)."""
    many = [agent(i, enabled=True) for i in range(1000, 1040)]
    first = decide(waiting(tags={}), Observation(many), POLICY, T0, proven=True)
    assert state_of(first).overflow and len([a for a in first.actions if isinstance(a, DisableAgent)]) == 40
    w = step(waiting(), first)
    failed_once = agent(1003, enabled=True)
    newcomer = agent(2000, enabled=True)
    now = [agent(i) for i in range(1000, 1040) if i != 1003] + [failed_once, newcomer]
    d = decide(w, Observation(now), POLICY, T0 + 30)
    assert d.outcome is Outcome.HELD and "too many agents" in d.reason
    assert {a.agent.id for a in d.actions if isinstance(a, DisableAgent)} == {1003, 2000}
    quiet = decide(step(w, d), Observation([agent(i) for i in range(1000, 1040)]), POLICY, T0 + 40)
    assert quiet.outcome is Outcome.HELD and not quiet.actions  # nothing to disable, and no tag written each look


def test_missing_evidence_still_disables_the_listed_agents() -> None:
    """A seen agent missing from the list cannot be asked for (or its job requests cannot be read): the hold is fail
    safe, and the enabled agents of the list are disabled all the same."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1), (7, 2)})))
    listed = [agent(1, enabled=True)]
    ask = decide(w, Observation(listed), POLICY, T0 + 30)
    assert ask.needs_agents == ((7, 2),) and DisableAgent(listed[0]) in ask.actions
    failed = decide(w, Observation(listed, error="asking for agents seen earlier: HTTP 503"), POLICY, T0 + 30)
    assert failed.outcome is Outcome.HELD and "fail safe" in failed.reason and DisableAgent(listed[0]) in failed.actions
    assert failed.failsafe == "agent_system" and not failed.needs_agents


# -- max hold, warm pool, GitHub ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("result", "deletes"), [("CONTINUE", True), ("ABANDON", False)])
def test_max_hold_forces_with_configured_result(result: str, deletes: bool) -> None:
    policy = dataclasses.replace(POLICY, forced_result=result)  # type: ignore[arg-type]
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1), (7, 2)})))
    d = decide(w, Observation([agent(1, busy=True), agent(2)]), policy, T0 + 3600)
    assert d.outcome is Outcome.FORCED and "max hold reached" in d.reason and "runs request" in d.reason
    assert kinds(d)[0] is Complete  # nothing may block a forced completion
    # A retained (ABANDON) instance keeps its agents registered; CONTINUE deletes only the idle one.
    assert [a.agent.id for a in d.actions if isinstance(a, DeleteAgent)] == ([2] if deletes else [])
    assert d.actions[-1] == SetTag(HOLD_TAG, "")


def test_a_forced_completion_never_deletes_an_agent_that_may_run_a_job() -> None:
    """Deleting a busy agent's registration abandons its job on Azure DevOps' side: a forced completion disables
    every agent, deletes only those proven idle (asking for the job requests of the ones without the busy field),
    and keeps the others registered, disabled, saying why."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1), (7, 2), (7, 3)})))
    agents = [agent(1, enabled=True, busy=True), agent(2, assigned_known=False), agent(3, assigned_known=False)]
    ask = decide(w, Observation(agents), POLICY, T0 + 3600)
    assert not ask.final and [a.id for a in ask.needs_job_requests] == [2, 3]
    jobs = {2: [JobRequest(5, 2, finished=False)], 3: [JobRequest(6, 3, finished=True)]}
    d = decide(w, Observation(agents, job_requests=jobs), POLICY, T0 + 3600)
    assert d.outcome is Outcome.FORCED and DisableAgent(agents[0]) in d.actions
    assert [a.agent.id for a in d.actions if isinstance(a, DeleteAgent)] == [3]
    assert "kept registered" in d.reason and "#1" in d.reason and "#2" in d.reason
    failed = decide(w, Observation(agents, error="job requests: HTTP 503"), POLICY, T0 + 3600)
    assert failed.outcome is Outcome.FORCED and DeleteAgent not in kinds(failed)


def test_max_hold_wins_even_when_azure_is_down() -> None:
    assert decide(waiting(), Observation(None, error="timeout"), POLICY, T0 + 4000).outcome is Outcome.FORCED


def test_leaving_a_warm_pool_is_judged_like_any_other_hold() -> None:
    """A warm pool kept Running runs its user data: an agent registered there may have taken a job."""
    leaving = waiting(tags={}, lifecycle_state="Warmed:Terminating:Wait")
    busy = decide(leaving, Observation([agent(enabled=True, busy=True)]), POLICY, T0, proven=True)
    assert busy.outcome is Outcome.HELD and kinds(busy) == [SetTag, DisableAgent, ConfirmDisables]
    unproven = decide(leaving, Observation([agent(enabled=True, busy=True)]), POLICY, T0)
    assert unproven.outcome is Outcome.HELD and Complete not in kinds(unproven)
    nobody = decide(leaving, Observation([]), POLICY, T0, proven=True)
    assert nobody.outcome is Outcome.HELD and Complete not in kinds(nobody)  # the unregistered grace, as for any


def test_github_runner_cannot_be_disabled_but_is_still_waited_for() -> None:
    runner = agent(enabled=True, busy=True, disableable=False)
    d = decide(waiting(), Observation([runner]), POLICY, T0 + 30)
    assert DisableAgent not in kinds(d) and d.outcome is Outcome.HELD and "busy" in d.reason


def test_all_agents_of_an_instance_must_be_idle() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1), (7, 2)})))
    d = decide(w, Observation([agent(1), agent(2, busy=True)]), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and "#2" in d.reason


# -- properties ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrueAgent:
    """One agent as it really is, whatever the agent system shows."""

    id: int
    enabled: bool = True
    registered: bool = True
    job_from: float | None = None  # a job runs from job_from to job_to
    job_to: float = 0.0
    shows_after: float = 0.0  # the job stays invisible (busy flag and job request) this long: <= the lag bound
    disabled_from: float | None = None  # a disable takes effect at some time before the service acknowledges it
    ended: float | None = None  # when the newest job before the current one finished

    def assignable(self, t: float) -> bool:
        return self.registered and self.enabled_at(t)

    def enabled_at(self, t: float) -> bool:
        return self.enabled and (self.disabled_from is None or t < self.disabled_from)

    def assign(self, t: float, duration: float, shows_after: float) -> None:
        if self.job_from is not None:
            self.ended = self.job_to
        self.job_from, self.job_to, self.shows_after = t, t + duration, shows_after

    def running(self, now: float) -> bool:
        return self.job_from is not None and self.job_from <= now < self.job_to

    def job_requests(self, now: float, skew: Callable[[float], float]) -> list[JobRequest]:
        """Running and visible -> unfinished; else the newest finished job, its finishTime on the service's clock
        (`skew(t)` ahead of or behind the gate's when it was written). A running job still invisible shows the one
        before it."""
        if self.running(now) and self.visible(now):
            return [JobRequest(9, self.id, finished=False)]
        last = self.job_to if self.job_from is not None and self.job_to <= now else self.ended
        return [] if last is None else [JobRequest(8, self.id, finished=True, finished_at=last + skew(last))]

    def visible(self, now: float) -> bool:
        return self.running(now) and now >= self.job_from + self.shows_after  # type: ignore[operator]

    def view(self, known: bool, now: float) -> Agent:
        return agent(self.id, enabled=self.enabled_at(now), assigned_known=known)


world_step = st.fixed_dictionaries(
    {
        "dt": st.floats(min_value=0, max_value=120),
        "down": st.integers(0, 9),  # 0: the agent system is down
        "listed": st.lists(st.booleans(), min_size=3, max_size=3),  # agent i in the list this time
        "known": st.booleans(),  # the busy field is present
        "assign": st.lists(st.floats(min_value=0, max_value=1), min_size=3, max_size=3),  # when a job lands (if < dt)
        "duration": st.floats(min_value=1, max_value=900),
        # a second job may land soon after the first ends, in the same step (the one assigned just before a disable)
        "again": st.floats(min_value=0, max_value=1),
        "duration2": st.floats(min_value=1, max_value=900),
        "shows_after": st.floats(min_value=0, max_value=LAG),
        "unregister": st.integers(0, 6),  # 0: an idle agent goes away for good
        "reenable": st.integers(0, 8),  # 0: someone re-enables agent 0
        "ack_delay": st.floats(min_value=0, max_value=30),  # the disable takes effect, then is acknowledged
        "stamp_fails": st.integers(0, 4),  # 0: writing the acknowledgement fails
        # the service's clock minus the gate's: small, or an on-premises server's bad clock (either direction); a
        # small one may step from one step to the next (an NTP correction the skew check cannot see)
        "skew": st.one_of(
            st.floats(min_value=-6, max_value=6), st.sampled_from([-120.0, -60.0, -30.0, 10.0, 30.0, 120.0])
        ),
    }
)
start_tags = st.sampled_from(["none", "legacy", "foreign", "future"])


def initial_tags(kind: str) -> dict[str, str]:
    long_ago = T0 - 100 * 3600
    if kind == "legacy":
        return {HELD_SINCE_TAG: format_ts(long_ago), IDLE_SINCE_TAG: format_ts(long_ago)}
    if kind == "foreign":
        return {HOLD_TAG: encode(HoldState(action_hash("earlier-action"), long_ago, long_ago, frozenset({(7, 0)})))}
    if kind == "future":
        return tags(held_since=T0 + 100 * 3600, disabled_at=T0 + 100 * 3600)
    return {}


def _step(dt: float, **kw: Any) -> dict[str, Any]:
    quiet = {"down": 1, "listed": [True] * 3, "known": True, "assign": [1.0] * 3, "duration": 60, "again": 1.0}
    more = {"duration2": 60, "shows_after": 0, "unregister": 1, "reenable": 1, "ack_delay": 0, "stamp_fails": 1}
    return {"dt": dt, **quiet, **more, "skew": 0.0, **kw}


# A job runs, visibly, when the gate disables the agent; it ends while the PATCH is in flight and a second job lands
# before the disable takes effect, invisible for 50 s. The first job's finishTime, before the acknowledgement, must
# not end the lag bound.
JUST_BEFORE_THE_DISABLE = [
    _step(10),
    _step(10, assign=[0.1] * 3, duration=11, ack_delay=5),
    _step(10, again=0.25, duration2=600, shows_after=50),
    _step(10),
]
# The same, the first job ending 2.5 s before the acknowledgement, on a service clock 4.9 s ahead of the gate's.
WITHIN_THE_CLOCK_SKEW = [
    _step(10, skew=4.9),
    _step(10, assign=[0.1] * 3, duration=11, ack_delay=4.5, skew=4.9),
    _step(10, again=0.1, duration2=600, shows_after=50, skew=4.9),
    _step(10, skew=4.9),
]
# The same, the service's clock stepped back from 4.9 s ahead to 4.9 s behind between the first job's end and the
# disable's answer (each side within the skew allowance: the skew check cannot see it). The job ended 3 s before the
# answer; its finishTime, written before the step, reads 6.8 s later than the acknowledgement.
STEPPED_BACK = [
    _step(10, skew=4.9),
    _step(10, assign=[0.1] * 3, duration=11, ack_delay=5, skew=-4.9),  # the answer, at T0 + 25, after the step
    _step(10, again=0.1, duration2=600, shows_after=50, skew=4.9),  # the first job's end, T0 + 22, before it
    _step(10, skew=-4.9),
]

# Found by this test: the first disable's PATCH takes 27 s to take effect and return, and its record of that return
# is lost (another container looks next); a job lands 26 s after the decision and stays invisible for 34 s. The lag
# bound must run from the disables' return, not from the decision (`p=1`, gate.service.execute._settle).
_idle = {"listed": [False] * 3, "known": False, "assign": [0.0] * 3, "duration": 1.0, "again": 0.0, "unregister": 0}
SLOW_DISABLE_LOST_RETURN = [
    _step(0.5, **_idle, duration2=1.0, reenable=0, ack_delay=27.0, stamp_fails=0),
    _step(0.0, **_idle, down=0, duration2=1.0, stamp_fails=0),
    _step(
        60.0,
        **{**_idle, "assign": [0.0, 0.4375, 0.0], "duration": 34.0},
        duration2=1.0,
        shows_after=34.0,
        stamp_fails=0,
    ),
    _step(0.0, **_idle, duration2=1.0, stamp_fails=0),
]


def skewed(skew: float, *, just_before: float = 2.5) -> list[dict[str, Any]]:
    """A job visibly running when the gate disables the agent ends `just_before` s (gate time) before the disable is
    acknowledged; the next one lands on the agent just before the disable takes effect, invisible for 50 s. The
    service's clock runs `skew` s ahead (negative: behind) of the gate's. With the old rule (the acknowledgement
    stamped on the gate's clock, finishTime compared with it plus 5 s) a skew over 5 s ahead releases it."""
    return [
        _step(10, skew=skew),
        _step(10, assign=[0.1] * 3, duration=14 - just_before, ack_delay=5, skew=skew),
        _step(10, again=0.01, duration2=600, shows_after=50, skew=skew),
        _step(10, skew=skew),
    ]


class _Edge:
    """The AWS and agent-system edges for `execute` in the property test: every disable answers with the service's
    time of its response (its `Date`, one-second resolution, rounded up) and the skew measured against the gate."""

    def __init__(self, at: float, skew: float, fail_tags: bool) -> None:
        self.at = at  # the PATCH returned at `at` on the gate's clock, at + skew on the service's
        self.ack = ServiceTime(math.floor(at + skew) + 1.0, skew)
        self.fail_tags = fail_tags

    def gate_clock(self) -> float:
        return self.at

    def tag(self, instance_id: str, key: str, value: str) -> None:
        if self.fail_tags:
            raise AwsError("CreateTags: denied")

    def disable(self, agent: Agent) -> ServiceTime:
        return self.ack


LARGE_SKEW_ALLOWED = dataclasses.replace(POLICY, clock_skew_seconds=1000)  # the edge stamps whatever the skew


@settings(max_examples=500, deadline=None)
@example(steps=JUST_BEFORE_THE_DISABLE, n=1, policy_ix=0, kind="none")
@example(steps=SLOW_DISABLE_LOST_RETURN, n=2, policy_ix=0, kind="legacy")
@example(steps=WITHIN_THE_CLOCK_SKEW, n=1, policy_ix=0, kind="none")
@example(steps=STEPPED_BACK, n=1, policy_ix=0, kind="none")
@example(steps=skewed(10), n=1, policy_ix=0, kind="none")
@example(steps=skewed(30), n=1, policy_ix=0, kind="none")
@example(steps=skewed(120), n=1, policy_ix=0, kind="none")
@example(steps=skewed(-60), n=1, policy_ix=0, kind="none")
@example(steps=skewed(10), n=1, policy_ix=4, kind="none")
@example(steps=skewed(120), n=1, policy_ix=4, kind="none")
@example(steps=skewed(-120), n=1, policy_ix=4, kind="none")
@given(
    steps=st.lists(world_step, min_size=1, max_size=40),
    n=st.integers(0, 3),
    policy_ix=st.integers(0, 4),
    kind=start_tags,
)
def test_never_completes_while_a_job_runs(steps: list[dict[str, Any]], n: int, policy_ix: int, kind: str) -> None:
    policy = [
        POLICY,
        dataclasses.replace(POLICY, idle_confirm_seconds=0),
        dataclasses.replace(POLICY, forced_result="ABANDON"),
        dataclasses.replace(POLICY, check_job_requests=False),
        LARGE_SKEW_ALLOWED,
    ][policy_ix]
    world = [TrueAgent(i) for i in range(n)]
    # The service's clock against the gate's: a bad clock (over 6 s off) stays as it is for the whole run; a small
    # one may step from one step to the next, staying small (an NTP correction the skew check cannot see). A stamp
    # (a job's finishTime, a disable's acknowledgement) is written with the skew of the step it falls in.
    stepping = abs(steps[0]["skew"]) <= 6
    clock: list[tuple[float, float]] = []  # (from, skew), in time order

    def skew(t: float) -> float:
        return next((k for since, k in reversed(clock) if since <= t), clock[0][1])

    w = waiting(tags=initial_tags(kind))
    now = T0
    noticed: set[int] = set()  # an agent is listed at least until the gate has looked at it once

    def shown(a: TrueAgent, known: bool) -> Agent:
        return dataclasses.replace(a.view(known, now), assigned_request=101 if known and a.visible(now) else None)

    for i, s in enumerate(steps):
        before, now = now, now + s["dt"]
        small = stepping and abs(s["skew"]) <= 6
        clock.append((before, s["skew"] if small or not clock else clock[-1][1]))
        if world and s["reenable"] == 0:
            world[0].enabled, world[0].disabled_from = True, None  # jobs may land until the gate disables it again
        for a, at in zip(world, s["assign"], strict=False):
            t = before + at * s["dt"]
            if a.assignable(t) and not a.running(t) and at < 1 and s["dt"] > 0:
                a.assign(t, s["duration"], s["shows_after"])
            if a.job_from is not None and before <= a.job_to < now:
                t = a.job_to + s["again"] * (now - a.job_to)
                if a.assignable(t) and s["again"] < 1:
                    a.assign(t, s["duration2"], s["shows_after"])
        if world and s["unregister"] == 0 and not world[-1].running(now):
            world[-1].registered = False
        listed = [
            shown(a, s["known"])
            for a, on in zip(world, s["listed"], strict=False)
            if a.registered and (on or a.id not in noticed)
        ]
        obs = Observation(None, error="down") if s["down"] == 0 else Observation(listed)
        proven = i > 0 or kind != "none"
        d = decide(w, obs, policy, now, proven=proven)
        if d.needs_agents:
            direct = {k: shown(world[k[1]], True) if world[k[1]].registered else None for k in d.needs_agents}
            obs = dataclasses.replace(obs, direct=direct)
            d = decide(w, obs, policy, now, proven=proven)
        if d.needs_job_requests:
            jobs = {a.id: world[a.id].job_requests(now, skew) for a in d.needs_job_requests}
            d = decide(w, dataclasses.replace(obs, job_requests=jobs), policy, now, proven=proven)
        # No hold skips a safe action: every agent shown enabled for a proven action is disabled by this decision.
        if proven and obs.agents is not None:
            shown_enabled = {a.id for a in [*obs.agents, *(obs.direct or {}).values()] if a is not None and a.enabled}
            disabling = {act.agent.id for act in d.actions if isinstance(act, DisableAgent)}
            assert shown_enabled <= disabling, f"left enabled: {shown_enabled - disabling} ({d.reason})"
        if d.final:
            if d.outcome is Outcome.FORCED:
                assert now - T0 >= policy.max_hold_seconds, "forced before this action's max hold"
            else:
                assert d.outcome is Outcome.RELEASED
                assert not any(a.running(now) for a in world), "completed while a job runs"
            return
        ack = now + s["ack_delay"]  # the disables take effect at some time up to their acknowledgement
        for act in d.actions:
            if isinstance(act, DisableAgent):
                world[act.agent.id].disabled_from = ack  # shown enabled, and assignable, until then
        if obs.agents is not None and HOLD_TAG in d.tags:
            noticed |= {a.id for a in listed}
        # The real edge carries the decision out, stamping the acknowledgement (ConfirmDisables) as it does.
        edge = _Edge(ack, skew(ack), fail_tags=False)
        done = execute(d, w, edge, edge, dry_run=False, now=edge.gate_clock)  # type: ignore[arg-type]
        gone = s["stamp_fails"] == 0  # the stamp did not reach the tag, and this container is not the next one
        w = lost(w, d) if gone or done.tags is None else dataclasses.replace(w, tags=dict(done.tags))


@settings(max_examples=200, deadline=None)
@given(busy_for=st.floats(min_value=0, max_value=3000), tick=st.floats(min_value=1, max_value=60))
def test_a_build_ending_is_released_within_two_ticks_after_the_lag_bound(busy_for: float, tick: float) -> None:
    """Liveness: once the build ends (and the lag bound has passed), release follows within two ticks."""
    w, now = waiting(tags={}), T0
    enabled = True
    while True:
        busy = now - T0 < busy_for
        d = release_after_lag(w, Observation([agent(enabled=enabled, busy=busy)]), now)
        if d.final:
            assert d.outcome is Outcome.RELEASED and not busy
            assert now - max(T0 + busy_for, T0 + LAG) <= 2 * tick
            return
        enabled = enabled and not any(isinstance(a, DisableAgent) for a in d.actions)
        w = step(w, d)
        now += tick


# -- the edge: a tag write never blocks a safe action or a release (facts over our own state) -----------------------
class _DeniedTags:
    """CreateTags denied; disables answer with the service's time 2 s ahead of the gate's."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def tag(self, instance_id: str, key: str, value: str) -> None:
        raise AwsError("CreateTags: UnauthorizedOperation")

    def complete(self, waiting: Waiting, result: str) -> None:
        self.done.append(f"complete {result}")

    def disable(self, agent: Agent) -> ServiceTime:
        self.done.append(f"disable {agent.id}")
        return ServiceTime(T0 + 3, 2.0)

    def delete(self, agent: Agent) -> None:
        self.done.append(f"delete {agent.id}")


def test_a_denied_tag_write_blocks_neither_the_disable_nor_the_release_and_memory_keeps_the_stamp() -> None:
    edge = _DeniedTags()
    held = decide(waiting(tags={}), Observation([agent(enabled=True, busy=True)]), POLICY, T0, proven=True)
    assert kinds(held) == [SetTag, DisableAgent, ConfirmDisables]
    done = execute(held, waiting(tags={}), edge, edge, dry_run=False)  # type: ignore[arg-type]
    assert edge.done == ["disable 1"] and done.outcome is Outcome.ERROR and "CreateTags" in done.reason
    assert done.tags is not None and decode(done.tags[HOLD_TAG]).confirmed_at == T0 + 3  # type: ignore[union-attr]
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    release = release_after_lag(w, Observation([agent()]), T0 + 600)
    assert release.outcome is Outcome.RELEASED
    done = execute(release, w, edge, edge, dry_run=False)  # type: ignore[arg-type]
    assert done.outcome is Outcome.RELEASED and edge.done[-2:] == ["delete 1", "complete CONTINUE"]
    tag_first = Decision(
        Outcome.RELEASED,
        "idle",
        (SetTag(HOLD_TAG, "x"), DeleteAgent(agent(2)), Complete("CONTINUE"), SetTag(HOLD_TAG, "")),
    )
    done = execute(tag_first, w, edge, edge, dry_run=False)  # type: ignore[arg-type]
    assert done.outcome is Outcome.RELEASED and done.done and edge.done[-2:] == ["delete 2", "complete CONTINUE"]


# -- issue #18: the unregistered grace counts only time the gate could see the agents ---------------------------
def test_the_grace_runs_from_the_first_complete_agent_list_not_from_the_holds_start() -> None:
    """Seed 1110: every list failed for the whole grace; the first complete one came back empty. Blind time does
    not count: that look starts the grace (`l=`), and only a second empty look a full grace later releases."""
    w = waiting()
    blind = decide(w, Observation(None, error="count 3 != len(value) 2"), POLICY, T0 + 200)
    assert blind.outcome is Outcome.HELD and blind.failsafe == "agent_system"
    first = decide(step(w, blind), Observation([]), POLICY, T0 + 300)  # held 300 s >= the 120 s grace
    assert first.outcome is Outcome.HELD and not first.final and state_of(first).listed_since == T0 + 300
    assert first.recheck_at == T0 + 420
    early = decide(step(w, first), Observation([]), POLICY, T0 + 400)
    assert early.outcome is Outcome.HELD
    d = decide(step(w, first), Observation([]), POLICY, T0 + 420)
    assert d.outcome is Outcome.RELEASED and Complete("CONTINUE") in d.actions


def test_the_grace_start_survives_the_tag_and_a_zero_grace_still_takes_two_looks() -> None:
    start = decode(encode(HoldState(action_hash(ACTION), T0, listed_since=T0 + 5)))
    assert start is not None and start.listed_since == T0 + 5
    zero = dataclasses.replace(POLICY, unregistered_grace_seconds=0)
    first = decide(waiting(), Observation([]), zero, T0 + 600)
    assert first.outcome is Outcome.HELD
    again = decide(step(waiting(), first), Observation([]), zero, T0 + 600 + POLICY.idle_confirm_seconds)
    assert again.outcome is Outcome.RELEASED


def test_an_empty_answer_neither_starts_nor_ends_the_grace() -> None:
    """Seed 550: every list the instance may depend on came back empty (`count` 0). That is no evidence that nothing
    is registered: a fail-safe hold (alarmed), the grace not started; once a list shows agents again, the grace
    starts from that look."""
    w = waiting()
    empty = decide(w, Observation([], listed_any=False), POLICY, T0 + 300)
    assert empty.outcome is Outcome.HELD and empty.failsafe == "agent_pool" and not empty.final
    assert "came back empty" in empty.reason
    assert state_of(empty) is None or state_of(empty).listed_since is None
    later = decide(step(w, empty), Observation([], listed_any=False), POLICY, T0 + 900)  # long past the grace
    assert later.outcome is Outcome.HELD and not later.final
    seen = decide(step(w, later), Observation([]), POLICY, T0 + 1000)  # the fleet's agents listed, none of it
    assert seen.outcome is Outcome.HELD and state_of(seen).listed_since == T0 + 1000


# -- issue #18: with the busy field missing, idle needs positive evidence from the job requests ------------------
def _unknown(id: int = 1, **kw: Any) -> Agent:
    return agent(id, assigned_known=False, **kw)


def test_a_request_seen_unfinished_that_drops_out_of_the_list_is_not_finished() -> None:
    """Seed 1001: `busy: ... unfinished job request 3`, then request 3 vanished from the list without a finishTime.
    The agent was seen busy (`b=`): only a finished request of it (finishTime) shows it idle again."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    busy = decide(w, Observation([_unknown()], job_requests={1: [JobRequest(3, 1, False)]}), POLICY, T0 + 10)
    assert busy.outcome is Outcome.HELD and "unfinished job request 3" in busy.reason
    assert state_of(busy).busy == frozenset({(7, 1)})
    w = step(w, busy)
    gone = decide(w, Observation([_unknown()], job_requests={1: []}), POLICY, T0 + 600)
    assert gone.outcome is Outcome.HELD and not gone.final and "seen busy" in gone.reason
    done = [JobRequest(3, 1, True, finished_at=T0 + 500)]
    d = decide(w, Observation([_unknown()], job_requests={1: done}), POLICY, T0 + 600)
    assert d.final and d.outcome is Outcome.RELEASED


def test_an_assigned_request_seen_once_needs_a_finished_request_later() -> None:
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    busy = decide(w, Observation([agent(busy=True)]), POLICY, T0 + 10)
    assert state_of(busy).busy == frozenset({(7, 1)})
    d = decide(step(w, busy), Observation([_unknown()], job_requests={1: []}), POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and not d.final


def test_an_empty_job_request_answer_for_an_agent_missing_from_the_list_is_no_evidence() -> None:
    """Seed 132: the list came back empty, the direct look-up a record without `assignedRequest`, the job requests
    an emptied list: held, nothing deleted."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    obs = Observation([], direct={(7, 1): _unknown()}, job_requests={1: []})
    d = decide(w, obs, POLICY, T0 + 600)
    assert d.outcome is Outcome.HELD and not d.final and DeleteAgent not in kinds(d)
    assert "missing from the agent list" in d.reason


def test_an_idle_victim_never_seen_busy_still_releases_on_an_empty_answer() -> None:
    """The common path: Azure DevOps leaves `assignedRequest` out of every idle record; an agent the list shows
    and never seen busy is released after the lag bound on an empty job-request answer, as before."""
    w = waiting(tags=tags(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)})))
    d = release_after_lag(w, Observation([_unknown()]), T0 + LAG)
    assert d.final and d.outcome is Outcome.RELEASED
    assert state_of(decide(w, Observation([agent()]), POLICY, T0)).busy == frozenset()


def test_the_agents_seen_busy_survive_the_tag() -> None:
    state = HoldState(action_hash(ACTION), T0, seen=frozenset({(7, 1), (7, 2), (9, 30)}), busy=frozenset({(9, 30)}))
    value = encode(state)
    assert "b=2" in value and decode(value) == state


def test_the_grace_start_is_dropped_once_an_agent_is_seen() -> None:
    first = decide(waiting(), Observation([]), POLICY, T0)
    assert state_of(first).listed_since == T0
    d = decide(step(waiting(), first), Observation([agent(enabled=True)]), POLICY, T0 + 30)
    assert state_of(d).listed_since is None and "l=" not in d.tags[HOLD_TAG]
