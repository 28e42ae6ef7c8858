"""The safety classes that apply to every agent system, for GitLab runners (issue 21, item 3), over HTTP: the AWS
emulator, the fake GitLab (tests.support.gitlab_world: a runner per instance, `ci-<instance>`) and the real gate on a
ManualClock. Verdicts come from the fake's runners, jobs and calls and the emulator's lifecycle history.

Covered elsewhere for GitLab, not repeated here: a 401 re-read from Secrets Manager (rotation), a runner the list
leaves out after it was seen busy, and a job picked up between the look and the pause
(tests/functional/features/test_gitlab_e2e.py). Liveness (tests/functional/liveness) is AWS-only: the heartbeat pass
never calls the agent system, so it is the same whatever the source."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.liveness.conftest import Lambda
from tests.support.gitlab_world import TOKEN, GitLabWorld, glworld

__all__ = ["glworld"]

# fault -> (how the fake is broken, what the hold's reason says of it)
FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "503": ({"kind": "server_error"}, "HTTP 503 after retries"),
    # Retry-After over GATE_MAX_RETRY_AFTER_SECONDS: not slept on; no call to GitLab until it has passed
    "429": ({"kind": "rate_limit", "retry_after": 400}, "rate limited by GitLab"),
    "html-200": ({"kind": "malformed"}, "unexpected response shape (not JSON)"),
    "401": ({"kind": "unauthorized"}, "HTTP 401"),  # a static token cannot be re-read: refused for good
}


def outcomes(records: list[dict[str, Any]], iid: str) -> list[str]:
    return [r["outcome"] for r in records if r.get("instance") == iid]


def completes(world: GitLabWorld) -> dict[str, list[dict[str, Any]]]:
    return world.history("complete")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_gitlab_that_cannot_be_asked_holds_loudly_and_heartbeats_go_on(glworld: GitLabWorld, fault: str) -> None:
    """GitLab answers nothing usable for six minutes (the hook's heartbeat timeout is five): the victim is held fail
    safe with its cause on the record and in the FailsafeHolds line of every tick, its hook is heartbeated (no
    timeout), its runner is neither paused nor deleted; once GitLab answers again it is released on evidence."""
    world = glworld
    broken, cause = FAULTS[fault]
    world.gitlab.inject(count=None, **broken)
    [victim] = world.scale_in(2)
    fn = Lambda(world, world.gate(tick_budget_seconds=50, recheck_interval_seconds=10))
    fn.minutes(6, events=False)

    assert not completes(world) and not world.history("timeout")
    assert len(world.history("heartbeat")[victim]) >= 2  # kept alive across the heartbeat timeout
    held = [r for r in fn.records if r.get("instance") == victim]
    assert held and {r["outcome"] for r in held} == {"held"}, held
    assert held[-1]["failsafe"] in ("agent_system", "agent_pool"), held[-1]
    assert cause in held[-1]["reason"] and "fail safe" in held[-1]["reason"], held[-1]
    lines = world.sb.log.failsafe_lines
    assert len(lines) >= 5 and all(line["instances"] == {victim: held[-1]["failsafe"]} for line in lines), lines
    assert not world.writes(world.runners[victim])
    assert TOKEN not in str(fn.records) and TOKEN not in str(world.sb.log.failsafe_lines)

    world.gitlab.clear_faults()
    fn.minutes(3, events=False)  # 429: the gate first waits out the rest of Retry-After (400 s) without a call
    assert [h["result"] for h in completes(world)[victim]] == ["CONTINUE"]
    assert world.runner(victim)["deleted"]
    after = len(world.sb.log.failsafe_lines)
    fn.minutes(1, events=False)
    assert len(world.sb.log.failsafe_lines) == after  # no fail-safe hold left: the alarm clears


def test_an_emptied_runner_list_releases_nothing_in_a_container_that_never_saw_it_list(glworld: GitLabWorld) -> None:
    """Every runner left out of the list (a proxy's or cache's emptied answer) while they all exist, one running a
    job: a fresh container has no evidence the list is truly empty, so the victim is held (fail safe) past the
    unregistered grace instead of released as an instance whose runner never registered."""
    world = glworld
    [victim] = world.scale_in(2)
    job = world.gitlab.start_job(world.runners[victim], 3600)
    world.gitlab.hidden.update(world.runners.values())
    gate = world.gate()
    records = gate.tick(budget=200) + gate.tick(budget=200)  # well past the unregistered grace (60 s)
    assert not completes(world) and not world.history("timeout")
    assert set(outcomes(records, victim)) == {"held"}
    assert next(j for j in world.gitlab.jobs() if j["id"] == job)["finished_at"] is None  # still running
    assert not world.writes(world.runners[victim])

    world.gitlab.hidden.clear()  # the list is whole again: the running job is seen and holds
    records = gate.tick(budget=100)
    assert not completes(world)
    assert any("busy" in r["reason"] for r in records if r.get("instance") == victim), records
    assert world.runner(victim)["paused"]


def test_a_runner_registered_again_between_the_list_and_the_release_is_seen_by_the_final_look(
    glworld: GitLabWorld,
) -> None:
    """The victim's runner is idle and paused; right after the gate reads its jobs in the round that would release
    it (past the lag bound), the instance registers a new runner (same description, new id) that picks up a job.
    The final look sees it: paused, held until its job ends, then released and both registrations deleted."""
    world = glworld
    [victim] = world.scale_in(2)
    start = world.clock.now()
    late: dict[str, int] = {}

    def register_and_take_a_job(runner_id: int) -> None:
        if late or runner_id != world.runners[victim] or world.clock.now() < start + 10:  # FAST lag bound: 10 s
            return
        late["runner"] = world.gitlab.add_runner(f"ci-{victim}", tags=["docker"])
        late["job"] = world.gitlab.start_job(late["runner"], 90)

    world.gitlab.after_jobs = register_and_take_a_job
    records = world.gate().tick(budget=300)
    assert late, "the gate never read the runner's jobs past the lag bound"
    assert outcomes(records, victim)[-1] == "released"
    released = float(completes(world)[victim][0]["time"])
    job = next(j for j in world.gitlab.jobs() if j["id"] == late["job"])
    assert job["status"] == "success" and job["finished_at"] <= released  # not killed
    new = world.gitlab.runner(late["runner"])
    assert new["deleted"] and [c["method"] for c in world.writes(late["runner"])] == ["PUT", "DELETE"]
    assert world.runner(victim)["deleted"]  # no registration left behind


def test_a_runner_naming_the_victim_and_an_in_service_instance_is_never_touched(glworld: GitLabWorld) -> None:
    """A runner whose description names two instances may run a job on either: it is never paused or deleted, and
    the victim is held (hands off) past the grace and the lag bound until the ambiguity is gone."""
    world = glworld
    [victim] = world.scale_in(2)
    in_service = next(i for i in world.group.instances if i != victim)
    ambiguous = world.gitlab.add_runner(f"ci-{victim}-{in_service}", tags=["docker"])
    world.gitlab.start_job(ambiguous, 150)
    gate = world.gate()
    records = gate.tick(budget=200) + gate.tick(budget=200)

    assert not world.writes(ambiguous) and not world.gitlab.runner(ambiguous)["paused"]
    assert not completes(world) and world.history("heartbeat").get(victim)
    assert set(outcomes(records, victim)) == {"held"}
    assert any("hands off" in r["reason"] for r in records if r.get("instance") == victim), records
    assert world.runner(victim)["paused"]  # the victim's own runner still drained
    assert not world.writes(world.runners[in_service])  # the in-service instance's runner: untouched

    world.gitlab.remove_runner(ambiguous)  # the ambiguity goes (unregistered by its own hand)
    records = gate.tick(budget=200)
    assert outcomes(records, victim)[-1] == "released" and completes(world)[victim][0]["result"] == "CONTINUE"
    assert world.runner(victim)["deleted"] and not world.writes(ambiguous)
