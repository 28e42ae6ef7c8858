"""Priority tiers end to end over HTTP (AWS emulator + fake Azure DevOps, the gate built as the Lambda builds it, on a
ManualClock): a release pipeline's job is held past the default max hold and retained (ABANDON) at its tier's own,
its build still running; a pull-request job is released (CONTINUE) after its tier's 30 minutes. Each decision record
names the tier that applied. Time moves by clock.advance between ticks: no wall-clock waits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli.outcomes import summarise
from emulator.azure_devops import JobSpec
from emulator.sandbox import Sandbox
from gate.adapters.logs import Record
from gate.domain.clock import ManualClock
from tests.support.world import FAST, World

RELEASE_HOLD, DEFAULT_HOLD, PR_HOLD = 7200, 3600, 1800
TIERS = [
    {
        "name": "release",
        "max_hold_seconds": RELEASE_HOLD,
        "forced_result": "ABANDON",
        "pipeline": ["release-*"],
        "plan_type": ["Release"],
    },
    {"name": "pr", "max_hold_seconds": PR_HOLD, "forced_result": "CONTINUE", "pipeline": ["*-pr"]},
]
STEP = 500.0  # between ticks; the hook's HeartbeatTimeout (1800 s) is heartbeated every 600 s


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 3, heartbeat_timeout=1800, retain_on_abandon=True)
        yield World(sb, clock, group)


def last(records: list[Record], iid: str) -> Record:
    return [r for r in records if r["instance"] == iid][-1]


def test_release_job_retained_at_its_tier_while_pull_request_job_is_released_after_30_minutes(world: World) -> None:
    release_iid, pr_iid, kept = world.group.instances
    release = world.ado.start_build(
        world.group.agents[release_iid], 100_000, JobSpec(definition="release-web", plan_type="Release")
    )
    pr = world.ado.start_build(world.group.agents[pr_iid], 100_000, JobSpec(definition="web-pr", stage="Validate"))
    assert sorted(world.scale_in(1, protect=[2])) == sorted([release_iid, pr_iid])
    gate = world.sb.gate(world.sb.settings(**FAST, max_hold_seconds=DEFAULT_HOLD, tiers=TIERS))
    start = world.clock.now()

    seen: dict[str, list[Record]] = {release_iid: [], pr_iid: []}

    def tick_until(held: float) -> None:
        while world.clock.now() - start < held:
            world.clock.advance(STEP)
            for record in gate.tick(budget=0):
                if record["instance"] in seen:
                    seen[record["instance"]].append(record)

    tick_until(PR_HOLD - STEP)  # both held, each under its own tier
    assert {r["outcome"] for r in seen[pr_iid]} == {"held"} and {r["tier"] for r in seen[pr_iid]} == {"pr"}
    assert {r["tier"] for r in seen[release_iid]} == {"release"}

    tick_until(PR_HOLD + STEP)  # the pull-request job's 30 minutes are up: released, its build given up
    forced = last(seen[pr_iid], pr_iid)
    assert (forced["outcome"], forced["tier"]) == ("forced", "pr")
    assert "complete CONTINUE" in " ".join(forced["actions"]) and "tier pr" in forced["reason"]
    assert pr_iid not in world.sb.lifecycle_states(world.group.name)
    assert world.sb.lifecycle_states(world.group.name)[release_iid] == "Terminating:Wait"

    tick_until(DEFAULT_HOLD + 2 * STEP)  # past the default max hold: the release job is still held
    assert world.sb.lifecycle_states(world.group.name)[release_iid] == "Terminating:Wait"
    assert "forced" not in {r["outcome"] for r in seen[release_iid]}

    tick_until(RELEASE_HOLD + STEP)  # the release tier's own max hold: retained (ABANDON), the build untouched
    retained = [r for r in seen[release_iid] if r["outcome"] == "forced"]
    assert [r["tier"] for r in retained] == ["release"]
    assert "complete ABANDON" in " ".join(retained[0]["actions"])
    assert world.sb.lifecycle_states(world.group.name)[release_iid] == "Terminating:Retained"
    release_build: dict[str, Any] = world.ado.build(release)
    assert release_build["finished_at"] is None and release_build["result"] is None
    assert not world.agent(release_iid)["deleted"]  # still registered (disabled): deleting it would fail the job
    assert world.ado.build(pr)["agent_id"] == world.group.agents[pr_iid]
    assert world.sb.lifecycle_states(world.group.name)[kept] == "InService"

    # `gate outcomes` counts the judged decisions and the forced ones per tier.
    tiers = summarise(seen[release_iid] + seen[pr_iid])["tiers"]
    assert tiers["pr"]["forced"] == 1 and tiers["release"]["forced"] == 1 and "default" not in tiers


def test_the_azure_devops_client_reads_the_job_metadata_the_tiers_match_on(world: World) -> None:
    """Over HTTP, from the agent list's assignedRequest and from the job requests: definition name, planType, the
    stage inside a multi-stage orchestrationId, jobName and demands; no branch (a job request carries none)."""
    iid = world.group.instances[0]
    agent_id = world.group.agents[iid]
    spec = JobSpec(definition="web", stage="Validate", job_name="Unit", demands=("npm",), plan_type="Build")
    world.ado.start_build(agent_id, 600, spec)
    client = world.sb.gate(world.sb.settings(**FAST)).source
    [agent] = [a for a in client.list_agents() if a.id == agent_id]
    assert agent.job is not None
    assert (agent.job.pipeline, agent.job.plan_type, agent.job.stage, agent.job.job) == (
        "web",
        "Build",
        "Validate",
        "Unit",
    )
    assert agent.job.demands is not None and "npm" in agent.job.demands
    assert agent.job.branch is None and agent.job.labels is None
    [running] = [j for j in client.job_requests(agent) if not j.finished]
    assert running.meta == agent.job
