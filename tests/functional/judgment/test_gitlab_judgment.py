"""The judgment rules that apply to every agent system, for GitLab runners (issue 21, item 3), over HTTP: the AWS
emulator, the fake GitLab (tests.support.gitlab_world) and the real gate on a ManualClock, with the default assignment
lag bound (60 s). A pause answers no acknowledgement on GitLab's clock, so a release after a pause always waits the
lag bound: a job's `finished_at` (GitLab's clock) is never compared with the gate's, whatever GitLab's skew."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.gitlab_world import GitLabWorld, gitlab_world, glworld

__all__ = ["glworld"]

LAG = 60.0


def outcomes(records: list[dict[str, Any]], iid: str) -> list[str]:
    return [r["outcome"] for r in records if r.get("instance") == iid]


def released_at(world: GitLabWorld, iid: str) -> float:
    [complete] = world.history("complete")[iid]
    assert complete["result"] == "CONTINUE"
    return float(complete["time"])


def record_pauses(world: GitLabWorld) -> dict[int, float]:
    """Runner id -> when (the gate's clock) the gate paused it."""
    paused: dict[int, float] = {}

    def note(runner_id: int) -> None:
        paused.setdefault(runner_id, world.clock.now())

    world.gitlab.before_pause = note
    return paused


@pytest.mark.parametrize("offset", [0.0, 120.0, -60.0], ids=["same", "ahead120", "behind60"])
def test_a_job_ending_after_the_pause_waits_the_lag_bound_whatever_gitlabs_clock(offset: float) -> None:
    """A 20 s job runs on the victim at the scale-in: held while it runs, then released once it has ended and the lag
    bound from the pause has passed, never earlier. On a GitLab clock running ahead, the job's `finished_at` is later
    than the pause on the gate's clock: a rule comparing the two would release at the job's end (20 s)."""
    with gitlab_world(offset=offset) as world:
        [victim] = world.scale_in(2)
        job = world.gitlab.start_job(world.runners[victim], 20)
        paused = record_pauses(world)
        records = world.gate(assignment_lag_seconds=LAG).tick(budget=300)
        assert outcomes(records, victim)[-1] == "released", records
        assert any("busy" in r["reason"] for r in records if r.get("instance") == victim)
        released = released_at(world, victim)
        [ran] = [j for j in world.gitlab.jobs() if j["id"] == job]
        assert ran["status"] == "success" and ran["finished_at"] - offset <= released  # not killed
        assert released >= paused[world.runners[victim]] + LAG  # the lag bound held, across clocks
        assert world.runner(victim)["deleted"]


def test_a_runner_registering_again_under_a_new_id_is_paused_and_restarts_the_lag_bound(glworld: GitLabWorld) -> None:
    """Clean-workspace runners unregister after a job and register again under a new id. Here the victim's idle
    runner, paused, unregisters; while its absence is being confirmed it is back under a new id with a job: the
    old registration's absence is no release, the new one is paused, its job holds the instance, and the release
    waits a whole lag bound from the new pause; both registrations are gone at the end. (A runner seen busy in the
    hold that then unregisters answers 404 for its jobs too: its job is read back by id, test_gitlab_readback.py.)"""
    world = glworld
    [victim] = world.scale_in(2)
    old = world.runners[victim]
    paused = record_pauses(world)
    gate = world.gate(assignment_lag_seconds=LAG)
    records = gate.tick(budget=20)  # idle and paused: inside the lag bound, held
    assert "released" not in outcomes(records, victim) and old in paused
    world.gitlab.remove_runner(old)  # it unregisters ...
    records = gate.tick(budget=80)  # past the first lag bound; its absence is confirmed over another one
    assert "released" not in outcomes(records, victim), "released on the old registration's absence"
    new = world.gitlab.add_runner(f"ci-{victim}", tags=["docker"])  # ... and is back under a new id, taking a job
    second = world.gitlab.start_job(new, 5)
    records = gate.tick(budget=400)
    assert outcomes(records, victim)[-1] == "released"
    released = released_at(world, victim)
    jobs = {j["id"]: j for j in world.gitlab.jobs()}
    assert jobs[second]["status"] == "success" and jobs[second]["finished_at"] <= released  # not killed
    assert (
        new in paused and released >= paused[new] + LAG
    )  # the lag bound (and the absence confirmation) restarted with the new registration
    assert world.gitlab.runner(new)["deleted"]  # not left behind


def test_a_description_mentioning_the_id_as_a_substring_is_not_matched(glworld: GitLabWorld) -> None:
    """Matches are exact: runners named `multi<id>` or `<id>ab` are someone else's, never paused or deleted."""
    world = glworld
    [victim] = world.scale_in(2)
    strangers = [world.gitlab.add_runner(f"multi{victim}"), world.gitlab.add_runner(f"{victim}ab")]
    records = world.gate(assignment_lag_seconds=LAG).tick(budget=200)
    assert outcomes(records, victim)[-1] == "released" and world.runner(victim)["deleted"]
    for runner in strangers:
        assert not world.writes(runner) and not world.gitlab.runner(runner)["paused"]
