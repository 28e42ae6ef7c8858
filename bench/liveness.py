"""Liveness under a slow Azure DevOps: 1,000 busy instances waiting at once, every Azure DevOps call taking 10 s.

The gate is the real one (`gate.handler.dispatch` -> `gate.service.triggers.Gate`: heartbeat pass, thread pools, hook
cache, deadlines from the invocation, judgment pass, `decide`, `execute`), invoked once a minute like the scheduled
rule, each invocation with a deadline from a 70 s Lambda timeout. The two edges are in-process stand-ins on a
scaled clock (`gate.domain.clock.ScaledClock`): their latencies are slept (scaled) in the calling thread, so the gate's
pools overlap them as they would the real services, and a call is cut short when the invocation's deadline comes,
as the real clients' bounded timeouts do. AWS applies the hook's HeartbeatTimeout and global timeout: a hook that
times out terminates its instance, and a build still running on it is killed.

Numbers: hooks timed out and builds killed (target 0 and 0), AWS heartbeat calls per held instance-hour, the
longest invocation against the function timeout, and how far judgment got (disabled, released).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.common import gate_settings
from bench.memory_aws import GONE, WAIT, MemoryAws
from gate.adapters.logs import DecisionLog
from gate.domain.actions import Result
from gate.domain.clock import ScaledClock
from gate.domain.model import Agent, JobRequest
from gate.handler import dispatch
from gate.service.sources import AgentSourceError
from gate.service.triggers import Gate

GROUP, HOOK, POOL = "ci-agents", "termination-gate", "linux-agents"

TICK: dict[str, Any] = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    instances: int = 1000
    azure_latency_s: float = 10.0  # per Azure DevOps call (simulated seconds)
    aws_latency_s: float = 0.05  # per Auto Scaling / EC2 call
    heartbeat_timeout: float = 300.0
    build_left_s: tuple[float, float] = (1800.0, 5400.0)  # what is left of each build at scale-in
    minutes: int = 120
    lambda_timeout_s: float = 70.0
    # Simulated seconds per wall second. The gate's own CPU time is scaled too (Python for 1,000 instances): at 30
    # the longest invocation reads ~71 s (2.4 s of wall time), at 10 ~66 s; 20 is the compromise for `gate bench`.
    speed: float = 20.0
    seed: int = 1


@dataclass
class _Instance:
    id: str
    agent_id: int
    build_ends: float
    hb_deadline: float
    global_deadline: float
    waiting: bool = True
    enabled: bool = True
    deleted: bool = False
    ended: str = ""  # released | forced | timed out
    ended_at: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    group: str = GROUP

    @property
    def state(self) -> str:
        return WAIT if self.waiting else GONE


@dataclass
class LivenessResult:
    instances: int
    azure_latency_s: float
    heartbeat_timeout_s: float
    simulated_minutes: float
    hooks_timed_out: int
    builds_killed: int
    released: int
    still_waiting: int
    disabled: int
    heartbeats: int
    held_instance_hours: float
    heartbeats_per_held_instance_hour: float
    invocations: int
    longest_invocation_s: float
    longest_invocation_wall_s: float
    function_timeout_s: float
    azure_calls: dict[str, int]
    aws_calls: dict[str, int]
    wall_seconds: float


class _World:
    def __init__(self, cfg: LivenessConfig, clock: ScaledClock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.lock = threading.Lock()
        rng = random.Random(cfg.seed)
        now = clock.now()
        global_timeout = min(172_800.0, 100 * cfg.heartbeat_timeout)
        self.instances: dict[str, _Instance] = {}
        self.by_agent: dict[int, _Instance] = {}
        for k in range(cfg.instances):
            inst = _Instance(
                f"i-{k + 1:017x}",
                k + 1,
                now + rng.uniform(*cfg.build_left_s),
                now + cfg.heartbeat_timeout,
                now + global_timeout,
            )
            self.instances[inst.id] = inst
            self.by_agent[inst.agent_id] = inst
        self.started = now
        self.aws_calls: Counter[str] = Counter()
        self.azure_calls: Counter[str] = Counter()
        self.killed = 0
        self.deadline: float | None = None  # the running invocation's, as the gate set it on the Azure client

    def aws(self, op: str, n: int = 1) -> None:
        with self.lock:
            self.aws_calls[op] += n
        time.sleep(n * self.cfg.aws_latency_s / self.cfg.speed)

    # -- bench.memory_aws.World: the gate's AWS edge answered from these instances
    def members(self) -> Iterable[_Instance]:
        return list(self.instances.values())

    def heartbeat(self, member: _Instance) -> None:
        with self.lock:
            inst = self.instances[member.id]
            inst.hb_deadline = min(self.clock.now() + self.cfg.heartbeat_timeout, inst.global_deadline)

    def complete(self, member: _Instance, result: Result) -> None:
        with self.lock:
            self.end(self.instances[member.id], "released", self.clock.now())

    def before_action(self, member: _Instance) -> None:
        self.expire(self.instances[member.id])

    def azure(self, kind: str) -> None:
        """One Azure DevOps call: its latency, cut short (an error) when the invocation's deadline comes first."""
        with self.lock:
            self.azure_calls[kind] += 1
        left = None if self.deadline is None else self.deadline - self.clock.now()
        if left is not None and left < self.cfg.azure_latency_s:
            time.sleep(max(0.0, left) / self.cfg.speed)
            raise AgentSourceError(f"{kind}: timed out at the invocation's deadline")
        time.sleep(self.cfg.azure_latency_s / self.cfg.speed)

    def end(self, inst: _Instance, how: str, now: float) -> None:
        """Terminate: a build still running is killed."""
        if not inst.waiting:
            return
        inst.waiting, inst.ended, inst.ended_at = False, how, now
        if inst.build_ends > now:
            self.killed += 1

    def expire(self, only: _Instance | None = None) -> None:
        """AWS's timers: the DefaultResult when no heartbeat came in time, or at the global timeout (for one
        instance before a call on it, for all between invocations)."""
        now = self.clock.now()
        with self.lock:
            for inst in [only] if only is not None else self.instances.values():
                if inst.waiting and (now >= inst.hb_deadline or now >= inst.global_deadline):
                    self.end(inst, "timed out", now)

    def agent(self, inst: _Instance) -> Agent:
        busy = inst.build_ends > self.clock.now()
        return Agent("azure-devops", 1, POOL, inst.agent_id, f"agent-{inst.id}", inst.enabled,
                     assigned_request=inst.agent_id if busy else None)  # fmt: skip


class _Azure:
    """The Azure DevOps `AgentSource`, every call `azure_latency_s` long and bounded by the invocation's deadline."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.calls = 0

    def set_deadline(self, at: float | None) -> None:
        self.world.deadline = at

    def list_agents(self) -> list[Agent]:
        self.world.azure("GET agents (list)")
        return [self.world.agent(i) for i in self.world.instances.values() if not i.deleted]

    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        out: dict[int, Agent | None] = {}
        for agent_id in agent_ids:
            self.world.azure("GET agent")
            inst = self.world.by_agent.get(agent_id)
            out[agent_id] = self.world.agent(inst) if inst is not None and not inst.deleted else None
        return out

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        self.world.azure("GET jobrequests")
        inst = self.world.by_agent[agent.id]
        return [JobRequest(agent.id, agent.id, finished=inst.build_ends <= self.world.clock.now())]

    def disable(self, agent: Agent) -> None:
        self.world.azure("PATCH disable")
        self.world.by_agent[agent.id].enabled = False

    def delete(self, agent: Agent) -> None:
        self.world.azure("DELETE agent")
        self.world.by_agent[agent.id].deleted = True


def liveness_benchmark(cfg: LivenessConfig | None = None, *, echo: bool = False) -> dict[str, Any]:
    """Run the scenario; returns (and with `echo` prints) the numbers as a dict."""
    cfg = cfg or LivenessConfig()
    wall0 = time.perf_counter()
    clock = ScaledClock(cfg.speed)
    world = _World(cfg, clock)
    settings = gate_settings(azure_org_url="https://dev.azure.com/bench", pools=[POOL], groups=[GROUP], hook_name=HOOK)
    aws = MemoryAws(world, HOOK, cfg.heartbeat_timeout, private_dns=lambda m: None, before_action=world.before_action)
    gate = Gate(settings, aws, _Azure(world), clock, DecisionLog(echo=False, keep=0))  # one warm container
    end = world.started + cfg.minutes * 60
    durations: list[float] = []
    walls: list[float] = []  # wall seconds per invocation: CPU time is scaled by `speed` too on the scaled clock
    while clock.now() < end and any(i.waiting for i in world.instances.values()):
        start = clock.now()
        deadline = start + cfg.lambda_timeout_s - settings.invocation_margin_seconds
        wall = time.perf_counter()
        dispatch(gate, TICK, deadline)
        durations.append(clock.now() - start)
        walls.append(time.perf_counter() - wall)
        world.expire()
        while clock.now() < start + 60:  # the next scheduled tick; AWS's timers run meanwhile
            clock.sleep(min(5.0, start + 60 - clock.now()))
            world.expire()
    now = clock.now()
    held_hours = sum(((i.ended_at or now) - world.started) / 3600 for i in world.instances.values())
    heartbeats = world.aws_calls["RecordLifecycleActionHeartbeat"]
    ended = Counter(i.ended for i in world.instances.values())
    result = LivenessResult(
        instances=cfg.instances,
        azure_latency_s=cfg.azure_latency_s,
        heartbeat_timeout_s=cfg.heartbeat_timeout,
        simulated_minutes=round((now - world.started) / 60, 1),
        hooks_timed_out=ended["timed out"],
        builds_killed=world.killed,
        released=ended["released"],
        still_waiting=sum(1 for i in world.instances.values() if i.waiting),
        disabled=sum(1 for i in world.instances.values() if not i.enabled),
        heartbeats=heartbeats,
        held_instance_hours=round(held_hours, 1),
        heartbeats_per_held_instance_hour=round(heartbeats / held_hours, 1) if held_hours else 0.0,
        invocations=len(durations),
        longest_invocation_s=round(max(durations), 1) if durations else 0.0,
        longest_invocation_wall_s=round(max(walls), 2) if walls else 0.0,
        function_timeout_s=cfg.lambda_timeout_s,
        azure_calls=dict(sorted(world.azure_calls.items())),
        aws_calls=dict(sorted(world.aws_calls.items())),
        wall_seconds=round(time.perf_counter() - wall0, 1),
    )
    out = asdict(result)
    if echo:
        for key, value in out.items():
            print(f"{key:36} {value}")
    return out


if __name__ == "__main__":  # python -m bench.liveness
    liveness_benchmark(echo=True)
