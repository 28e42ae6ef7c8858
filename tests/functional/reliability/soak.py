"""Soak driver: a fleet under random load, random scale-in/out and injected Azure and AWS faults, with the real
handler (events + ticks), then a full drain. Verdicts come from the servers' own records."""

from __future__ import annotations

import gc
import random
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from emulator.sandbox import Sandbox
from gate.adapters.logs import DecisionLog
from gate.domain.clock import ScaledClock
from gate.handler import dispatch

TICK = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
AZURE_FAULTS = ("rate_limit", "server_error", "down", "malformed", "slow")
AWS_FAULTS = ("RecordLifecycleActionHeartbeat", "CompleteLifecycleAction", "DescribeAutoScalingGroups")


@dataclass
class SoakResult:
    simulated_minutes: float = 0
    wall_seconds: float = 0
    builds: int = 0
    builds_finished: int = 0
    builds_killed: int = 0
    instances_terminated: int = 0
    hooks_completed: int = 0
    timeouts_during_build: int = 0
    timeouts: int = 0
    agents_left_behind: list[str] = field(default_factory=list)
    azure_faults: int = 0
    aws_faults: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    gate_memory_kib: list[float] = field(default_factory=list)  # tracemalloc, gate/ code only, per sample
    slowest_tick_seconds: float = 0  # simulated seconds from a tick's start to its end
    timeout_details: list[dict[str, Any]] = field(default_factory=list)  # for diagnosis, when any


def _gate_memory() -> float:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, "*/gate/*"), tracemalloc.Filter(False, "*/emulator/*")]
    )
    return sum(s.size for s in snap.statistics("filename")) / 1024


def run_soak(
    instances: int = 100,
    minutes: float = 60,
    speed: float = 30,
    seed: int = 7,
    faults: bool = True,
    max_build: float = 1800,
    track_memory: bool = True,
) -> SoakResult:
    rng = random.Random(seed)
    clock = ScaledClock(speed)
    res = SoakResult()
    log = DecisionLog(keep=500_000)
    tick_spans: list[float] = []
    threads: list[threading.Thread] = []
    if track_memory:
        tracemalloc.start()
    wall0 = time.monotonic()
    with Sandbox(clock) as sb:
        assert sb.emulator is not None and sb.ado is not None
        group = sb.create_group("soak", instances, heartbeat_timeout=900)
        asg = sb.client("autoscaling")
        asg.update_auto_scaling_group(AutoScalingGroupName="soak", MaxSize=instances)
        settings = sb.settings(max_hold_seconds=6 * 3600)
        registered = dict(group.agents)

        def handle(event: dict[str, Any]) -> None:
            start = clock.now()
            dispatch(sb.gate(settings, log), event)
            if event is TICK:
                tick_spans.append(clock.now() - start)

        def invoke(event: dict[str, Any]) -> None:
            t = threading.Thread(target=handle, args=(event,), daemon=True)
            t.start()
            threads.append(t)

        def register_new() -> dict[str, str]:
            states = sb.lifecycle_states("soak")
            for iid, state in states.items():
                if state == "InService" and iid not in registered:  # the agent starts when the instance boots
                    registered[iid] = sb.ado.add_agent(group.pool, f"agent-{iid}")  # type: ignore[union-attr]
            return states

        t0 = clock.now()
        next_tick, next_scale, next_fault, next_sample = t0 + 60, t0 + 120, t0 + 300, t0
        last = t0
        while (now := clock.now()) - t0 < minutes * 60:
            register_new()
            # ~ one build a minute per 4 instances, 1 to 30 minutes long, queued to the pool like real jobs
            for _ in range(sum(1 for _ in range(8) if rng.random() < (now - last) / 60 * instances / 32)):
                sb.ado.queue_build(group.pool, rng.uniform(60, max_build))
                res.builds += 1
            last = now
            if now >= next_scale:
                next_scale = now + rng.uniform(90, 240)
                sb.scale_to("soak", rng.randint(instances // 4, instances))
            if faults and now >= next_fault:
                next_fault = now + rng.uniform(120, 400)
                sb.ado.inject(
                    rng.choice(AZURE_FAULTS),
                    seconds=rng.uniform(20, 120),
                    retry_after=rng.choice([1, 30]),
                    delay=0.3,
                    status=rng.choice([500, 503]),
                )
                sb.emulator.faults.inject(rng.choice(AWS_FAULTS), count=rng.randint(1, 3))
                res.azure_faults += 1
                res.aws_faults += 1
            for event in sb.receive_events():
                invoke(event)
            if now >= next_tick:
                next_tick += 60
                invoke(TICK)
            if track_memory and now >= next_sample:
                next_sample = now + minutes * 60 / 8
                res.gate_memory_kib.append(round(_gate_memory(), 1))
            threads[:] = [t for t in threads if t.is_alive()]
            time.sleep(0.05)
        # drain: no more builds, no more faults; let every job finish, then scale in to nothing
        sb.ado.clear_faults()
        sb.emulator.faults.clear()
        sb.scale_to("soak", instances)
        drain_end = clock.now() + 3 * 3600
        while clock.now() < drain_end:
            register_new()
            for event in sb.receive_events():
                invoke(event)
            if clock.now() >= next_tick:
                next_tick = clock.now() + 60
                invoke(TICK)
            if all(b["finished_at"] is not None for b in sb.ado.builds()):
                break
            time.sleep(0.05)
        sb.scale_to("soak", 0)
        while clock.now() < drain_end and sb.lifecycle_states("soak"):
            for event in sb.receive_events():
                invoke(event)
            if clock.now() >= next_tick:
                next_tick = clock.now() + 60
                invoke(TICK)
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=30)
        if track_memory:
            res.gate_memory_kib.append(round(_gate_memory(), 1))
        res.simulated_minutes = round((clock.now() - t0) / 60, 1)
        res.wall_seconds = round(time.monotonic() - wall0, 1)
        res.slowest_tick_seconds = round(max(tick_spans, default=0), 1)
        _account(sb, registered, res, log)
    if track_memory:
        tracemalloc.stop()
    return res


def _account(sb: Sandbox, registered: dict[str, int], res: SoakResult, log: DecisionLog) -> None:
    assert sb.emulator is not None and sb.ado is not None
    history = sb.emulator.history()
    died = {h["instance_id"]: h["time"] for h in history if h["what"] == "terminated"}
    agent_of = {aid: iid for iid, aid in registered.items()}
    res.instances_terminated = len(died)
    res.hooks_completed = sum(1 for h in history if h["what"] == "complete")
    timeouts = [h for h in history if h["what"] == "timeout"]
    res.timeouts = len(timeouts)
    builds = sb.ado.builds()
    res.builds_finished = sum(1 for b in builds if b["finished_at"] is not None)
    for b in builds:
        iid = agent_of.get(b["agent_id"]) if b["agent_id"] is not None else None
        end = died.get(iid) if iid else None
        if b["result"] == "abandoned" or (
            end is not None and b["assigned_at"] is not None and (b["finished_at"] is None or b["finished_at"] > end)
        ):
            res.builds_killed += 1
        for t in timeouts:
            if (
                t["instance_id"] == iid
                and b["assigned_at"] is not None
                and b["assigned_at"] <= t["time"]
                and (b["finished_at"] is None or b["finished_at"] > t["time"])
            ):
                res.timeouts_during_build += 1
    for t in timeouts:
        iid = t["instance_id"]
        mine = [h for h in history if h["instance_id"] == iid]
        start = next((h["time"] for h in mine if h["what"] == "wait"), t["time"])
        records = [r for r in log.records if r.get("instance") == iid]
        res.timeout_details.append(
            {
                "instance": iid,
                "waited": round(t["time"] - start),
                "heartbeats_at": [round(h["time"] - start) for h in mine if h["what"] == "heartbeat"],
                "records": len(records),
                "last": [(r["outcome"], r["reason"][:120]) for r in records[-4:]],
            }
        )
    for iid in died:
        aid = registered.get(iid)
        agent = sb.ado.agent(aid) if aid is not None else None
        if agent is not None and not agent["deleted"]:
            res.agents_left_behind.append(iid)
    for r in log.records:
        res.outcomes[r["outcome"]] = res.outcomes.get(r["outcome"], 0) + 1
