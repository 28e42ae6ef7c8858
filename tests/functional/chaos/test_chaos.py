"""The chaos simulation (chaos, issue 18): a few seeds run in this process and stay clean, the checker sees the
damage when no gate runs, and violating seeds found by `make chaos` stay fixed (REGRESSION_SEEDS)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chaos.checker import check, notes
from chaos.classes import CLASSES, CLEAN_TODAY, GITLAB, parse
from chaos.runner import Worker
from chaos.world import FOREIGN_HOOK, HOOK, GroupPlan, Plan, RunRecords, draw, draw_agent_system
from tests.functional.chaos.plans import run_plan, two_instances

# Fault classes the gate handles today: the clean-seed test draws from these. Add a class once its fix has landed
# (its seeds must then stay clean), e.g. "clock_skew", "tag_failures", "reregistration".
CLEAN_CLASSES: tuple[str, ...] = CLEAN_TODAY
CLEAN_SEEDS = (3, 11)
# GitLab worlds (issue 21): seed 2 runs a runner per instance, seed 3 a shared runner whose managers map by IP, seed
# 1 one whose managers map by the system_id each instance is tagged with.
GITLAB_CLEAN_SEEDS = (1, 2, 3)
GITLAB_WORLDS = pytest.mark.parametrize(
    ("shared", "system_id"),
    [(False, False), (True, False), (True, True)],
    ids=["runner-per-instance", "shared-runner-by-ip", "shared-runner-by-system-id"],
)

# Seeds that broke the invariant, with the classes they ran under (`python -m chaos --seed S --faults ...`; the
# class list decides the draw, so it is spelled out), and whether the instances run the instance-side guard (False:
# `--unguarded`, where a re-registration is the gate's alone to see). Each must run clean once its fix lands.
_TODAY_AT_FIRST_RUN = (
    "latency,ado_errors,ado_throttling,aws_throttling,pagination,lagging_flags,missing_fields,cold_starts,lost_events,"
    "duplicate_events,concurrency,agent_churn"
)
REGRESSION_SEEDS: list[Any] = [
    # Fixed (issue #18): records without assignedRequest and an emptied job-request list were taken as idle.
    pytest.param(132, _TODAY_AT_FIRST_RUN, True),
    # Fixed (issue #18): the unregistered grace counted while every agent list failed; an ambiguous agent is exempt
    # from the left-behind clause (the gate must never touch it).
    pytest.param(1110, ",".join(CLASSES), True),
    pytest.param(500, "failing_pool", True),  # released on one pool's evidence while the other pool failed (fixed)
    # Fixed: an agent seen busy re-registered under a new id and took a job while every list came back empty; its old
    # id's 404 and an emptied job-request answer released the instance (missing_fields, clock_skew, reregistration).
    pytest.param(120, ",".join(CLASSES), False),
    # Fixed (issue #18): without the instance-side guard (`--unguarded`), an agent re-registered between the round's
    # agent list and the release took a job as the instance ended; the release now looks once more
    # (gate.service.evidence).
    pytest.param(209, ",".join(CLASSES), False),
    # Fixed (issue #18): an emptied agent list (count 0) started the unregistered grace of an instance whose agents
    # existed; a list that leaves out an agent which still exists is now a failing pool (gate.service.sources.audited).
    pytest.param(299, ",".join(CLASSES), False),
    pytest.param(127, "missing_fields,clock_skew,reregistration", False),
    # Fixed (issue #18, the 1,000-seed run): every agent list emptied (`count` 0) while the only waiting instance's
    # agent ran a build, with no other hold to check the list against; the grace ran on the empty answers.
    pytest.param(550, ",".join(CLASSES), True),
    # The same seeds with the guard (the documented set-up): agents do not re-register on a terminating instance.
    pytest.param(209, ",".join(CLASSES), True),
    pytest.param(299, ",".join(CLASSES), True),
]


def test_without_a_gate_the_checker_sees_the_killed_build_and_the_agents_left_behind(worker: Worker) -> None:
    found = check(run_plan(worker, two_instances(), gate=False))
    kinds = [v.kind for v in found]
    assert kinds.count("build_killed") == 1, found
    assert kinds.count("timeout_during_build") == 1, found
    assert kinds.count("agent_left_behind") == 2, found  # the busy instance's agent and the idle one's


def test_the_same_world_with_the_gate_is_clean(worker: Worker) -> None:
    records = run_plan(worker, two_instances())
    assert check(records) == []
    assert [h for h in records.history if h["what"] == "terminated"], "the scale-in completed"
    assert all(a["deleted"] for a in records.ado["agents"]), "the gate deleted both registrations"
    assert '"Outcome": "released"' in records.output, "the gate's JSON lines are captured for the secret check"


def _gitlab_plan(shared: bool, system_id: bool) -> Plan:
    return two_instances(agent_system="gitlab", shared=shared, system_id=system_id, pools=["runners"])


@GITLAB_WORLDS
def test_a_gitlab_world_without_a_gate_shows_the_killed_job(worker: Worker, shared: bool, system_id: bool) -> None:
    found = check(run_plan(worker, _gitlab_plan(shared, system_id), gate=False))
    kinds = [v.kind for v in found]
    assert kinds.count("build_killed") == 1, found
    assert kinds.count("timeout_during_build") == 1, found
    # runners of their own instances stay registered; a shared runner's managers are GitLab's to drop
    assert kinds.count("agent_left_behind") == (0 if shared else 2), found


@GITLAB_WORLDS
def test_the_same_gitlab_world_with_the_gate_is_clean(worker: Worker, shared: bool, system_id: bool) -> None:
    records = run_plan(worker, _gitlab_plan(shared, system_id))
    assert check(records) == []
    assert records.agent_system == "gitlab"
    ended = {h["instance_id"] for h in records.history if h["what"] == "terminated"}
    assert ended == set(records.instance_group), "the scale-in completed: the gate released both instances"
    assert [b["finished_at"] for b in records.ado["builds"]] and all(
        b["result"] == "success" for b in records.ado["builds"]
    )
    if shared:
        assert records.ado["shared_runner_actions"] == [] and all(
            a["registration"] == "manager" for a in records.ado["agents"]
        )
    else:
        assert all(a["deleted_by"] == "api" for a in records.ado["agents"]), "the gate deleted both runners"
        assert all(a["history"] for a in records.ado["agents"]), "and paused them first"


def test_a_runner_that_unregisters_as_its_job_ends_does_not_hold_its_instance_forever(worker: Worker) -> None:
    """Issue 21 (found by the chaos GitLab worlds): a runner seen busy that unregisters as its job ends (gitlab-runner
    unregister on stop) is 404 with its jobs; the job it was seen running, read back by id, shows its end."""
    actions = [
        (5.0, "start_build", {"pick": 0.0, "duration": 100.0}),
        (30.0, "scale_in", {"group": 0.0, "how": "desired", "count": 2, "pick": 0.0}),
        (95.0, "ado_fault", {"fault": "server_error", "seconds": 40.0, "status": 503}),  # no look as the job ends
        (115.0, "reregister", {"pick": 0.0}),  # with the guard: unregistered, never registered again
        (115.0, "reregister", {"pick": 1.0}),
    ]
    records = run_plan(worker, two_instances(agent_system="gitlab", pools=["runners"], actions=actions))
    assert check(records) == []
    assert notes(records)["held_at_end"] == 0


def test_a_manager_seen_busy_by_an_unattributed_job_is_released_once_the_jobs_name_their_managers(
    worker: Worker,
) -> None:
    """Issue 21 (chaos seed 103 --agent-system gitlab): while jobs name no runner manager (GitLab before 17.1), a
    shared runner's running job counts for every manager; read back by id once jobs name their managers, it names
    another manager, so the manager seen busy only through it is idle."""
    actions = [
        (5.0, "start_build", {"pick": 0.0, "duration": 300.0}),  # on the first instance's manager
        (20.0, "ado_fault", {"fault": "no_assigned_request", "seconds": 120.0}),  # jobs name no manager for a while
        (30.0, "scale_in", {"group": 0.0, "how": "desired", "count": 2, "pick": 0.0}),
    ]
    records = run_plan(worker, two_instances(agent_system="gitlab", shared=True, pools=["runners"], actions=actions))
    assert check(records) == []
    assert notes(records)["held_at_end"] == 0


def test_a_runner_registering_again_unseen_is_not_released_on_the_old_runners_job_read_back(worker: Worker) -> None:
    """GitLab, unguarded (seed 203): a runner seen busy unregisters as its job ends and registers again under a new
    id, taking a job, while every list leaves out one runner (the new one, or another that the audit catches). The old
    runner's job read back ended, but its absence only counts over the grace and over looks that saw the lists: the
    first version of the read-back released the instance and killed the new runner's job."""
    faults = "ado_errors,lagging_flags,missing_fields,reregistration"
    result = worker.run(203, parse(faults, None), None, guarded=False, agent_system="gitlab")
    assert result.error is None and result.agent_system == "gitlab"
    assert result.violations == [], f"replay: python -m chaos --seed 203 --faults {faults} --mix all --unguarded"


@pytest.mark.parametrize("seed", GITLAB_CLEAN_SEEDS)
def test_gitlab_seeds_of_the_classes_handled_today_are_clean(worker: Worker, seed: int) -> None:
    result = worker.run(seed, parse(",".join(CLEAN_CLASSES), None), 3, agent_system="gitlab")
    assert result.error is None and result.agent_system.startswith("gitlab")
    replay = f"python -m chaos --seed {seed} --faults {','.join(CLEAN_CLASSES)} --agent-system gitlab"
    assert result.violations == [], f"replay: {replay}"


@pytest.mark.parametrize("seed", CLEAN_SEEDS)
def test_seeds_of_the_classes_handled_today_are_clean(worker: Worker, seed: int) -> None:
    result = worker.run(seed, parse(",".join(CLEAN_CLASSES), None), 3)
    assert result.error is None
    assert result.violations == [], f"replay: python -m chaos --seed {seed} --faults {','.join(CLEAN_CLASSES)}"


@pytest.mark.parametrize(("seed", "faults", "guarded"), REGRESSION_SEEDS)
def test_regression_seeds_stay_clean(worker: Worker, seed: int, faults: str, guarded: bool) -> None:
    result = worker.run(seed, parse(faults, None), 3, guarded=guarded)
    assert result.error is None
    replay = f"python -m chaos --seed {seed} --faults {faults}" + ("" if guarded else " --unguarded")
    assert result.violations == [], f"replay: {replay}"


# -- the checker on hand-made records (no servers) ----------------------------------------------------------------


def _records(**overrides: Any) -> RunRecords:
    values: dict[str, Any] = {
        "plan": two_instances(),
        "history": [],
        "ado": {"agents": [], "builds": []},
        "instance_group": {"i-0123456789abcdef0": "ci-0", "i-0fedcba9876543210": "other-team"},
        "configured": ["ci-0"],
        "gate_tags": {},
        "output": "",
        "skew": 0.0,
    }
    values.update(overrides)
    return RunRecords(**values)


def _agent(
    aid: int, iid: str, *, name: str | None = None, history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "id": aid,
        "name": name or f"agent-{iid}",
        "capabilities": {"AWS_INSTANCE_ID": iid},
        "deleted": False,
        "deleted_at": None,
        "deleted_by": None,
        "history": history or [],
    }


def test_checker_finds_a_secret_in_any_encoding() -> None:
    pat = two_instances().secrets["pat"]
    assert [v.kind for v in check(_records(output=f"refused {pat}"))] == ["secret_in_output"]
    basic = base64.b64encode(f":{pat}".encode()).decode()
    assert [v.kind for v in check(_records(output=f"Authorization: Basic {basic}"))] == ["secret_in_output"]
    assert check(_records(output="Authorization: Basic ***")) == []


def test_checker_finds_actions_that_are_not_the_gates() -> None:
    ours, theirs = "i-0123456789abcdef0", "i-0fedcba9876543210"
    history = [
        {"what": "wait", "hook": HOOK, "instance_id": ours, "group": "ci-0", "time": 100.0, "by": None, "result": None},
        {
            "what": "heartbeat",
            "hook": FOREIGN_HOOK,
            "instance_id": ours,
            "group": "ci-0",
            "time": 110.0,
            "by": "instance",
            "result": None,
        },
    ]
    agents = [
        _agent(1, ours, history=[{"time": 50.0, "enabled": False, "by": "api"}]),  # before the wait: in service
        _agent(2, theirs, history=[{"time": 150.0, "enabled": False, "by": "api"}]),  # another team's group
        _agent(3, ours, name=f"agent-{ours}-{theirs}", history=[{"time": 150.0, "enabled": False, "by": "api"}]),
        _agent(4, ours, history=[{"time": 150.0, "enabled": False, "by": "api"}]),  # fine: waiting on our hook
    ]
    found = check(_records(history=history, ado={"agents": agents, "builds": []}))
    assert {v.kind for v in found} == {"foreign_action"}
    assert sorted(v.subject for v in found) == sorted(
        [f"{ours} agent 1", f"{theirs} agent 2", f"{ours} agent 3", ours]
    ), found


def test_checker_judges_a_shared_runner_and_its_managers() -> None:
    ours = "i-0123456789abcdef0"
    ended = {"what": "terminated", "hook": HOOK, "instance_id": ours, "group": "ci-0", "time": 200.0, "by": "instance"}
    manager = {**_agent(7, ours, name="manager 7 of runner 1"), "registration": "manager"}
    gitlab = {"agents": [manager], "builds": [], "shared_runner_actions": [{"time": 150.0, "what": "PUT", "runner": 1}]}
    found = check(_records(history=[ended | {"result": "CONTINUE"}], ado=gitlab, agent_system="gitlab"))
    assert [(v.kind, v.subject) for v in found] == [("foreign_action", "runner 1")], found  # no left-behind manager


def test_a_seed_draws_its_agent_system_and_keeps_its_world() -> None:
    every = tuple(CLASSES)
    systems = [draw_agent_system(seed)[0] for seed in range(1, 301)]
    assert 70 <= systems.count("gitlab") <= 130  # about 1 in 3
    for seed in range(1, 30):
        mixed = draw(seed, every, 3, "mix")
        assert draw(seed, every, 3, "mix").describe() == mixed.describe()
        forced = draw(seed, every, 3, "gitlab")
        assert forced.actions == draw(seed, every, 3).actions and forced.classes == draw(seed, every, 3).classes
        assert forced.agent_system == "gitlab" and draw(seed, every, 3).agent_system == "azure-devops"
    shared = {draw(seed, every, 3, "gitlab").shared for seed in range(1, 30)}
    assert shared == {True, False}
    assert set(GITLAB) <= set(CLASSES)


def test_every_class_is_drawn_and_a_plan_is_the_same_for_a_seed() -> None:
    every = tuple(CLASSES)
    assert set(draw(5, every, None).classes) == set(CLASSES)
    assert draw(7, every).describe() == draw(7, every).describe()
    assert draw(7, every).actions == draw(7, every).actions


def test_checker_excuses_only_an_outage_timeout_on_a_retaining_group() -> None:
    """gate_outage: an ABANDON timeout on a retaining group while the gate was down (or not back for a tick) is the
    retain posture at work, not a hook timed out unnoticed; any other timeout under a build still is one."""
    ours = "i-0123456789abcdef0"
    start = 1_800_000_000.0
    retaining = two_instances(groups=[GroupPlan("ci-0", 2, 180, "ABANDON", True, 1)], outages=[(100.0, 400.0)])
    agents = [_agent(1, ours)]
    builds = [{"id": 1, "agent_id": 1, "assigned_at": start, "finished_at": None, "result": None}]

    def timeout(at: float, result: str = "ABANDON") -> dict[str, Any]:
        return {"what": "timeout", "hook": HOOK, "instance_id": ours, "group": "ci-0", "time": start + at,
                "by": "timeout", "result": result}  # fmt: skip

    def kinds(plan: Plan, at: float, result: str = "ABANDON") -> list[str]:
        rec = _records(plan=plan, history=[timeout(at, result)], ado={"agents": agents, "builds": builds})
        return [v.kind for v in check(rec)]

    assert kinds(retaining, 300.0) == []  # while down
    assert kinds(retaining, 450.0) == []  # back, but no tick yet
    assert kinds(retaining, 900.0) == ["timeout_during_build"]  # back for minutes: the gate's own failure
    assert kinds(two_instances(groups=retaining.groups), 300.0) == ["timeout_during_build"]  # no outage
    continuing = two_instances(groups=[GroupPlan("ci-0", 2, 180, "CONTINUE", False, 1)], outages=[(100.0, 400.0)])
    assert kinds(continuing, 300.0, "CONTINUE") == ["timeout_during_build"]  # no retention: the build dies


def test_an_opt_in_class_keeps_the_seeds_world() -> None:
    every = tuple(CLASSES)
    for seed in (1, 120, 1110):
        base, outage = draw(seed, every, 3), draw(seed, (*every, "gate_outage"), 3)
        extra = [a for a in outage.actions if a not in base.actions]
        assert [a for a in outage.actions if a not in extra] == base.actions
        assert all(kind == "reregister" for _, kind, _ in extra)  # restarts on retained instances, nothing else
        assert outage.classes == (*base.classes, "gate_outage")
        assert outage.outages and not base.outages
        assert all(g.retain and g.default_result == "ABANDON" for g in outage.groups)
    for seed in (1, 120):
        base, stepped = draw(seed, every, 3), draw(seed, (*every, "clock_step"), 3)
        extra = [a for a in stepped.actions if a not in base.actions]
        assert [a for a in stepped.actions if a not in extra] == base.actions and extra
        assert all(kind == "clock_step" for _, kind, _ in extra) and stepped.groups == base.groups
    assert "gate_outage" not in parse("all", None) and "gate_outage" in parse("all,gate_outage", None)
