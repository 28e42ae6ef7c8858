"""Decide, and ask the edges for the evidence `decide` wants before it may release: the agents it saw earlier in the
hold but that the list lacks (asked for one by one), their job requests, the ECS container instance.

One loop for every caller (the judgment pass and the retained-instance cleanup), so the evidence rules are the same
wherever a hold ends. A failure to gather evidence is an observation of an unavailable agent system: `decide` holds.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING

from gate.decide import Decision, EcsFacts, Observation, Policy, decide
from gate.holdstate import AgentKey
from gate.model import Agent, JobRequest, Waiting
from gate.sources import AgentSource, AgentSourceError

if TYPE_CHECKING:
    from gate.ecs import Ecs


def _direct(source: AgentSource, keys: tuple[AgentKey, ...]) -> dict[AgentKey, Agent | None]:
    by_pool: dict[int, list[int]] = defaultdict(list)
    for pool, agent in keys:
        by_pool[pool].append(agent)
    found: dict[AgentKey, Agent | None] = {}
    for pool, ids in by_pool.items():
        answer = source.get_agents(pool, ids)
        for agent_id in ids:
            if agent_id not in answer:  # an answer that skips an id is no evidence of absence
                raise AgentSourceError(f"get agents of pool {pool}: no answer for agent {agent_id}")
            found[(pool, agent_id)] = answer[agent_id]
    return found


def decide_with_evidence(
    waiting: Waiting,
    observation: Observation,
    policy: Policy,
    now: float,
    source: AgentSource,
    *,
    proven: bool,
    ecs: Ecs | None = None,
) -> Decision:
    obs = observation
    decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_agents:
        try:
            obs = dataclasses.replace(obs, direct=_direct(source, decision.needs_agents))
        except AgentSourceError as exc:  # the list stays: its enabled agents are still disabled (no hold skips it)
            obs = dataclasses.replace(obs, direct=None, error=f"asking for agents seen earlier: {exc}")
        decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_job_requests:
        jobs: dict[int, list[JobRequest]] = {}
        try:
            for agent in decision.needs_job_requests:
                jobs[agent.id] = source.job_requests(agent)
            obs = dataclasses.replace(obs, job_requests=jobs)
        except AgentSourceError as exc:
            obs = dataclasses.replace(obs, job_requests=None, error=f"job requests: {exc}")
        decision = decide(waiting, obs, policy, now, proven=proven)
    if decision.needs_ecs:
        if ecs is not None:
            facts = ecs.facts(waiting.instance_id)
        else:
            facts = EcsFacts(container_instance_arn=None, error="GATE_ECS_DRAIN is on but no ECS client is set up")
        decision = decide(waiting, dataclasses.replace(obs, ecs=facts), policy, now, proven=proven)
    return decision
