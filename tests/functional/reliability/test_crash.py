"""The handler process is killed (SIGKILL) after disabling the agent and before completing the hook: the next
tick, in a fresh process with no memory of it, finishes the job from AWS's and Azure DevOps's state alone. Killed
after the release's delete, the hold tag's recorded release decision (`r=`) lets the next tick complete it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emulator.sandbox import PAT, Group, Sandbox
from gate.domain.clock import SystemClock
from gate.domain.holdstate import HOLD_TAG, decode

ROOT = Path(__file__).resolve().parents[3]
FAST = {
    "GATE_IDLE_CONFIRM_SECONDS": "3",
    "GATE_RECHECK_INTERVAL_SECONDS": "0.5",
    "GATE_TICK_BUDGET_SECONDS": "20",
    "GATE_ASSIGNMENT_LAG_SECONDS": "3",
}
TICK = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def _handler(sb: Sandbox, group: Group, event: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The handler in its own process (killed with SIGKILL by the tests): the event on stdin."""
    env = dict(
        os.environ,
        GATE_AZURE_ORG_URL=sb.azure_url,
        GATE_PAT=PAT,
        GATE_POOLS=group.pool,
        GATE_GROUPS=group.name,
        GATE_HOOK_NAME=group.hook,
        AWS_ENDPOINT_URL=sb.aws_endpoint,
        AWS_REGION="us-east-1",
        PYTHONPATH=str(ROOT),
        **FAST,
    )
    code = "import json, sys; from gate.handler import handle; handle(json.load(sys.stdin))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(event).encode())
    proc.stdin.close()
    return proc


def test_killed_between_the_delete_and_the_completion_then_the_tick_completes_on_the_recorded_decision() -> None:
    """Record, delete, complete: killed after it deleted the agent (the completion throttled meanwhile), the handler
    leaves the hold tag's recorded release decision (`r=`, written before the delete); the next tick, in a fresh
    process, completes on it, although the agent, seen busy in the hold, is gone and its job requests show nothing
    (before, such an instance was held to max hold)."""
    with Sandbox(SystemClock()) as sb:
        group = sb.create_group("ci-agents", 2, heartbeat_timeout=60)
        sb.scale_to("ci-agents", 1)
        assert sb.emulator is not None and sb.ado is not None
        [event] = sb.receive_events()
        iid = event["detail"]["EC2InstanceId"]
        request = sb.ado.start_build(group.agents[iid], 600)
        sb.emulator.faults.inject("CompleteLifecycleAction", count=None)
        proc = _handler(sb, group, TICK)  # a tick (an event's invocation leaves a busy instance to the tick)
        deadline = time.monotonic() + 30
        while (sb.ado.agent(group.agents[iid]) or {}).get("enabled", True):
            assert time.monotonic() < deadline and proc.poll() is None, "the handler never disabled the agent"
            time.sleep(0.02)
        sb.ado.finish_build(request)  # seen busy when the handler disabled it (`b=`); it ends now
        while not (sb.ado.agent(group.agents[iid]) or {}).get("deleted"):
            assert time.monotonic() < deadline and proc.poll() is None, "the handler never deleted the agent"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert not [h for h in sb.emulator.history() if h["what"] == "complete"]  # killed before completing
        assert sb.instance_ids("ci-agents", ("Terminating:Wait",)) == [iid]
        [reservation] = sb.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"]
        tags = {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}
        recorded = decode(tags.get(HOLD_TAG))
        assert recorded is not None and recorded.released_at is not None and recorded.busy  # recorded, then deleted

        sb.emulator.faults.clear()
        sb.ado.inject("empty_list", count=None, path_contains="jobrequests")
        gate = sb.gate(
            sb.settings(
                idle_confirm_seconds=3, recheck_interval_seconds=0.5, tick_budget_seconds=20, assignment_lag_seconds=3
            )
        )
        records = [r for r in gate.tick() if r["instance"] == iid]
        assert records[-1]["outcome"] == "released" and "release decided earlier" in records[-1]["reason"]
        assert [h["what"] for h in sb.emulator.history() if h["instance_id"] == iid][-1] == "terminated"


def test_killed_between_disable_and_complete_then_the_tick_finishes() -> None:
    with Sandbox(SystemClock()) as sb:
        group = sb.create_group("ci-agents", 2, heartbeat_timeout=60)
        sb.scale_to("ci-agents", 1)
        assert sb.emulator is not None and sb.ado is not None
        [event] = sb.receive_events()
        iid = event["detail"]["EC2InstanceId"]
        proc = _handler(sb, group, event)
        deadline = time.monotonic() + 30
        while (sb.ado.agent(group.agents[iid]) or {}).get("enabled", True):
            assert time.monotonic() < deadline and proc.poll() is None, "the handler never disabled the agent"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        assert not [h for h in sb.emulator.history() if h["what"] == "complete"]  # killed before completing
        assert sb.instance_ids("ci-agents", ("Terminating:Wait",)) == [iid]

        gate = sb.gate(
            sb.settings(
                idle_confirm_seconds=3, recheck_interval_seconds=0.5, tick_budget_seconds=20, assignment_lag_seconds=3
            )
        )
        records = gate.tick()
        assert records[-1]["outcome"] == "released" and records[-1]["instance"] == iid
        assert records[0]["held_seconds"] > 0  # hold start came from the tag the killed process wrote
        agent = sb.ado.agent(group.agents[iid])
        assert agent is not None and agent["deleted"]
        assert [h["what"] for h in sb.emulator.history() if h["instance_id"] == iid][-1] == "terminated"
