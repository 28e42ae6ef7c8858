"""GitLab jobs feed the priority tiers (issue 22): GitLabRunners reads what a job says of itself from the runner's
job list (ref, stage, name, the project's path, the pipeline's source, tags where listed) into JobMeta, over HTTP
against the fake GitLab, and the gate's decision takes the tier it matches."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.gitlab import FakeGitLab
from gate.adapters.gitlab import GitLabRunners, JobPayload
from gate.domain.clock import ManualClock
from gate.domain.decide import Observation, Policy, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, encode
from gate.domain.model import JobMeta, Outcome, Waiting
from gate.domain.tiers import parse_tiers
from tests.integration.gitlab.conftest import TOKEN

IID = "i-0123456789abcdef0"
MR: dict[str, Any] = {
    "ref": "refs/merge-requests/7/head",
    "stage": "review",
    "name": "unit",
    "source": "merge_request_event",
}
TIERS = parse_tiers(
    [
        {"name": "release", "max_hold_seconds": 28_800, "forced_result": "ABANDON", "stage": ["deploy"]},
        {"name": "mr", "max_hold_seconds": 1_800, "forced_result": "CONTINUE", "plan_type": ["merge_request_event"]},
    ],
    (60.0, 172_800.0),
)


def test_a_running_and_a_finished_job_carry_their_metadata(gitlab: FakeGitLab, clock: ManualClock) -> None:
    rid = gitlab.add_runner(f"ci-{IID}")
    client = GitLabRunners(gitlab.url, TOKEN, clock=clock)
    [agent] = client.list_agents()
    done = gitlab.start_job(rid, 60)  # the defaults: a push pipeline's test job on main
    clock.advance(61)
    job = gitlab.start_job(rid, 600, project="acme/web", tags=["docker", "linux"], **MR)
    requests = {j.request_id: j for j in client.job_requests(agent)}
    assert requests[job].meta == JobMeta(
        pipeline="acme/web",
        plan_type="merge_request_event",
        branch="refs/merge-requests/7/head",
        stage="review",
        job="unit",
        labels=("docker", "linux"),
    )
    assert not requests[job].finished and requests[done].finished
    assert requests[done].meta == JobMeta(
        pipeline="acme/app", plan_type="push", branch="main", stage="test", job=f"job-{done}", labels=None
    )


def test_fields_of_another_shape_are_unknown_not_a_failed_look() -> None:
    payload = JobPayload.model_validate(
        {"id": 1, "status": "running", "ref": 7, "stage": "", "name": None, "project": "acme/app", "tag_list": [1]}
    )
    assert payload.meta() == JobMeta()


@pytest.mark.parametrize(
    ("about", "tier", "outcome"),
    [
        (MR, "mr", Outcome.FORCED),  # a merge request's job: released (CONTINUE) at its tier's 30 minutes
        ({"stage": "deploy"}, "release", Outcome.HELD),  # a deploy job: held on, to its 8 hours
        ({}, "default", Outcome.HELD),  # anything else: the default tier (4 hours)
    ],
    ids=["merge-request", "deploy", "other"],
)
def test_the_decision_takes_the_tier_of_the_gitlab_job(
    gitlab: FakeGitLab, clock: ManualClock, about: dict[str, Any], tier: str, outcome: Outcome
) -> None:
    """The list's busy flag (job_execution_status active) names no job; the running job looked at does."""
    rid = gitlab.add_runner(f"ci-{IID}")
    gitlab.start_job(rid, 7200, **about)
    client = GitLabRunners(gitlab.url, TOKEN, clock=clock)
    [agent] = client.list_agents()
    assert agent.busy and agent.job is None
    action = "8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"
    now = clock.now()
    state = HoldState(action_hash(action), held_since=now - 1800, disabled_at=now - 1800, seen=frozenset())
    waiting = Waiting("g", IID, "hook", action_id=action, tags={HOLD_TAG: encode(state)})
    obs = Observation(agents=[agent], job_requests={agent.id: client.job_requests(agent)})
    d = decide(waiting, obs, Policy(max_hold_seconds=14_400, forced_result="CONTINUE", tiers=TIERS), now, proven=True)
    assert (d.tier, d.outcome) == (tier, outcome), d.reason
