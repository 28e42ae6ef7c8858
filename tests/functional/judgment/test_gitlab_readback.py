"""A GitLab job's end read back by id (issue 21), over HTTP: the AWS emulator, the fake GitLab (tests.support.
gitlab_world) and the real gate on a ManualClock. The jobs a hold sees running are remembered in its tag; when the
agent's own job list cannot show their end, `GET /projects/:id/jobs/:job_id` does. A job not found is no evidence."""

from __future__ import annotations

from typing import Any

from tests.support.gitlab_world import GitLabWorld, gitlab_world, glworld

__all__ = ["glworld"]

GRACE = 60.0  # tests.support.world.FAST's unregistered grace (longer than its lag bound, 10 s)


def outcomes(records: list[dict[str, Any]], iid: str) -> list[str]:
    return [r["outcome"] for r in records if r.get("instance") == iid]


def reads(world: GitLabWorld) -> list[dict[str, Any]]:
    """The gate's reads of single jobs."""
    return [c for c in world.gitlab.calls if c["method"] == "GET" and c["path"].startswith("/api/v4/projects/")]


def completed_at(world: GitLabWorld, iid: str) -> float | None:
    done = world.history("complete").get(iid)
    return float(done[0]["time"]) if done else None


def test_a_runner_that_unregisters_as_its_job_ends_is_released_on_its_job_read_back(glworld: GitLabWorld) -> None:
    """The victim's runner runs a job, is paused and seen busy; as the job ends the runner unregisters itself
    (gitlab-runner unregister on stop): GitLab answers 404 for the runner and its jobs. The job, read back by id,
    ended: the instance is released after the unregistered grace (a registration again would show meanwhile), not
    at the max hold; never while the job ran."""
    world = glworld
    [victim] = world.scale_in(2)
    runner = world.runners[victim]
    job = world.gitlab.start_job(runner, 40)
    gate = world.gate()
    records = gate.tick(budget=30)  # paused, its running job seen (and remembered)
    assert "released" not in outcomes(records, victim) and world.gitlab.runner(runner)["paused"]
    world.clock.advance(15)  # the job ends, unseen ...
    world.gitlab.remove_runner(runner)  # ... and the runner unregisters with it
    gone_at = world.clock.now()
    records = gate.tick(budget=300)
    assert outcomes(records, victim)[-1] == "released", records
    [ran] = [j for j in world.gitlab.jobs() if j["id"] == job]
    released = completed_at(world, victim)
    assert released is not None and ran["status"] == "success" and ran["finished_at"] <= released
    assert released >= gone_at + GRACE  # its absence confirmed for the grace: a new registration would show
    [project] = {j["project"]["id"] for j in world.gitlab.jobs() if j["id"] == job}
    assert {(c["path"], c["status"]) for c in reads(world)} == {(f"/api/v4/projects/{project}/jobs/{job}", 200)}
    assert not world.history("timeout")


def test_a_job_that_cannot_be_read_back_holds(glworld: GitLabWorld) -> None:
    """The same runner, but its job answers 404 when read back (the project deleted, or out of the token's reach):
    no evidence that it ended, so the instance is held (safe), never released on the runner's absence alone."""
    world = glworld
    [victim] = world.scale_in(2)
    runner = world.runners[victim]
    world.gitlab.start_job(runner, 40)
    gate = world.gate()
    gate.tick(budget=30)
    world.clock.advance(15)
    world.gitlab.remove_runner(runner)
    world.gitlab.inject("not_found", path_contains="/projects/")
    records = gate.tick(budget=300)
    assert "released" not in outcomes(records, victim) and completed_at(world, victim) is None
    held = [r for r in records if r.get("instance") == victim]
    assert "not proven idle" in held[-1]["reason"], held[-1]
    assert reads(world) and all(c["status"] == 404 for c in reads(world))


def test_a_manager_seen_busy_by_a_job_naming_no_manager_is_released_once_the_job_names_another() -> None:
    """A shared runner (GATE_MAPPING=ip) on a GitLab whose jobs name no runner manager (before 17.1): the busy
    instance's job counts for every manager, so the idle victim's manager is seen busy too. Once jobs name their
    managers, that job read back by id names the other manager: the idle victim is released while the job still
    runs, and the busy one only after it ended."""
    with gitlab_world(size=3) as world:
        fake = world.gitlab
        resp = world.sb.client("ec2").describe_instances(InstanceIds=list(world.group.instances))
        ips = {i["InstanceId"]: i["PrivateIpAddress"] for r in resp["Reservations"] for i in r["Instances"]}
        for runner in world.runners.values():
            fake.remove_runner(runner)  # this fleet shares one runner instead
        shared = fake.add_runner("autoscaled-fleet", tags=["docker"])
        managers = {iid: fake.add_manager(shared, ips[iid]) for iid in world.group.instances}
        busy, idle, _ = world.group.instances
        fake.job_manager = False
        job = fake.start_job(shared, 300, manager_id=managers[busy])
        victims = world.scale_in(1, protect=[2])
        assert set(victims) == {busy, idle}
        gate = world.gate(mapping="ip")
        records = gate.tick(budget=60)
        assert "released" not in outcomes(records, idle)  # the job names no manager: it may be the idle one's
        assert any("busy" in r["reason"] for r in records if r.get("instance") == idle)
        fake.job_manager = True  # GitLab upgraded: jobs name their runner manager
        records = gate.tick(budget=120)
        assert outcomes(records, idle)[-1] == "released", [r["reason"] for r in records if r.get("instance") == idle]
        [running] = [j for j in fake.jobs() if j["id"] == job]
        assert running["finished_at"] is None and completed_at(world, busy) is None  # released while it runs
        assert any(c["path"].endswith(f"/jobs/{job}") and c["status"] == 200 for c in reads(world))
        records = gate.tick(budget=300)
        [ran] = [j for j in fake.jobs() if j["id"] == job]
        released = completed_at(world, busy)
        assert released is not None and ran["finished_at"] is not None and ran["finished_at"] <= released
        assert not fake.runner(shared)["paused"] and not fake.runner(shared)["deleted"]
