"""One tick at scale: thousands of instances waiting at once across many groups and pools, through the real gate.

The gate is the real one (`gate.service.triggers.Gate`: its heartbeat pass, thread pools, hook cache, judgment pass,
`decide`, `execute`); the two edges are in-process stand-ins with a per-call latency slept in real time, so the
thread pools overlap it as they would against AWS and Azure DevOps, and every call is counted. The clock is wall
time with jumps: a round sees real time pass (its deadline, from the Lambda timeout, really cuts it), and between
rounds the benchmark jumps ahead to the next tick. Every heartbeat is checked against the hook's HeartbeatTimeout on
arrival: `late` counts the hooks that would have timed out (the default result kills a running build).

The Azure DevOps stand-in answers the agent list from memory (no JSON parsing): realpath's `tick_at_scale` times
the real HTTP client on a 1,000-agent list.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bench.common import gate_settings, quiet_logs
from bench.fleet import FleetConfig, simulate
from bench.memory_aws import GONE, WAIT, MemoryAws
from gate.adapters.logs import DecisionLog
from gate.domain.actions import Result
from gate.domain.clock import Clock, ManualClock
from gate.domain.model import Agent, JobRequest
from gate.handler import dispatch
from gate.service.triggers import Gate

HOOK = "termination-gate"
from gate.domain.events import TERMINATING  # noqa: E402


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    instances: int = 5000
    groups: int = 20
    pools: int = 10
    heartbeat_timeout: float = 300.0
    aws_latency_s: float = 0.03  # per Auto Scaling / EC2 call (a typical control-plane answer)
    azure_latency_s: float = 0.2  # per Azure DevOps REST call
    short_build_s: float = 60.0  # half the builds end a minute in; the rest run for hours
    lambda_timeout_s: float = 70.0  # the Terraform module's function timeout
    page_size: int = 1000  # agents per page of the Azure DevOps list


class JumpClock:
    """Wall time that a benchmark can move forward: `now` runs at real speed, `advance` jumps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._base = start
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._base + time.monotonic() - self._t0

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._base += seconds

    def sleep(self, seconds: float) -> None:
        raise _RoundOver  # the gate wants another round: the benchmark measures one round at a time


class _RoundOver(BaseException):
    """Ends `Gate.tick` after its first round (not an Exception: the gate's own handlers must not catch it)."""


@dataclass
class _Instance:
    id: str
    group: str
    pool: int
    agent_id: int
    build_ends: float | None
    waiting: bool = True
    enabled: bool = True
    deleted: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    heartbeat_deadline: float = 0.0

    @property
    def state(self) -> str:
        return WAIT if self.waiting else GONE


class _Fleet:
    """The world both stand-ins answer from, thread-safe (the gate's pools call from many threads)."""

    def __init__(self, cfg: ScaleConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.lock = threading.Lock()
        now = clock.now()
        self.instances: dict[str, _Instance] = {}
        self.by_agent: dict[int, _Instance] = {}
        for k in range(cfg.instances):
            iid = f"i-{k + 1:017x}"
            ends = now + cfg.short_build_s if k % 2 == 0 else now + 6 * 3600
            inst = _Instance(iid, f"ci-{k % cfg.groups:02d}", k % cfg.pools, k + 1, ends, heartbeat_deadline=now)
            inst.heartbeat_deadline = now + cfg.heartbeat_timeout
            self.instances[iid] = inst
            self.by_agent[inst.agent_id] = inst
        self.aws_calls: Counter[str] = Counter()
        self.azure_calls: Counter[str] = Counter()
        self.late: list[float] = []  # seconds past the hook's deadline, per late heartbeat
        self.heartbeats_at: list[float] = []  # when each heartbeat of the current round landed
        self.pass_at: list[float] = []  # ... of those, the heartbeat pass's (its threads are named "heartbeat...")

    def aws(self, op: str, n: int = 1) -> None:
        with self.lock:
            self.aws_calls[op] += n
        if n and self.cfg.aws_latency_s:
            time.sleep(self.cfg.aws_latency_s * n)

    # -- bench.memory_aws.World: the gate's AWS edge answered from these instances
    def members(self) -> Iterable[_Instance]:
        return list(self.instances.values())

    def heartbeat(self, member: _Instance) -> None:
        now = self.clock.now()
        with self.lock:
            inst = self.instances[member.id]
            if now > inst.heartbeat_deadline:
                self.late.append(now - inst.heartbeat_deadline)
            inst.heartbeat_deadline = now + self.cfg.heartbeat_timeout
            self.heartbeats_at.append(now)
            if threading.current_thread().name.startswith("heartbeat"):
                self.pass_at.append(now)

    def complete(self, member: _Instance, result: Result) -> None:
        self.instances[member.id].waiting = False

    def edge(self) -> MemoryAws[_Instance]:
        """The gate's AWS port on this fleet (one per gate: it keeps the groups it listed)."""
        return MemoryAws(self, HOOK, self.cfg.heartbeat_timeout)

    def azure(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.azure_calls[kind] += n
        if n and self.cfg.azure_latency_s:
            time.sleep(self.cfg.azure_latency_s * n)

    def agent(self, inst: _Instance) -> Agent:
        busy = inst.build_ends is not None and inst.build_ends > self.clock.now()
        return Agent(
            source="azure-devops",
            pool_id=inst.pool + 1,
            pool=f"pool-{inst.pool:02d}",
            id=inst.agent_id,
            name=f"agent-{inst.id}",
            enabled=inst.enabled,
            assigned_request=inst.agent_id if busy else None,
        )


class _ScaleAzure:
    """The Azure DevOps `AgentSource`: one list per pool (pages of `page_size`), the rest per agent."""

    def __init__(self, fleet: _Fleet) -> None:
        self.fleet = fleet
        self.calls = 0

    def set_deadline(self, at: float | None) -> None:
        """Latency here is a fixed sleep far below any deadline: nothing to bound."""

    def list_agents(self) -> list[Agent]:
        fleet = self.fleet
        per_pool = Counter(i.pool for i in fleet.instances.values() if not i.deleted)
        for pool in range(fleet.cfg.pools):  # the real client walks the pools one after another
            fleet.azure("list agents (pages)", max(1, math.ceil(per_pool[pool] / fleet.cfg.page_size)))
        return [fleet.agent(i) for i in fleet.instances.values() if not i.deleted]

    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        self.fleet.azure("GET agent", len(agent_ids))
        found = {a: self.fleet.by_agent.get(a) for a in agent_ids}
        return {a: (self.fleet.agent(i) if i and not i.deleted else None) for a, i in found.items()}

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        self.fleet.azure("GET jobrequests")
        inst = self.fleet.by_agent[agent.id]
        running = inst.build_ends is not None and inst.build_ends > self.fleet.clock.now()
        return [JobRequest(agent.id, agent.id, finished=not running)]

    def disable(self, agent: Agent) -> None:
        self.fleet.azure("PATCH disable")
        self.fleet.by_agent[agent.id].enabled = False

    def delete(self, agent: Agent) -> None:
        self.fleet.azure("DELETE agent")
        self.fleet.by_agent[agent.id].deleted = True


def _collecting_log() -> DecisionLog:
    """Every decision record, and every info or error line as a record (`log:<event>`), kept and not written."""
    log = DecisionLog(echo=False, keep=10**9)
    log.events = lambda _level, event, fields: log.records.append({"outcome": f"log:{event}", **fields})
    return log


def _round(gate: Gate, fleet: _Fleet, log: DecisionLog, label: str) -> dict[str, Any]:
    """One round of a tick (the first of the invocation), with the Lambda's deadline."""
    aws0, azure0, n0 = Counter(fleet.aws_calls), Counter(fleet.azure_calls), len(log.records)
    late0 = len(fleet.late)
    fleet.heartbeats_at.clear()
    fleet.pass_at.clear()
    start = fleet.clock.now()
    margin = float(getattr(gate.settings, "invocation_margin_seconds", 0.0))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with contextlib.suppress(_RoundOver):
        gate.tick(deadline=start + fleet.cfg.lambda_timeout_s - margin)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    aws = fleet.aws_calls - aws0
    azure = fleet.azure_calls - azure0
    outcomes = Counter(str(r["outcome"]) for r in log.records[n0:])
    beats = sorted(t - start for t in fleet.heartbeats_at)
    return {
        "round": label,
        "waiting": sum(1 for i in fleet.instances.values() if i.waiting),
        "azure_calls": sum(azure.values()),
        "azure_calls_by_kind": dict(sorted(azure.items())),
        "aws_calls": sum(aws.values()),
        "aws_calls_by_operation": dict(sorted(aws.items())),
        "heartbeats": len(beats),
        "last_heartbeat_s": round(beats[-1], 2) if beats else None,
        "heartbeat_pass_heartbeats": len(fleet.pass_at),
        "heartbeat_pass_done_s": round(max(fleet.pass_at) - start, 2) if fleet.pass_at else None,
        "late_heartbeats": len(fleet.late) - late0,
        "outcomes": dict(sorted(outcomes.items())),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
    }


def tick_at_scale(cfg: ScaleConfig | None = None) -> dict[str, Any]:
    """Four rounds of one warm container: first sight (t=0), steady hold (t=30 s), heartbeats due (a third of
    HeartbeatTimeout after the first), and a round after the short builds ended and the lag bound passed."""
    cfg = cfg or ScaleConfig()
    clock = JumpClock()
    fleet = _Fleet(cfg, clock)
    groups = sorted({i.group for i in fleet.instances.values()})
    pools = [f"pool-{p:02d}" for p in range(cfg.pools)]
    settings = gate_settings(azure_org_url="https://dev.azure.com/bench", pools=pools, groups=groups, hook_name=HOOK)
    log = _collecting_log()
    rounds = []
    with quiet_logs():
        gate = Gate(settings, fleet.edge(), _ScaleAzure(fleet), clock, log)
        every = cfg.heartbeat_timeout / 3
        for label, jump in (
            ("first sight", 0.0),
            ("steady hold", 30.0),
            ("heartbeats due", every - 30.0 + 5.0),
            ("builds ended", 35.0),
        ):
            clock.advance(jump)
            rounds.append(_round(gate, fleet, log, label))
    overdue = sum(1 for i in fleet.instances.values() if i.waiting and i.heartbeat_deadline < clock.now())
    return {
        "config": asdict(cfg),
        "rounds": rounds,
        "late_heartbeats": len(fleet.late),
        "overdue_at_end": overdue,
        "every_heartbeat_in_time": not fleet.late and not overdue,
        "released": sum(1 for i in fleet.instances.values() if not i.waiting),
        "builds_killed": sum(
            1 for i in fleet.instances.values() if not i.waiting and (i.build_ends or 0) > clock.now()
        ),
    }


# Calls the gate makes for one instance (the rest are per round and shared by every instance waiting then).
PER_INSTANCE_OPS = frozenset(
    {
        "RecordLifecycleActionHeartbeat",
        "CreateTags",
        "DeleteTags",
        "CompleteLifecycleAction",
        "DescribeAutoScalingInstances",
    }
)


def calls_per_held_hour(
    base: FleetConfig | None = None, heartbeat_timeouts: Sequence[int] = (300, 3600)
) -> dict[str, Any]:
    """AWS calls per held instance-hour in the fleet simulation's day (the real gate, default settings), for each
    hook HeartbeatTimeout: heartbeats alone, every per-instance call, and every AWS call including the per-round
    DescribeAutoScalingGroups / DescribeInstances (which the instances held at the time share).

    A per-held-hour figure mixes two costs: a fixed one per hold (each container that sees the hold heartbeats it at
    first sight, the proof of a claim a concurrent release could overtake, the hold tag, its clearing, the
    completion, the event path's DescribeAutoScalingInstances) and one per hour (the heartbeat pass's cadence, a third
    of HeartbeatTimeout). The day's holds are short, so the fixed cost dominates; each row therefore also gives the
    calls per hold and, from `long_hold`, what a 2-hour busy hold costs in its first minutes and per hour after them."""
    base = base or FleetConfig()
    rows = []
    for timeout in heartbeat_timeouts:
        r = simulate(replace(base, heartbeat_timeout=timeout), "gate")
        held = r.held_instance_hours or float("nan")
        holds = r.holds or float("nan")
        ops = r.aws_calls_by_operation
        per_instance = sum(n for op, n in ops.items() if op in PER_INSTANCE_OPS)
        beats = ops.get("RecordLifecycleActionHeartbeat", 0)
        rows.append(
            {
                "heartbeat_timeout_s": timeout,
                "held_instance_hours": r.held_instance_hours,
                "heartbeats_per_held_hour": round(beats / held, 2),
                "per_instance_calls_per_held_hour": round(per_instance / held, 2),
                "aws_calls_per_held_hour": round(r.aws_calls / held, 2),
                "autoscaling_calls_per_held_hour": round(r.autoscaling_calls / held, 2),
                "holds": r.holds,
                "hold_mean_min": round(held * 60 / holds, 1),
                "heartbeats_per_hold": round(beats / holds, 2),
                "per_instance_calls_per_hold": round(per_instance / holds, 2),
                "per_instance_calls_per_hold_by_operation": {
                    op: round(n / holds, 2) for op, n in sorted(ops.items()) if op in PER_INSTANCE_OPS
                },
                "long_hold": long_hold_calls(heartbeat_timeout=timeout),
                "builds_killed": r.builds_killed,
                "hooks_timed_out": r.hooks_timed_out,
                "aws_calls_by_operation": ops,
            }
        )
    return {"strategy": "gate", "instances": base.instances, "hours": base.hours, "rows": rows}


def long_hold_calls(
    build_hours: float = 2.0, heartbeat_timeout: float = 3600.0, first_minutes: float = 5.0
) -> dict[str, Any]:
    """One busy victim whose build runs `build_hours` after the hold starts, through the real gate wired as in the
    fleet simulation (the lifecycle event on a fresh container 2 s in, a tick every minute on a warm one), on a
    manual clock: the per-instance AWS calls of the first `first_minutes` (the fixed cost of a hold), those of the
    hour after them (what an hour of a long hold costs), and the whole hold's."""
    clock = ManualClock()
    cfg = ScaleConfig(
        instances=1,
        groups=1,
        pools=1,
        heartbeat_timeout=heartbeat_timeout,
        aws_latency_s=0.0,
        azure_latency_s=0.0,
        short_build_s=build_hours * 3600,  # instance 0 gets the "short" build: its length is the hold's
    )
    fleet = _Fleet(cfg, clock)
    (inst,) = fleet.instances.values()
    pools = [f"pool-{p:02d}" for p in range(cfg.pools)]
    settings = gate_settings(
        azure_org_url="https://dev.azure.com/bench",
        pools=pools,
        groups=[inst.group],
        hook_name=HOOK,
        heartbeat_concurrency=1,  # inline: deterministic on the manual clock
        agent_concurrency=1,
    )
    start = clock.now()
    marks: dict[str, Counter[str]] = {}
    log = _collecting_log()

    def per_instance() -> Counter[str]:
        return Counter({op: n for op, n in fleet.aws_calls.items() if op in PER_INSTANCE_OPS})

    def invoke(gate: Gate, event: dict[str, Any]) -> None:
        dispatch(gate, event, clock.now() + cfg.lambda_timeout_s - settings.invocation_margin_seconds)

    with quiet_logs():
        ticks = Gate(settings, fleet.edge(), _ScaleAzure(fleet), clock, log)
        clock.advance(2.0)
        invoke(Gate(settings, fleet.edge(), _ScaleAzure(fleet), clock, log), _lifecycle_event(inst))
        minute = 0
        while inst.waiting and minute < build_hours * 60 + 30:
            at = start + 60.0 * (minute + 1)
            if clock.now() < at:
                clock.advance(at - clock.now())
            for name, mark in (("first", first_minutes), ("hour", first_minutes + 60)):
                if name not in marks and clock.now() - start >= mark * 60:
                    marks[name] = per_instance()
            invoke(ticks, {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
            minute += 1
    total = per_instance()
    first = marks.get("first", total)
    hour = marks.get("hour", total) - first
    held_h = (clock.now() - start) / 3600
    return {
        "build_hours": build_hours,
        "heartbeat_timeout_s": heartbeat_timeout,
        "released": not inst.waiting,
        "first_minutes": first_minutes,
        "first_minutes_calls": sum(first.values()),
        "first_minutes_by_operation": dict(sorted(first.items())),
        "next_hour_calls": sum(hour.values()),
        "next_hour_by_operation": dict(sorted(hour.items())),
        "hold_calls": sum(total.values()),
        "hold_by_operation": dict(sorted(total.items())),
        "hold_calls_per_held_hour": round(sum(total.values()) / held_h, 2) if held_h else None,
    }


def _lifecycle_event(inst: _Instance) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"bench-{inst.id}",
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2027-01-15T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "LifecycleActionToken": "00000000-0000-4000-8000-000000000001",
            "AutoScalingGroupName": inst.group,
            "LifecycleHookName": HOOK,
            "EC2InstanceId": inst.id,
            "LifecycleTransition": TERMINATING,
        },
    }
