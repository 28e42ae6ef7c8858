"""Priority tiers on GitLab runners, end to end over HTTP (the AWS emulator, the fake GitLab, the real handler on a
ManualClock): the gate reads each running job's metadata from the runner's job list, so a merge request's job is
released (CONTINUE, its build given up) at its tier's 30 minutes while a push pipeline's job on the same group is
held on under the default tier. Each decision record names the tier that applied. Time moves by clock.advance
between ticks: no wall-clock waits."""

from __future__ import annotations

import json

from emulator.gitlab import FakeGitLab
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from tests.functional.features.conftest import deliver, history, make_group, protect
from tests.functional.features.test_gitlab_e2e import gitlab, runners_per_instance, settings

__all__ = ["gitlab"]  # the fake GitLab fixture

MR_HOLD, DEFAULT_HOLD = 1800, 3600
TIERS = [{"name": "mr", "max_hold_seconds": MR_HOLD, "forced_result": "CONTINUE", "plan_type": ["merge_request_event"]}]
STEP = 300.0  # between ticks; the hook's HeartbeatTimeout is heartbeated well within it


def test_a_merge_request_job_is_released_at_its_tier_and_a_push_job_is_held_on(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab
) -> None:
    group = make_group(sandbox, size=3, agents=False, heartbeat_timeout=1800)
    mr_iid, push_iid, kept = group.instances
    runners = runners_per_instance(sandbox, gitlab, list(group.instances))
    mr_job = gitlab.start_job(
        runners[mr_iid], 100_000, ref="refs/merge-requests/7/head", source="merge_request_event", name="unit"
    )
    gitlab.start_job(runners[push_iid], 100_000)  # a push pipeline's test job on main: the default tier
    protect(sandbox, "ci-agents", [kept])
    gate = sandbox.gate(settings(sandbox, gitlab, max_hold_seconds=DEFAULT_HOLD, tiers=json.dumps(TIERS)))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    start = clock.now()

    while clock.now() - start < MR_HOLD + 2 * STEP:
        clock.advance(STEP)
        gate.tick()

    records = {iid: [r for r in sandbox.log.records if r["instance"] == iid] for iid in (mr_iid, push_iid)}
    forced = [r for r in records[mr_iid] if r["outcome"] == "forced"]
    assert len(forced) == 1 and forced[0]["tier"] == "mr" and "tier mr" in forced[0]["reason"], records[mr_iid]
    # Draining names the default (the jobs are looked at once the runner is paused and busy); from then on, mr.
    held = [r["tier"] for r in records[mr_iid] if r["outcome"] == "held"]
    assert held[0] == "default" and held[-1] == "mr" and held == sorted(held), held
    [complete] = history(sandbox, "complete")[mr_iid]
    assert complete["result"] == "CONTINUE" and complete["time"] - start < MR_HOLD + 2 * STEP
    assert not next(j for j in gitlab.jobs() if j["id"] == mr_job)["finished_at"]  # given up, not ended

    assert push_iid not in history(sandbox, "complete")  # the default tier's hour is not over
    assert {r["outcome"] for r in records[push_iid]} == {"held"}
    assert {r["tier"] for r in records[push_iid]} == {"default"}
    assert not history(sandbox, "timeout")
