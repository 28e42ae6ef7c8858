"""Azure DevOps work for different instances overlaps (a bounded pool), on wall time against the fake server."""

from __future__ import annotations

from emulator.sandbox import Sandbox
from gate.domain.clock import SystemClock
from gate.handler import dispatch, invocation_deadline
from tests.functional.liveness.conftest import TICK, Context


def test_first_sight_disables_overlap_so_a_big_scale_in_fits_one_invocation() -> None:
    """24 instances seen for the first time while every PATCH takes 1.5 s: one after the other that is 36 s, more
    than this 30 s function has; eight at a time it fits, and every agent is disabled in the first invocation."""
    with Sandbox(SystemClock()) as sb:
        group = sb.create_group("ci-agents", 24)
        assert sb.ado is not None
        for agent_id in group.agents.values():
            sb.ado.start_build(agent_id, 3600)
        sb.scale_to("ci-agents", 0)
        sb.ado.inject("slow", count=None, delay=1.5, method="PATCH")
        gate = sb.gate(sb.settings(tick_budget_seconds=0))
        records = dispatch(gate, TICK, invocation_deadline(gate, Context(gate.clock, 30)))
        disabled = [iid for iid, agent in group.agents.items() if not sb.ado.agent(agent)["enabled"]]  # type: ignore[index]
        assert sorted(disabled) == sorted(group.instances)
        assert {r["outcome"] for r in records} == {"held"}
