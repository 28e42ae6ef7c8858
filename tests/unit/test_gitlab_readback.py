"""A job's end read back by id (GitLab, issue 21), without servers: the jobs a hold sees running on its agents are
remembered (`j=` in the hold tag), and when an agent's own job list cannot show their end (a runner deleted as its
job ended answers 404 with its jobs; a job that named no manager names its manager later), each is read back by id.
Release only when every remembered job ended (`finished_at`) or, having named no agent, now names another; a job
not found, still running, or a memory that was lost is no evidence."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

from gate.domain.actions import Complete, DeleteAgent
from gate.domain.decide import Decision, Observation, Policy, decide
from gate.domain.holdstate import (
    HOLD_TAG,
    HoldState,
    JobRef,
    action_hash,
    decode,
    encode,
    fits,
    remembered,
    shrink,
)
from gate.domain.model import Agent, JobRequest, Outcome, Waiting

T0 = 1_800_000_000.0
ACTION = "0b7a6c1e-5b0f-4a51-9d0a-1f2b3c4d5e6f"
POLICY = Policy(max_hold_seconds=3600, idle_confirm_seconds=15, unregistered_grace_seconds=120)
LAG = POLICY.assignment_lag_seconds
GRACE = POLICY.unregistered_grace_seconds  # 120 s here, longer than the lag bound
RUNNER = (1, 5)  # pool 1 (the runner list), runner 5
J = JobRef(project_id=12, job_id=340)


def runner(**kw: Any) -> Agent:
    base = Agent("gitlab", 1, "runners", 5, "ci-i-0123456789abcdef0", False, assigned_known=False, readable_jobs=True)
    return dataclasses.replace(base, **kw)


def manager(mid: int, **kw: Any) -> Agent:
    base = Agent(
        "gitlab",
        9,
        "runner:9",
        mid,
        f"s_{mid}",
        True,
        capabilities={"runner_id": "9"},
        disableable=False,
        assigned_known=False,
        readable_jobs=True,
    )
    return dataclasses.replace(base, **kw)


def waiting(**state: Any) -> Waiting:
    value = encode(HoldState(action_hash(ACTION), held_since=T0, disabled_at=T0, **state))
    return Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION, tags={HOLD_TAG: value})


def state_of(d: Decision) -> HoldState:
    s = decode(d.tags.get(HOLD_TAG))
    assert s is not None
    return s


# -- the hold's memory -------------------------------------------------------------------------------------------


def test_remembered_jobs_round_trip_through_the_tag_with_their_attribution() -> None:
    seen = frozenset({(1, 5), (9, 21), (9, 22)})
    jobs = frozenset({((9, 21), JobRef(12, 340, False)), ((9, 22), JobRef(7, 341)), ((1, 5), JobRef(3, 9))})
    state = HoldState(action_hash(ACTION), held_since=T0, seen=seen, busy=seen, jobs=jobs)
    value = encode(state)
    assert "j=0.3.9+1.12.340u+2.7.341" in value
    back = decode(value)
    assert back is not None and back.jobs == jobs and not back.jobs_lost
    assert remembered(back, (9, 21)) == (JobRef(12, 340, False),) and remembered(back, (9, 23)) == ()


def test_jobs_that_do_not_fit_are_lost_whole_never_in_part_and_never_overflow_the_agents() -> None:
    seen = frozenset({RUNNER})
    many = frozenset((RUNNER, JobRef(12345678, 1234567890 + n)) for n in range(12))
    state = HoldState(action_hash(ACTION), held_since=T0, seen=seen, busy=seen, jobs=many)
    small = shrink(state)
    assert small.jobs_lost and not small.jobs and not small.overflow and small.seen == seen
    assert "j=-" in encode(state) and "o=1" not in encode(state)  # encode drops them the same way
    lost = decode(encode(state))
    assert lost is not None and lost.jobs_lost and remembered(lost, RUNNER) == ()
    garbled = encode(HoldState(action_hash(ACTION), held_since=T0, seen=seen)) + " j=0.12.x"
    assert (g := decode(garbled)) is not None and g.jobs_lost  # an unreadable memory is a lost one
    beyond = encode(HoldState(action_hash(ACTION), held_since=T0, seen=seen)) + " j=3.12.5"
    assert (b := decode(beyond)) is not None and b.jobs_lost and not b.jobs


def test_a_running_job_that_can_be_read_back_is_remembered_and_others_are_not() -> None:
    w = waiting(seen=frozenset({RUNNER}))
    jobs = {5: [JobRequest(340, 5, False, project_id=12)]}
    d = decide(w, Observation([runner()], job_requests=jobs), POLICY, T0 + 600, proven=True)
    assert d.outcome is Outcome.HELD and state_of(d).jobs == {(RUNNER, J)}
    azure = {5: [JobRequest(340, 5, False)]}  # no project: a source that cannot read a job back
    d = decide(w, Observation([runner()], job_requests=azure), POLICY, T0 + 600, proven=True)
    assert state_of(d).jobs == frozenset()


def test_a_busy_runner_has_its_jobs_asked_for_once_to_remember_them_and_a_manager_on_every_look() -> None:
    busy = runner(assigned_request=0)
    w = waiting(seen=frozenset({RUNNER}))
    ask = decide(w, Observation([busy]), POLICY, T0 + 600, proven=True)
    assert ask.outcome is Outcome.HELD and ask.needs_job_requests == (busy,)
    w = waiting(seen=frozenset({RUNNER}), busy=frozenset({RUNNER}), jobs=frozenset({(RUNNER, J)}))
    assert decide(w, Observation([busy]), POLICY, T0 + 600, proven=True).needs_job_requests == ()
    m = manager(21, assigned_request=0)
    w = waiting(seen=frozenset({(9, 21)}), busy=frozenset({(9, 21)}), jobs=frozenset({((9, 21), J)}))
    assert decide(w, Observation([m]), POLICY, T0 + 600, proven=True).needs_job_requests == (m,)
    azure = dataclasses.replace(busy, source="azure-devops", readable_jobs=False)
    w = waiting(seen=frozenset({RUNNER}))
    assert decide(w, Observation([azure]), POLICY, T0 + 600, proven=True).needs_job_requests == ()


# -- a runner that unregistered as its job ended ----------------------------------------------------------------


def gone_runner(**state: Any) -> tuple[Waiting, Observation]:
    seen = frozenset({RUNNER})
    w = waiting(seen=seen, busy=seen, absent=seen, absent_since=T0 + 600, **state)
    return w, Observation([], direct={RUNNER: None})


def test_a_deleted_runner_seen_busy_is_released_once_its_job_read_back_ended() -> None:
    w, gone = gone_runner(jobs=frozenset({(RUNNER, J)}))
    now = T0 + 600 + GRACE
    early = decide(w, gone, POLICY, T0 + 600 + LAG)  # the job's end aside, it may have registered again: the grace
    assert early.outcome is Outcome.HELD and "confirming for 120s" in early.reason and not early.needs_job_requests
    ask = decide(w, gone, POLICY, now)
    assert [a.id for a in ask.needs_job_requests] == [5] and ask.remembered_jobs == {5: (J,)}
    ended = {5: [JobRequest(340, None, True, finished_at=T0 + 500, project_id=12)]}
    done = decide(w, dataclasses.replace(gone, job_requests={5: []}, read_back=ended), POLICY, now)
    assert done.outcome is Outcome.RELEASED and Complete("CONTINUE") in done.actions
    assert any(isinstance(a, DeleteAgent) for a in done.actions)
    unexplained = dataclasses.replace(gone, job_requests={5: []}, read_back=ended, listed_any=False)
    d = decide(w, unexplained, POLICY, now)  # an emptied list may hide a new registration: no evidence
    assert d.outcome is Outcome.HELD and "not proven idle" in d.reason


def test_a_look_that_cannot_see_the_lists_restarts_an_absence_that_read_back_will_end() -> None:
    w, _ = gone_runner(jobs=frozenset({(RUNNER, J)}))
    blind = decide(w, Observation(None, error="HTTP 503"), POLICY, T0 + 650)
    assert blind.outcome is Outcome.HELD and state_of(blind).absent_since is None
    failing = Observation([], failed_pools={1: "the agent list left out agent(s) #1 that still exist"})
    caught = decide(w, failing, POLICY, T0 + 650)
    assert caught.outcome is Outcome.HELD and state_of(caught).absent_since is None
    seen = frozenset({(7, 1)})  # Azure DevOps: nothing to read back, the absence rule as before
    held = HoldState(action_hash(ACTION), T0, T0, seen=seen, busy=seen, absent=seen, absent_since=T0 + 600)
    azure = Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION, tags={HOLD_TAG: encode(held)})
    assert state_of(decide(azure, Observation(None, error="HTTP 503"), POLICY, T0 + 650)).absent_since == T0 + 600


def test_a_deleted_runner_holds_on_a_job_read_back_running_not_found_or_without_finished_at() -> None:
    w, gone = gone_runner(jobs=frozenset({(RUNNER, J), (RUNNER, JobRef(12, 341))}))
    now = T0 + 600 + GRACE
    one = JobRequest(340, None, True, finished_at=T0 + 500, project_id=12)
    for answers in (
        [one],  # 341 not found (404): no evidence
        [one, JobRequest(341, None, False, project_id=12)],  # still running
        [one, JobRequest(341, None, True, finished_at=None, project_id=12)],  # no finished_at
        [],
    ):
        d = decide(w, dataclasses.replace(gone, job_requests={5: []}, read_back={5: answers}), POLICY, now)
        assert d.outcome is Outcome.HELD and "not proven idle" in d.reason, answers
        assert not any(isinstance(a, (Complete, DeleteAgent)) for a in d.actions)


def test_a_lost_memory_or_no_memory_keeps_the_old_rule() -> None:
    ended = {5: [JobRequest(340, None, True, finished_at=T0 + 500, project_id=12)]}
    now = T0 + 600 + GRACE
    for state in ({"jobs_lost": True}, {}):
        w, gone = gone_runner(**state)
        d = decide(w, dataclasses.replace(gone, job_requests={5: []}, read_back=ended), POLICY, now)
        assert d.outcome is Outcome.HELD and "not proven idle" in d.reason


def test_a_new_registration_still_restarts_the_absence_whatever_the_read_back_says() -> None:
    w, _ = gone_runner(jobs=frozenset({(RUNNER, J)}))
    again = runner(id=6, enabled=True)
    ended = {5: [JobRequest(340, None, True, finished_at=T0 + 500, project_id=12)]}
    obs = Observation([again], direct={RUNNER: None}, job_requests={5: []}, read_back=ended)
    d = decide(w, obs, POLICY, T0 + 600 + GRACE)
    assert d.outcome is Outcome.HELD and state_of(d).absent_since is None
    assert not any(isinstance(a, (Complete, DeleteAgent)) for a in d.actions)


# -- a manager seen busy through a job that named no manager ----------------------------------------------------


def manager_seen_busy_by(ref: JobRef) -> Waiting:
    key = (9, 22)
    return waiting(seen=frozenset({key}), busy=frozenset({key}), jobs=frozenset({(key, ref)}))


def test_a_manager_seen_busy_only_through_an_unattributed_job_is_idle_once_it_names_another() -> None:
    w = manager_seen_busy_by(JobRef(12, 340, attributed=False))
    m = manager(22)
    now = T0 + 600 + LAG
    ask = decide(w, Observation([m]), POLICY, now)
    assert ask.needs_job_requests == (m,) and ask.remembered_jobs == {22: (JobRef(12, 340, False),)}
    elsewhere = {22: [JobRequest(340, 21, False, project_id=12, attributed=True)]}  # running, on manager 21
    d = decide(w, Observation([m], job_requests={22: []}, read_back=elsewhere), POLICY, now)
    assert d.outcome is Outcome.RELEASED, d.reason
    for answers in (
        [JobRequest(340, None, False, project_id=12, attributed=False)],  # still names no manager, running
        [JobRequest(340, 22, False, project_id=12)],  # names this one: its own, running
        [],  # not found
    ):
        d = decide(w, Observation([m], job_requests={22: []}, read_back={22: answers}), POLICY, now)
        assert d.outcome is Outcome.HELD and "not proven idle" in d.reason, answers
    running_unattributed = {22: [JobRequest(341, 22, False, project_id=12, attributed=False)]}
    d = decide(w, Observation([m], job_requests=running_unattributed, read_back=elsewhere), POLICY, now)
    assert d.outcome is Outcome.HELD and "busy" in d.reason  # an unattributed job still runs: it may be its


def test_a_job_that_named_the_manager_never_passes_for_another_managers() -> None:
    w = manager_seen_busy_by(JobRef(12, 340, attributed=True))
    elsewhere = {22: [JobRequest(340, 21, False, project_id=12, attributed=True)]}
    d = decide(w, Observation([manager(22)], job_requests={22: []}, read_back=elsewhere), POLICY, T0 + 600 + LAG)
    assert d.outcome is Outcome.HELD and "not proven idle" in d.reason


def test_a_release_record_that_does_not_fit_beside_the_jobs_drops_them_as_lost() -> None:
    """The release records its decision (`r=`) before deleting; the remembered jobs give way to it, marked lost (a
    voided record then leaves a hold without read-back evidence, never with a partial memory)."""
    seen = frozenset({RUNNER, (1, 6), (1, 7)})

    def remembering(n: int) -> HoldState:
        many = frozenset((RUNNER, JobRef(12345678, 1234567890 + k)) for k in range(n))
        return HoldState(action_hash(ACTION), held_since=T0, disabled_at=T0, seen=seen, jobs=many)

    n = max(k for k in range(1, 12) if fits(remembering(k)))  # as many as fit: no room left for `r=`
    assert not fits(replace(remembering(n), released_at=T0 + 600))
    w = Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION, tags={HOLD_TAG: encode(remembering(n))})
    listed = [runner(), runner(id=6), runner(id=7)]
    jobs = {5: [JobRequest(1234567890 + k, 5, True, finished_at=T0, project_id=12345678) for k in range(n)]}
    jobs |= {6: [], 7: []}
    d = decide(w, Observation(listed, job_requests=jobs), POLICY, T0 + 600, proven=True)
    assert d.outcome is Outcome.RELEASED, d.reason
    [record] = [a.value for a in d.actions if getattr(a, "key", None) == HOLD_TAG and a.value]
    marked = decode(record)
    assert marked is not None and marked.released_at == T0 + 600 and marked.jobs_lost and not marked.jobs
