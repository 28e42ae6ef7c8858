"""Decide, and ask the edges for the evidence `decide` wants before it may release: the agents it saw earlier in the
hold but that the list lacks (asked for one by one), their job requests, the ECS container instance, and a final look
at the instance's agents just before the release is carried out.

One loop for every caller (the judgment pass and the retained-instance cleanup), so the evidence rules are the same
wherever a hold ends. A failure to gather evidence is an observation of an unavailable agent system: `decide` holds.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from gate.domain.decide import Decision, EcsFacts, Observation, Policy, decide
from gate.domain.holdstate import AgentKey, JobRef
from gate.domain.model import Agent, JobRequest, Outcome, Waiting
from gate.service.sources import AgentSource, AgentSourceError

if TYPE_CHECKING:
    from gate.adapters.ecs import Ecs


def _direct(
    source: AgentSource, keys: tuple[AgentKey, ...], asked: Mapping[AgentKey, Agent | None]
) -> dict[AgentKey, Agent | None]:
    """`asked`: this round's answers already (the list audit, gate.service.sources.audited): not asked twice."""
    found: dict[AgentKey, Agent | None] = {k: asked[k] for k in keys if k in asked}
    by_pool: dict[int, list[int]] = defaultdict(list)
    for pool, agent in keys:
        if (pool, agent) not in found:
            by_pool[pool].append(agent)
    for pool, ids in by_pool.items():
        answer = source.get_agents(pool, ids)
        for agent_id in ids:
            if agent_id not in answer:  # an answer that skips an id is no evidence of absence
                raise AgentSourceError(f"get agents of pool {pool}: no answer for agent {agent_id}")
            found[(pool, agent_id)] = answer[agent_id]
    return found


def _owned(
    found: Mapping[AgentKey, Agent | None], owns: Callable[[Agent], bool] | None
) -> tuple[dict[AgentKey, Agent | None], tuple[str, ...]]:
    """The agents asked for by id whose record still maps them to this instance (and the 404s), and a description of
    each one whose record now maps it to another instance or to none: the agent system's record, not the hold's
    memory of the id (its tag's `s=`), says whose agent it is. Such an agent is left out (never disabled or deleted
    here) and the instance holds, hands off, as for an ambiguous agent."""
    if owns is None:
        return dict(found), ()
    kept: dict[AgentKey, Agent | None] = {}
    foreign: list[str] = []
    for key, agent in found.items():
        if agent is not None and not owns(agent):
            foreign.append(
                f"agent {agent.label()}, seen earlier in this hold, now maps to another instance or to none: "
                "never disabled or deleted"
            )
        else:
            kept[key] = agent
    return kept, tuple(foreign)


def _read_back(
    source: AgentSource, agent: Agent, shown: Sequence[JobRequest], remembered: Mapping[int, Sequence[JobRef]]
) -> list[JobRequest]:
    """The jobs this hold remembers the agent running that its job requests no longer show, read back by id, where
    the source can (GitLab's `read_jobs`; the others remember none). One call per job, only for those jobs."""
    wanted = [ref for ref in remembered.get(agent.id, ()) if ref.job_id not in {j.request_id for j in shown}]
    read = getattr(source, "read_jobs", None)
    if not wanted or read is None:
        return []
    return list(read(agent, wanted))


def decide_with_evidence(
    waiting: Waiting,
    observation: Observation,
    policy: Policy,
    now: float,
    source: AgentSource,
    *,
    proven: bool,
    ecs: Ecs | None = None,
    look: Callable[[], Observation] | None = None,
    asked: Mapping[AgentKey, Agent | None] | None = None,
    owns: Callable[[Agent], bool] | None = None,
) -> Decision:
    """`look`: this instance's agents as the agent system shows them now (a fresh list); None skips the final look.
    `owns`: whether an agent's own record maps it to this instance (gate.domain.mapping.AgentIndex.owns); None
    believes every agent asked for by id to be the instance's."""
    obs = observation
    decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_agents:
        try:
            direct, foreign = _owned(_direct(source, decision.needs_agents, asked or {}), owns)
            obs = dataclasses.replace(obs, direct=direct, ambiguous=obs.ambiguous + foreign)
        except AgentSourceError as exc:  # the list stays: its enabled agents are still disabled (no hold skips it)
            obs = dataclasses.replace(obs, direct=None, error=f"asking for agents seen earlier: {exc}")
        decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_job_requests:
        jobs: dict[int, list[JobRequest]] = {}
        read_back: dict[int, list[JobRequest]] = {}
        try:
            for agent in decision.needs_job_requests:
                jobs[agent.id] = source.job_requests(agent)
                read_back[agent.id] = _read_back(source, agent, jobs[agent.id], decision.remembered_jobs)
            obs = dataclasses.replace(obs, job_requests=jobs, read_back=read_back)
        except AgentSourceError as exc:
            obs = dataclasses.replace(obs, job_requests=None, read_back=None, error=f"job requests: {exc}")
        decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_ecs:
        if ecs is not None:
            facts = ecs.facts(waiting.instance_id)
        else:
            facts = EcsFacts(container_instance_arn=None, error="GATE_ECS_DRAIN is on but no ECS client is set up")
        obs = dataclasses.replace(obs, ecs=facts)
        decision = decide(waiting, obs, policy, now, proven=proven)
    if look is not None and decision.final and decision.outcome is Outcome.RELEASED:
        decision = _final_look(waiting, obs, decision, policy, now, proven, look())
    return decision


def _state(agents: Sequence[Agent] | None) -> dict[tuple[int, int], tuple[bool, bool, bool]] | None:
    if agents is None:
        return None
    return {(a.pool_id, a.id): (a.enabled, a.busy, a.assigned_known) for a in agents}


def _final_look(
    waiting: Waiting, obs: Observation, decision: Decision, policy: Policy, now: float, proven: bool, fresh: Observation
) -> Decision:
    """The round's list may be seconds old when a release is carried out (the evidence calls, slow answers): an agent
    that registered meanwhile (a re-registration, a late first registration) would take a job as the instance ends.
    So a release looks once more; any change in the instance's agents (new, gone, enabled, busy, a pool that now fails)
    means deciding on the fresh list, and a release is never carried out on a list that changed under it. What is
    left is the time between this look and CompleteLifecycleAction (one call); the instance-side guard closes that.
    """
    same = _state(fresh.agents) == _state(obs.agents) and set(fresh.failed_pools) == set(obs.failed_pools)
    if same and fresh.error is None and fresh.ambiguous == obs.ambiguous:
        return decision
    carried = dataclasses.replace(
        fresh, direct=obs.direct, job_requests=obs.job_requests, read_back=obs.read_back, ecs=obs.ecs
    )
    again = decide(waiting, carried, policy, now, proven=proven)
    if not again.final and not (again.needs_agents or again.needs_job_requests or again.needs_ecs):
        return again  # a hold on the fresh list, with its safe actions (disable a new agent)
    return dataclasses.replace(
        decision,
        outcome=Outcome.HELD,
        reason="the instance's agents changed between this round's list and its release: deciding again next round",
        actions=(),
        tags=waiting.tags,
        recheck_at=now,
        needs_agents=(),
        needs_job_requests=(),
        needs_ecs=False,
    )
