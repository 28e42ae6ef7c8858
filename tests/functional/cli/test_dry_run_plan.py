"""Dry runs tell the truth (issue 20, item 4): `gate check` and `gate replay` without --execute print the plan one real
round would carry out (the heartbeat that proves the action is the gate's, the hold tag, the disable, then hold or
release), from the same heartbeat pass, judgment and executor (its plan mode), and do none of it.

The world is the README's hand tour, built in this process on real servers over HTTP (`gate emulator --seed`'s
world: fixed instance ids, so examples/events/lifecycle-action.json names the busy waiting instance).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.aws import AwsEmulator
from emulator.azure_devops import FakeAzureDevOps
from emulator.seed import Seeded, seed
from tests.functional.cli.conftest import ROOT, gate

EVENT = ROOT / "examples" / "events" / "lifecycle-action.json"
TICK = ROOT / "examples" / "events" / "scheduled-tick.json"
PAT = "local-pat"


@dataclass
class Tour:
    aws: AwsEmulator
    ado: FakeAzureDevOps
    world: Seeded

    def agent(self, iid: str) -> dict[str, Any]:
        for agent_id in range(1, 5):
            agent = self.ado.agent(agent_id)
            if agent is not None and agent["name"] == f"agent-{iid}":
                return agent
        raise AssertionError(f"no agent for {iid}")

    def history(self, iid: str) -> list[str]:
        return [h["what"] for h in self.aws.history() if h["instance_id"] == iid]

    def tags(self, iid: str) -> dict[str, str]:
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=self.aws.endpoint, region_name="us-east-1")
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}

    def untouched(self, iid: str) -> bool:
        return (
            self.agent(iid)["enabled"]
            and not set(self.history(iid)) - {"wait"}  # no heartbeat, no completion
            and not any(k.startswith("gate:") for k in self.tags(iid))
        )


@pytest.fixture(scope="module")
def tour() -> Iterator[Tour]:
    aws = AwsEmulator(port=0).start()
    ado = FakeAzureDevOps(port=0, clock=aws.clock, pat=PAT).start()
    try:
        yield Tour(aws, ado, seed(aws, ado))
    finally:
        ado.stop()
        aws.stop()


@pytest.fixture
def env(tour: Tour, monkeypatch: pytest.MonkeyPatch) -> Tour:
    """The emulator's export block, as a user pastes it."""
    for line in tour.world.exports(tour.aws.endpoint, tour.ado.url, PAT):
        for pair in line.removeprefix("export ").split():
            key, value = pair.split("=", 1)
            monkeypatch.setenv(key, value)
    return tour


def kinds(steps: list[str]) -> list[str]:
    """A plan's steps without their values (a hold tag's timestamps differ from one run to the next)."""
    return [re.sub(r"(tag gate:hold)=.*", r"\1=…", s).split(" (")[0] for s in steps]


def test_check_of_the_busy_waiting_instance_prints_the_plan_and_does_nothing(env: Tour) -> None:
    busy = env.world.busy_waiting
    result = gate("check", busy, width=200)
    assert result.exit_code == 0, result
    out = result.stdout
    assert "decision: held: draining: disabled linux-agents/agent-" in out, out
    assert "not proven ours" not in out and "would:    nothing" not in out
    steps = re.findall(r"^\s+\d+\. (.*)$", out, re.M)
    assert kinds(steps) == [
        "heartbeat",
        "tag gate:hold=…",
        f"disable linux-agents/agent-{busy}#1",
        "tag gate:hold with the disables' acknowledgement",
        "hold",
    ], out
    assert "proves the lifecycle action is the gate's" in steps[0]
    assert steps[-1].startswith(f"hold (busy: agent linux-agents/agent-{busy}#1 runs request ")
    assert "dry run: nothing was done" in out
    assert env.untouched(busy)

    data = json.loads(gate("check", busy, "--json").stdout)
    assert kinds(data["would"]) == kinds(steps) and data["decision"] == "held" and data["dry_run"] is True
    assert env.untouched(busy)


def test_check_of_an_instance_in_service_plans_nothing(env: Tour) -> None:
    result = gate("check", env.world.busy_in_service, width=200)
    assert result.exit_code == 0, result
    assert "would:    nothing" in result.stdout and "the gate does nothing now" in result.stdout
    assert env.untouched(env.world.busy_in_service)


def test_dry_run_replay_of_the_sample_event_prints_the_plan_and_does_nothing(env: Tour) -> None:
    busy = env.world.busy_waiting
    result = gate("replay", EVENT, width=200)
    assert result.exit_code == 0, result
    line = next(line for line in result.stdout.splitlines() if busy in line)
    assert line.startswith(f"skipped ci-agents {busy}: dry run: would heartbeat"), line
    assert "would nothing" not in line and f"disable linux-agents/agent-{busy}#1" in line
    assert f", hold (busy: agent linux-agents/agent-{busy}#1 runs request" in line  # why it holds past this round
    assert "dry run: nothing was done (--execute acts)" in result.stdout
    assert env.untouched(busy)


def test_the_real_tick_does_what_the_dry_run_planned(env: Tour) -> None:
    """Last in the module: --execute acts. The tick (heartbeats by instance id; the sample lifecycle event's token is
    made up, so AWS would refuse its heartbeat: the proof step that stops everything after it)."""
    busy, idle = env.world.busy_waiting, env.world.idle_waiting
    planned = {r["instance"]: r for r in json.loads(gate("replay", TICK, "--json").stdout)["records"]}
    assert {r["outcome"] for r in planned.values()} == {"skipped"} and env.untouched(busy) and env.untouched(idle)
    plans = {iid: kinds(r["actions"]) for iid, r in planned.items()}
    assert plans[busy][0] == plans[idle][0] == "heartbeat" and plans[busy][-1] == plans[idle][-1] == "hold"

    done = {r["instance"]: r for r in json.loads(gate("replay", TICK, "--execute", "--json").stdout)["records"]}
    for iid in (busy, idle):
        assert done[iid]["outcome"] == "held", done
        assert kinds(done[iid]["actions"]) == plans[iid][1:-1]  # the executor's own steps, in the planned order
        assert "heartbeat" in env.history(iid)  # the proof step
        assert env.agent(iid)["enabled"] is False
        assert "gate:hold" in env.tags(iid)
