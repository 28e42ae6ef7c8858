"""A release whose completion fails after the gate deleted the agents (Auto Scaling throttled, the process killed):
the gate's own release decision, recorded in the hold (`r=`) before the deletes, is the evidence for completing it
again, while no agent of the instance is present. Before, the deleted agent, seen busy earlier in the hold, was absent
with no finished job of it to be seen, and the instance was held to max hold (docs/performance.md, AWS throttled)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gate.adapters.aws import AwsError
from gate.domain.actions import Complete, DeleteAgent, DisableAgent, SetTag
from gate.domain.decide import Decision, Observation, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, decode, encode, load
from gate.domain.model import Agent, JobRequest, Outcome, ServiceTime, Waiting
from gate.service.execute import execute
from tests.unit.test_decide import (
    LAG,
    POLICY,
    T0,
    TrueAgent,
    agent,
    kinds,
    release_after_lag,
    state_of,
    step,
    tags,
    waiting,
)

SEEN = frozenset({(7, 1)})
GONE = Observation([], direct={(7, 1): None})  # the agent list lacks it, and asked for directly: 404
WAIT = max(POLICY.idle_confirm_seconds, LAG)


def no_skew(_t: float) -> float:  # the service clock is the gate's
    return 0.0


class _Edge:
    """AWS and the agent system: CompleteLifecycleAction throttled (after botocore's retries), tags optional."""

    def __init__(self, *, complete_fails: bool = True, tags_fail: bool = False) -> None:
        self.complete_fails, self.tags_fail = complete_fails, tags_fail
        self.calls: list[str] = []

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self.calls.append("tag")
        if self.tags_fail:
            raise AwsError("CreateTags: An error occurred (Throttling): Rate exceeded")

    def complete(self, waiting: Waiting, result: str) -> None:
        self.calls.append(f"complete {result}")
        if self.complete_fails:
            raise AwsError("CompleteLifecycleAction: An error occurred (Throttling): Rate exceeded")

    def heartbeat(self, waiting: Waiting) -> None:
        self.calls.append("heartbeat")

    def disable(self, agent: Agent) -> ServiceTime:
        return ServiceTime(T0, 0.0)

    def delete(self, agent: Agent) -> None:
        self.calls.append(f"delete {agent.id}")


def _busy_then_idle() -> tuple[Waiting, float]:
    """A hold whose agent was seen busy, is disabled and idle past the lag bound: due for release at `now`."""
    return waiting(tags=tags(held_since=T0, disabled_at=T0, seen=SEEN, busy=SEEN)), T0 + 600


def _failed_release(edge: _Edge) -> tuple[Waiting, Decision, float]:
    """Release decided and carried out; the completion fails. The next round's waiting, as this container knows it."""
    w, now = _busy_then_idle()
    jobs = {1: [JobRequest(4, 1, True, finished_at=T0 + 30)]}
    d = decide(w, Observation([agent()], job_requests=jobs), POLICY, now, proven=True)
    assert d.outcome is Outcome.RELEASED and kinds(d) == [SetTag, DeleteAgent, Complete, SetTag]
    done = execute(d, w, edge, edge, dry_run=False)  # type: ignore[arg-type]
    assert done.outcome is Outcome.ERROR and not done.done and "Throttling" in done.reason
    assert done.tags is not None  # the tags as set before the failed completion, not the decision's cleared ones
    return dataclasses.replace(w, tags=dict(done.tags)), d, now


def test_the_decision_is_recorded_before_the_delete_and_kept_when_the_completion_fails() -> None:
    edge = _Edge()
    w, d, now = _failed_release(edge)
    assert edge.calls == ["tag", "delete 1", "complete CONTINUE"]  # record, delete, complete
    assert HOLD_TAG not in d.tags  # the decision's own tags are those after a completion
    state = decode(w.tags[HOLD_TAG])
    assert state is not None and state.released_at == now and state.busy == SEEN


def test_a_failed_completion_is_retried_on_the_decision_once_the_agent_is_absent() -> None:
    w, _, now = _failed_release(_Edge())
    ask = decide(w, Observation([]), POLICY, now + 60)
    assert ask.outcome is Outcome.HELD and ask.needs_agents == ((7, 1),)  # absent is unknown until asked
    early = decide(w, GONE, POLICY, now + WAIT - 1)
    assert early.outcome is Outcome.HELD and not early.final and early.recheck_at == now + WAIT
    again = decide(w, GONE, POLICY, now + WAIT)
    assert again.outcome is Outcome.RELEASED and kinds(again) == [Complete, SetTag]
    assert not again.needs_job_requests and "release decided earlier" in again.reason
    assert HOLD_TAG not in again.tags


def test_without_the_record_the_same_look_holds_as_before() -> None:
    """Today's safe hold, which a lost record falls back to: the deleted agent was seen busy and no finished job of
    it is seen (its job requests went with it), so its idleness is never proven."""
    w, _, now = _failed_release(_Edge())
    lost = load(w.tags, w.action_id, now)
    assert lost is not None
    w = waiting(tags={HOLD_TAG: encode(dataclasses.replace(lost, released_at=None))})
    for t in (now + WAIT, now + 2 * WAIT, now + 3 * WAIT):
        d = release_after_lag(w, GONE, t)
        assert d.outcome is Outcome.HELD and not d.final
        w = step(w, d)


def test_a_lost_record_write_in_a_new_container_holds() -> None:
    """The record's CreateTags fails: this container's memory keeps it (the executor's tags), but a new container
    reads only the tag as it was before the release, and holds."""
    edge = _Edge(tags_fail=True)
    w, _, now = _failed_release(edge)
    assert decode(w.tags[HOLD_TAG]).released_at == now  # type: ignore[union-attr]  # this container's memory
    cold, _ = _busy_then_idle()  # the tag as AWS still has it
    d = release_after_lag(cold, GONE, now + WAIT)
    assert d.outcome is Outcome.HELD and not d.final


def test_an_agent_present_again_voids_the_record_and_is_judged_afresh() -> None:
    """Killed between the record and the delete (the agent is still there), or the agent enabled again: the record
    is dropped and the agent judged as any other; its later absence then takes the absence rule, not the record."""
    w, _, now = _failed_release(_Edge())
    back = decide(w, Observation([agent(enabled=True)]), POLICY, now + 60, proven=True)
    assert back.outcome is Outcome.HELD and DisableAgent in kinds(back)
    assert state_of(back).released_at is None
    later = release_after_lag(step(w, back), GONE, now + 60 + 10 * WAIT)
    assert later.outcome is Outcome.HELD and not later.final


def test_a_new_registration_voids_the_record() -> None:
    """A re-registration under a new id (a clean-workspace loop) is a new agent: disabled, waited for."""
    w, _, now = _failed_release(_Edge())
    new = Observation([agent(2, enabled=True)], direct={(7, 1): None})
    d = decide(w, new, POLICY, now + WAIT, proven=True)
    assert d.outcome is Outcome.HELD and not d.final and kinds(d) == [SetTag, DisableAgent]
    assert state_of(d).released_at is None and (7, 2) in state_of(d).seen
    hidden = release_after_lag(step(w, d), GONE, now + 10 * WAIT)  # then lists that lack both: no record to use
    assert hidden.outcome is Outcome.HELD and not hidden.final


def test_the_record_needs_lists_that_can_be_believed_and_an_agent_system_that_answers() -> None:
    w, _, now = _failed_release(_Edge())
    emptied = decide(w, dataclasses.replace(GONE, listed_any=False), POLICY, now + WAIT)
    assert emptied.outcome is Outcome.HELD and emptied.failsafe == "agent_pool"
    down = decide(w, Observation(None, error="HTTP 503"), POLICY, now + WAIT)
    assert down.outcome is Outcome.HELD and down.failsafe == "agent_system"
    failing = dataclasses.replace(GONE, failed_pools={7: "HTTP 500"})
    assert decide(w, failing, POLICY, now + WAIT).outcome is Outcome.HELD
    unasked = dataclasses.replace(GONE, direct=None, error="asking for agents seen earlier: HTTP 500")
    assert decide(w, unasked, POLICY, now + WAIT).outcome is Outcome.HELD


def test_the_record_is_bound_to_its_action() -> None:
    w, _, now = _failed_release(_Edge())
    other = dataclasses.replace(w, action_id="another-activity")
    d = decide(other, GONE, POLICY, now + WAIT, proven=True)
    assert not d.final and state_of(d).released_at is None


def test_max_hold_still_forces() -> None:
    w, _, _ = _failed_release(_Edge())
    d = decide(w, GONE, POLICY, T0 + POLICY.max_hold_seconds)
    assert d.outcome is Outcome.FORCED and Complete(POLICY.forced_result) in d.actions


def test_no_record_when_nothing_is_deleted_or_it_does_not_fit() -> None:
    w, now = _busy_then_idle()
    keep = dataclasses.replace(POLICY, delete_agent_on_release=False)
    d = release_after_lag(w, Observation([agent()]), now)
    kept = decide(w, Observation([agent()], job_requests={1: [JobRequest(4, 1, True)]}), keep, now)
    assert d.final and kept.final and kinds(kept) == [Complete, SetTag]
    listed = [dataclasses.replace(agent(), pool_id=123, id=456700 + i) for i in range(15)]
    crowded = frozenset((123, a.id) for a in listed)
    full = HoldState(action_hash("8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"), T0, T0, seen=crowded)
    assert len(encode(full)) > 256 - len(" r=2027-01-15T08:00:00.000Z") and not full.overflow
    jobs: dict[int, list[JobRequest]] = {a.id: [] for a in listed}
    no_room = decide(waiting(tags={HOLD_TAG: encode(full)}), Observation(listed, job_requests=jobs), POLICY, now)
    assert no_room.final and kinds(no_room) == [DeleteAgent] * 15 + [Complete, SetTag]  # as before: no overflow


def test_the_record_round_trips_and_a_future_one_counts_as_now() -> None:
    state = HoldState(action_hash("a"), T0, T0, seen=SEEN, released_at=T0 + 5)
    assert decode(encode(state)) == state and " r=" in encode(state)
    w = dataclasses.replace(waiting(), action_id="a")
    future = load({HOLD_TAG: encode(dataclasses.replace(state, released_at=T0 + 9999))}, w.action_id, T0 + 10)
    assert future is not None and future.released_at == T0 + 10


# -- property: no failed completion, crash point or re-registration completes while a job runs --------------------
retry_step = st.fixed_dictionaries(
    {
        "dt": st.floats(min_value=0, max_value=90),
        "down": st.integers(0, 9),  # 0: the agent system is down
        "shown": st.booleans(),  # a seen agent is in the list this time (a new one always is, at first sight)
        "complete_fails": st.integers(0, 2),  # 0 or 1: CompleteLifecycleAction fails after the deletes
        "killed_at": st.integers(0, 3),  # 0: killed after the record; 1: after the deletes (never completes)
        "register": st.integers(0, 6),  # 0: a new registration for the instance (new id), enabled
        "job": st.one_of(st.just(1.0), st.floats(min_value=0, max_value=1)),  # a job lands on an idle enabled agent
        "duration": st.floats(min_value=1, max_value=600),
        "shows_after": st.floats(min_value=0, max_value=LAG),
    }
)


@settings(max_examples=400, deadline=None)
@given(steps=st.lists(retry_step, min_size=1, max_size=40))
def test_a_completion_retried_on_the_record_never_ends_a_running_job(steps: list[dict[str, Any]]) -> None:
    """The world's truth against the gate: a busy agent, releases whose completion fails or whose process dies after
    the record or after the deletes, agents registering again under new ids (taking jobs at once, invisible for up
    to the lag bound), lists that leave seen agents out, an agent system down. A deleted agent's job requests show
    nothing (the case that held such instances to max hold). No completion may happen while a registered agent, or
    one being deleted, runs a job."""
    world = {1: TrueAgent(1)}
    world[1].assign(T0, 120, 0)
    w, now, noticed = waiting(tags={}), T0, set[int]()
    for s in steps:
        before, now = now, now + s["dt"]
        if s["register"] == 0:
            new = max(world) + 1
            world[new] = TrueAgent(new)
        for a in world.values():
            t = before + s["job"] * s["dt"]
            if s["job"] < 1 and s["dt"] > 0 and a.assignable(t) and not a.running(t):
                a.assign(t, s["duration"], s["shows_after"])
        registered = [a for a in world.values() if a.registered]
        listed = [a.view(True, now) for a in registered if s["shown"] or a.id not in noticed]
        listed = [dataclasses.replace(v, assigned_request=101 if world[v.id].visible(now) else None) for v in listed]
        obs = Observation(None, error="down") if s["down"] == 0 else Observation(listed)
        d = decide(w, obs, POLICY, now, proven=True)
        if d.needs_agents:
            direct = {k: (world[k[1]].view(True, now) if world[k[1]].registered else None) for k in d.needs_agents}
            obs = dataclasses.replace(obs, direct=direct)
            d = decide(w, obs, POLICY, now, proven=True)
        if d.needs_job_requests:
            jobs = {
                a.id: world[a.id].job_requests(now, no_skew) if world[a.id].registered else []
                for a in d.needs_job_requests
            }
            d = decide(w, dataclasses.replace(obs, job_requests=jobs), POLICY, now, proven=True)
        for act in d.actions:
            if isinstance(act, DisableAgent):
                world[act.agent.id].disabled_from = now
        if obs.agents is not None:
            noticed |= {a.id for a in listed}
        edge = _Edge(complete_fails=s["complete_fails"] < 2)
        done = execute(d, w, edge, edge, dry_run=False)  # type: ignore[arg-type]
        if d.final and s["killed_at"] < 2:  # killed after the record (0) or after the deletes (1): never completed
            record = next((a.value for a in d.actions if isinstance(a, SetTag) and a.value), None)
            gone = [act.agent.id for act in d.actions if isinstance(act, DeleteAgent)] if s["killed_at"] else []
            assert not any(world[k].running(now) for k in gone), f"deleted an agent running a job ({d.reason})"
            for k in gone:
                world[k].registered = False
            w = dataclasses.replace(w, tags={HOLD_TAG: record}) if record else w
            continue
        deleted = [act.agent.id for act in d.actions if isinstance(act, DeleteAgent)]
        assert not any(world[k].running(now) for k in deleted), f"deleted an agent running a job ({d.reason})"
        for k in deleted:
            world[k].registered = False
        if done.done and any(isinstance(a, Complete) for a in d.actions):
            event(d.reason.split(" (")[0].split(";")[0])
            assert not any(a.running(now) for a in world.values() if a.registered), f"completed: {d.reason}"
            return
        w = dataclasses.replace(w, tags=dict(done.tags if done.tags is not None else d.tags))
