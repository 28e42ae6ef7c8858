"""The gate's judgement, pure: one waiting instance plus what its agents look like now -> actions.

No I/O and no clock: every input is passed in, so the rules are tested exhaustively without servers. Heartbeats are
not judgement: the round's heartbeat pass sends them before anything here runs. The rules (docs/judgment.md), in order:
  no identity for the lifecycle action -> hold, touch nothing (leaving a warm pool is judged like any other); not proven
  ours (no heartbeat under our hook succeeded) and no hold of ours yet -> hold, touch nothing; max hold reached ->
  forced (the max hold and forced result of the instance's priority tier, gate.domain.tiers; by default the
  policy's); agent system unreachable -> hold (fail safe); an agent seen during this hold missing from the list -> ask
  for it directly; any agent still enabled -> disable it and hold; any agent busy, or not known to be idle -> hold;
  no agent ever seen -> hold until the unregistered grace, then release; before the lag bound (the latest disable +
  assignment_lag_seconds) -> hold, unless every agent's last job finished after its disable was acknowledged (then
  no job can have been assigned before the disable: an agent runs one job at a time); seen agents now absent ->
  hold until absent twice idle_confirm apart; then, after a look at the job requests, release: delete the agents,
  complete CONTINUE, clear the hold's tags.
With ECS draining on, every release except into a warm pool first sets the container instance DRAINING (only now:
DRAINING stops service tasks), holds one round, and with `ecs_wait_tasks` holds until no watched task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from gate.domain.actions import (
    Action,
    Complete,
    ConfirmDisables,
    DeleteAgent,
    DisableAgent,
    DrainContainerInstance,
    Result,
    SetTag,
)
from gate.domain.holdstate import (
    HOLD_TAG,
    AgentKey,
    HoldState,
    JobRef,
    action_hash,
    action_started,
    encode,
    fits,
    load,
    remembered,
    shrink,
    stale_keys,
)
from gate.domain.model import Agent, JobMeta, JobRequest, Outcome, ServiceTime, Waiting
from gate.domain.tiers import Tier, default_tier, resolve


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules' parameters. Their defaults are written here only: gate.settings.Settings (GATE_* variables) takes
    its defaults from this class and alone holds the allowed ranges; Terraform's come from those (issue 23)."""

    max_hold_seconds: float = 14_400
    idle_confirm_seconds: float = 15
    unregistered_grace_seconds: float = 300
    # The busy flag (assignedRequest) and the job request of a job assigned just before the disable can stay
    # invisible for ~30-60 s: no release earlier than this after the latest disable.
    assignment_lag_seconds: float = 60
    # The largest skew between the agent system's clock and the gate's (measured on every response: its `Date`) at
    # which the acknowledged-disable rule is used; over it, or unknown, the lag bound applies. The rule itself
    # compares finishTime only with the acknowledgement in the service's own time (one clock per comparison).
    clock_skew_seconds: float = 5
    heartbeat_interval_seconds: float = 60  # the heartbeat pass's cadence (gate.service.heartbeats); not used by decide
    delete_agent_on_release: bool = True
    forced_result: Result = "CONTINUE"
    check_job_requests: bool = True
    ecs_drain: bool = False
    ecs_wait_tasks: bool = False
    # Priority tiers (gate.domain.tiers): per-job max hold and forced result; the two fields above are the default.
    tiers: tuple[Tier, ...] = ()

    @property
    def default_tier(self) -> Tier:
        return default_tier(self.max_hold_seconds, self.forced_result)

    @property
    def ack_margin_seconds(self) -> float:
        """How much later than the disables' acknowledgement a job's finishTime must be to end the lag bound early
        (`_last_jobs_ended_after`): twice clock_skew_seconds plus 1 s. Both stamps are on the agent service's clock, but
        that clock may step between them (an NTP correction) without the skew check seeing it, as long as it stays
        within clock_skew_seconds (S) of the gate's on both sides. A job that ended at gate time t_f, before the
        disable answered at t_d, reads finishTime = t_f + s_f with s_f <= S, and the stamp k >= t_d + s_d with
        s_d >= -S (k is the response's `Date` rounded up: never earlier than the service's time at the answer), so
        finishTime - k < 2S: a step back of up to 2S (4 s ahead corrected to 4 s behind) cannot pass it off as a job
        that ended after the disable. The extra second covers the skew measure itself: it compares a one-second
        `Date` with the gate's clock read after the answer arrived, so a true skew can exceed the measured one by the
        answer's travel. The cost: a job that truly ended within the margin after the disable waits the bound."""
        return 2 * self.clock_skew_seconds + 1.0


@dataclass(frozen=True, slots=True)
class EcsFacts:
    """The instance's ECS container instance as ECS describes it, gathered at the edge only when a release is due."""

    container_instance_arn: str | None  # None: not registered in the cluster (nothing to drain)
    status: str | None = None  # ACTIVE, DRAINING, REGISTERING, DEREGISTERING, INACTIVE...
    tasks: int = 0  # tasks not yet STOPPED (STOPPING/DEACTIVATING count), except the ignored groups
    task_groups: tuple[str, ...] = ()  # their groups, for the reason text
    error: str | None = None  # ECS could not be asked: hold, fail safe


@dataclass(frozen=True, slots=True)
class Observation:
    """What the agent system said this round. `agents is None` means it could not be asked."""

    agents: Sequence[Agent] | None
    error: str | None = None
    # Agents seen earlier in the hold but missing from the list, asked for one by one (None = not asked yet);
    # a None value: the agent system says it does not exist (404).
    direct: Mapping[AgentKey, Agent | None] | None = None
    # Job requests per agent id, fetched only when a release is about to happen (None = not fetched).
    job_requests: Mapping[int, Sequence[JobRequest]] | None = None
    # Per agent id, the jobs remembered for it in this hold (Decision.remembered_jobs) that its job requests did not
    # show, read back one by one by id (GitLab); a job the service did not find (404) is left out: no evidence.
    read_back: Mapping[int, Sequence[JobRequest]] | None = None
    # The ECS container instance, fetched only when a release is about to happen with ecs_drain (None = not fetched).
    ecs: EcsFacts | None = None
    # Failure isolation (`_isolated`): the pools that could not be listed this round (pool id, or the configured name
    # when not even the id resolved) -> error, and the ids of those that answered.
    failed_pools: Mapping[int | str, str] = field(default_factory=dict)
    answered_pools: frozenset[int] = frozenset()
    # Each pool key's configured name, and the configured pools of the instance's group (GATE_GROUP_POOLS; None: not
    # configured, so the instance may have an agent in any pool).
    pool_names: Mapping[int | str, str] = field(default_factory=dict)
    group_pools: frozenset[str] | None = None
    # Ambiguity means hands off: agents matching this instance and another, left out of `agents` (descriptions).
    ambiguous: tuple[str, ...] = ()
    # The pools this instance may use gave an answer that can be believed: they listed agents, or their empty answer
    # is explained (every agent they listed before confirmed gone). An unexplained empty answer (every list emptied,
    # a `count` of 0 that agrees) is no evidence that nothing is registered (chaos seed 550).
    listed_any: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    actions: tuple[Action, ...] = ()
    held_since: float | None = None
    # The gate:* tags once the actions are carried out (the next round's Waiting.tags).
    tags: Mapping[str, str] = field(default_factory=dict)
    # When time alone may change the decision (lag bound, absence confirmation): re-check then.
    recheck_at: float | None = None
    # The decision wants these seen-but-missing agents asked for directly first.
    needs_agents: tuple[AgentKey, ...] = ()
    # The decision would release, but wants the job requests of these agents looked at first.
    needs_job_requests: tuple[Agent, ...] = ()
    # With needs_job_requests: per agent id, the jobs this hold remembers it running, for the edge to read back by
    # id where its job requests do not show them (Observation.read_back).
    remembered_jobs: Mapping[int, tuple[JobRef, ...]] = field(default_factory=dict)
    # The decision would release, but ECS draining is on: it wants the container instance looked at first.
    needs_ecs: bool = False
    # Why a hold is a fail-safe one (an error keeps it, not the agents): "agent_system", "ecs", "action_identity";
    # None for a hold on the evidence. Counted per invocation (FailsafeHolds metric) and alarmed when it persists.
    failsafe: str | None = None
    # The priority tier that applied (gate.domain.tiers): "default" unless a configured tier matched the jobs.
    tier: str | None = None

    @property
    def final(self) -> bool:
        return any(isinstance(a, Complete) for a in self.actions)


def stopped(agents: Sequence[Agent]) -> str:
    """`disabled a, b` in each agent's own words: GitLab runners are `paused` (Agent.stop_verb)."""
    verbs: dict[str, list[str]] = {}
    for a in agents:
        verbs.setdefault(f"{a.stop_verb}d", []).append(a.label())
    return "; ".join(f"{verb} {', '.join(labels)}" for verb, labels in verbs.items())


def _busy_reason(agents: Sequence[Agent], job_requests: Mapping[int, Sequence[JobRequest]] | None) -> str | None:
    for agent in agents:
        if agent.busy:
            return f"agent {agent.label()} runs request {agent.assigned_request}"
        for job in (job_requests or {}).get(agent.id, ()):
            if not job.finished:
                return f"agent {agent.label()} has unfinished job request {job.request_id}"
    return None


def _absent_agent(key: AgentKey, source: str) -> Agent:
    """A seen agent the system no longer lists: enough to ask for its job requests and delete what is left."""
    pool, agent = key
    return Agent(source, pool, str(pool), agent, f"#{agent}", enabled=False)


class _Hold:
    """One decision in the making: the actions so far and the hold state they lead to."""

    def __init__(self, waiting: Waiting, state: HoldState | None, now: float, tier: Tier) -> None:
        self.lifecycle_state = waiting.lifecycle_state
        self.tier = tier
        self.now = now
        self.actions: list[Action] = []
        self.tags: dict[str, str] = {k: v for k, v in waiting.tags.items() if v}
        self.state = state

    def write(self, state: HoldState) -> None:
        """Remember the state in the tag (one CreateTags) when it changed; clear tags of other holds with it."""
        self.state = state
        value = encode(state)
        if self.tags.get(HOLD_TAG) != value:
            self.tags[HOLD_TAG] = value
            at = [i for i, a in enumerate(self.actions) if isinstance(a, SetTag) and a.key == HOLD_TAG]
            if at:  # one CreateTags per decision, where the first write stood (before any disable)
                self.actions[at[0]] = SetTag(HOLD_TAG, value)
            else:
                self.actions.append(SetTag(HOLD_TAG, value))
        for key in stale_keys(self.tags):
            if key != HOLD_TAG:
                self.actions.append(SetTag(key, ""))
                del self.tags[key]

    def clear(self) -> None:
        """The hold ends: every hold tag goes (after the completion, which nothing may block)."""
        for key in stale_keys(self.tags):
            self.actions.append(SetTag(key, ""))
            del self.tags[key]

    def decision(self, outcome: Outcome, reason: str, **kw: object) -> Decision:
        held = self.state.held_since if self.state else None
        kw.setdefault("tier", self.tier.name)
        asked = kw.get("needs_job_requests")
        if isinstance(asked, tuple) and asked and self.state is not None:
            jobs = {a.id: remembered(self.state, (a.pool_id, a.id)) for a in asked}
            kw["remembered_jobs"] = {k: v for k, v in jobs.items() if v}
        return Decision(outcome, reason, tuple(self.actions), held, dict(self.tags), **kw)  # type: ignore[arg-type]


def decide(waiting: Waiting, observation: Observation, policy: Policy, now: float, *, proven: bool = False) -> Decision:
    """`proven`: a heartbeat by instance id under our hook succeeded for this action (the heartbeat pass):
    the action is ours. Needed before the first tag or disable; a hold tag of this action is proof enough later."""
    state = load(waiting.tags, waiting.action_id, now)
    started = action_started(waiting.action_id)  # a fact AWS keeps: the hold's clock never rests on our tag alone
    if started is not None:
        started = min(started, now)
        if state is not None:
            state = replace(state, held_since=started)
    hold = _Hold(waiting, state, now, _tier(policy, observation, state.seen if state is not None else frozenset()))

    if waiting.action_id is None:
        enabled = [a for a in observation.agents or () if not a.drained] if proven else []
        if enabled:  # ours (a heartbeat under our hook succeeded): still the safe action, with nothing to bind it to
            hold.actions.extend(DisableAgent(a) for a in enabled)
            reason = "no identity for this lifecycle action yet: holding; " + stopped(enabled)
            return hold.decision(Outcome.HELD, reason, failsafe="action_identity")
        reason = "no identity for this lifecycle action yet: holding, touching nothing"
        return hold.decision(Outcome.HELD, reason, failsafe="action_identity")
    if state is None:
        if not proven:
            return hold.decision(Outcome.HELD, "not proven ours yet (no heartbeat under our hook): touching nothing")
        state = HoldState(action_hash(waiting.action_id), held_since=now if started is None else started)
        hold.write(state)
    return _judge(hold, state, observation, policy)


def _judge(hold: _Hold, state: HoldState, obs: Observation, policy: Policy) -> Decision:
    now, held = hold.now, max(0.0, hold.now - state.held_since)
    listed = list(obs.agents or ())
    if state.released_at is not None and listed:  # an agent present again: judged afresh, no release carried over
        state = replace(state, released_at=None)
        hold.write(state)

    if held >= hold.tier.max_hold_seconds:
        return _forced(hold, listed, obs, policy, held)
    if obs.agents is None:
        _doubt_absence(hold, state)
        reason = f"agent system unavailable ({obs.error or 'unknown error'}): fail safe"
        return hold.decision(Outcome.HELD, reason, failsafe="agent_system")
    isolated = _isolated(hold, state, obs, listed)
    if isolated is not None:
        return isolated

    # "No hold skips a safe action": whatever stops a release below (overflow, missing evidence, an error while
    # gathering it), every enabled agent of the instance is disabled first.
    missing = tuple(sorted(state.seen - {(a.pool_id, a.id) for a in listed}))
    asking = bool(missing) and obs.direct is None and obs.error is None
    state, present, gone = _account(state, listed, missing, obs.direct, now)
    if state.released_at is not None and present:  # found by a direct look-up: the same
        state = replace(state, released_at=None)
        hold.write(state)
    state = replace(state, confirmed_at=_plausible_ack(state, now, policy))
    state = _note_busy(state, present, obs.job_requests)
    state = _note_jobs(state, present, obs.job_requests)
    if state.seen and state.listed_since is not None:  # the grace is over for good: free the tag's 27 characters
        state = replace(state, listed_since=None)

    enabled = [a for a in present if not a.drained]
    if enabled:
        disabled = state.disabled(now)
        hold.write(disabled)  # the tag first (a failed write does not stop the disable: gate.service.execute)
        hold.actions.extend(DisableAgent(a) for a in enabled)
        # Stamp the acknowledgement only when a disabled agent visibly runs a job that may end after the disable:
        # an idle agent's record lacks `assignedRequest` as much as one whose field is missing, and an idle victim
        # has no job to end after it (its stamp would only cost a CreateTags and 27 characters of the tag).
        if any(a.busy for a in enabled):
            hold.actions.append(ConfirmDisables(disabled, policy.clock_skew_seconds))
        reason = "draining: " + stopped(enabled)
        if obs.error is not None:
            return hold.decision(Outcome.HELD, f"{reason}; {obs.error}: fail safe", failsafe="agent_system")
        if disabled.overflow:
            reason += "; too many agents to remember in one tag: holding until max hold"
        return hold.decision(Outcome.HELD, reason, needs_agents=missing if asking else ())
    if obs.error is not None:  # the list came, further evidence did not
        return hold.decision(Outcome.HELD, f"{obs.error}: fail safe", failsafe="agent_system")
    if state.overflow:
        hold.write(state)
        return hold.decision(Outcome.HELD, "too many agents to remember in one tag: holding until max hold")
    if asking:
        reason = f"{len(missing)} agent(s) seen earlier in this hold missing from the list: asking for them"
        return hold.decision(Outcome.HELD, reason, needs_agents=missing)
    if state.released_at is not None and gone and not present:
        return _complete_again(hold, state, obs, policy, gone)

    busy = _busy_reason(present + gone, obs.job_requests)
    if busy:
        if any(not j.finished for a in gone for j in (obs.job_requests or {}).get(a.id, ())):
            state = replace(state, absent_since=None)  # absence only counts with no unfinished job request
        hold.write(state)
        # Priority tiers: a busy flag that names no job (GitLab's job_execution_status) says nothing of the job's
        # tier; its running jobs do (their metadata), so they are looked at (gate.domain.tiers).
        unsaid = tuple(a for a in present if a.busy and a.job is None and not a.assigned_known)
        # And to remember which jobs they run (GitLab): should the agent's job list never show those jobs' end (a
        # runner that unregisters as its job ends is 404 with its jobs), they are read back by id. Once for a paused
        # runner (it takes no new job); on every look for an agent that cannot be paused (a shared runner's manager).
        unremembered = any(
            a.readable_jobs and (not a.disableable or not remembered(state, (a.pool_id, a.id))) for a in unsaid
        )
        remembering = unremembered and not state.jobs_lost and not state.overflow
        if (policy.tiers or remembering) and unsaid and obs.job_requests is None:
            return hold.decision(Outcome.HELD, f"busy: {busy}", needs_job_requests=unsaid)
        return hold.decision(Outcome.HELD, f"busy: {busy}")
    if state.pending:
        # Disables whose return was never recorded (a lost write, a crash, another container, or still in flight):
        # the lag bound cannot run from their decision. This look shows every agent of the hold disabled or gone,
        # so they have taken effect by now: the bound starts over from here.
        state = replace(state, disabled_at=now, confirmed_at=None, pending=False)
        hold.write(state)
        reason = "drained; when the disables took effect was not recorded: the lag bound starts over now"
        return hold.decision(Outcome.HELD, reason, recheck_at=now + policy.assignment_lag_seconds)
    unknown = tuple(a for a in present if not a.assigned_known)
    hold.write(state)
    if unknown and obs.job_requests is None:
        reason = f"agent {unknown[0].label()} reported without its busy field: checking its job requests"
        # The absent agents' too: the edge gathers job requests once per round, and a release needs theirs.
        return hold.decision(Outcome.HELD, reason, needs_job_requests=unknown + tuple(gone))
    unproven = _unproven_idle(state, unknown, listed, obs.job_requests or {}, obs.read_back or {})
    if unproven:
        return hold.decision(Outcome.HELD, f"not proven idle: {unproven}")

    if not state.seen:
        if not obs.listed_any:
            reason = (
                "every agent list this instance may depend on came back empty, and nothing explains it (agents it "
                "listed before confirmed gone): no evidence that it has no agent; holding"
            )
            return hold.decision(Outcome.HELD, reason, failsafe="agent_pool")
        # The grace counts only time in which the gate could see the agents: from the first complete agent list of
        # this hold (every earlier look failed: blind), and it takes a second empty look at least idle_confirm later.
        grace = policy.unregistered_grace_seconds
        if state.listed_since is None:
            state = replace(state, listed_since=now)
            hold.write(state)
        assert state.listed_since is not None
        wait, looked = max(grace, policy.idle_confirm_seconds), now - state.listed_since
        if now > state.listed_since and looked >= wait:
            reason = f"no agent registered for the instance after {grace:.0f}s grace (agent lists complete)"
            return _release(hold, obs, policy, reason, [], [])
        reason = f"no agent found yet; grace {grace:.0f}s from the first complete agent list, {looked:.0f}s so far"
        return hold.decision(Outcome.HELD, reason, recheck_at=max(state.listed_since + wait, now + 0.001))

    lag_end = (state.disabled_at if state.disabled_at is not None else state.held_since) + policy.assignment_lag_seconds
    ack = state.confirmed_at if now < lag_end and _may_end_the_bound_early(state, present, gone) else None
    if ack is not None and obs.job_requests is None:
        reason = "idle and drained inside the lag bound: checking whether its last job ended after the disable"
        return hold.decision(Outcome.HELD, reason, needs_job_requests=tuple(present), recheck_at=lag_end)
    ended = ack is not None and _last_jobs_ended_after(ack + policy.ack_margin_seconds, present, obs.job_requests or {})
    if now < lag_end and not ended:
        reason = (
            f"idle and drained; a job assigned just before the disable may not show yet: waiting {lag_end - now:.0f}s"
            f" more (lag bound {policy.assignment_lag_seconds:.0f}s)"
        )
        return hold.decision(Outcome.HELD, reason, recheck_at=lag_end)
    if gone:
        if state.absent_since is None:
            state = replace(state, absent_since=now)
            hold.write(state)
        assert state.absent_since is not None
        # Two looks idle_confirm apart, and the lag bound from the first: an agent that deregistered may be back
        # under a new id (clean-workspace re-registration) and take a job before its record shows; a new
        # registration seen meanwhile restarts the confirmation (`_account`). A 404 alone proves nothing runs.
        wait = max(policy.idle_confirm_seconds, policy.assignment_lag_seconds)
        if _reads_back(state):  # its job's end read back by id, what is left is whether it registered again
            wait = max(wait, policy.unregistered_grace_seconds)
        due = state.absent_since + wait
        if state.absent_since >= now or now < due:
            reason = f"{len(gone)} agent(s) seen earlier now absent: confirming for {wait:.0f}s"
            return hold.decision(Outcome.HELD, reason, recheck_at=max(due, now + 0.001))

    checkable = tuple(a for a in present if a.disableable) + tuple(gone)
    if checkable and obs.job_requests is None and (policy.check_job_requests or gone or unknown):
        reason = "idle and drained past the lag bound; checking job requests"
        return hold.decision(Outcome.HELD, reason, needs_job_requests=checkable)
    reason = "idle and drained past the lag bound"
    if now < lag_end:
        reason = "idle and drained; every agent's last job ended after the disable was acknowledged (no lag bound)"
    if gone:
        reason += f"; {len(gone)} agent(s) confirmed absent"
        unproven = _unproven_gone(state, gone, obs.job_requests or {}, obs.read_back or {}, obs.listed_any)
        if unproven:
            return hold.decision(Outcome.HELD, f"not proven idle: {unproven}")
    return _release(hold, obs, policy, reason, present, gone, state)


def _complete_again(hold: _Hold, state: HoldState, obs: Observation, policy: Policy, gone: Sequence[Agent]) -> Decision:
    """This action's release was decided by the gate (`r=`: every agent disabled and proven idle, then deleted) and
    its completion has not gone through (throttled, failed, the process killed after the deletes). The decision is
    the evidence, bound to this action; what may have changed since is a new registration, so it is carried out
    only while every agent seen in the hold is confirmed absent (404) and none is present (any agent present voids
    `r=`: `_judge`), on an agent list that can be believed, and no earlier than the absence rule's wait after the
    deletes (a re-registration right after them shows meanwhile). No new idle evidence is asked for: the deleted
    agents' job requests may never show their last job finished, which held such an instance to max hold."""
    assert state.released_at is not None
    if not obs.listed_any:
        reason = "release decided earlier, agents deleted; the agent lists came back empty unexplained: holding"
        return hold.decision(Outcome.HELD, reason, failsafe="agent_pool")
    wait = max(policy.idle_confirm_seconds, policy.assignment_lag_seconds)
    due = state.released_at + wait
    if hold.now < due:
        reason = f"release decided, {len(gone)} agent(s) deleted; confirming that none registers again for {wait:.0f}s"
        return hold.decision(Outcome.HELD, reason, recheck_at=max(due, hold.now + 0.001))
    hold.actions.append(Complete("CONTINUE"))
    hold.clear()
    reason = (
        f"release decided earlier for this action ({len(gone)} agent(s) disabled, proven idle and deleted); "
        "completing it again: no agent of the instance is registered"
    )
    return hold.decision(Outcome.RELEASED, reason)


def _isolated(hold: _Hold, state: HoldState, obs: Observation, listed: Sequence[Agent]) -> Decision | None:
    """Failure isolation and ambiguity (docs/judgment.md): hold, with every safe action, an instance that may have
    agents in a pool that failed this round, or that an ambiguous agent may belong to. Release needs positive
    evidence, and nothing says an instance has no agent in a pool that cannot be listed: so every failing pool counts,
    unless GATE_GROUP_POOLS lists its group's pools (then only those), and always a pool an agent of it was seen in
    during this hold (for a pool whose id did not resolve: any seen pool that did not answer). Its listed agents are
    still disabled; agents it cannot see are never asked for or deleted. None: judge as usual."""
    keys = {(a.pool_id, a.id) for a in listed}
    seen = state.seen | keys
    pools = {p for p, _ in seen}

    def depends(p: int | str) -> bool:
        if p in pools if isinstance(p, int) else bool(pools - obs.answered_pools):
            return True  # evidence: an agent of it was seen there, whatever the configuration says
        name = obs.pool_names.get(p, p if isinstance(p, str) else None)
        return obs.group_pools is None or name is None or name in obs.group_pools

    failing = sorted(obs.failed_pools.items(), key=lambda item: str(item[0]))
    blind = [f"{p} ({error})" for p, error in failing if depends(p)]
    if not blind and not obs.ambiguous:
        return None
    enabled = [a for a in listed if not a.drained]
    if enabled or keys - state.seen:
        state = state.with_seen(keys - state.seen).disabled(hold.now)
        state = shrink(state)
    if blind and state.absent_since is not None and _reads_back(state):  # no look at a new registration: over again
        state = replace(state, absent_since=None)
    hold.write(state)
    hold.actions.extend(DisableAgent(a) for a in enabled)
    if any(a.busy or not a.assigned_known for a in enabled):
        hold.actions.append(ConfirmDisables(state))
    parts = [f"agent pool {b} failing: the instance may have agents there" for b in blind]
    parts += [f"hands off: {a}" for a in obs.ambiguous]
    if enabled:
        parts.append(stopped(enabled))
    return hold.decision(Outcome.HELD, "; ".join(parts), failsafe="agent_pool" if blind else "ambiguous_agent")


def _note_busy(
    state: HoldState, present: Sequence[Agent], job_requests: Mapping[int, Sequence[JobRequest]] | None
) -> HoldState:
    """Remember the agents seen busy in this look (assignedRequest, or an unfinished job request reserved by it):
    from now on, with the busy field missing, only a finished job request of the agent shows it idle."""
    jobs = job_requests or {}
    busy = {(a.pool_id, a.id) for a in present if a.busy or any(not j.finished for j in jobs.get(a.id, ()))}
    new = (busy & state.seen) - state.busy
    if not new or state.overflow:
        return state
    state = replace(state, busy=state.busy | new)
    return shrink(state)


def _note_jobs(
    state: HoldState, present: Sequence[Agent], job_requests: Mapping[int, Sequence[JobRequest]] | None
) -> HoldState:
    """Remember the jobs seen running on the hold's agents in this look that can be read back by id (a project id:
    GitLab), whether each named the agent or no agent: the evidence of their end when the agent's own job list
    cannot show it (`_read_back_idle`). Only a whole memory counts: once lost (`shrink`), never noted again."""
    if state.jobs_lost or state.overflow or not job_requests:
        return state
    new = {
        ((a.pool_id, a.id), JobRef(j.project_id, j.request_id, j.attributed))
        for a in present
        if (a.pool_id, a.id) in state.seen
        for j in job_requests.get(a.id, ())
        if not j.finished and j.project_id is not None
    }
    if not new - state.jobs:
        return state
    return shrink(replace(state, jobs=state.jobs | frozenset(new)))


def _reads_back(state: HoldState) -> bool:
    """Whether an agent confirmed absent may be shown idle only by its jobs read back by id: seen busy, with jobs
    remembered (GitLab: a deleted runner's job list answers 404). The job's end is then known, but not whether the
    runner registered again under a new id that the lists do not show yet (no instance guard, a shortened list): its
    absence is confirmed for the unregistered grace too, and only over looks that could see the lists
    (`_doubt_absence`)."""
    return not state.jobs_lost and any(k in state.busy and remembered(state, k) for k in state.absent)


def _doubt_absence(hold: _Hold, state: HoldState) -> HoldState:
    """A look that could not see the instance's agents (the list failed, or was caught leaving out an agent that
    exists) shows no new registration either: an absence that only read-back evidence will end starts over."""
    if state.absent_since is None or not _reads_back(state):
        return state
    state = replace(state, absent_since=None)
    hold.write(state)
    return state


def _read_back_idle(
    state: HoldState,
    agent: Agent,
    jobs: Sequence[JobRequest],
    read_back: Mapping[int, Sequence[JobRequest]],
) -> bool:
    """Positive evidence that an agent seen busy in this hold runs none of the jobs it was seen running, when its own
    job list shows no finished job of it (a runner that unregistered: 404 with its jobs; a manager seen busy only
    through jobs that named no manager, which now name another). Every job remembered for it in this hold, read back
    by id (or shown by its job list), is finished (`finished_at`: GitLab's own word that it ended), or, if it named
    no agent when seen, now names another agent. A job not found (404), still running, or named by no one yet is no
    evidence: hold. Nothing here compares the gate's clock with the service's. Running jobs of its own job list are
    `_busy_reason`'s, before this."""
    refs = remembered(state, (agent.pool_id, agent.id))
    if not refs:
        return False
    answers = {j.request_id: j for j in (*jobs, *read_back.get(agent.id, ()))}
    for ref in refs:
        job = answers.get(ref.job_id)
        if job is None:
            return False
        ended = job.finished and job.finished_at is not None
        elsewhere = not ref.attributed and job.agent_id is not None and job.agent_id != agent.id
        if not (ended or elsewhere):
            return False
    return True


def _unproven_idle(
    state: HoldState,
    unknown: Sequence[Agent],
    listed: Sequence[Agent],
    job_requests: Mapping[int, Sequence[JobRequest]],
    read_back: Mapping[int, Sequence[JobRequest]],
) -> str | None:
    """Positive evidence for an agent whose record lacks the busy field (docs/judgment.md, "a missing field is not
    idleness"): its job requests must be a real answer that shows it idle. Why an agent is not shown idle, or None.

    * Seen busy during this hold: a job request of it seen finished (finishTime). The request seen unfinished or
      assigned merely missing from a list is not finished (a list can come back emptied); an absent agent (404 twice)
      is judged by the absence rule instead. Or, where its jobs can be read back by id (GitLab), every job it was
      seen running in this hold ended or, having named no agent, names another now (`_read_back_idle`).
    * Never seen busy: an empty answer counts only when this look's agent list itself listed the agent (a list that
      came back whole). An agent known only from a direct look-up, because the list lacked it, has its empty
      job-request answer count for nothing: the lists of this look are not to be trusted.
    Azure DevOps leaves `assignedRequest` out of every idle agent's record, so an empty answer for an agent that the
    list shows must stay evidence, or an agent that never ran a job would be held until max hold."""
    in_list = {(a.pool_id, a.id) for a in listed}
    for agent in unknown:
        key = (agent.pool_id, agent.id)
        jobs = job_requests.get(agent.id)
        if jobs is None:
            return f"agent {agent.label()}: its job requests were not looked at"
        if key in state.busy:
            if not any(j.finished for j in jobs) and not _read_back_idle(state, agent, jobs, read_back):
                return (
                    f"agent {agent.label()} was seen busy in this hold and its record lacks the busy field; no job "
                    "request of it is seen finished (finishTime) yet"
                )
        elif not jobs and key not in in_list:
            return (
                f"agent {agent.label()} is missing from the agent list and its record lacks the busy field; an empty "
                "job-request answer is no evidence"
            )
    return None


def _unproven_gone(
    state: HoldState,
    gone: Sequence[Agent],
    job_requests: Mapping[int, Sequence[JobRequest]],
    read_back: Mapping[int, Sequence[JobRequest]],
    listed_any: bool = True,
) -> str | None:
    """An agent confirmed absent (404) that was seen busy in this hold needs a job request of it seen finished
    (finishTime), like a present one lacking its busy field: the job it ran stays in its job requests after its
    registration goes. An answer without one is an emptied list, and the agent lists of the same looks, which
    confirmed that no new registration took its place, may be emptied too (chaos seed 120: the agent re-registered
    under a new id and took a job while every list came back empty). Where jobs can be read back by id (GitLab, whose
    deleted runner answers 404 with its jobs), every job it was seen running in this hold, read back ended, is that
    evidence (`_read_back_idle`); a new registration seen meanwhile still restarts the absence (`_account`). Why
    not, or None."""
    for agent in gone:
        if (agent.pool_id, agent.id) not in state.busy:
            continue
        jobs = job_requests.get(agent.id)
        if jobs is None:
            return f"agent {agent.label()} is absent: its job requests were not looked at"
        if not any(j.finished for j in jobs) and not (listed_any and _read_back_idle(state, agent, jobs, read_back)):
            return (
                f"agent {agent.label()} was seen busy in this hold and is now absent; no job request of it is seen "
                "finished (finishTime): its job requests and the agent lists may have come back emptied"
            )
    return None


def _may_end_the_bound_early(state: HoldState, present: Sequence[Agent], gone: Sequence[Agent]) -> bool:
    """Whether job requests could end the lag bound early: the disables were acknowledged, and every agent is
    present and can be asked for its job requests (an absent agent, a GitHub runner: only the bound)."""
    return state.confirmed_at is not None and bool(present) and not gone and all(a.disableable for a in present)


def _plausible_ack(state: HoldState, now: float, policy: Policy) -> float | None:
    """The acknowledgement, unless the tag's value cannot be one: later than now or earlier than its disable by more
    than the skew at which the edge stamps at all. A sanity check on a tag value (it compares the service's time with
    the gate's only to throw evidence away, never to create it)."""
    ack, disabled = state.confirmed_at, state.disabled_at
    slack = policy.clock_skew_seconds + 1.0  # the stamp is rounded up to the next second
    if ack is None or disabled is None or ack > now + slack or ack < disabled - slack:
        return None
    return ack


def acknowledgement(acks: Sequence[ServiceTime | None], max_skew: float) -> tuple[float | None, str]:
    """The disables' acknowledgement to stamp (`k=`), on the agent system's clock: the latest PATCH response's
    service time. None (the lag bound applies), with why, when any disable has no service time or when the measured
    skew is large: the rule compares finishTime only with this stamp (one clock), and a large skew is a sign that
    something about the clocks is off, so the early release is simply not used."""
    if not acks or any(a is None for a in acks):
        return None, "no service time for the disables' acknowledgement (no Date): the lag bound applies"
    known = [a for a in acks if a is not None]
    worst = max((a.skew for a in known), key=abs)
    if abs(worst) > max_skew:
        return None, f"agent service clock skew {worst:+.0f}s (over {max_skew:.0f}s): the lag bound applies"
    return max(a.at for a in known), ""


def _last_jobs_ended_after(
    after: float, present: Sequence[Agent], job_requests: Mapping[int, Sequence[JobRequest]]
) -> bool:
    """Positive evidence against the lag bound's risk, a job assigned just before the disable and not yet shown:
    every agent's newest job finished (finishTime) after the disable was acknowledged. An agent runs one job at a
    time, so nothing was assigned to it between that job's start and the disable, and nothing can be after.
    An agent whose last job ended before the disable (an idle victim) proves nothing: it waits the bound.
    `after`: the acknowledgement plus Policy.ack_margin_seconds, on the agent system's clock like finishTime (one
    clock per comparison; the margin covers a step of that clock the skew check cannot see)."""
    for agent in present:
        jobs = job_requests.get(agent.id)
        if not jobs or any(not j.finished for j in jobs):
            return False
        ends = [j.finished_at for j in jobs if j.agent_id == agent.id and j.finished_at is not None]
        if not ends or max(ends) < after:
            return False
    return True


def _account(
    state: HoldState,
    listed: Sequence[Agent],
    missing: Sequence[AgentKey],
    direct: Mapping[AgentKey, Agent | None] | None,
    now: float,
) -> tuple[HoldState, list[Agent], list[Agent]]:
    """Merge the list and the direct look-ups into the hold state: (state, agents present, agents confirmed absent).
    `direct` None: the missing agents were not asked for yet (their absence is left as it was).
    A new registration is a new agent: seen for the first time, it counts as just disabled (a job may have landed on
    it just before: the lag bound restarts), and any absence being confirmed starts over (the absent agent may be
    this one under a new id). An overflowed hold remembers no agents: every one looks new, nothing restarts."""
    found = direct or {}
    present = list(listed) + [a for k in missing if (a := found.get(k)) is not None]
    new = {(a.pool_id, a.id) for a in present} - state.seen
    if new and not state.overflow:
        state = replace(state.with_seen(new).disabled(now), absent_since=None)
    absent = state.absent
    if direct is not None or not missing:  # else: not asked yet, the absence stays as it was
        absent = frozenset(k for k in missing if k in found and found[k] is None)
        if absent != state.absent:
            state = replace(state, absent=absent, absent_since=None)
    state = shrink(state)
    source = present[0].source if present else (listed[0].source if listed else "azure-devops")
    known = direct is not None or not missing
    return state, present, [_absent_agent(k, source) for k in sorted(absent)] if known else []


def _may_run_a_job(agent: Agent, job_requests: Mapping[int, Sequence[JobRequest]] | None) -> bool:
    """Busy, an unfinished job request, or no evidence either way (the busy field missing, job requests unasked)."""
    jobs = (job_requests or {}).get(agent.id)
    if agent.busy or any(not j.finished for j in jobs or ()):
        return True
    return not agent.assigned_known and jobs is None


def _forced(hold: _Hold, agents: Sequence[Agent], obs: Observation, policy: Policy, held: float) -> Decision:
    """Complete with the forced result. Agents that may run a job are disabled but never deleted: deleting a busy
    agent's registration abandons its job on Azure DevOps' side at once (the service fails the job when its agent
    goes), which would kill a build that ABANDON with retention keeps alive, and with CONTINUE turns a build the
    instance's own shutdown may still let finish into a certain loss. A busy agent is left registered, disabled."""
    tier = hold.tier
    deleting = tier.forced_result == "CONTINUE" and policy.delete_agent_on_release
    unknown = tuple(a for a in agents if not a.assigned_known and a.disableable)
    if deleting and unknown and obs.job_requests is None and obs.error is None and obs.agents is not None:
        reason = f"max hold reached; checking the job requests of {len(unknown)} agent(s) before deleting any"
        return hold.decision(Outcome.HELD, reason, needs_job_requests=unknown)
    busy = _busy_reason(agents, obs.job_requests)
    state = f"; {busy}" if busy else ""
    if obs.failed_pools:  # failure isolation: an agent in a failing pool cannot be seen, so it is never deleted
        state += f"; agent pool(s) {', '.join(map(str, obs.failed_pools))} failing: any agent there left registered"
    # Keep new jobs off an instance we are giving up on, and keep a retained (ABANDON) agent registered.
    hold.actions.extend(DisableAgent(a) for a in agents if not a.drained)
    hold.actions.append(Complete(tier.forced_result))  # nothing may block a forced completion
    if deleting:
        kept = [a for a in agents if _may_run_a_job(a, obs.job_requests)]
        hold.actions.extend(DeleteAgent(a) for a in agents if a not in kept)
        if kept:
            labels = ", ".join(a.label() for a in kept)
            state += f"; kept registered (disabled), may run a job: {labels} (deleting it would abandon the job)"
    hold.clear()
    bound = f"{held:.0f}s >= {tier.max_hold_seconds:.0f}s" + ("" if tier.name == "default" else f", tier {tier.name}")
    return hold.decision(Outcome.FORCED, f"max hold reached ({bound}){state}")


def _tier(policy: Policy, obs: Observation, seen: frozenset[AgentKey]) -> Tier:
    """The priority tier for this look (gate.domain.tiers), from the jobs the instance's agents run now: each busy
    agent's assigned request and every unfinished job request looked at. Anything that may hide a job (the list
    failed or came back doubtful, a failing pool, an ambiguous agent, a seen agent missing and not yet asked for, a
    busy field missing with its job requests unasked) counts as a job that said nothing: the strictest tier it may be
    in, never less than the default."""
    if obs.agents is None:
        return resolve(policy.tiers, policy.default_tier, [], complete=False)
    present = list(obs.agents)
    direct = obs.direct or {}
    missing = seen - {(a.pool_id, a.id) for a in present}
    complete = obs.error is None and not obs.failed_pools and not obs.ambiguous and obs.listed_any
    complete = complete and all(k in direct for k in missing)
    present += [a for k in missing if (a := direct.get(k)) is not None]
    requests = obs.job_requests or {}
    # A busy flag that names no job (GitLab's job_execution_status) is a job that said nothing, unless the agent's
    # running jobs were looked at: then those are its jobs, with their metadata (below).
    running = {i for i, js in requests.items() if any(not j.finished for j in js)}
    jobs: list[JobMeta | None] = [a.job for a in present if a.busy and (a.job is not None or a.id not in running)]
    jobs += [j.meta for js in requests.values() for j in js if not j.finished]
    complete = complete and all(a.assigned_known or a.id in requests for a in present)
    return resolve(policy.tiers, policy.default_tier, jobs, complete)


def _release(
    hold: _Hold,
    obs: Observation,
    policy: Policy,
    reason: str,
    agents: Sequence[Agent],
    gone: Sequence[Agent],
    state: HoldState | None = None,
) -> Decision:
    """Complete CONTINUE after deleting the agents (a failed delete holds and is retried: nothing left behind), and
    after draining the ECS container instance when that is configured. Agents already absent are deleted after the
    completion (a formality: their records are gone; a failure must not hold the instance).

    Record, delete, complete: the decision is written first (`r=`, `state`), so a completion that fails after the
    deletes is retried later on that decision (`_complete_again`) instead of on idle evidence the deleted agents can
    no longer give. Killed after the record, the agents are still present and void it; a record that could not be
    written (or does not fit the tag) leaves today's hold."""
    # Not for an instance going into a warm pool: it comes back, and a DRAINING container instance stays DRAINING.
    if policy.ecs_drain and hold.lifecycle_state != "Warmed:Pending:Wait":
        ecs = obs.ecs
        if ecs is None:
            return hold.decision(Outcome.HELD, f"{reason}; checking the ECS container instance", needs_ecs=True)
        if ecs.error is not None:
            reason = f"{reason}; ECS unavailable ({ecs.error}): holding, fail safe"
            return hold.decision(Outcome.HELD, reason, failsafe="ecs")
        if ecs.container_instance_arn is not None:
            if ecs.status == "ACTIVE":
                hold.actions.append(DrainContainerInstance(ecs.container_instance_arn))
                return hold.decision(Outcome.HELD, f"{reason}; setting the container instance DRAINING")
            if policy.ecs_wait_tasks and ecs.tasks > 0:
                groups = ", ".join(sorted(set(ecs.task_groups))) or "unknown"
                return hold.decision(
                    Outcome.HELD,
                    f"{reason}; container instance {ecs.status}, {ecs.tasks} task(s) still running ({groups})",
                )
            reason = f"{reason}; container instance {ecs.status}"
    if policy.delete_agent_on_release:
        marked = _marked(state, hold.now) if agents else None
        if marked is not None:
            hold.write(marked)
        hold.actions.extend(DeleteAgent(a) for a in agents)
    hold.actions.append(Complete("CONTINUE"))
    if policy.delete_agent_on_release:
        hold.actions.extend(DeleteAgent(a) for a in gone)
    hold.clear()
    return hold.decision(Outcome.RELEASED, reason)


def _marked(state: HoldState | None, now: float) -> HoldState | None:
    """The hold state with the release decision recorded (`r=`), or None when it cannot be recorded in the tag
    without losing something (the acknowledgement `k=` is dropped first: it no longer matters; then the remembered
    GitLab jobs, marked lost (`j=-`): should the record be voided, the hold goes on without read-back evidence)."""
    if state is None or state.overflow:
        return None
    marked = replace(state, released_at=now)
    if fits(marked):
        return marked
    marked = replace(marked, confirmed_at=None)
    if fits(marked) or not marked.jobs:
        return marked if fits(marked) else None
    marked = replace(marked, jobs=frozenset(), jobs_lost=True)
    return marked if fits(marked) else None
