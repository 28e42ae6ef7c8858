"""Run many seeds: one Sandbox (AWS emulator + fake Azure DevOps) per worker process, reset between seeds; a GitLab
world starts its own fake GitLab for the seed."""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.checker import Violation, check, notes
from chaos.gitlab_world import GitLabRun
from chaos.world import Plan, SeedRun, draw, install_container_scope
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock


def seed_run(sb: Sandbox, plan: Plan, image_id: str | None, *, gate: bool = True) -> SeedRun:
    """The world for the plan's agent system."""
    kind = GitLabRun if plan.agent_system == "gitlab" else SeedRun
    return kind(sb, plan, image_id, gate=gate)


@dataclass
class SeedResult:
    seed: int
    classes: list[str]
    agent_system: str = "azure-devops"  # or gitlab, gitlab+shared (managers by IP), gitlab+system-id (Plan.world)
    violations: list[dict[str, str]] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_seconds: float = 0.0


class Worker:
    """A started Sandbox and the image id its groups launch (looked up once: listing AMIs takes seconds)."""

    def __init__(self) -> None:
        install_container_scope()
        self.sb: Sandbox | None = None
        self.image_id: str | None = None

    def _start(self) -> Sandbox:
        if self.sb is None:
            self.sb = Sandbox(ManualClock()).start()
            self.image_id = self.sb.client("ec2").describe_images()["Images"][0]["ImageId"]
        return self.sb

    def restart(self) -> None:
        if self.sb is not None:
            self.sb.stop()
            self.sb = None

    def stop(self) -> None:
        self.restart()

    def run(
        self,
        seed: int,
        enabled: tuple[str, ...],
        mix: int | None,
        overrides: dict[str, Any] | None = None,
        guarded: bool = True,
        agent_system: str = "azure-devops",
        gate: bool = True,
    ) -> SeedResult:
        """`overrides`: gate settings to change (experiments: does the simulation notice a weakened rule?).
        `guarded`: the instance-side guard runs before every agent registration (False: `--unguarded`).
        `agent_system`: azure-devops, gitlab or mix (drawn from the seed). `gate=False`: no invocation runs at all
        (`--no-gate`: the checker must then see the damage)."""
        start = time.monotonic()
        plan = draw(seed, enabled, mix, agent_system)
        plan.overrides = dict(overrides or {})
        plan.guarded = guarded
        result = SeedResult(seed, list(plan.classes), plan.world)
        try:
            run = seed_run(self._start(), plan, self.image_id, gate=gate)
            records = run.run()
            result.violations = [asdict(v) for v in check(records)]
            result.notes = notes(records)
            result.stats = records.stats
            if any(t.is_alive() for t in run.threads):  # an invocation outlived its seed: fresh servers
                self.restart()
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3).splitlines()[-3:]}"
            self.restart()
        result.wall_seconds = round(time.monotonic() - start, 2)
        return result


_worker: Worker | None = None


def _init() -> None:
    global _worker
    _worker = Worker()


def _task(args: tuple[int, tuple[str, ...], int | None, dict[str, Any] | None, bool, str, bool]) -> SeedResult:
    assert _worker is not None
    return _worker.run(*args)


def run_seeds(
    seeds: Iterable[int],
    enabled: tuple[str, ...],
    mix: int | None = 3,
    workers: int = 2,
    on_result: Callable[[SeedResult], None] | None = None,
    overrides: dict[str, Any] | None = None,
    guarded: bool = True,
    agent_system: str = "azure-devops",
    gate: bool = True,
) -> list[SeedResult]:
    """Every seed's result, in completion order. `workers=0`: in this process (tests)."""
    tasks = [(s, enabled, mix, overrides, guarded, agent_system, gate) for s in seeds]
    results: list[SeedResult] = []

    def collect(items: Iterator[SeedResult]) -> None:
        for r in items:
            results.append(r)
            if on_result is not None:
                on_result(r)

    if workers <= 0:
        worker = Worker()
        try:
            collect(worker.run(*t) for t in tasks)
        finally:
            worker.stop()
        return results
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: moto's state is process-global
    with ctx.Pool(workers, initializer=_init) as pool:
        collect(pool.imap_unordered(_task, tasks))
    return results


def replay_command(seed: int, enabled: tuple[str, ...], mix: int | None, all_classes: tuple[str, ...]) -> str:
    cmd = f"python -m chaos --seed {seed}"
    if enabled != all_classes:
        cmd += f" --faults {','.join(enabled)}"
    if mix != 3:
        cmd += f" --mix {'all' if mix is None else mix}"
    return cmd


def summarize(results: list[SeedResult]) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    for r in results:
        kinds = {v["kind"] for v in r.violations}
        for k in kinds:
            by_kind[k] += 1
            for c in r.classes or ["(none)"]:
                by_class[f"{c}:{k}"] += 1
    return {
        "seeds": len(results),
        "violating_seeds": sum(1 for r in results if r.violations),
        "violations": sum(len(r.violations) for r in results),
        "errors": sum(1 for r in results if r.error),
        "notes": dict(sum((Counter(r.notes) for r in results), Counter())),
        "held_at_end_by_agent_system": dict(
            sum((Counter({r.agent_system: r.notes.get("held_at_end", 0)}) for r in results), Counter())
        ),
        "by_agent_system": dict(Counter(r.agent_system for r in results)),
        "violating_by_agent_system": dict(Counter(r.agent_system for r in results if r.violations)),
        "by_kind": dict(by_kind),
        "by_class_and_kind": dict(sorted(by_class.items(), key=lambda kv: -kv[1])),
    }


def first_line(v: dict[str, str]) -> str:
    return Violation(**v).line()
