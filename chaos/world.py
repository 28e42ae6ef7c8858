"""One seed: draw a world and a fault schedule, run the real gate against it over HTTP, keep what the servers recorded.

Everything random comes from `random.Random(seed)`: the plan (groups, pools, agents, builds, scale-ins, churn, the
fault windows) is drawn before the run; a second generator seeded from the seed draws per-event choices (lost,
duplicated, late). The gate runs as Lambda runs it: every invocation (a lifecycle event, the schedule's tick) on
its own thread in a container from a pool (a free warm one, else a cold one built by `build_gate`), the
invocation's deadline 65 s after its start (a 70 s timeout minus the margin). Time is a `VirtualClock` shared by
the gate, the AWS emulator's lifecycle timers and the fake Azure DevOps (shifted by the skew when that class is
on), so overlapping invocations see consistent durations whatever the machine's load.

Determinism: the plan is the same for a seed; the HTTP interleaving of overlapping invocations is not, so a seed's
trajectory can vary slightly between runs (moto's instance ids and tokens are random too). Verdicts come from the
servers' records only (chaos/checker.py), so a violation found once is a real sequence of events.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends

from chaos.classes import EXTRA
from chaos.vclock import SkewedClock, VirtualClock
from emulator.aws import _warm as warm_states
from emulator.sandbox import Sandbox
from gate.adapters import logs as gate_logs
from gate.adapters import secrets as gate_secrets
from gate.adapters.logs import DecisionLog
from gate.bootstrap import build_gate
from gate.domain import redact as gate_redact
from gate.handler import dispatch
from gate.service.triggers import Gate
from gate.settings import Settings, load_settings

HOOK = "asg-termination-gate"
FOREIGN_HOOK = "ecs-managed-draining-termination-hook"
FOREIGN_GROUP = "other-team"
START = 1_800_000_000.0
ACTIVE = 600.0  # seconds of scale-ins, builds and faults
QUIESCE_MAX = 1200.0  # then no new work and no faults, until everything settles (or this long)
STEP = 10.0
TICK_EVERY = 60.0
LAMBDA_SECONDS = 65.0  # a 70 s function timeout minus the invocation margin
AWS_THROTTLED = (
    "DescribeAutoScalingGroups",
    "DescribeAutoScalingInstances",
    "RecordLifecycleActionHeartbeat",
    "CompleteLifecycleAction",
    "DescribeInstances",
    "DescribeScalingActivities",
    "DescribeLifecycleHooks",
    "CreateTags",
)

_local = threading.local()


class _ContainerCache(dict[Any, Any]):
    """gate.adapters.secrets' per-process cache, kept per simulated container: a cold container has read nothing yet."""

    @staticmethod
    def _key(key: Any) -> Any:
        return (getattr(_local, "container", None), key)

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._key(key))

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._key(key), *default)


_loader: Any = None


def _botocore_session() -> Any:
    """A fresh botocore session (a container's own) sharing one service-model loader: a cold start then costs the
    clients, not re-reading botocore's JSON models (~0.5 s each time on a loaded machine)."""
    global _loader
    import botocore.session

    session = botocore.session.get_session()
    if _loader is None:
        _loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _loader)
    return session


def install_container_scope() -> None:
    if not isinstance(gate_secrets._cache, _ContainerCache):
        gate_secrets._cache = _ContainerCache()


@dataclass
class GroupPlan:
    name: str
    size: int
    heartbeat_timeout: int
    default_result: str
    retain: bool
    agents_per_instance: int
    foreign_hook: bool = False


# Lifecycle states in which an instance runs (an agent on it can start and register): a warm-pool instance's too,
# unless its pool keeps it stopped (SeedRun.stopped).
_RUNNING = frozenset(
    {
        "Pending",
        "Pending:Wait",
        "Pending:Proceed",
        "InService",
        "Terminating:Wait",
        "Terminating:Retained",
        "Warmed:Running",
        "Warmed:Terminating:Wait",
        "Warmed:Terminating:Retained",
    }
)
# States in which an agent takes new work the world hands it (start_build) and a new instance's agent boots.
_SERVING = ("InService", "Warmed:Running")
# States of an instance on its way out (the world is not settled while one of the gate's groups has one).
_LEAVING = ("Terminating", "Warmed:Terminating")


@dataclass
class Plan:
    seed: int
    classes: tuple[str, ...]
    groups: list[GroupPlan]
    foreign: GroupPlan | None
    pools: list[str]
    skew: float
    page_size: int
    actions: list[tuple[float, str, dict[str, Any]]]  # (time offset, kind, params) sorted
    delays: list[float]  # foreign hook completion delays, consumed in order
    boots: list[float]  # agent registration delays of new instances (negative: never registers)
    secrets: dict[str, str]
    recheck: float = 10.0
    # The instance-side guard (examples/instance-guard) runs before every agent registration: an instance that Auto
    # Scaling is taking away (target lifecycle state not InService) starts and re-registers no agent. False
    # (`--unguarded`): agents register whatever the state, the set-up the docs warn about (docs/safety.md).
    guarded: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)  # gate settings changed by hand (never drawn)
    # The CI service of the world: "azure-devops" (the fake Azure DevOps) or "gitlab" (the fake GitLab: a runner
    # per instance named after it, or with `shared` one runner whose managers map by IP: GATE_MAPPING=ip, or by
    # the system_id each instance tags itself with, GATE_MAPPING=system-id, when `system_id`).
    agent_system: str = "azure-devops"
    shared: bool = False
    system_id: bool = False
    # gate_outage (chaos.classes.EXTRA): (start, end) offsets in which no invocation runs at all
    outages: list[tuple[float, float]] = field(default_factory=list)
    # warm_pool (chaos.classes.EXTRA): group -> (PoolState Running or Stopped, instances put in the pool at the start)
    warm: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def world(self) -> str:
        """azure-devops, gitlab (a runner per instance), gitlab+shared (managers by IP), gitlab+system-id."""
        if not self.shared:
            return self.agent_system
        return f"{self.agent_system}+{'system-id' if self.system_id else 'shared'}"

    def describe(self) -> dict[str, Any]:
        return {
            "agent_system": self.agent_system,
            "shared_runner": self.shared,
            "mapping": ("system-id" if self.system_id else "ip") if self.shared else "name",
            "classes": list(self.classes),
            "groups": [g.__dict__ for g in self.groups],
            "foreign_group": self.foreign.__dict__ if self.foreign else None,
            "pools": self.pools,
            "skew": self.skew,
            "page_size": self.page_size,
            "actions": len(self.actions),
            **({"outages": self.outages} if self.outages else {}),
            **({"warm_pools": self.warm} if self.warm else {}),
        }


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


AGENT_SYSTEMS = ("azure-devops", "gitlab", "mix")
GITLAB_SHARE = 1 / 3  # under `mix`, this share of seeds draws a GitLab world
SHARED_SHARE = 1 / 3  # of GitLab worlds, this share runs one shared runner (managers mapped by IP or system_id)
SYSTEM_ID_SHARE = 1 / 2  # of shared-runner worlds, this share maps managers by system_id instead of IP


def draw_agent_system(seed: int, agent_system: str = "mix") -> tuple[str, bool]:
    """(system, shared runner) for a seed, from a generator of its own: the rest of the plan (groups, builds,
    faults) is the same draw whichever system a seed runs, and Azure DevOps seeds keep their worlds. (The mapping of
    a shared runner is the generator's next draw: `_draw_system_id`.)"""
    if agent_system not in AGENT_SYSTEMS:
        raise ValueError(f"agent system must be one of {', '.join(AGENT_SYSTEMS)}")
    rng = random.Random(seed * 1_000_003 + 21)
    gitlab = rng.random() < GITLAB_SHARE
    shared = rng.random() < SHARED_SHARE
    system = agent_system if agent_system != "mix" else ("gitlab" if gitlab else "azure-devops")
    return system, system == "gitlab" and shared


def draw(seed: int, enabled: tuple[str, ...], mix: int | None = 3, agent_system: str = "azure-devops") -> Plan:
    """The world and its fault schedule for a seed. `mix`: at most this many classes active (None: all enabled).
    `agent_system`: azure-devops, gitlab, or mix (drawn from the seed, `draw_agent_system`)."""
    system, shared = draw_agent_system(seed, agent_system)
    plan = _draw(seed, enabled, mix)
    plan.agent_system, plan.shared = system, shared
    plan.system_id = shared and _draw_system_id(seed)
    if system == "gitlab":
        plan.pools = ["runners"]  # one runner list (a second pool's faults become one runner's failing calls)
    return plan


def _draw_system_id(seed: int) -> bool:
    rng = random.Random(seed * 1_000_003 + 21)
    rng.random()
    rng.random()  # the system's and the shared runner's draws come first
    return rng.random() < SYSTEM_ID_SHARE


def _draw(seed: int, enabled: tuple[str, ...], mix: int | None) -> Plan:
    plan = _draw_base(seed, tuple(c for c in enabled if c not in EXTRA), mix)
    extras = tuple(c for c in enabled if c in EXTRA)
    if extras:
        plan.classes = (*plan.classes, *extras)
        _draw_extras(plan, extras)
    if "clock_step" in extras:
        _draw_clock_steps(plan)
    if "warm_pool" in extras:
        _draw_warm_pools(plan)
    return plan


def _draw_extras(plan: Plan, extras: tuple[str, ...]) -> None:
    """The opt-in classes (chaos.classes.EXTRA), from a generator of their own: the seed's world stays as it was."""
    rng = random.Random(plan.seed * 1_000_003 + 18)
    if "gate_outage" in extras:
        # The documented posture for outages: DefaultResult ABANDON on a group that retains on abandon, so a hook
        # that times out while the gate is down keeps its instance (Terminating:Retained) for the gate's clean-up.
        for g in plan.groups:
            g.default_result, g.retain = "ABANDON", True
        for _ in range(rng.randint(1, 2)):
            start = rng.uniform(30, ACTIVE - 100)
            plan.outages.append((start, start + rng.uniform(60, 900)))
        plan.outages.sort()
        if "reregistration" in plan.classes:  # agents restarting on retained instances too (`re_registering`)
            for _ in range(rng.randint(1, 3)):
                plan.actions.append(
                    (rng.uniform(plan.outages[0][0], ACTIVE - 10), "reregister", {"pick": rng.random()})
                )
            plan.actions.sort(key=lambda a: a[0])


def _draw_clock_steps(plan: Plan) -> None:
    """clock_step: the service clock's offset moves (from the seed's skew) at 1-3 times, a generator of its own."""
    rng = random.Random(plan.seed * 1_000_003 + 19)
    for _ in range(rng.randint(1, 3)):
        step = rng.choice([-1, 1]) * rng.choice([rng.uniform(5, 15), rng.uniform(15, 300)])
        plan.actions.append((rng.uniform(30, ACTIVE - 30), "clock_step", {"offset": plan.skew + step}))
    plan.actions.sort(key=lambda a: a[0])


def _draw_warm_pools(plan: Plan) -> None:
    """warm_pool: warm pools on the first group and maybe others (Running, sometimes Stopped), instances leaving them
    at random times, more put in, sometimes DeleteWarmPool, and DescribeWarmPool failing for one group at a time;
    a generator of its own (seed*1_000_003 + 21 is the agent system's)."""
    rng = random.Random(plan.seed * 1_000_003 + 22)
    for i, g in enumerate(plan.groups):
        if i == 0 or rng.random() < 0.6:
            plan.warm[g.name] = (rng.choice(["Running", "Running", "Stopped"]), rng.randint(1, 3))
    names = list(plan.warm)

    def at(lo: float, hi: float, kind: str, **params: Any) -> None:
        plan.actions.append((rng.uniform(lo, hi), kind, {"group": rng.choice(names), **params}))

    for _ in range(rng.randint(2, 5)):
        at(20, ACTIVE - 60, "warm_leave", pick=rng.random(), busy=rng.random() < 0.5)  # busy: one running a build
    for _ in range(rng.randint(0, 2)):
        at(30, ACTIVE - 200, "warm_add", count=rng.randint(1, 2))
    if rng.random() < 0.3:
        at(150, ACTIVE - 60, "warm_delete")
    for _ in range(rng.randint(1, 3)):
        # Throttling and contention (botocore retries them), or every call failing for 30-150 s (less than the
        # shortest HeartbeatTimeout, 180 s: the gate must heartbeat what it last listed meanwhile)
        code = rng.choice(["Throttling", "Contention", "Unavailable"])
        seconds = rng.uniform(30, 150) if code == "Unavailable" else rng.uniform(30, 240)
        at(0, ACTIVE - 60, "aws_fault", action="DescribeWarmPool", code=code, seconds=seconds)
    plan.actions.sort(key=lambda a: a[0])


def _draw_base(seed: int, enabled: tuple[str, ...], mix: int | None) -> Plan:
    rng = random.Random(seed)
    pool_classes = list(enabled)
    if mix is None or mix >= len(pool_classes):
        active = tuple(pool_classes)
    else:
        k = rng.randint(1, max(1, mix))
        active = tuple(sorted(rng.sample(pool_classes, min(k, len(pool_classes))), key=pool_classes.index))
    on = set(active)
    n_groups = rng.choice([1, 1, 2])
    groups = []
    for i in range(n_groups):
        result = rng.choice(["ABANDON", "CONTINUE"])
        groups.append(
            GroupPlan(
                name=f"ci-{i}",
                size=rng.randint(2, 4),
                heartbeat_timeout=rng.choice([180, 300, 600]),
                default_result=result,
                retain=result == "ABANDON" and rng.random() < 0.6,
                agents_per_instance=rng.choice([1, 1, 1, 2, 3]),
                foreign_hook="foreign_hooks" in on and i == 0,
            )
        )
    foreign = GroupPlan(FOREIGN_GROUP, rng.randint(1, 3), 300, "CONTINUE", False, 1) if "foreign_hooks" in on else None
    pools = ["linux-agents", "gpu-agents"] if "failing_pool" in on else ["linux-agents"]
    skew = rng.choice([-1, 1]) * rng.uniform(10, 300) if "clock_skew" in on else 0.0
    page_size = rng.randint(1, 3) if "pagination" in on else 1000
    actions: list[tuple[float, str, dict[str, Any]]] = []

    def at(t: float, kind: str, **params: Any) -> None:
        actions.append((t, kind, params))

    t = 0.0
    while (t := t + rng.expovariate(1 / 40)) < ACTIVE - 200:
        at(t, "queue_build", pool=rng.random(), duration=rng.uniform(30, 300))
    for _ in range(rng.randint(2, 5)):
        at(rng.uniform(0, ACTIVE - 300), "start_build", pick=rng.random(), duration=rng.uniform(60, 400))
    for _ in range(rng.randint(2, 5)):
        how = rng.choice(["desired", "desired", "terminate"])
        at(
            rng.uniform(30, ACTIVE - 200),
            "scale_in",
            group=rng.random(),
            how=how,
            count=rng.choice([1, 1, 2]),
            pick=rng.random(),
        )
    for _ in range(rng.randint(0, 2)):
        at(rng.uniform(200, ACTIVE - 300), "scale_out", group=rng.random(), count=rng.choice([1, 2]))
    if foreign is not None:
        for _ in range(rng.randint(1, 2)):
            at(rng.uniform(30, ACTIVE - 300), "foreign_scale_in")
    if "agent_churn" in on:
        for _ in range(rng.randint(1, 4)):
            start = rng.uniform(0, ACTIVE - 200)
            at(start, "offline", pick=rng.random(), seconds=rng.uniform(20, 180))
    if "reregistration" in on:
        for _ in range(rng.randint(2, 5)):
            at(rng.uniform(60, ACTIVE - 100), "reregister", pick=rng.random())

    def window(kind: str, lo: float = 30, hi: float = 300, **params: Any) -> None:
        start = rng.uniform(0, ACTIVE - 60)
        at(start, kind, seconds=rng.uniform(lo, hi), **params)

    for _ in range(rng.randint(1, 3)):
        if "latency" in on:
            window("ado_fault", fault="latency", delay=rng.uniform(1, 8))
        if "ado_errors" in on:
            window("ado_fault", fault=rng.choice(["server_error", "down"]), status=rng.choice([500, 502, 503]))
        if "ado_throttling" in on:
            window("ado_fault", fault=rng.choice(["rate_limit", "slow_down"]), retry_after=rng.randint(1, 40))
        if "pagination" in on:
            window("ado_fault", 20, 120, fault="endless_pages")
        if "lagging_flags" in on:
            window("ado_fault", 60, 600, fault="assignment_lag", delay=rng.uniform(10, 45))
        if "missing_fields" in on:
            kind = rng.choice(["no_assigned_request", "count_mismatch", "empty_list", "malformed"])
            window("ado_fault", fault=kind)
        if "auth_failures" in on:
            window("ado_fault", fault=rng.choice(["unauthorized", "signin", "forbidden"]))
        if "failing_pool" in on:
            window("ado_fault", 60, 600, fault=rng.choice(["server_error", "down"]), pool=1, status=503)
        if "aws_throttling" in on:
            window(
                "aws_fault", 30, 240, action=rng.choice(AWS_THROTTLED), code=rng.choice(["Throttling", "Contention"])
            )
        if "tag_failures" in on:
            window("aws_fault", 60, 600, action=rng.choice(["CreateTags", "CreateTags", "DeleteTags"]), code="Denied")
        if "cold_starts" in on:
            at(rng.uniform(0, ACTIVE), "recycle")
        if "secret_store_failure" in on:
            window("aws_fault", 60, 400, action="GetSecretValue", code="Denied", recycle=True)
    secrets = {"pat": f"chaos-pat-{_hex(rng, 24)}", "hook_secret": f"chaos-hook-{_hex(rng, 24)}"}
    if "credential_rotation" in on:
        secrets["pat2"] = f"chaos-pat-{_hex(rng, 24)}"
        at(
            rng.uniform(60, ACTIVE - 200),
            "rotate",
            order=rng.choice(["store_first", "service_first"]),
            gap=rng.uniform(0, 120),
        )
    actions.sort(key=lambda a: a[0])
    delays = [rng.uniform(20, 150) for _ in range(64)]
    boots = [(-1.0 if "agent_churn" in on and rng.random() < 0.15 else rng.uniform(5, 90)) for _ in range(64)]
    recheck = rng.choice([10.0, 20.0, 25.0])  # GATE_RECHECK_INTERVAL_SECONDS: fewer rounds per tick keep seeds cheap
    return Plan(seed, active, groups, foreign, pools, skew, page_size, actions, delays, boots, secrets, recheck)


@dataclass
class Container:
    id: int
    gate: Gate | None = None
    busy: bool = False
    doomed: bool = False


@dataclass
class RunRecords:
    """What the checker reads: the servers' records plus the world's own bookkeeping and every output line."""

    plan: Plan
    history: list[dict[str, Any]]
    ado: dict[str, Any]
    instance_group: dict[str, str]
    configured: list[str]
    gate_tags: dict[str, dict[str, str]]  # instance -> gate:* tags with a value at the end
    skew: float  # how far the fake's own records (build and agent times) are ahead of AWS's
    output: str
    stats: dict[str, Any] = field(default_factory=dict)
    # `ado` holds the CI service's records in the fake Azure DevOps' shape (agents, builds), whichever service ran:
    # a GitLab world's runners (or managers) and jobs are translated by chaos.gitlab_world.
    agent_system: str = "azure-devops"


class _Capture(logging.Handler):
    """Every log record emitted on an invocation thread (the gate's code and the libraries it calls)."""

    def __init__(self, sink: io.StringIO) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not threading.current_thread().name.startswith("chaos-inv"):
            return
        try:
            text = self.format(record)
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        with self.lock_:
            self.sink.write(text + "\n")


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """Route the gate's JSON lines and every log record of invocation threads (INFO and up) into one buffer."""
    sink = io.StringIO()
    handler = _Capture(sink)
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level or logging.WARNING, logging.INFO))
    gate_logs.configure(stream=sink)
    try:
        yield sink
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class SeedRun:
    """Drives one seed on a started Sandbox (reset first)."""

    def __init__(self, sb: Sandbox, plan: Plan, image_id: str | None, *, gate: bool = True) -> None:
        """`gate=False`: no invocation runs at all (the checker's own tests: it must see the damage)."""
        self.gate_enabled = gate
        self.sb = sb
        self.plan = plan
        self.on = set(plan.classes)
        self.image_id = image_id
        self.clock = VirtualClock(START)
        self.erng = random.Random(plan.seed * 7919 + 1)  # per-event draws (lost, duplicated, late)
        self.log = DecisionLog(keep=100_000)
        self.containers: list[Container] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.sink: io.StringIO = io.StringIO()
        self.order: dict[str, list[str]] = {}  # group -> instances in discovery (launch) order
        self.instance_group: dict[str, str] = {}
        self.registered: dict[str, list[int]] = {}  # instance -> agent ids the world registered for it
        self.agent_pool: dict[int, str] = {}
        self.pending_agents: list[tuple[float, str]] = []  # (time, instance): a new instance's agent starts
        self.late_events: list[tuple[float, dict[str, Any]]] = []
        self.offline: list[tuple[float, int]] = []
        self.scheduled_completions: dict[tuple[str, str, str], float] = {}
        self.pat = plan.secrets["pat"]
        self.stats: dict[str, Any] = {"invocations": 0, "cold_starts": 0, "failed_invocations": 0, "events": 0}
        self.delays = iter(plan.delays)
        self.boots = iter(plan.boots)
        self.settings: Settings | None = None
        self.secret_arn = ""
        self.pending: list[tuple[float, str, dict[str, Any]]] = []  # delayed halves of actions (rotation, online)
        self.seen_events = 0
        self.record_skew = 0.0
        self._clients: dict[str, Any] = {}
        self.was_down = False
        self.stopped: set[str] = set()  # warm-pool instances kept stopped: no agent ever starts on them
        self.warm: set[str] = set()  # every instance launched into a warm pool

    def client(self, service: str) -> Any:
        """The world's own AWS clients, made once per seed (making one costs ~40 ms)."""
        if service not in self._clients:
            self._clients[service] = self.sb.client(service)
        return self._clients[service]

    @property
    def t0(self) -> float:
        return START

    # -- building the world ----------------------------------------------------------------------------------------

    def build(self) -> None:
        sb, plan = self.sb, self.plan
        # The skew: the fake's clock fault when it has one (its timestamps and Date header off, its records in world
        # time), else the whole fake on a shifted clock (its records too: the checker shifts them back).
        service_clock = getattr(sb.ado, "set_service_clock", None)
        self.record_skew = 0.0 if service_clock is not None else plan.skew
        self._reset_servers()
        assert sb.ado is not None
        if service_clock is not None:
            service_clock(plan.skew)
        sb.ado.page_size = plan.page_size
        for pool in plan.pools:
            sb.ado.add_pool(pool)
        self._create_groups()
        self._create_warm_pools()
        if "ambiguous_names" in self.on:
            first = self.order[plan.groups[0].name]
            if len(first) >= 2:
                host, other = first[0], first[1]
                self._add_agent(host, f"agent-{host}-{other}", plan.pools[0])
        sm = self.client("secretsmanager")
        self.secret_arn = sm.create_secret(Name="chaos/azure-devops-pat", SecretString=self.pat)["ARN"]
        self.settings = self._load(
            azure_org_url=sb.azure_url,
            pools=plan.pools,
            pat_secret_arn=self.secret_arn,
            service_hook_secret=plan.secrets["hook_secret"],
        )

    def _reset_servers(self) -> None:
        """Empty the AWS emulator and the fake Azure DevOps onto the world's clocks; the emulator's timers fire at
        the clock's stops; the redactor and the secret cache start empty."""
        sb = self.sb
        ado_clock = SkewedClock(self.clock, self.record_skew) if self.record_skew else self.clock
        sb.reset(self.clock, ado_clock=ado_clock, pat=self.pat)
        assert sb.emulator is not None
        emu = sb.emulator

        def on_time() -> None:
            with emu._lock:
                emu._tick()

        self.clock.deadlines = lambda: [a["heartbeat_deadline"] for a in emu.lifecycle_actions()]
        self.clock.on_time = on_time
        gate_redact._literals.clear()
        gate_redact._patterns.clear()
        gate_secrets._cache.clear()

    def _create_groups(self) -> None:
        """The gate's groups and the other team's, each instance's agents registered."""
        plan = self.plan
        for g in [*plan.groups, *([plan.foreign] if plan.foreign else [])]:
            instances = self._create_group(g)
            if g.foreign_hook:
                self.client("autoscaling").put_lifecycle_hook(
                    AutoScalingGroupName=g.name,
                    LifecycleHookName=FOREIGN_HOOK,
                    LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                    HeartbeatTimeout=300,
                    DefaultResult="CONTINUE",
                )
            self.order[g.name] = []
            for iid in instances:
                self._discover(g.name, iid)
                self._register(iid)

    def _load(self, **ci: Any) -> Settings:
        """The gate's settings: the world's groups and hook, the CI service's `ci` settings, the overrides."""
        drawn: dict[str, Any] = {  # one thread per pass unless an override asks for more (--set agent_concurrency=8)
            "heartbeat_concurrency": 1,
            "agent_concurrency": 1,
            "unregistered_grace_seconds": 120,
            "recheck_interval_seconds": self.plan.recheck,
        }
        settings = drawn | self.plan.overrides
        return load_settings(groups=[g.name for g in self.plan.groups], hook_name=HOOK, **ci, **settings)

    def _create_group(self, g: GroupPlan) -> list[str]:
        """As Sandbox.create_group, on the world's cached clients and without the SQS event pipe (the world reads the
        emulator's default bus directly)."""
        ec2, asg = self.client("ec2"), self.client("autoscaling")
        ec2.create_launch_template(
            LaunchTemplateName=f"{g.name}-lt",
            LaunchTemplateData={"ImageId": self.image_id, "InstanceType": "t3.medium"},
        )
        policy = (
            {"InstanceLifecyclePolicy": {"RetentionTriggers": {"TerminateHookAbandon": "retain"}}} if g.retain else {}
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=g.name,
            LaunchTemplate={"LaunchTemplateName": f"{g.name}-lt", "Version": "$Latest"},
            MinSize=0,
            MaxSize=g.size + 4,
            DesiredCapacity=g.size,
            AvailabilityZones=[f"{self.sb.region}a"],
            **policy,
        )
        asg.put_lifecycle_hook(
            AutoScalingGroupName=g.name,
            LifecycleHookName=HOOK,
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=g.heartbeat_timeout,
            DefaultResult=g.default_result,
        )
        self.order.setdefault(g.name, [])
        return [iid for iid, _ in self._group_states(g.name)]

    def _group_states(self, name: str) -> list[tuple[str, str]]:
        """The group's instances and its warm pool's (warm_pool), with their lifecycle states."""
        emu = self.sb.emulator
        assert emu is not None
        with emu._lock:
            group = autoscaling_backends[emu.account_id][emu.region].autoscaling_groups.get(name)
            if group is None:
                return []
            return [(s.instance.id, s.lifecycle_state) for s in [*group.instance_states, *warm_states(group)]]

    def _create_warm_pools(self) -> None:
        """warm_pool: each drawn pool with its instances, their agents registered (booted before the seed starts;
        the guard, where installed, refuses them)."""
        for name, (pool_state, count) in self.plan.warm.items():
            self.client("autoscaling").put_warm_pool(AutoScalingGroupName=name, PoolState=pool_state)
            for iid in self._warm_up(name, count):
                self._register(iid)

    def _warm_up(self, group: str, count: int) -> list[str]:
        """`count` instances launched into the group's warm pool (warm_pool), discovered; [] when the pool is gone."""
        emu = self.sb.emulator
        assert emu is not None
        pool_state = self.plan.warm[group][0]
        try:
            ids = emu.warm_instances(group, count, pool_state)
        except ValueError:  # DeleteWarmPool came first
            return []
        for iid in ids:
            self._discover(group, iid)
            self.warm.add(iid)
            if pool_state != "Running":
                self.stopped.add(iid)
        return ids

    def runs(self, iid: str, state: str | None) -> bool:
        """The instance's machine runs: an agent on it can start, register and take work."""
        return state in _RUNNING and iid not in self.stopped

    def _discover(self, group: str, iid: str) -> None:
        if iid not in self.instance_group:
            self.instance_group[iid] = group
            self.order.setdefault(group, []).append(iid)

    def _plan_of(self, group: str) -> GroupPlan:
        return next(
            g for g in [*self.plan.groups, *([self.plan.foreign] if self.plan.foreign else [])] if g.name == group
        )

    def _register(self, iid: str) -> None:
        g = self._plan_of(self.instance_group[iid])
        for k in range(g.agents_per_instance):
            name = f"agent-{iid}" if k == 0 else f"agent-{iid}-{k + 1}"
            pool = self.plan.pools[k % len(self.plan.pools)]
            self._add_agent(iid, name, pool)

    def _add_agent(self, iid: str, name: str, pool: str) -> int | None:
        assert self.sb.ado is not None
        self.registered.setdefault(iid, [])
        state = dict(self._group_states(self.instance_group[iid])).get(iid)
        if not self.runs(iid, state):
            return None  # the instance no longer runs (terminated after the step's states were read): no agent
        if self.plan.guarded and state != "InService":
            self.stats["guard_refusals"] = self.stats.get("guard_refusals", 0) + 1
            return None  # gate-guard: the target lifecycle state is not InService, so the agent does not register
        try:
            aid = self.sb.ado.add_agent(
                pool, name, capabilities={"AWS_INSTANCE_ID": iid}, computer_name=self._private_dns(iid)
            )
        except ValueError:
            return None  # the name is taken (a registration that was not deleted)
        self.registered.setdefault(iid, []).append(aid)
        self.agent_pool[aid] = pool
        return aid

    def _private_dns(self, iid: str) -> str:
        """The instance's private DNS name, as its agent reports it (Agent.ComputerName: GATE_MAPPING=hostname)."""
        emu = self.sb.emulator
        assert emu is not None
        with emu._lock:
            return str(ec2_backends[emu.account_id][emu.region].get_instance(iid).private_dns_name)

    # -- observing (the world's view, from the servers) ------------------------------------------------------------

    def states(self) -> dict[str, str]:
        """Every group instance's lifecycle state, read from the emulator's backend (an HTTP Describe per step
        would cost more than the gate's own calls)."""
        emu = self.sb.emulator
        assert emu is not None
        out: dict[str, str] = {}
        for name in list(self.order):
            for iid, state in self._group_states(name):
                self._discover(name, iid)
                out[iid] = state
        return out

    def busy_instances(self) -> set[str]:
        """Instances whose agent runs a build now."""
        return {a["capabilities"].get("AWS_INSTANCE_ID", "") for a in self.live_agents() if a["busy"]}

    def live_agents(self) -> list[dict[str, Any]]:
        assert self.sb.ado is not None
        return [a for a in self.sb.ado.state()["agents"] if not a["deleted"]]

    def _pick(self, items: list[Any], u: float) -> Any:
        return items[min(int(u * len(items)), len(items) - 1)] if items else None

    # -- invocations ------------------------------------------------------------------------------------------------

    def re_registering(self) -> tuple[str, ...]:
        """The states in which a `reregister` action picks an instance: waiting on the hook, and with gate_outage
        also retained (its agent restarts while the gate's clean-up judges it; only `--unguarded` lets it register)."""
        found = ("Terminating:Wait", "Terminating:Retained") if "gate_outage" in self.on else ("Terminating:Wait",)
        if "warm_pool" in self.on:  # an instance leaving the warm pool (or retained from it) alike
            found = (*found, *(f"Warmed:{s}" for s in found))
        return found

    def down(self) -> bool:
        """In a gate outage (gate_outage): no invocation runs; the first one after it starts cold (a new deploy)."""
        at = self.clock.now() - self.t0
        if any(start <= at < end for start, end in self.plan.outages):
            self.was_down = True
            return True
        if self.was_down:
            self.was_down = False
            self.recycle()
        return False

    def invoke(self, event: dict[str, Any]) -> None:
        if not self.gate_enabled:
            return
        if self.down():
            self.stats["outage_dropped"] = self.stats.get("outage_dropped", 0) + 1
            return
        with self.lock:
            free = [c for c in self.containers if not c.busy and not c.doomed]
            if free:
                container = free[0]
            else:
                container = Container(len(self.containers) + 1)
                self.containers.append(container)
            container.busy = True
        self.stats["invocations"] += 1
        self.clock.join()
        thread = threading.Thread(
            target=self._run, args=(container, event), name=f"chaos-inv-{self.stats['invocations']}", daemon=True
        )
        self.threads.append(thread)
        thread.start()

    def _run(self, container: Container, event: dict[str, Any]) -> None:
        _local.container = container.id
        try:
            if container.gate is None:
                self.stats["cold_starts"] += 1
                assert self.settings is not None
                session = boto3.session.Session(
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    region_name=self.sb.region,
                    botocore_session=_botocore_session(),
                )
                container.gate = build_gate(
                    self.settings,
                    aws_endpoint=self.sb.aws_endpoint,
                    clock=self.clock,
                    log=self.log,
                    region=self.sb.region,
                    session=session,
                )
            records = dispatch(container.gate, event, self.clock.now() + LAMBDA_SECONDS)
            self.sink.write(json.dumps(records, default=str) + "\n")
        except Exception as exc:  # what Lambda would log for a failed invocation: the error and its traceback
            self.stats["failed_invocations"] += 1
            self.sink.write(f"invocation failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}\n")
        finally:
            with self.lock:
                container.busy = False
                if container.doomed:
                    self.containers = [c for c in self.containers if c is not container]
            self.clock.leave()

    def recycle(self) -> None:
        """Lambda retires containers: the next invocation starts cold."""
        with self.lock:
            for c in self.containers:
                c.doomed = True
            self.containers = [c for c in self.containers if c.busy]

    # -- the run ----------------------------------------------------------------------------------------------------

    def run(self) -> RunRecords:
        with captured() as sink:
            self.sink = sink
            try:
                self.build()
                self._loop()
            finally:
                self.clock.close()
                for thread in self.threads:
                    thread.join(timeout=30)
            return self._records(sink.getvalue())

    def _loop(self) -> None:
        sb, plan = self.sb, self.plan
        assert sb.ado is not None and sb.emulator is not None
        actions = list(plan.actions)
        next_tick = self.t0 + 30
        aws_windows: list[tuple[float, dict[str, Any]]] = []  # (until, spec)
        quiet_since: float | None = None
        end = self.t0 + ACTIVE + QUIESCE_MAX
        quiesced = False
        while (now := self.clock.now()) < end:
            active = now < self.t0 + ACTIVE
            if not active and not quiesced:
                quiesced = True
                self._quiesce()
                aws_windows.clear()
            states = self.states()
            # world actions due
            while actions and self.t0 + actions[0][0] <= now:
                _, kind, params = actions.pop(0)
                if active:
                    self._act(kind, params, states, aws_windows)
            for t, kind, params in list(self.pending):
                if t <= now:
                    self.pending.remove((t, kind, params))
                    self._act(kind, params, states, aws_windows)
            self._boot_agents(states, now)
            self._complete_foreign(now)
            # AWS fault rules for this step (re-made every step: windows end on their own)
            sb.emulator.faults.clear()
            aws_windows[:] = [(u, s) for u, s in aws_windows if u > now]
            for _, spec in aws_windows:
                self._aws_rule(spec)
            # lifecycle events, as EventBridge delivers them
            events = sb.emulator.events[self.seen_events :]  # what the default bus received (EventBridge delivers)
            self.seen_events += len(events)
            for event in events:
                self.stats["events"] += 1
                self._deliver(json.loads(json.dumps(event)), now)
            for t, event in list(self.late_events):
                if t <= now:
                    self.late_events.remove((t, event))
                    self.invoke(event)
            if now >= next_tick:
                next_tick += TICK_EVERY
                tick = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
                self.invoke(tick)
                if "concurrency" in self.on and self.erng.random() < 0.5:
                    self.invoke(dict(tick))
            if not active:
                if self._settled(states):
                    quiet_since = quiet_since or now
                    if now - quiet_since >= 3 * TICK_EVERY and not self.clock.active:
                        break
                else:
                    quiet_since = None
            self.clock.run_until(now + STEP)
        self.clock.drain()

    def _settled(self, states: dict[str, str]) -> bool:
        assert self.sb.ado is not None
        if self.late_events or any(b["finished_at"] is None for b in self.sb.ado.builds()):
            return False
        ours = {g.name for g in self.plan.groups}
        return not any(self.instance_group.get(i) in ours and s.startswith(_LEAVING) for i, s in states.items())

    def _quiesce(self) -> None:
        """No more faults, churn or new work; a half-done rotation completes; offline agents come back."""
        assert self.sb.ado is not None and self.sb.emulator is not None
        self.sb.ado.clear_faults()
        self.sb.emulator.faults.clear()
        for b in self.sb.ado.builds():
            if b["assigned_at"] is None and b["finished_at"] is None:
                self.sb.ado.finish_build(b["id"], "canceled")  # queued, and maybe no agent left to take it
        for t, kind, params in list(self.pending):
            if kind in ("set_pat", "put_secret", "online"):
                self.pending.remove((t, kind, params))
                self._act(kind, params, {}, [])

    def _deliver(self, event: dict[str, Any], now: float) -> None:
        if "lost_events" in self.on and self.erng.random() < 0.3:
            return
        self.invoke(event)
        if "duplicate_events" in self.on and self.erng.random() < 0.4:
            if self.erng.random() < 0.5:
                self.invoke(json.loads(json.dumps(event)))
            else:
                self.late_events.append((now + self.erng.uniform(30, 600), event))

    def _boot_agents(self, states: dict[str, str], now: float) -> None:
        for iid, state in states.items():
            if iid not in self.registered and state in _SERVING and all(i != iid for _, i in self.pending_agents):
                delay = next(self.boots, 30.0)
                if delay < 0:
                    self.registered[iid] = []  # this instance's agent never registers
                else:
                    self.pending_agents.append((now + delay, iid))
        for t, iid in list(self.pending_agents):
            if t <= now:
                self.pending_agents.remove((t, iid))
                self._register(iid)  # the guard, where installed, refuses it on a terminating instance

    def _complete_foreign(self, now: float) -> None:
        """Someone else completes the foreign hooks (ECS draining; the other team's gate), after a while."""
        emu = self.sb.emulator
        assert emu is not None
        for a in emu.lifecycle_actions():
            foreign = a["hook"] != HOOK or a["group"] == FOREIGN_GROUP
            if not foreign:
                continue
            key = (a["group"], a["instance_id"], a["hook"])
            due = self.scheduled_completions.setdefault(key, a["started_at"] + next(self.delays, 60.0))
            if now >= due:
                with emu._lock:
                    action = next((x for x in emu._actions if (x.group, x.instance_id, x.hook) == key), None)
                    if action is not None:
                        emu._complete(action, "CONTINUE", by="world")
                if a["group"] == FOREIGN_GROUP:  # the other team deletes its own agent
                    for aid in self.registered.get(a["instance_id"], []):
                        self._remove_agent(aid)

    def _remove_agent(self, aid: int) -> None:
        """The agent's registration vanishes outside the gate (its owner removes it)."""
        with contextlib.suppress(KeyError):
            self.sb.ado.remove_agent(aid)  # type: ignore[union-attr]

    def _desired(self, group: str, desired: int) -> None:
        self.client("autoscaling").set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=desired)

    def _aws_rule(self, spec: dict[str, Any]) -> None:
        """One step's fault rule; `group`: only the calls naming that AutoScalingGroupName (warm_pool)."""
        faults = self.sb.emulator.faults  # type: ignore[union-attr]
        only = {"AutoScalingGroupName": spec["group"]} if spec.get("group") else None
        if spec["code"] == "Throttling":
            faults.inject(spec["action"], code="Throttling", status=400, message="Rate exceeded", count=2, params=only)
        elif spec["code"] == "Contention":
            faults.inject(
                spec["action"],
                code="ResourceContention",
                status=500,
                message="You already have a pending update",
                count=1,
                params=only,
            )
        elif spec["code"] == "Unavailable":
            message = "Service Unavailable"
            faults.inject(
                spec["action"], code="ServiceUnavailable", status=503, message=message, count=None, params=only
            )
        else:
            message = "You are not authorized to perform this operation."
            faults.inject(
                spec["action"], code="UnauthorizedOperation", status=403, message=message, count=None, params=only
            )

    def _act(
        self, kind: str, p: dict[str, Any], states: dict[str, str], aws_windows: list[tuple[float, dict[str, Any]]]
    ) -> None:
        ado = self.sb.ado
        assert ado is not None
        now = self.clock.now()
        ours = [g.name for g in self.plan.groups]
        if kind == "queue_build":
            ado.queue_build(self._pick(self.plan.pools, p["pool"]), p["duration"])
        elif kind == "start_build":
            idle = [
                a
                for a in self.live_agents()
                if a["enabled"]
                and a["online"]
                and not a["busy"]
                and states.get(a["capabilities"].get("AWS_INSTANCE_ID", "")) in _SERVING
            ]
            agent = self._pick(sorted(idle, key=lambda a: a["id"]), p["pick"])
            if agent is not None:
                ado.start_build(agent["id"], p["duration"])
        elif kind == "scale_in":
            group = self._pick(ours, p["group"])
            running = [i for i in self.order[group] if states.get(i) == "InService"]
            asg = self.client("autoscaling")
            if p["how"] == "terminate" and running:
                try:
                    asg.terminate_instance_in_auto_scaling_group(
                        InstanceId=self._pick(running, p["pick"]), ShouldDecrementDesiredCapacity=True
                    )
                except ClientError as exc:  # desired already at the minimum (protected instances kept running)
                    if exc.response["Error"]["Code"] != "ValidationError":
                        raise
            elif running:
                self._desired(group, max(0, len(running) - p["count"]))
        elif kind == "scale_out":
            group = self._pick(ours, p["group"])
            running = [i for i in self.order[group] if states.get(i) == "InService"]
            cap = self._plan_of(group).size + 4
            self._desired(group, min(cap, len(running) + p["count"]))
        elif kind == "foreign_scale_in":
            running = [i for i in self.order.get(FOREIGN_GROUP, []) if states.get(i) == "InService"]
            if running:
                self._desired(FOREIGN_GROUP, len(running) - 1)
        elif kind == "offline":
            agent = self._pick(sorted(self.live_agents(), key=lambda a: a["id"]), p["pick"])
            if agent is not None:
                ado.set_online(agent["id"], False)
                self.pending.append((now + p["seconds"], "online", {"agent": agent["id"]}))
        elif kind == "online":
            with contextlib.suppress(KeyError):
                ado.set_online(p["agent"], True)
        elif kind == "reregister":
            waiting = [i for g in ours for i in self.order[g] if states.get(i) in self.re_registering()]
            iid = self._pick(waiting, p["pick"])
            if iid is None:
                return
            mine = [a for a in self.live_agents() if a["capabilities"].get("AWS_INSTANCE_ID") == iid]
            idle = [a for a in mine if not a["busy"]]
            if not mine:
                self._register(iid)  # a late first registration during the hold
            elif idle:
                old = min(idle, key=lambda a: a["id"])
                ado.remove_agent(old["id"])  # the agent restarts: its registration is replaced (--replace)
                self._add_agent(iid, old["name"], self.agent_pool.get(old["id"], self.plan.pools[0]))
        elif kind == "ado_fault":
            opts: dict[str, Any] = {"seconds": p["seconds"]}
            for key in ("delay", "retry_after", "status"):
                if key in p:
                    opts[key] = p[key]
            if "pool" in p:
                pool = next(x for x in ado.state()["pools"] if x["name"] == self.plan.pools[p["pool"]])
                opts["path_contains"] = f"/pools/{pool['id']}/"
            ado.inject(p["fault"], **opts)
        elif kind == "aws_fault":
            spec = {"action": p["action"], "code": p["code"], **({"group": p["group"]} if "group" in p else {})}
            aws_windows.append((now + p["seconds"], spec))
            if p.get("recycle"):
                self.recycle()
        elif kind == "recycle":
            self.recycle()
        elif kind == "warm_leave":  # the warm pool shrinks: one instance leaves it through the terminating hooks
            resting = [i for i in self.order[p["group"]] if states.get(i) in ("Warmed:Running", "Warmed:Stopped")]
            busy = self.busy_instances() if p.get("busy") else set()
            iid = self._pick([i for i in resting if i in busy] or resting, p["pick"])
            if iid is not None:
                with contextlib.suppress(ValueError):  # left since the step's states were read
                    self.sb.emulator.terminate_from_warm_pool(p["group"], iid)  # type: ignore[union-attr]
                    self.stats["warm_left"] = self.stats.get("warm_left", 0) + 1
        elif kind == "warm_add":
            self._warm_up(p["group"], p["count"])  # their agents boot like a new instance's (_boot_agents)
        elif kind == "warm_delete":  # DeleteWarmPool (no ForceDelete): every resting instance leaves through the hooks
            with contextlib.suppress(ClientError):
                if not any(
                    self.instance_group.get(i) == p["group"] and s.startswith("Warmed:") for i, s in states.items()
                ):
                    return  # deleted already (it went with its last instance)
                self.client("autoscaling").delete_warm_pool(AutoScalingGroupName=p["group"])
                self.stats["warm_pools_deleted"] = self.stats.get("warm_pools_deleted", 0) + 1
        elif kind == "clock_step":  # the fake keeps world times and shows them on its clock: all of them move
            setter = getattr(ado, "set_service_clock", None)
            if setter is not None and self.plan.agent_system == "azure-devops" and not self.record_skew:
                setter(p["offset"])
        elif kind == "rotate":
            new = self.plan.secrets["pat2"]
            first, second = ("put_secret", "set_pat") if p["order"] == "store_first" else ("set_pat", "put_secret")
            self._act(first, {"value": new}, states, aws_windows)
            self.pending.append((now + p["gap"], second, {"value": new}))
        elif kind == "set_pat":
            ado.set_pat(p["value"])
        elif kind == "put_secret":
            self.client("secretsmanager").put_secret_value(SecretId=self.secret_arn, SecretString=p["value"])
        else:  # pragma: no cover - a plan names only the kinds above
            raise ValueError(kind)

    # -- records ----------------------------------------------------------------------------------------------------

    def _records(self, output: str) -> RunRecords:
        assert self.sb.emulator is not None and self.sb.ado is not None
        self.sb.emulator.faults.clear()
        tags: dict[str, dict[str, str]] = {}
        ec2 = self.client("ec2")
        for r in ec2.describe_instances().get("Reservations", []):
            for inst in r["Instances"]:
                found = {
                    t["Key"]: t["Value"] for t in inst.get("Tags", []) if t["Key"].startswith("gate:") and t["Value"]
                }
                if found:
                    tags[inst["InstanceId"]] = found
        self.stats["decisions"] = len(self.log.records)
        if self.warm:
            self._warm_stats()
        self.stats["simulated_minutes"] = round((self.clock.now() - self.t0) / 60, 1)
        return RunRecords(
            plan=self.plan,
            history=self.sb.emulator.history(),
            ado=self._ci_records(),
            instance_group=dict(self.instance_group),
            configured=[g.name for g in self.plan.groups],
            gate_tags=tags,
            skew=self.record_skew,
            output=output + "\n".join(json.dumps(r, default=str) for r in self.log.records),
            stats=dict(self.stats),
            agent_system=self.plan.agent_system,
        )

    def _warm_stats(self) -> None:
        """How much of the seed the warm pools were: instances, those that waited on the gate's hook, their agents
        and the builds those agents ran (a class that never puts a build on a warm instance tests little)."""
        assert self.sb.emulator is not None
        ci = self._ci_records()
        host = {a["id"]: a["capabilities"].get("AWS_INSTANCE_ID", "") for a in ci["agents"]}
        waits = {h["instance_id"]: h["time"] for h in self.sb.emulator.history() if h["what"] == "wait"}
        waited = {i for i in waits if i in self.warm}

        def busy_at_wait(b: dict[str, Any]) -> bool:
            at = waits.get(host.get(b["agent_id"], ""))
            start, stop = b["assigned_at"], b["finished_at"]
            return (
                at is not None
                and start is not None
                and start - self.record_skew < at
                and (stop is None or stop - self.record_skew > at)
            )

        self.stats["warm_instances"] = len(self.warm)
        self.stats["warm_waited"] = len(waited)
        self.stats["warm_agents"] = sum(1 for i in host.values() if i in self.warm)
        self.stats["warm_builds"] = sum(1 for b in ci["builds"] if host.get(b["agent_id"]) in self.warm)
        self.stats["warm_busy_waits"] = len({host[b["agent_id"]] for b in ci["builds"] if busy_at_wait(b)} & waited)

    def _ci_records(self) -> dict[str, Any]:
        """The CI service's records: agents (with their enable/delete history) and builds."""
        assert self.sb.ado is not None
        return self.sb.ado.state()
