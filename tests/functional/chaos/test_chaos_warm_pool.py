"""The chaos simulation's opt-in `warm_pool` class: instances leaving a warm pool are judged by the same invariant as
the group's (a build killed, a hook timed out under a build, an agent left behind), the checker sees that damage when
no gate runs, the class keeps every seed's world, and seeds of it stay clean."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.checker import check
from chaos.classes import CLASSES, parse
from chaos.runner import Worker
from chaos.world import Plan, RunRecords, draw
from tests.functional.chaos.plans import run_plan, two_instances

WARM_ACTIONS = ("warm_leave", "warm_add", "warm_delete")


def warm_plan(**overrides: Any) -> Plan:
    """Two instances in service and two in a Running warm pool, each with its agent; a 900 s build starts at 5 s on
    the last idle agent (a warm instance's: agents are registered group first), and both warm instances leave the pool
    at 30 and 45 s. Nothing scales in: only the warm instances go."""
    values: dict[str, Any] = {
        "classes": ("warm_pool",),
        "actions": [
            (5.0, "start_build", {"pick": 0.99, "duration": 900.0}),
            (30.0, "warm_leave", {"group": "ci-0", "pick": 0.0}),
            (45.0, "warm_leave", {"group": "ci-0", "pick": 0.0}),
        ],
        "guarded": False,  # the guard refuses an agent on a Warmed:* instance
        "warm": {"ci-0": ("Running", 2)},
    }
    values.update(overrides)
    return two_instances(**values)


def _warm_ended(records: RunRecords) -> set[str]:
    waited = {h["instance_id"] for h in records.history if h["what"] == "wait"}
    ended = {h["instance_id"] for h in records.history if h["what"] == "terminated"}
    return waited & ended


def test_without_a_gate_the_checker_sees_the_build_killed_on_a_warm_instance(worker: Worker) -> None:
    records = run_plan(worker, warm_plan(), gate=False)
    assert len(_warm_ended(records)) == 2, "both warm instances left the pool through the hook and ended"
    kinds = [v.kind for v in check(records)]
    assert kinds.count("build_killed") == 1, kinds
    assert kinds.count("timeout_during_build") == 1, kinds
    assert kinds.count("agent_left_behind") == 2, kinds  # the warm instances' agents, busy and idle


def test_the_same_warm_world_with_the_gate_is_clean(worker: Worker) -> None:
    records = run_plan(worker, warm_plan())
    assert check(records) == []
    gone = _warm_ended(records)
    assert len(gone) == 2
    hosts = {a["capabilities"]["AWS_INSTANCE_ID"]: a for a in records.ado["agents"]}
    assert all(hosts[i]["deleted"] for i in gone), "the gate deleted the warm instances' agents"
    assert all(b["result"] != "abandoned" for b in records.ado["builds"]), "the build on the warm instance finished"


def test_a_stopped_warm_pool_runs_no_agent_and_its_instances_are_released(worker: Worker) -> None:
    plan = warm_plan(warm={"ci-0": ("Stopped", 2)}, actions=[(30.0, "warm_delete", {"group": "ci-0"})])
    records = run_plan(worker, plan)
    assert check(records) == []
    assert len(_warm_ended(records)) == 2, "DeleteWarmPool took both through the hook; the gate released them"
    assert len(records.ado["agents"]) == 2, "only the in-service instances have agents"


def test_checker_accepts_the_ec2_end_of_a_retained_warm_instance_only() -> None:
    iid = "i-0123456789abcdef0"

    def kinds(state: str) -> list[str]:
        ended = {"what": "terminated", "hook": None, "instance_id": iid, "group": "ci-0", "time": 1_800_000_100.0,
                 "by": "ec2", "result": state}  # fmt: skip
        records = RunRecords(warm_plan(), [ended], {"agents": [], "builds": []}, {iid: "ci-0"}, ["ci-0"], {}, 0.0, "")
        return [v.kind for v in check(records)]

    assert kinds("Warmed:Terminating:Retained") == []
    assert kinds("Warmed:Running") == ["foreign_action"]
    assert kinds("Warmed:Terminating:Wait") == ["foreign_action"]


def test_warm_pool_is_opt_in_and_keeps_the_seeds_world() -> None:
    every = tuple(CLASSES)
    assert "warm_pool" not in parse("all", None) and "warm_pool" in parse("all,warm_pool", None)
    for seed in (1, 120, 1110):
        base, warm = draw(seed, every, 3), draw(seed, (*every, "warm_pool"), 3)
        extra = [a for a in warm.actions if a not in base.actions]
        assert [a for a in warm.actions if a not in extra] == base.actions and extra
        assert all(k in WARM_ACTIONS or p.get("action") == "DescribeWarmPool" for _, k, p in extra)
        assert warm.groups == base.groups and warm.classes == (*base.classes, "warm_pool")
        assert warm.warm and set(warm.warm) <= {g.name for g in warm.groups} and not base.warm
        assert draw(seed, (*every, "warm_pool"), 3).actions == warm.actions


# Seeds of the first search (`--unguarded`, chunks of 5: 40 Azure DevOps seeds, 10 GitLab, 10 with gate_outage; no
# violation) in which warm instances left the pool through the gate's hook while their agents ran builds.
CLEAN_WARM_SEEDS = [
    pytest.param(27, "all,warm_pool", "azure-devops", id="azure-devops-27"),
    pytest.param(7, "all,warm_pool", "gitlab", id="gitlab-7"),
    pytest.param(4, "all,warm_pool,gate_outage", "azure-devops", id="gate-outage-4"),
]


@pytest.mark.parametrize(("seed", "faults", "system"), CLEAN_WARM_SEEDS)
def test_warm_pool_seeds_are_clean(worker: Worker, seed: int, faults: str, system: str) -> None:
    result = worker.run(seed, parse(faults, None), 3, guarded=False, agent_system=system)
    assert result.error is None
    assert result.stats.get("warm_busy_waits", 0) > 0, "a warm instance left the pool while its agent ran a build"
    replay = f"python -m chaos --seed {seed} --faults {faults} --agent-system {system} --unguarded"
    assert result.violations == [], f"replay: {replay}"
