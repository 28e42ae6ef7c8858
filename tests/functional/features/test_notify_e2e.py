"""Webhook notifications end to end: a receiver on 127.0.0.1, the gate on the emulator. A slow or failing receiver
must never block or change a decision."""

from __future__ import annotations

import time

from emulator.sandbox import PAT, Sandbox
from gate.adapters.notify import HOLD_NOTIFIED_TAG
from gate.domain.clock import ManualClock
from gate.service.triggers import Gate
from tests.functional.features.conftest import Receiver, deliver, history, make_group, protect, tags


def held_busy(sandbox: Sandbox, duration: float = 900) -> tuple[str, int]:
    group = make_group(sandbox, size=2)
    busy = group.instances[0]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], duration)
    protect(sandbox, "ci-agents", group.instances[1:])
    sandbox.scale_to("ci-agents", 1)
    return busy, build


def test_forced_release_is_posted_slack_style_without_secrets(
    sandbox: Sandbox, clock: ManualClock, receiver: Receiver
) -> None:
    busy, _ = held_busy(sandbox)
    gate = sandbox.gate(sandbox.settings(webhook_url=receiver.url, max_hold_seconds=120))
    deliver(gate, sandbox)
    for _ in range(3):
        gate.tick()
    assert sandbox.log.records[-1]["outcome"] == "forced"
    [body] = receiver.bodies
    assert set(body) == {"text"}
    assert "FORCED" in body["text"] and busy in body["text"] and "max hold reached" in body["text"]
    assert PAT not in str(body)
    assert all(receiver.url not in str(r) for r in sandbox.log.records)


def test_long_hold_is_notified_once_per_hold_across_containers(
    sandbox: Sandbox, clock: ManualClock, receiver: Receiver
) -> None:
    busy, build = held_busy(sandbox)
    settings = sandbox.settings(webhook_url=receiver.url, webhook_format="json", hold_notify_seconds=120)
    gate = sandbox.gate(settings)
    deliver(gate, sandbox)
    for _ in range(5):  # 250 s of holding: past the threshold, several held records
        gate.tick()
    [body] = receiver.bodies
    assert body["kind"] == "long_hold" and body["outcome"] == "held" and body["instance"] == busy
    assert body["held_seconds"] >= 120 and body["group"] == "ci-agents" and body["agents"]
    assert "holding instance" in body["text"]
    assert tags(sandbox, busy)[HOLD_NOTIFIED_TAG]
    fresh: Gate = sandbox.gate(settings)  # a cold start or a concurrent container: the tag dedupes
    fresh.tick()
    assert len(receiver.bodies) == 1
    assert sandbox.ado is not None
    sandbox.ado.finish_build(build)
    fresh.tick()
    assert history(sandbox, "complete")[busy][0]["result"] == "CONTINUE" and len(receiver.bodies) == 1


def test_a_hanging_receiver_costs_one_short_timeout_and_never_blocks(
    sandbox: Sandbox, clock: ManualClock, receiver: Receiver
) -> None:
    busy, _ = held_busy(sandbox)
    receiver.mode, receiver.hang_seconds = "hang", 30  # far past any bound below: only the 0.3 s timeout ends it
    gate = sandbox.gate(sandbox.settings(webhook_url=receiver.url, webhook_timeout_seconds=0.3, max_hold_seconds=60))
    deliver(gate, sandbox)
    started = time.monotonic()
    for _ in range(3):  # ticks of 50 s: past the 60 s max hold
        gate.tick()
        if history(sandbox, "complete"):
            break
    assert sandbox.log.records[-1]["outcome"] == "forced"
    assert history(sandbox, "complete")[busy][0]["result"] == "CONTINUE"  # the decision went through
    assert time.monotonic() - started < 15  # a webhook that waited for the receiver would take 30 s
    assert receiver.requests == 1 and not receiver.bodies


def test_a_failing_receiver_is_logged_and_rested(sandbox: Sandbox, clock: ManualClock, receiver: Receiver) -> None:
    group = make_group(sandbox, size=1)
    receiver.mode = "error"
    gate = sandbox.gate(sandbox.settings(webhook_url=receiver.url))

    def broken(*_: object, **__: object) -> list[object]:
        raise RuntimeError("Auto Scaling is down")

    gate.aws.find_waiting = broken  # type: ignore[method-assign]
    for _ in range(3):
        assert gate.tick()[0]["outcome"] == "error"
    assert receiver.requests == 1  # the rest are in cooldown (same error) or the failed webhook rests
    receiver.mode = "ok"
    clock.advance(1000)
    assert gate.tick()[0]["outcome"] == "error"
    [body] = receiver.bodies
    assert body["text"].startswith("[asg-termination-gate] ERROR") and "Auto Scaling is down" in body["text"]
    assert group.instances  # untouched world
