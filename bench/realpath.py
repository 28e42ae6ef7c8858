"""Real-path benchmarks: the real handler and edges, over HTTP, against the local AWS emulator and fake Azure DevOps.

(a) `release_latency`: a hooked group whose instances all run builds ending at staggered times is scaled in to 0;
    latency = build end -> CompleteLifecycleAction, from the emulator's own history, at default settings.
(b) `tick_at_scale`: one pool, N instances in Terminating:Wait. A sequence of ticks (first sight, steady hold,
    heartbeats due, release) with the real `Gate`, the real Azure DevOps client over HTTP to the fake, and the AWS
    side answered in process by a counting adapter (moto-based emulation is O(waiting instances) per request,
    so N thousand heartbeats over it measure the emulator, not the gate); then the steady tick again fully over
    HTTP against the emulator; then the pure decision (AgentIndex + decide for N instances) on its own.
(c) `package_size` and `cold_import`: the Lambda zip from scripts/package_lambda.py, and `import gate.handler` in
    fresh interpreters (`-X importtime`).

`emulator` is imported inside the functions: this package must not import it at module level.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_PAT,
    clean_gate_env,
    gate_settings,
    quiet_logs,
)
from bench.memory_aws import GONE, WAIT, MemoryAws
from bench.stats import median, percentile, rounded
from gate.adapters.aws import Aws
from gate.adapters.azure import AzureDevOps
from gate.adapters.logs import DecisionLog
from gate.bootstrap import aws_of
from gate.domain.actions import Result
from gate.domain.clock import Clock, ManualClock
from gate.domain.decide import Observation, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, encode
from gate.domain.mapping import AgentIndex
from gate.domain.model import WAIT_STATES, Agent, Waiting
from gate.service.lazy import LazySource
from gate.service.triggers import Gate, GateEdge, policy_from

GROUP, HOOK, POOL = "ci-agents", "termination-gate", "linux-agents"
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- (a) release latency ------------------------------------------------------------------------------------------


def release_latency(instances: int = 60, stagger: float = 5.0, speed: float = 5.0) -> dict[str, Any]:
    """Every instance runs one build (60 s + i x `stagger`); the group scales to 0 at t=20 s; the real handler gets
    every lifecycle event and a tick each minute. At `speed` 5 an emulator call of ~20 ms wall counts as ~0.1 s of
    simulated time, about what a real AWS or Azure DevOps call takes, so the latency includes API time."""
    from emulator.scenario import BuildSpec, Run, ScaleSpec, Scenario

    scenario = Scenario(
        instances=instances,
        builds=[BuildSpec(instance=i, start=0, duration=60 + i * stagger) for i in range(instances)],
        scale=[ScaleSpec(at=20, desired=0)],
        max_seconds=60 + instances * stagger + 600,
    ).check()
    with clean_gate_env(), quiet_logs():
        run = Run(scenario, speed=speed)
        result = run.run(step_wall=0.05)
    lat = result.latencies
    return {
        "instances": instances,
        "holds": len(lat),
        "p50_s": rounded(percentile(lat, 50), 1),
        "p95_s": rounded(percentile(lat, 95), 1),
        "max_s": rounded(max(lat) if lat else None, 1),
        "builds": result.builds,
        "builds_killed": result.builds_killed,
        "released": result.released,
        "gone": result.gone,
        "errors": result.errors,
        "hooks_timed_out": result.hooks_timed_out,
        "heartbeats": result.heartbeats,
        "azure_calls": result.azure_calls,
        "speed": speed,
        "simulated_seconds": result.simulated_seconds,
        "wall_seconds": result.wall_seconds,
        "latencies_s": [round(x, 2) for x in sorted(lat)],
    }


# -- (b) one tick at scale ----------------------------------------------------------------------------------------


@dataclass
class _Member:
    id: str
    group: str = GROUP
    waiting: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return WAIT if self.waiting else GONE


class _CountingWorld:
    """N waiting instances for `bench.memory_aws.MemoryAws`; counts calls like `Aws.calls` (one
    DescribeAutoScalingGroups per 50 groups, one DescribeInstances per 200 ids, one call per action)."""

    def __init__(self, instance_ids: Sequence[str]) -> None:
        self.calls: dict[str, int] = {}
        self.instances = {iid: _Member(iid) for iid in instance_ids}
        self.completed: dict[str, Result] = {}

    def members(self) -> Iterable[_Member]:
        return self.instances.values()

    def aws(self, op: str, n: int = 1) -> None:
        if n:
            self.calls[op] = self.calls.get(op, 0) + n

    def heartbeat(self, member: _Member) -> None:
        pass

    def complete(self, member: _Member, result: Result) -> None:
        member.waiting = False
        self.completed[member.id] = result


def _azure_kind(call: dict[str, Any]) -> str:
    method, path = call["method"], call["path"]
    if path.endswith("/agents"):
        return "GET agents (list page)"
    if "/jobrequests" in path:
        return "GET jobrequests"
    if path.endswith("/pools"):
        return "GET pools (pool id, once per container)"
    return f"{method} agent"


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def _judgeable(aws: GateEdge, groups: Sequence[str], hook: str) -> list[Waiting]:
    """The waiting instances as the judgment pass sees them: EC2 details and the lifecycle action's identity."""
    found = aws.find_waiting(groups, hook)
    details = aws.describe_instances(w.instance_id for w in found)
    ids = aws.action_ids({GROUP: [w.instance_id for w in found]})
    return [dataclasses.replace(w, **details.get(w.instance_id, {}), action_id=ids.get(w.instance_id)) for w in found]


def _decision_cpu(gate: Gate, waiting: Sequence[Waiting], agents: Sequence[Agent], repeats: int = 5) -> float:
    """Median thread CPU of the pure part of one round: index the agents, decide for every waiting instance.
    The inputs are fetched beforehand by a separate client (the HTTP part is timed with the tick itself)."""
    policy = policy_from(gate.settings)
    now = gate.clock.now()
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        index = AgentIndex(agents, gate.settings.mapping, gate.settings.capability_name)
        for w in waiting:
            decide(w, Observation(agents=index.agents_for(w)), policy, now, proven=True)
        samples.append(time.thread_time() - start)
    return statistics.median(samples)


def _measure_tick(gate: Gate, aws_calls: dict[str, int], azure: Any, label: str, decision_cpu: float) -> dict[str, Any]:
    a0, z0 = dict(aws_calls), len(azure.calls)
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    records = gate.tick(budget=0)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    azure_new = azure.calls[z0:]
    return {
        "tick": label,
        "waiting": len(records) if records else 0,
        "outcomes": dict(sorted(Counter(r["outcome"] for r in records).items())),
        "azure_calls": len(azure_new),
        "azure_calls_by_kind": dict(sorted(Counter(_azure_kind(c) for c in azure_new).items())),
        "aws_calls": sum(_diff(aws_calls, a0).values()),
        "aws_calls_by_operation": _diff(aws_calls, a0),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "decision_cpu_s": round(decision_cpu, 4),
    }


def _seed_agents(ado: Any, ids: Sequence[str], short: float, long: float) -> dict[str, int]:
    """One agent per instance named after it (the default `name` mapping); half run short builds, half long."""
    agents: dict[str, int] = {}
    for k, iid in enumerate(ids):
        agents[iid] = ado.add_agent(POOL, f"agent-{iid}", capabilities={"AWS_INSTANCE_ID": iid})
        ado.start_build(agents[iid], short if k % 2 == 0 else long)
    return agents


def tick_sequence(instances: int = 1000) -> dict[str, Any]:
    """Four ticks of one warm container on N waiting instances: Azure over HTTP, AWS in process (counted)."""
    from emulator.azure_devops import FakeAzureDevOps

    clock = ManualClock()
    ids = [f"i-{k:017x}" for k in range(1, instances + 1)]
    with FakeAzureDevOps(clock=clock, pat=BENCH_PAT) as ado, quiet_logs():
        ado.add_pool(POOL)
        _seed_agents(ado, ids, short=45, long=3600)
        settings = gate_settings(azure_org_url=ado.url, pools=[POOL], groups=[GROUP], hook_name=HOOK)
        world = _CountingWorld(ids)
        aws = MemoryAws(world, HOOK, 180, private_dns=lambda m: f"ip-{m.id[2:10]}")
        source = AzureDevOps(settings.azure_org_url, BENCH_PAT, settings.pools, clock=clock)
        gate = Gate(settings, aws, source, clock, DecisionLog(echo=False))
        probe = AzureDevOps(settings.azure_org_url, BENCH_PAT, settings.pools, clock=clock)
        ticks = []
        # t=0 first sight (cold container: pool lookup, tag, disable, heartbeat each); t=30 nothing due;
        # t=60 heartbeats due, the short builds have ended (idle seen); t=90 idle confirmed: release those.
        for label, advance in (("first sight", 0), ("steady hold", 30), ("heartbeats due", 30), ("release", 30)):
            clock.advance(advance)
            before = dict(world.calls)
            waiting = _judgeable(aws, settings.groups, settings.hook_name)
            cpu = _decision_cpu(gate, waiting, probe.list_agents())
            world.calls = before  # the probe above is not part of the tick
            ticks.append(_measure_tick(gate, world.calls, ado, label, cpu))
        released = sum(1 for r in world.completed.values() if r == "CONTINUE")
        state = ado.state()
    killed = sum(1 for b in state["builds"] if b["result"] == "abandoned")
    return {"instances": instances, "pools": 1, "ticks": ticks, "released": released, "builds_killed": killed}


def steady_tick_over_http(instances: int = 1000) -> dict[str, Any]:
    """The steady-hold tick fully over HTTP: moto + the lifecycle emulator, the fake Azure DevOps, boto3.

    Set-up goes around the gate (scale-in through the API, each instance's hold tag written as the gate would
    write it for its lifecycle action, agents disabled in the fake) so only the tick itself is timed; the
    emulator's timer is slowed so it does not compete for the CPU."""
    from emulator.aws import AwsEmulator
    from emulator.sandbox import Sandbox

    clock = ManualClock()
    setup0 = time.perf_counter()
    emulator = AwsEmulator(clock=clock, timer_interval=3600).start()
    try:
        with Sandbox(clock, aws_endpoint=emulator.endpoint) as sandbox, clean_gate_env(), quiet_logs():
            group = sandbox.create_group(GROUP, instances, hook=HOOK, pool=POOL, heartbeat_timeout=3600)
            ado = sandbox.ado
            assert ado is not None
            for agent_id in group.agents.values():
                ado.start_build(agent_id, 3600)
                ado.set_enabled(agent_id, False)
            sandbox.scale_to(GROUP, 0)
            states = Counter(sandbox.lifecycle_states(GROUP).values())
            gate = sandbox.gate(log=DecisionLog(echo=False))
            _hold_tags(aws_of(gate), sandbox.client("ec2"), group.agents, _pool_id(ado), clock)
            # A warm container: pool id cached, heartbeats just sent.
            gate.heartbeats.last_sent = dict.fromkeys(group.instances, clock.now())
            source = gate.source.get() if isinstance(gate.source, LazySource) else gate.source  # built on first use
            if isinstance(source, AzureDevOps):
                source.pool_id(POOL)
            clock.advance(30)
            setup = time.perf_counter() - setup0
            waiting = _judgeable(aws_of(gate), gate.settings.groups, gate.settings.hook_name)
            pat = gate.settings.pat.get_secret_value() if gate.settings.pat else ""
            probe = AzureDevOps(gate.settings.azure_org_url, pat, gate.settings.pools, clock=clock)
            cpu = _decision_cpu(gate, waiting, probe.list_agents())
            aws_of(gate).calls.clear()
            tick = _measure_tick(gate, aws_of(gate).calls, ado, "steady hold (all HTTP)", cpu)
    finally:
        emulator.stop()
    waiting_count = sum(n for s, n in states.items() if s in WAIT_STATES)
    return {"instances": instances, "waiting": waiting_count, "setup_wall_s": round(setup, 1), **tick}


def _pool_id(ado: Any) -> int:
    return int(next(p["id"] for p in ado.state()["pools"] if p["name"] == POOL))


def _hold_tags(aws: Aws, ec2: Any, agents: dict[str, int], pool_id: int, clock: Clock) -> None:
    """Each instance's `gate:hold` tag as the gate writes it once it has disabled the agent of this lifecycle action
    (gate.domain.holdstate): held and disabled now, the agent seen, and seen busy (its build runs): a steady hold's
    tag, which the measured tick has no reason to rewrite."""
    now = clock.now()
    ids = aws.action_ids({GROUP: list(agents)})
    for iid, agent_id in agents.items():
        if iid in ids:
            key = frozenset({(pool_id, agent_id)})
            state = HoldState(action_hash(ids[iid]), now, disabled_at=now, seen=key, busy=key)
            ec2.create_tags(Resources=[iid], Tags=[{"Key": HOLD_TAG, "Value": encode(state)}])


def tick_at_scale(instances: int = 1000, http_instances: int = 200) -> dict[str, Any]:
    """The tick sequence with `instances`, and the steady tick all over HTTP with `http_instances`: the moto-based
    emulator answers each heartbeat in time that grows with the instances waiting, so a thousand of them (which the
    judgment pass's proof heartbeats now send every invocation) would measure the emulator for minutes."""
    start = time.perf_counter()
    out: dict[str, Any] = {"sequence": tick_sequence(instances), "http": steady_tick_over_http(http_instances)}
    out["wall_seconds"] = round(time.perf_counter() - start, 1)
    return out


# -- (c) package size and cold import ----------------------------------------------------------------------------


def _top_level(names: Iterable[str]) -> list[str]:
    """Importable top-level names in a zip: package directories and root-level modules."""
    out = set()
    for name in names:
        head, sep, _ = name.partition("/")
        if sep and not head.endswith((".dist-info", ".data")) and head != "__pycache__":
            out.add(head)
        elif not sep and name.endswith((".py", ".so")):
            out.add(name.split(".", 1)[0])
    return sorted(out)


def package_size(output_dir: Path | None = None) -> dict[str, Any]:
    """Build the Lambda zip with scripts/package_lambda.py (pip reaches the package index) and measure it. Built for
    this interpreter's Python (python3.X) with bytecode, as package_lambda ships it when run by the runtime's Python:
    cold_import's shipped_zip mode imports from this very zip (kept in `output_dir`, under "zip")."""
    script = REPO_ROOT / "scripts" / "package_lambda.py"
    if not script.is_file():
        return {"error": f"{script} not found (gate bench runs from a source checkout)"}
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        out = (output_dir or Path(tmp)) / "gate-lambda.zip"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script), "--output", str(out), "--runtime", runtime, "--bytecode"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            cwd=REPO_ROOT,
        )
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"error": f"package_lambda failed ({proc.returncode}): {' / '.join(tail)}"}
        with zipfile.ZipFile(out) as zf:
            names = zf.namelist()
            unpacked = sum(i.file_size for i in zf.infolist())
            pyc_bytes = sum(i.compress_size for i in zf.infolist() if i.filename.endswith(".pyc"))
        sha = re.search(r"sha256: ([0-9a-f]{64})", proc.stdout)
        return {
            "runtime": runtime,
            "bytes": out.stat().st_size,
            "mb": round(out.stat().st_size / 1_000_000, 2),
            "unpacked_mb": round(unpacked / 1_000_000, 2),
            "files": len(names),
            "pyc_files": sum(n.endswith(".pyc") for n in names),
            "py_files": sum(n.endswith(".py") for n in names),
            "pyc_mb": round(pyc_bytes / 1_000_000, 2),  # compressed: what the bytecode adds to the zip
            "sha256": sha.group(1) if sha else None,
            "ships_emulator": any(n.startswith("emulator/") for n in names),
            "ships_bench": any(n.startswith("bench/") for n in names),
            "top_level_modules": _top_level(names),
            "build_seconds": round(time.perf_counter() - start, 1),
            **({"zip": str(out)} if output_dir is not None else {}),
        }


# Top-level modules the Lambda zip ships (used when no zip was built), and what the Python runtime adds: boto3 and its
# dependencies. Nothing else is importable in Lambda, so the measurement hides every other installed package (the
# venv's rich, for one, which structlog imports when it finds it).
ZIP_PACKAGES = frozenset(
    {
        "gate",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "typing_extensions",
        "typing_inspection",
        "annotated_types",
        "dotenv",
        "structlog",
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
    }
)
RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"})

# Run in the measured interpreter before `import gate.handler`: a finder that makes every third-party module outside
# the Lambda's world absent. Only `os`, `sys` (already loaded at start-up), `time` (built in) and importlib's
# machinery (frozen, loaded at start-up) are used, so nothing is charged early. It prints the CPU seconds the import
# took (less sensitive than wall time to a busy machine), how many modules were compiled from source (the import
# system's source_to_code, counted: bytecode found and valid means none), and where gate.handler came from.
_LAMBDA_WORLD = """
import os, sys, time
from importlib.machinery import SourceFileLoader
_cpu = time.process_time()
_allowed = set(os.environ["BENCH_IMPORTABLE"].split(","))
class _LambdaWorld:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in _allowed or top in sys.stdlib_module_names or top in sys.builtin_module_names or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda package)", name=name)
sys.meta_path.insert(0, _LambdaWorld())
_compiled = []
_source_to_code = SourceFileLoader.source_to_code
def _counted(self, data, path, *args, **kwargs):
    _compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = _counted
import gate.handler
_cpu = time.process_time() - _cpu
print(_cpu, len(_compiled), sys.modules["gate.handler"].__file__)
"""


Probe = tuple[float, int, str]  # CPU seconds, modules compiled from source, gate.handler's file


def _probe(stdout: str) -> Probe:
    """The measured interpreter's last line: (CPU seconds, modules compiled from source, gate.handler's file)."""
    cpu, compiled, where = stdout.strip().splitlines()[-1].split(" ", 2)
    return float(cpu), int(compiled), where


def _importtime(env: dict[str, str], probes: list[Probe] | None = None, cwd: Path = REPO_ROOT) -> list[tuple[str, int]]:
    """(module, cumulative microseconds) for `import gate.handler` in a fresh interpreter; appends its probe line
    (CPU seconds, modules compiled from source, where gate.handler came from) to `probes`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _LAMBDA_WORLD],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cwd,
        env=env,
    )
    if probes is not None:
        probes.append(_probe(proc.stdout))
    out = []
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            out.append((parts[2], int(parts[1])))
    return out


def _import_ms(env: dict[str, str], probes: list[Probe] | None = None, cwd: Path = REPO_ROOT) -> float:
    for module, cumulative in _importtime(env, probes, cwd):
        if module == "gate.handler":
            return cumulative / 1000
    raise RuntimeError("gate.handler not found in -X importtime output")


# What the Lambda-like import costs without the gate's own code: its third-party dependencies as it imports them, and
# the same without pydantic-settings (the largest single one): where a cold start can still be won.
IMPORT_BREAKDOWN = {
    "third-party dependencies only": (
        "from pydantic import BaseModel; import pydantic_settings, requests, structlog, boto3"
    ),
    "... without pydantic-settings": "from pydantic import BaseModel; import requests, structlog, boto3",
}


def _import_cpu_ms(statement: str, env: dict[str, str]) -> float:
    """CPU milliseconds of `statement` (instead of `import gate.handler`) in a fresh Lambda-like interpreter."""
    code = _LAMBDA_WORLD.replace("import gate.handler\n", statement + "\n").replace(
        'sys.modules["gate.handler"].__file__', '"-"'
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, cwd=REPO_ROOT, env=env
    )
    return _probe(proc.stdout)[0] * 1000


_WARM = """
import importlib, json, sys
for name in json.load(sys.stdin):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def _warm(prefix: str, modules: Sequence[str], base: dict[str, str]) -> None:
    """Write bytecode for `modules` (and what they import) into the cache prefix, as a precompiled runtime has."""
    env = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-c", _WARM],
        input=json.dumps(list(modules)),
        text=True,
        check=True,
        env=dict(env, PYTHONPYCACHEPREFIX=prefix),
        timeout=120,
        cwd=REPO_ROOT,
        capture_output=True,
    )


def _unpack(zip_path: Path, into: Path) -> list[str]:
    """Unpack the Lambda zip as Lambda does into /var/task; its importable top-level names."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
        return _top_level(zf.namelist())


def cold_import(
    repeats: int = 5,
    zip_packages: Iterable[str] = ZIP_PACKAGES,
    modes: Sequence[str] = ("cached_bytecode", "lambda_like", "no_bytecode"),
    zip_path: Path | None = None,
) -> dict[str, Any]:
    """`import gate.handler` in fresh interpreters, median of `repeats`, in up to four `modes`:

    * shipped_zip: the zip as package_lambda wrote it (`zip_path`, built for this interpreter's Python), unpacked,
      imported from there with the bytecode it ships and nothing else for its modules; the stdlib and boto3 with the
      bytecode of this interpreter's installation (a Lambda runtime's are precompiled; written first where missing);
    * cached_bytecode: bytecode cached for every module (best case);
    * lambda_like: a zip that ships no .pyc while the runtime's stdlib and boto3 come precompiled: bytecode cached for
      every module except those of the zip's packages, which are compiled from source at every cold start;
    * no_bytecode: everything compiled from source (worst case).
    The last three import the source tree and this environment's packages, each with its own bytecode cache
    (PYTHONPYCACHEPREFIX), so the machine's __pycache__ state does not matter. In every mode only the stdlib, the
    zip's modules and the runtime's boto3 can be imported, as in Lambda, and the modules compiled from source are
    counted. Measured with this interpreter (the module's default runtime is python3.12)."""
    import os

    shipped = set(zip_packages)
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    base["BENCH_IMPORTABLE"] = ",".join(sorted(shipped | RUNTIME_PACKAGES))
    measure = dict(base, PYTHONDONTWRITEBYTECODE="1")  # measuring must not fill the cache it measures
    with tempfile.TemporaryDirectory(prefix="gate-pycache-") as empty:
        modules = [m for m, _ in _importtime(dict(measure, PYTHONPYCACHEPREFIX=empty))]
    runtime = [m for m in modules if m.split(".", 1)[0] not in shipped]
    warmed = {"cached_bytecode": modules, "lambda_like": runtime, "no_bytecode": []}
    samples: dict[str, list[float]] = {}
    probes: dict[str, list[Probe]] = {}
    out: dict[str, Any] = {"python": sys.version.split()[0], "repeats": repeats}
    for mode in modes:
        probes[mode] = []
        if mode == "shipped_zip":
            if zip_path is None:
                out["shipped_zip_error"] = "no zip was built"
                continue
            with tempfile.TemporaryDirectory(prefix="gate-task-") as task:
                names = _unpack(zip_path, Path(task))
                env = {k: v for k, v in measure.items() if k != "PYTHONPYCACHEPREFIX"}
                env["PYTHONPATH"] = task
                env["BENCH_IMPORTABLE"] = ",".join(sorted(set(names) | RUNTIME_PACKAGES))
                # the runtime's part (stdlib, boto3) with its installation's bytecode, as Lambda's comes precompiled
                plain = {k: v for k, v in base.items() if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
                subprocess.run(
                    [sys.executable, "-c", _WARM],
                    input=json.dumps(runtime),
                    text=True,
                    check=True,
                    env=plain,
                    timeout=120,
                    cwd=REPO_ROOT,
                    capture_output=True,
                )
                samples[mode] = [_import_ms(env, probes[mode], Path(task)) for _ in range(repeats)]
                where = {p[2] for p in probes[mode]}
                out["shipped_zip_from"] = (
                    "the unpacked zip" if all(w.startswith(task) for w in where) else sorted(where)
                )
            continue
        with tempfile.TemporaryDirectory(prefix="gate-pycache-") as prefix:
            if warmed[mode]:
                _warm(prefix, warmed[mode], base)
            env = dict(measure, PYTHONPYCACHEPREFIX=prefix)
            samples[mode] = [_import_ms(env, probes[mode]) for _ in range(repeats)]
    for mode, values in samples.items():
        out[f"{mode}_ms"] = rounded(median(values), 1)
        out[f"{mode}_min_ms"] = rounded(min(values), 1)
        out[f"{mode}_cpu_ms"] = rounded(median([p[0] * 1000 for p in probes[mode]]), 1)
    out["samples_ms"] = {mode: [round(x, 1) for x in values] for mode, values in samples.items()}
    out["cpu_samples_ms"] = {mode: [round(p[0] * 1000, 1) for p in probes[mode]] for mode in samples}
    # modules compiled from source at import (0: every module's bytecode was found and valid)
    out["compiled_from_source"] = {mode: max(p[1] for p in probes[mode]) for mode in samples}
    if "lambda_like" in modes:
        with tempfile.TemporaryDirectory(prefix="gate-pycache-") as prefix:
            _warm(prefix, runtime, base)
            env = dict(measure, PYTHONPYCACHEPREFIX=prefix)
            out["lambda_like_cpu_breakdown_ms"] = {
                name: rounded(median([_import_cpu_ms(stmt, env) for _ in range(repeats)]), 1)
                for name, stmt in IMPORT_BREAKDOWN.items()
            }
    out["compiled_packages"] = sorted(shipped)
    return out
