"""Issue 18, failure isolation over HTTP: release only on positive evidence, and nothing says an instance has no agent
in a pool that cannot be listed.

Two pools in the fake Azure DevOps; pool B fails for good (5xx, deleted: 404, a malformed answer, renamed so its
name no longer resolves). By default every instance is held (heartbeats, no completion, its visible agents disabled,
one `error` record naming the pool) until pool B answers again or max hold. With GATE_GROUP_POOLS (group A -> pool A,
group B -> pool B) only group B is held; group A's instances are released after their builds end, their agents
deleted. An agent seen in pool B keeps its instance held whatever the setting says. Verdicts come from the servers'
records: the emulator's lifecycle history and the fake's agent states and builds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.azure_devops import FakeAzureDevOps
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from gate.domain.decide import Observation, Policy, decide
from gate.domain.model import Agent, Outcome, Waiting
from gate.service.triggers import Gate
from tests.support.world import FAST

POOL_A, POOL_B = "pool-a", "pool-b"


@dataclass
class Pools:
    sb: Sandbox
    clock: ManualClock
    group: str
    a: list[str]  # instances with an agent in pool A (the first one runs a build)
    b: str  # the instance with its agent in pool B (running a build)
    none: str  # the instance with no agent at all
    agents: dict[str, int]  # instance id -> agent id
    pool_b: int

    @property
    def ado(self) -> FakeAzureDevOps:
        assert self.sb.ado is not None
        return self.sb.ado

    def gate(self, **overrides: Any) -> Gate:
        return self.sb.gate(self.sb.settings(**{**FAST, "pools": [POOL_A, POOL_B], **overrides}))

    def history(self, what: str, iid: str) -> list[dict[str, Any]]:
        assert self.sb.emulator is not None
        return [h for h in self.sb.emulator.history() if h["what"] == what and h["instance_id"] == iid]

    def agent(self, iid: str) -> dict[str, Any]:
        found = self.ado.agent(self.agents[iid])
        assert found is not None
        return found

    def waiting_since(self, iid: str) -> float:
        return float(self.history("wait", iid)[0]["time"])

    def killed(self) -> list[dict[str, Any]]:
        """Builds that ended abandoned, or whose instance completed while they ran (from the servers' records)."""
        by_agent = {a: i for i, a in self.agents.items()}
        out = []
        for build in self.ado.builds():
            completes = self.history("complete", by_agent.get(build["agent_id"], ""))
            end = completes[0]["time"] if completes else None
            late = end is not None and (build["finished_at"] is None or build["finished_at"] > end)
            if build["result"] == "abandoned" or late:
                out.append(build)
        return out


@pytest.fixture
def pools() -> Iterator[Pools]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 4, heartbeat_timeout=300, pool=POOL_A, agents=False)
        assert sb.ado is not None
        sb.ado.add_pool(POOL_A)
        pool_b = sb.ado.add_pool(POOL_B)
        a0, a1, b, none = group.instances
        agents = {}
        for iid, pool in ((a0, POOL_A), (a1, POOL_A), (b, POOL_B)):
            agents[iid] = sb.ado.add_agent(pool, f"agent-{iid}", capabilities={"AWS_INSTANCE_ID": iid})
        group.agents = agents
        sb.ado.start_build(agents[a0], 120)
        sb.ado.start_build(agents[b], 100)
        yield Pools(sb, clock, group.name, [a0, a1], b, none, agents, pool_b)


def fail_pool_b(p: Pools, kind: str) -> None:
    """Pool B fails for good: every request under /pools/<B>/ (agents, one agent, job requests), or its name."""
    if kind == "renamed":
        p.ado.rename_pool(POOL_B, "pool-b-renamed")  # a cold container no longer resolves the configured name
    else:
        p.ado.inject(kind, count=None, path_contains=f"/pools/{p.pool_b}/")


def outcomes(records: list[Any], iid: str) -> list[str]:
    return [r["outcome"] for r in records if r.get("instance") == iid]


def pool_errors(records: list[Any]) -> list[str]:
    return [r["reason"] for r in records if r["outcome"] == "error" and "agent pool" in r["reason"]]


KINDS = ["server_error", "pool_not_found", "malformed", "renamed"]


def recover_pool_b(p: Pools, kind: str) -> None:
    if kind == "renamed":
        p.ado.rename_pool(p.pool_b, POOL_B)
    else:
        p.ado.clear_faults()


@pytest.mark.parametrize("kind", KINDS)
def test_by_default_a_failing_pool_holds_every_instance(pools: Pools, kind: str) -> None:
    """Nothing says an instance has no agent in a pool that cannot be listed: without GATE_GROUP_POOLS, pool B failing
    holds pool A's instances too (their agents disabled), and everything is released once B answers again."""
    p = pools
    fail_pool_b(p, kind)
    p.sb.scale_to(p.group, 0)
    gate = p.gate()
    records = gate.tick(budget=400)

    for iid in (*p.a, p.b, p.none):  # held (heartbeats), never completed
        assert not p.history("complete", iid) and not p.history("timeout", iid)
        assert len(p.history("heartbeat", iid)) >= 2
        assert set(outcomes(records, iid)) <= {"held"}
        reasons = [r["reason"] for r in records if r.get("instance") == iid]
        assert any("agent pool" in reason and "failing" in reason for reason in reasons)
    for iid in p.a:  # the agents the gate can see are still disabled, not deleted
        agent = p.agent(iid)
        assert not agent["enabled"] and not agent["deleted"]
    agent_b = p.agent(p.b)  # the one it cannot see: untouched
    assert agent_b["enabled"] and not agent_b["deleted"]
    [error] = pool_errors(records)  # loud: one error per failing pool per invocation, naming it
    assert POOL_B in error

    # Pool B answers again: every instance is released once its builds have ended, its agents deleted.
    recover_pool_b(p, kind)
    records = gate.tick(budget=400)
    for iid in (*p.a, p.b, p.none):
        [complete] = p.history("complete", iid)
        assert complete["result"] == "CONTINUE"
    for iid in (*p.a, p.b):
        agent = p.agent(iid)
        assert agent["deleted"] and agent["deleted_by"] == "api"
        assert [h["enabled"] for h in agent["history"]][:1] == [False]  # disabled before it was deleted
    assert not p.killed() and not pool_errors(records)
    assert {b["result"] for b in p.ado.builds()} == {"succeeded"}


@dataclass
class TwoGroups:
    sb: Sandbox
    a: str  # group A: its agents register in pool A only (GATE_GROUP_POOLS)
    b: str  # group B: pool B only
    agents: dict[str, int]
    pool_b: int

    @property
    def ado(self) -> FakeAzureDevOps:
        assert self.sb.ado is not None
        return self.sb.ado

    def history(self, what: str, iid: str) -> list[dict[str, Any]]:
        assert self.sb.emulator is not None
        return [h for h in self.sb.emulator.history() if h["what"] == what and h["instance_id"] == iid]


@pytest.fixture
def two_groups() -> Iterator[TwoGroups]:
    with Sandbox(ManualClock()) as sb:
        ga = sb.create_group("ci-a", 3, heartbeat_timeout=300, pool=POOL_A, agents=False)
        gb = sb.create_group("ci-b", 2, heartbeat_timeout=300, pool=POOL_B, agents=False)
        assert sb.ado is not None
        sb.ado.add_pool(POOL_A)
        pool_b = sb.ado.add_pool(POOL_B)
        agents = {}
        for iid, pool in ((ga.instances[0], POOL_A), (ga.instances[1], POOL_A), (gb.instances[0], POOL_B)):
            agents[iid] = sb.ado.add_agent(pool, f"agent-{iid}", capabilities={"AWS_INSTANCE_ID": iid})
        sb.ado.start_build(agents[ga.instances[0]], 120)
        sb.ado.start_build(agents[gb.instances[0]], 100)
        yield TwoGroups(sb, ga.name, gb.name, agents, pool_b)


@pytest.mark.parametrize("kind", KINDS)
def test_group_pools_isolate_a_failing_pool_to_the_groups_that_use_it(two_groups: TwoGroups, kind: str) -> None:
    """With GATE_GROUP_POOLS (the only positive evidence of where an instance cannot have agents), pool B failing holds
    only group B; group A's instances are released after their builds end (the agentless one after the grace)."""
    w = two_groups
    p = Pools(w.sb, ManualClock(), w.b, [], "", "", w.agents, w.pool_b)  # fail_pool_b's view of the world
    fail_pool_b(p, kind)
    for group in (w.a, w.b):
        w.sb.scale_to(group, 0)
    settings = w.sb.settings(**FAST, group_pools={w.a: [POOL_A], w.b: [POOL_B]})
    gate = w.sb.gate(settings)
    records = gate.tick(budget=400)

    for iid in w.sb.groups[w.a].instances:
        [complete] = w.history("complete", iid)
        assert complete["result"] == "CONTINUE"
    for iid in w.sb.groups[w.a].instances[:2]:
        agent = w.ado.agent(w.agents[iid])
        assert agent is not None and agent["deleted"] and agent["deleted_by"] == "api"
    for iid in w.sb.groups[w.b].instances:
        assert not w.history("complete", iid) and len(w.history("heartbeat", iid)) >= 2
        assert set(outcomes(records, iid)) <= {"held"}
    agent_b = w.ado.agent(w.agents[w.sb.groups[w.b].instances[0]])
    assert agent_b is not None and agent_b["enabled"] and not agent_b["deleted"]
    [error] = pool_errors(records)
    assert POOL_B in error

    recover_pool_b(p, kind)
    gate.tick(budget=400)
    for iid in w.sb.groups[w.b].instances:
        [complete] = w.history("complete", iid)
        assert complete["result"] == "CONTINUE"
    assert {b["result"] for b in w.ado.builds()} == {"succeeded"}


@pytest.mark.parametrize("group_pools", [None, "both"])
def test_an_instance_with_an_agent_in_a_pool_failing_since_before_the_hold_is_never_released(
    pools: Pools, group_pools: str | None
) -> None:
    """The chaos case (seeds 500, 1117, 1155): an agent of the instance in pool B, which failed before the hold began,
    is never seen; judging the instance on pool A's agent alone released it and killed the job B's agent then took."""
    p = pools
    iid = p.a[1]  # idle agent in pool A, and a second agent in pool B
    hidden = p.ado.add_agent(POOL_B, f"agent-{iid}-b", capabilities={"AWS_INSTANCE_ID": iid})
    fail_pool_b(p, "server_error")
    p.sb.scale_to(p.group, 0)
    gate = p.gate(**({"group_pools": {p.group: [POOL_A, POOL_B]}} if group_pools else {}))
    gate.tick(budget=40)
    p.ado.start_build(hidden, 150)  # the agent the gate cannot see takes a job during the hold
    records = gate.tick(budget=400)
    assert not p.history("complete", iid), "released while an agent of it may run a job in the failing pool"
    assert set(outcomes(records, iid)) <= {"held"}
    p.ado.clear_faults()
    gate.tick(budget=400)
    [complete] = p.history("complete", iid)
    assert complete["result"] == "CONTINUE"
    hidden_agent = p.ado.agent(hidden)
    assert hidden_agent is not None and hidden_agent["deleted"]
    assert not p.killed() and {b["result"] for b in p.ado.builds()} == {"succeeded"}


def test_an_agent_seen_in_the_pool_before_it_failed_keeps_its_instance_held(pools: Pools) -> None:
    """Evidence beats configuration: GATE_GROUP_POOLS says the group uses pool A only, but an agent of one instance
    was seen in pool B before B failed, so that instance stays held."""
    p = pools
    p.sb.scale_to(p.group, 0)
    gate = p.gate(group_pools={p.group: [POOL_A]})
    gate.tick(budget=3)  # every agent seen and disabled while both pools answer
    assert not p.agent(p.b)["enabled"]
    fail_pool_b(p, "server_error")
    records = gate.tick(budget=400)  # B's build ends at 100 s, unseen: the instance stays held
    assert [p.history("complete", iid)[0]["result"] for iid in p.a] == ["CONTINUE", "CONTINUE"]
    assert not p.history("complete", p.b) and not p.agent(p.b)["deleted"]
    assert p.history("complete", p.none)  # configured to use pool A only: released after the grace
    assert set(outcomes(records, p.b)) <= {"held"} and pool_errors(records)
    assert not p.killed()


def test_at_max_hold_an_agent_in_a_failing_pool_is_not_deleted_blindly(pools: Pools) -> None:
    p = pools
    fail_pool_b(p, "server_error")
    p.sb.scale_to(p.group, 0)
    records = p.gate(max_hold_seconds=240).tick(budget=400)
    for iid in (*p.a, p.b, p.none):
        [complete] = p.history("complete", iid)
        assert complete["time"] >= p.waiting_since(iid) + 240  # never forced before max hold
        assert outcomes(records, iid)[-1] == "forced"
    forced = [r["reason"] for r in records if r.get("instance") == p.b and r["outcome"] == "forced"]
    assert "left registered" in forced[0]
    agent_b = p.agent(p.b)  # the gate could not see it: neither disabled nor deleted by the gate
    assert not agent_b["deleted"] and agent_b["history"] == []
    for iid in p.a:  # the agents it could see: disabled, then deleted at max hold (their builds had ended)
        assert p.agent(iid)["deleted"]
    assert not p.killed()


# -- the rule, pure ------------------------------------------------------------------------------------------
def _agent(pool: int, id: int, *, enabled: bool = True) -> Agent:
    return Agent("azure-devops", pool, f"pool{pool}", id, f"a{id}", enabled)


def _decide(
    listed: list[Agent],
    failed: Mapping[int | str, str],
    answered: frozenset[int],
    tags: dict[str, str],
    group_pools: frozenset[str] | None = None,
) -> Any:
    w = Waiting("g", "i-0123456789abcdef0", "h", action_id="act-1", tags=tags)
    names: dict[int | str, str] = {1: "pool-a", 2: "pool-b", "pool-b": "pool-b"}
    obs = Observation(
        agents=listed, failed_pools=failed, answered_pools=answered, pool_names=names, group_pools=group_pools
    )
    return decide(w, obs, Policy(unregistered_grace_seconds=0, assignment_lag_seconds=0), 1000.0, proven=True)


def test_decide_holds_on_a_failing_pool_every_instance_its_configuration_does_not_rule_out() -> None:
    failing: dict[int | str, str] = {2: "HTTP 500"}
    only_a = frozenset({"pool-a"})
    # No agent seen yet: its agent may be in the failing pool (not released by the unregistered grace).
    nothing = _decide([], failing, frozenset({1}), {})
    assert nothing.outcome is Outcome.HELD and "failing" in nothing.reason and nothing.failsafe == "agent_pool"
    # Seen only in the pool that answered: still held by default (an agent in pool B may never have been seen), its
    # agent disabled all the same.
    healthy = _decide([_agent(1, 5)], failing, frozenset({1}), {})
    assert healthy.outcome is Outcome.HELD and healthy.failsafe == "agent_pool"
    assert [type(a).__name__ for a in healthy.actions].count("DisableAgent") == 1
    # Its group configured to use pool A only: judged as usual, with or without an agent seen.
    assert "failing" not in _decide([_agent(1, 5)], failing, frozenset({1}), {}, only_a).reason
    agentless = _decide([], failing, frozenset({1}), {}, only_a)  # the unregistered grace runs as usual
    assert "failing" not in agentless.reason and agentless.failsafe != "agent_pool"
    # Its group uses pool B: held.
    assert _decide([_agent(1, 5)], failing, frozenset({1}), {}, frozenset({"pool-b"})).outcome is Outcome.HELD
    # Seen in both (pool B outside its group's list): evidence beats configuration, held, the visible agent disabled.
    first = _decide([_agent(1, 5), _agent(2, 6)], {}, frozenset({1, 2}), {})
    both = _decide([_agent(1, 5)], failing, frozenset({1}), dict(first.tags), only_a)
    assert both.outcome is Outcome.HELD and "failing" in both.reason
    assert [type(a).__name__ for a in both.actions].count("DisableAgent") == 1
    # A pool whose name did not resolve may be any pool that did not answer.
    unresolved = _decide([_agent(1, 5)], {"pool-b": "not found"}, frozenset({1}), dict(first.tags), only_a)
    assert unresolved.outcome is Outcome.HELD and "pool-b" in unresolved.reason
    seen_in_a = _decide([_agent(1, 5, enabled=False)], {"pool-b": "not found"}, frozenset({1}), {}, only_a)
    assert "failing" not in seen_in_a.reason
    # A failing pool with no known name is never ruled out by the configuration.
    assert _decide([_agent(1, 5)], {7: "HTTP 500"}, frozenset({1}), {}, only_a).outcome is Outcome.HELD


def test_group_pools_setting_is_validated() -> None:
    from gate.settings import SettingsError, load_settings

    base: dict[str, Any] = {
        "azure_org_url": "https://dev.azure.com/acme",
        "pools": ["pool-a", "pool-b"],
        "groups": ["ci-a", "ci-b"],
        "hook_name": "h",
        "pat": "x",
    }
    ok = load_settings(**base, group_pools='{"ci-a": ["pool-a"], "ci-b": ["pool-a", "pool-b"]}')
    assert ok.group_pools == {"ci-a": ["pool-a"], "ci-b": ["pool-a", "pool-b"]}
    assert load_settings(**base, group_pools="").group_pools == {}
    for bad, says in (
        ('{"ci-c": ["pool-a"]}', "not in GATE_GROUPS: ci-c"),
        ('{"ci-a": ["pool-c"]}', "pool(s) not configured: pool-c"),
        ('{"ci-a": []}', "non-empty list"),
        ("ci-a=pool-a", "JSON object"),
    ):
        with pytest.raises(SettingsError) as err:
            load_settings(**base, group_pools=bad)
        assert "GATE_GROUP_POOLS" in str(err.value) and says in str(err.value)
    github = {"agent_system": "github", "github_org": "acme", "github_repos": ["acme/app"], "github_token": "t"}
    gh = load_settings(**{**base, **github, "pools": []}, group_pools={"ci-a": ["acme"], "ci-b": ["acme/app"]})
    assert gh.group_pools["ci-b"] == ["acme/app"]


# -- GitHub: each organisation or repository is a pool ----------------------------------------------------------
def test_github_lists_each_scope_on_its_own() -> None:
    from gate.adapters.github import GitHubRunners
    from tests.support.github import FakeGitHub

    token = "ghs_fakeinstallationtoken0123456789"
    with FakeGitHub(clock=ManualClock(), token=token) as github:
        runner = github.add_runner("ci-i-0123456789abcdef0", org="acme")
        client = GitHubRunners(github.url, token, org="acme", repos=["acme/gone"])  # the repository was deleted
        listing = client.list_pools()
    assert [a.id for a in listing.agents] == [runner] and listing.answered == {1}
    assert list(listing.failed) == [2] and "repo:acme/gone" in listing.failed[2] and "404" in listing.failed[2]
    assert listing.names == {1: "acme", 2: "acme/gone"}  # as GATE_GROUP_POOLS names them
