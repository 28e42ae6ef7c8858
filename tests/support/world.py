"""A live local world on a ManualClock: the gate's re-check sleeps advance time instantly, so fault tests are
deterministic and fast while still going over HTTP to the AWS emulator and the fake Azure DevOps."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.aws import AwsEmulator
from emulator.azure_devops import FakeAzureDevOps
from emulator.sandbox import Group, Sandbox
from gate.adapters.logs import Record
from gate.domain.clock import ManualClock
from gate.handler import dispatch
from gate.service.triggers import Gate

FAST = {
    "recheck_interval_seconds": 5,
    "tick_budget_seconds": 40,
    "idle_confirm_seconds": 10,
    "unregistered_grace_seconds": 60,
    "assignment_lag_seconds": 10,  # the lag bound from the disable (60 s by default): shorter keeps tests quick
}


@dataclass
class World:
    sb: Sandbox
    clock: ManualClock
    group: Group

    @property
    def emu(self) -> AwsEmulator:
        assert self.sb.emulator is not None
        return self.sb.emulator

    @property
    def ado(self) -> FakeAzureDevOps:
        assert self.sb.ado is not None
        return self.sb.ado

    def gate(self, **overrides: Any) -> Gate:
        return self.sb.gate(self.sb.settings(**{**FAST, **overrides}))

    def scale_in(self, desired: int, protect: list[int] | None = None) -> list[str]:
        if protect:
            self.sb.client("autoscaling").set_instance_protection(
                AutoScalingGroupName=self.group.name,
                InstanceIds=[self.group.instances[i] for i in protect],
                ProtectedFromScaleIn=True,
            )
        self.sb.scale_to(self.group.name, desired)
        return self.sb.instance_ids(self.group.name, ("Terminating:Wait",))

    def history(self, what: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for h in self.emu.history():
            if h["what"] == what:
                out.setdefault(h["instance_id"], []).append(h)
        return out

    def event_for(self, instance_id: str) -> dict[str, Any]:
        return copy.deepcopy(next(e for e in self.emu.events if e["detail"]["EC2InstanceId"] == instance_id))

    def agent(self, instance_id: str) -> dict[str, Any]:
        snapshot = self.ado.agent(self.group.agents[instance_id])
        assert snapshot is not None
        return snapshot

    def dispatch(self, event: Any, gate: Gate | None = None, **overrides: Any) -> list[Record]:
        return dispatch(gate or self.gate(**overrides), event)

    def untouched(self) -> bool:
        """No lifecycle action was heartbeaten or completed and no agent was disabled or deleted."""
        acted = [h for h in self.emu.history() if h["what"] in ("heartbeat", "complete")]
        agents = [self.ado.agent(a) for a in self.group.agents.values()]
        return not acted and all(a is not None and a["enabled"] and not a["deleted"] for a in agents)


def outcomes(records: list[dict[str, Any]], iid: str) -> list[str]:
    """The outcomes of one instance's decision records, in order."""
    return [r["outcome"] for r in records if r.get("instance") == iid]


def completed_at(world: World, iid: str) -> float:
    """When the AWS emulator recorded the instance's first CompleteLifecycleAction."""
    return float(world.history("complete")[iid][0]["time"])


def disabled_at(world: World, iid: str) -> float:
    """When the fake Azure DevOps first recorded the instance's agent disabled (its own clock)."""
    return float(next(h["time"] for h in world.agent(iid)["history"] if h["enabled"] is False))


def killed(world: World) -> list[dict[str, Any]]:
    """Builds that ended abandoned or whose instance completed while they ran."""
    completes = {iid: h[0]["time"] for iid, h in world.history("complete").items()}
    out = []
    for b in world.ado.builds():
        iid = next((i for i, a in world.group.agents.items() if a == b["agent_id"]), None)
        end = completes.get(iid or "")
        if b["result"] == "abandoned" or (end is not None and (b["finished_at"] is None or b["finished_at"] > end)):
            out.append(b)
    return out


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 3, heartbeat_timeout=300)
        yield World(sb, clock, group)
