"""The executor's plan mode (a dry run): the same executor, every port a recorder; nothing reaches an edge, and the
plan lists the calls a real run makes, in the order it makes them, then hold or release (issue 20, item 4)."""

from __future__ import annotations

from typing import Any

from gate.domain.actions import Complete, ConfirmDisables, DeleteAgent, DisableAgent, SetTag
from gate.domain.decide import Decision, Observation, Policy, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash
from gate.domain.model import Agent, Outcome, ServiceTime, Waiting
from gate.service.execute import PROOF_STEP, execute

T0 = 1_800_000_000.0
ACTION = "8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"


class Edge:
    """Every port; fails the test if the plan mode calls any of them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a dry run called the edge: {name}")


class Recording:
    """A real edge that only records: the calls of a real run, to compare with the plan."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def heartbeat(self, waiting: Waiting) -> None:
        self.calls.append("heartbeat")

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self.calls.append(f"tag {key}")

    def complete(self, waiting: Waiting, result: str) -> None:
        self.calls.append(f"complete {result}")

    def terminate(self, instance_id: str) -> None:
        self.calls.append("terminate")

    def disable(self, agent: Agent) -> ServiceTime:
        self.calls.append(f"disable {agent.label()}")
        return ServiceTime(T0 + 1, 0.0)

    def delete(self, agent: Agent) -> None:
        self.calls.append(f"delete {agent.label()}")


def busy_agent() -> Agent:
    return Agent("azure-devops", 7, "pool", 1, "agent-i-0123456789abcdef0", True, assigned_request=101)


def unheld() -> Waiting:
    return Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION)


def test_a_first_hold_plans_proof_tag_disable_stamp_hold_and_calls_nothing() -> None:
    decision = decide(unheld(), Observation([busy_agent()]), Policy(), T0, proven=True)
    assert [type(a) for a in decision.actions] == [SetTag, DisableAgent, ConfirmDisables]
    done = execute(decision, unheld(), Edge(), Edge(), dry_run=True, before=(PROOF_STEP,))
    assert done.outcome is Outcome.SKIPPED and done.done and done.planned is not None
    steps = [s.split(" (")[0].split("=")[0] for s in done.planned]
    assert steps == [
        "heartbeat",
        f"tag {HOLD_TAG}",
        "disable pool/agent-i-0123456789abcdef0#1",
        f"tag {HOLD_TAG} with the disables' acknowledgement",
        "hold",
    ]
    assert done.reason.startswith("dry run: would heartbeat") and done.reason.endswith(
        f"({decision.outcome}: {decision.reason})"
    )


def test_the_plan_is_the_real_runs_calls_in_order() -> None:
    """A release: delete the agent, complete, clear the tag; the same calls, in the same order, as a real run."""
    state = HoldState(action_hash(ACTION), held_since=T0 - 900)
    decision = Decision(
        Outcome.RELEASED,
        "idle",
        (DeleteAgent(busy_agent()), Complete("CONTINUE"), SetTag(HOLD_TAG, "")),
        held_since=state.held_since,
    )
    planned = execute(decision, unheld(), Edge(), Edge(), dry_run=True)
    real = Recording()
    done = execute(decision, unheld(), real, real, dry_run=False)
    assert done.outcome is Outcome.RELEASED
    assert planned.planned is not None and planned.planned[-1] == "release"
    assert [s.split("=")[0] for s in planned.planned[:-1]] == real.calls
