"""Issue 18, failure isolation over HTTP: one failing agent pool holds only the instances that may have agents in it.

Two pools in the fake Azure DevOps; pool B fails for good (5xx, deleted: 404, a malformed answer, renamed so its
name no longer resolves). The instances with agents in pool A are disabled and released after their builds end, their
agents deleted; the instance with its agent in pool B and the one with no agent yet are held (heartbeats, no
completion, an `error` record naming the pool) until pool B answers again or max hold. Verdicts come from the servers'
records: the emulator's lifecycle history and the fake's agent states and builds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from cli.emulator.azure_devops import FakeAzureDevOps
from cli.emulator.sandbox import Sandbox
from gate.clock import ManualClock
from gate.decide import Observation, Policy, decide
from gate.model import Agent, Outcome, Waiting
from gate.reconcile import Gate
from tests.reliability.conftest import FAST

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


@pytest.mark.parametrize("kind", ["server_error", "pool_not_found", "malformed", "renamed"])
def test_a_failing_pool_holds_only_the_instances_that_may_have_agents_in_it(pools: Pools, kind: str) -> None:
    p = pools
    fail_pool_b(p, kind)
    p.sb.scale_to(p.group, 0)
    gate = p.gate()
    records = gate.tick(budget=400)

    # Pool A's instances: disabled, released after their builds end, agents deleted; no build killed.
    for iid in p.a:
        [complete] = p.history("complete", iid)
        assert complete["result"] == "CONTINUE"
        agent = p.agent(iid)
        assert agent["deleted"] and agent["deleted_by"] == "api"
        assert [h["enabled"] for h in agent["history"]][:1] == [False]  # disabled before it was deleted
    assert not p.killed()
    [build_a] = [b for b in p.ado.builds() if b["agent_id"] == p.agents[p.a[0]]]
    assert build_a["result"] == "succeeded"

    # Pool B's instance and the one without an agent: held (heartbeats), never completed, B's agent untouched.
    for iid in (p.b, p.none):
        assert not p.history("complete", iid) and not p.history("timeout", iid)
        assert len(p.history("heartbeat", iid)) >= 2
        assert set(outcomes(records, iid)) <= {"held"}
        assert any("failing" in r["reason"] for r in records if r.get("instance") == iid)
    agent_b = p.agent(p.b)
    assert agent_b["enabled"] and not agent_b["deleted"]
    # Loud: one error per failing pool per invocation, naming it.
    [error] = pool_errors(records)
    assert POOL_B in error

    # Pool B answers again: its instance is released once its build has ended, the other after the grace.
    if kind == "renamed":
        p.ado.rename_pool(p.pool_b, POOL_B)
    else:
        p.ado.clear_faults()
    records = gate.tick(budget=400)
    for iid in (p.b, p.none):
        [complete] = p.history("complete", iid)
        assert complete["result"] == "CONTINUE"
    agent_b = p.agent(p.b)
    assert agent_b["deleted"] and not agent_b["enabled"]
    assert not p.killed() and not pool_errors(records)


def test_an_agent_seen_in_the_pool_before_it_failed_keeps_its_instance_held(pools: Pools) -> None:
    p = pools
    p.sb.scale_to(p.group, 0)
    gate = p.gate()
    gate.tick(budget=3)  # every agent seen and disabled while both pools answer
    assert not p.agent(p.b)["enabled"]
    fail_pool_b(p, "server_error")
    records = gate.tick(budget=400)  # B's build ends at 100 s, unseen: the instance stays held
    assert [p.history("complete", iid)[0]["result"] for iid in p.a] == ["CONTINUE", "CONTINUE"]
    assert not p.history("complete", p.b) and not p.agent(p.b)["deleted"]
    assert not p.history("complete", p.none)  # no agent seen yet: it may be registered in pool B
    assert set(outcomes(records, p.b)) <= {"held"} and pool_errors(records)
    assert not p.killed()


def test_at_max_hold_an_agent_in_a_failing_pool_is_not_deleted_blindly(pools: Pools) -> None:
    p = pools
    fail_pool_b(p, "server_error")
    p.sb.scale_to(p.group, 0)
    records = p.gate(max_hold_seconds=240).tick(budget=400)
    for iid in (p.b, p.none):
        [complete] = p.history("complete", iid)
        assert complete["time"] >= p.waiting_since(iid) + 240  # never forced before max hold
        assert outcomes(records, iid)[-1] == "forced"
    forced = [r["reason"] for r in records if r.get("instance") == p.b and r["outcome"] == "forced"]
    assert "left registered" in forced[0]
    agent_b = p.agent(p.b)  # the gate could not see it: neither disabled nor deleted by the gate
    assert not agent_b["deleted"] and agent_b["history"] == []
    for iid in p.a:  # the healthy pool's instances were released on evidence before max hold
        assert p.history("complete", iid)[0]["time"] < p.waiting_since(iid) + 240
        assert p.agent(iid)["deleted"]


# -- the rule, pure ------------------------------------------------------------------------------------------
def _agent(pool: int, id: int, *, enabled: bool = True) -> Agent:
    return Agent("azure-devops", pool, f"pool{pool}", id, f"a{id}", enabled)


def _decide(
    listed: list[Agent], failed: Mapping[int | str, str], answered: frozenset[int], tags: dict[str, str]
) -> Any:
    w = Waiting("g", "i-0123456789abcdef0", "h", action_id="act-1", tags=tags)
    obs = Observation(agents=listed, failed_pools=failed, answered_pools=answered)
    return decide(w, obs, Policy(unregistered_grace_seconds=0, assignment_lag_seconds=0), 1000.0, proven=True)


def test_decide_holds_on_a_failing_pool_only_what_may_depend_on_it() -> None:
    failing: dict[int | str, str] = {2: "HTTP 500"}
    # No agent seen yet: its agent may be in the failing pool (not released by the unregistered grace).
    nothing = _decide([], failing, frozenset({1}), {})
    assert nothing.outcome is Outcome.HELD and "failing" in nothing.reason and nothing.failsafe == "agent_pool"
    # Seen only in the pool that answered: judged as usual (here: its agent is disabled first).
    healthy = _decide([_agent(1, 5)], failing, frozenset({1}), {})
    assert "failing" not in healthy.reason
    # Seen in both: held, and the agent it can see is still disabled.
    first = _decide([_agent(1, 5), _agent(2, 6)], {}, frozenset({1, 2}), {})
    both = _decide([_agent(1, 5)], failing, frozenset({1}), dict(first.tags))
    assert both.outcome is Outcome.HELD and "failing" in both.reason
    assert [type(a).__name__ for a in both.actions].count("DisableAgent") == 1
    # A pool whose name did not resolve may be any pool that did not answer.
    unresolved = _decide([_agent(1, 5)], {"pool-b": "not found"}, frozenset({1}), dict(first.tags))
    assert unresolved.outcome is Outcome.HELD and "pool-b" in unresolved.reason
    only_a = _decide([_agent(1, 5, enabled=False)], {"pool-b": "not found"}, frozenset({1}), {})
    assert "failing" not in only_a.reason


# -- GitHub: each organisation or repository is a pool ----------------------------------------------------------
def test_github_lists_each_scope_on_its_own() -> None:
    from cli.emulator.github import FakeGitHub
    from gate.github import GitHubRunners

    token = "ghs_fakeinstallationtoken0123456789"
    with FakeGitHub(clock=ManualClock(), token=token) as github:
        runner = github.add_runner("ci-i-0123456789abcdef0", org="acme")
        client = GitHubRunners(github.url, token, org="acme", repos=["acme/gone"])  # the repository was deleted
        listing = client.list_pools()
    assert [a.id for a in listing.agents] == [runner] and listing.answered == {1}
    assert list(listing.failed) == [2] and "repo:acme/gone" in listing.failed[2] and "404" in listing.failed[2]
