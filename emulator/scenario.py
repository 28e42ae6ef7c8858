"""Scripted scale-in scenarios on the Sandbox: builds, scale-in, the real handler (events + ticks), and an
independent account of what happened (builds killed, release latency) taken from the servers, not the gate.
"""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from emulator.sandbox import Sandbox
from gate.adapters.logs import DecisionLog, Record
from gate.domain.clock import Clock, ScaledClock
from gate.handler import dispatch

FINAL = ("released", "forced")  # outcomes that complete the lifecycle action
TICK_EVENT = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


class BuildSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instance: int = Field(ge=0, description="index of the instance whose agent runs the build")
    start: float = Field(default=0, ge=0, description="seconds after the scenario starts")
    duration: float = Field(gt=0, description="seconds the build runs")


class ScaleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = Field(ge=0, description="seconds after the scenario starts")
    desired: int = Field(ge=0, description="the group's new desired capacity")


class FaultSpec(BaseModel):
    """A fault window of the CI system (FakeAzureDevOps.inject; GitLab: rate_limit, server_error, unauthorized)."""

    model_config = ConfigDict(extra="forbid")
    at: float = Field(ge=0, description="seconds after the scenario starts")
    kind: str = Field(
        pattern="^(rate_limit|server_error|slow|malformed|unauthorized|signin|down)$",
        description="rate_limit, server_error, slow, malformed, unauthorized, signin or down",
    )
    seconds: float = Field(gt=0, description="how long the fault lasts")
    retry_after: int = Field(default=2, ge=0, description="the Retry-After of rate_limit answers")


# Settings the simulation wires itself (its own servers, group, hook, pool and PAT): a scenario cannot set them.
WIRED_SETTINGS = frozenset(
    {"azure_org_url", "pools", "groups", "hook_name", "pat", "pat_secret_arn", "agent_system"}
    | {"gitlab_url", "gitlab_token", "gitlab_token_secret_arn"}
)
GITLAB_FAULTS = frozenset({"rate_limit", "server_error", "unauthorized"})  # what the fake GitLab injects
GITLAB_TOKEN = "glpat-simulated-0123456789abcdef"  # the embedded fake GitLab's token


class Scenario(BaseModel):
    """A scenario file (YAML or JSON). Every key is optional; unknown keys are an error naming the key."""

    model_config = ConfigDict(extra="forbid")
    group: str = Field(default="ci-agents", description="the Auto Scaling group's name")
    instances: int = Field(default=3, ge=1, le=500, description="instances in the group, one agent each")
    heartbeat_timeout: int = Field(default=300, ge=30, le=7200, description="the hook's HeartbeatTimeout, seconds")
    default_result: str = Field(
        default="ABANDON", pattern="^(CONTINUE|ABANDON)$", description="the hook's DefaultResult"
    )
    builds: list[BuildSpec] = Field(
        default_factory=lambda: [BuildSpec(instance=0, start=0, duration=600)],
        description="builds: `{instance, start, duration}`",
    )
    scale: list[ScaleSpec] = Field(
        default_factory=lambda: [ScaleSpec(at=30, desired=1)], description="scale changes: `{at, desired}`"
    )
    tick_seconds: float = Field(default=60, gt=0, description="the scheduled tick's period, seconds")
    max_seconds: float = Field(default=3 * 3600, gt=0, description="stop the simulation after this much time")
    agent_system: str = Field(
        default="azure-devops",
        pattern="^(azure-devops|gitlab)$",
        description="azure-devops, or gitlab: a runner per instance (mapping name), or with `settings: {mapping: ip}` "
        "one runner shared by the fleet, a manager per instance",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="gate settings by their name without `GATE_`, lower case (e.g. `max_hold_seconds`)",
    )
    protect: list[int] = Field(default_factory=list, description="instance indexes protected from scale-in")
    faults: list[FaultSpec] = Field(
        default_factory=list, description="Azure DevOps faults: `{at, kind, seconds, retry_after}`"
    )
    retain_on_abandon: bool = Field(default=False, description="group retains instances whose hook is abandoned")
    drop_events: bool = Field(default=False, description="lose every lifecycle event: only the tick sees them")
    duplicate_events: bool = Field(default=False, description="deliver every lifecycle event twice")
    duplicate_after: float = Field(
        default=0, ge=0, description="seconds between an event and its duplicate (an EventBridge retry comes later)"
    )

    @field_validator("settings")
    @classmethod
    def _gate_settings(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Checked here, by the scenario's own key names (a typo is not silently ignored)."""
        from gate.settings import Settings

        unknown = sorted(set(value) - set(Settings.model_fields))
        if unknown:
            raise ValueError(f"unknown gate setting {', '.join(unknown)} (names as in GATE_*, lower case, no prefix)")
        wired = sorted(set(value) & WIRED_SETTINGS)
        if wired:
            raise ValueError(f"{', '.join(wired)} is set by the simulation itself")
        wiring: dict[str, Any] = {
            "azure_org_url": "http://127.0.0.1/x",
            "pools": ["p"],
            "groups": ["g"],
            "hook_name": "h",
            "pat": "x",
        }
        if info.data.get("agent_system") == "gitlab":
            wiring |= {"agent_system": "gitlab", "gitlab_url": "http://127.0.0.1/x", "gitlab_token": "x"}
        try:
            Settings(**wiring, **value)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()]
            raise ValueError("; ".join(problems)) from None
        return value

    def check(self) -> Scenario:
        for index in [b.instance for b in self.builds] + self.protect:
            if index >= self.instances:
                raise ValueError(f"instance index {index}, but the group has {self.instances} instances")
        if self.agent_system == "gitlab":
            kinds = sorted({f.kind for f in self.faults} - GITLAB_FAULTS)
            if kinds:
                raise ValueError(
                    f"fault {', '.join(kinds)} is not one the fake GitLab injects ({sorted(GITLAB_FAULTS)})"
                )
        return self


class ScenarioError(ValueError):
    pass


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"cannot read scenario {path}: not UTF-8 text") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        return Scenario.model_validate(data).check()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        ]
        raise ScenarioError(f"invalid scenario {path}: {'; '.join(problems[:3])}") from None
    except ValueError as exc:  # JSON errors and Scenario.check
        raise ScenarioError(f"invalid scenario {path}: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # yaml errors (multi-line, with a caret drawing): keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScenarioError(f"invalid scenario {path}: {type(exc).__name__}{where}: {first}") from None


class Moment(BaseModel):
    """One line of the timeline: simulated seconds since the start, the instance (if any), what happened."""

    t: float
    instance: str = ""
    what: str
    detail: str = ""


class Result(BaseModel):
    """`released`/`forced`/`gone`/`errors` count decisions over the whole run (every invocation's), `held` the
    instances still held at the end; `retained`, `events_*` and `timeline` come from the servers and the script."""

    released: int = 0
    forced: int = 0
    forced_results: dict[str, int] = Field(default_factory=dict, description="forced completions by result")
    held: int = 0
    instances_held: int = Field(default=0, description="instances held at least once")
    gone: int = 0
    errors: int = 0
    retained: int = 0
    events_delivered: int = Field(default=0, description="handler invocations for lifecycle events")
    events_dropped: int = 0
    events_duplicated: int = 0
    decisions: dict[str, int] = Field(default_factory=dict, description="every decision logged, by outcome")
    timeline: list[Moment] = Field(default_factory=list)
    builds: int = 0
    builds_killed: int = 0
    hooks_timed_out: int = 0
    latencies: list[float] = Field(default_factory=list, description="build end (or wait start) -> complete")
    heartbeats: int = 0
    simulated_seconds: float = 0
    wall_seconds: float = 0
    azure_calls: int = 0
    gitlab_calls: int = 0

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


class Run:
    """One scenario run. `rows()` gives the live view; `result` is filled by `run()`."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float = 20,
        gate: bool = True,
        aws_endpoint: str | None = None,
        azure_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.scenario = scenario
        self.with_gate = gate
        self.clock = clock or ScaledClock(speed)  # a given clock: e.g. aligned with an out-of-process fake
        self.sandbox = Sandbox(self.clock, aws_endpoint=aws_endpoint, azure_url=azure_url)
        self.log = DecisionLog(sink=self._on_record)
        self.last: dict[str, Record] = {}
        self.result = Result()
        self.instances: list[str] = []
        self.agents: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.t0: float | None = None
        self.final_rows: list[dict[str, Any]] | None = None
        self.delivered = 0  # handler invocations for lifecycle events
        self.dropped = 0  # lifecycle events lost on purpose (drop_events)
        self.duplicated = 0  # extra deliveries (duplicate_events)
        self.records: list[tuple[float, Record]] = []  # every decision with an instance, on the simulation's clock
        self.script: list[Moment] = []  # what the scenario did: builds started, scale changes, faults, lost events
        self.interrupted = False  # Ctrl-C ended the run early: the result is partial
        self.stop = threading.Event()  # set by Ctrl-C (SIGINT): the loop ends at its next step
        self._later: list[tuple[float, dict[str, Any]]] = []  # (when, event): duplicates still to deliver
        self.build_ids: dict[int, str] = {}  # fake Azure DevOps build id (GitLab: job id) -> instance id
        self.gitlab: Any = None  # the embedded fake GitLab (emulator.gitlab.FakeGitLab) of a GitLab world
        self._gitlab_script: Any = None  # its scripting surface (emulator.gitlab.GitLabScript)

    @property
    def ci(self) -> Any:
        """The CI system the script drives: the fake Azure DevOps, or a GitLab world's scripting surface."""
        return self._gitlab_script if self._gitlab_script is not None else self.sandbox.ado

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else self.clock.now() - self.t0

    def _on_record(self, record: Record) -> None:
        """Keep each instance's latest outcome for its lifecycle action.

        Concurrent invocations (an event and the tick, a duplicated event) log in any order: one that looked before
        the release may log `held` (or `gone`, `error`) after it. A completion ends the lifecycle action, and an
        instance waits on one action in a simulation (no warm pool), so once `released` or `forced` is recorded only
        another completion replaces it.
        """
        with self._lock:
            iid = record.get("instance")
            self.records.append((self.elapsed(), record))
            if not iid:
                return
            if self.last.get(iid, {}).get("outcome") in FINAL and record["outcome"] not in FINAL:
                return
            self.last[iid] = record

    # -- views ------------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The live view; after the run, the last view taken before the servers stopped."""
        if self.final_rows is not None:
            return self.final_rows
        states = self.sandbox.lifecycle_states(self.scenario.group)
        protection = self._protection()
        hb = self._heartbeats()
        out = []
        for iid in self.instances:
            agent = self.ci.agent(self.agents[iid]) if self.ci is not None and iid in self.agents else None
            rec = self.last.get(iid, {})
            out.append(
                {
                    "instance": iid,
                    "state": states.get(iid, "Terminated"),
                    "protected": protection.get(iid, False),
                    "agent": (agent or {}).get("name", "-"),
                    "agent_state": _agent_state(agent),
                    "held_seconds": rec.get("held_seconds"),
                    "heartbeats": hb.get(iid, 0),
                    "outcome": rec.get("outcome", "-"),
                    "reason": rec.get("reason", ""),
                }
            )
        return out

    def _protection(self) -> dict[str, bool]:
        resp = self.sandbox.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.scenario.group]
        )
        return {
            i["InstanceId"]: i.get("ProtectedFromScaleIn", False)
            for g in resp["AutoScalingGroups"]
            for i in g["Instances"]
        }

    def _heartbeats(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.sandbox.emulator is None:
            return counts
        for h in self.sandbox.emulator.history():
            if h["what"] == "heartbeat":
                counts[h["instance_id"]] = counts.get(h["instance_id"], 0) + 1
        return counts

    # -- running ----------------------------------------------------------------------------------------
    def run(self, on_step: Callable[[Run], None] | None = None, step_wall: float = 0.25) -> Result:
        """Build the world, script the scenario, account for it. Ctrl-C at any point stops the scripting but still
        accounts for what happened so far (`interrupted`).

        Ctrl-C only sets `stop` (see `ctrl_c_sets`): a KeyboardInterrupt raised wherever the main thread happens to
        be can be swallowed (inside a `__del__` or a garbage-collector callback Python prints "Exception ignored"
        and carries on), which is how one Ctrl-C in three was lost. A second Ctrl-C raises at once."""
        import time

        wall0 = time.monotonic()
        with ctrl_c_sets(self.stop), self.sandbox, contextlib.ExitStack() as servers:
            if self.scenario.agent_system == "gitlab":
                from emulator.gitlab import FakeGitLab, GitLabScript

                self.gitlab = servers.enter_context(FakeGitLab(clock=self.clock, token=GITLAB_TOKEN))
                shared = self.scenario.settings.get("mapping") in ("ip", "system-id")
                self._gitlab_script = GitLabScript(self.gitlab, shared=shared)
            try:
                self._script(on_step, step_wall)
            except KeyboardInterrupt:
                self.stop.set()
            self.interrupted = self.stop.is_set()
            if self.t0 is None:
                self.t0 = self.clock.now()
            # Invocations still running finish first (their records are part of the account), within a bound.
            until = time.monotonic() + (2 if self.interrupted else 30)
            for t in self._threads:
                t.join(timeout=max(0.0, until - time.monotonic()))
            self._account(self.t0, time.monotonic() - wall0)
            self.final_rows = self.rows()
            if on_step:
                on_step(self)
        return self.result

    def _moment(self, instance: str, what: str, detail: str = "", at: float | None = None) -> None:
        """A step of the script at `at` seconds after the start (default: now)."""
        t = self.elapsed() if at is None else at
        with self._lock:
            self.script.append(Moment(t=round(t, 1), instance=instance, what=what, detail=detail))

    def _script(self, on_step: Callable[[Run], None] | None, step_wall: float) -> None:
        sc = self.scenario
        group = self.sandbox.create_group(
            sc.group,
            sc.instances,
            heartbeat_timeout=sc.heartbeat_timeout,
            default_result=sc.default_result,
            with_hook=self.with_gate,
            retain_on_abandon=sc.retain_on_abandon,
            agents=self._gitlab_script is None,
        )
        self.instances, self.agents = list(group.instances), dict(group.agents)
        wiring: dict[str, Any] = {}
        if self._gitlab_script is not None:
            self.agents = self._gitlab_script.add_instances(self._private_ips(self.instances))
            if sc.settings.get("mapping") == "system-id":  # each instance names its manager, as its boot script would
                for iid, sid in self._gitlab_script.system_ids.items():
                    self.sandbox.client("ec2").create_tags(
                        Resources=[iid], Tags=[{"Key": "gate:gitlab-system-id", "Value": sid}]
                    )
            wiring = {"agent_system": "gitlab", "gitlab_url": self.gitlab.url, "gitlab_token": GITLAB_TOKEN}
        if self.stop.is_set():  # Ctrl-C while the world was being built
            return
        if sc.protect:
            self.sandbox.client("autoscaling").set_instance_protection(
                AutoScalingGroupName=sc.group,
                InstanceIds=[self.instances[i] for i in sc.protect],
                ProtectedFromScaleIn=True,
            )
        settings = self.sandbox.settings(**sc.settings, **wiring)
        t0 = self.t0 = self.clock.now()
        pending_builds = sorted(sc.builds, key=lambda b: b.start)
        pending_scale = sorted(sc.scale, key=lambda s: s.at)
        pending_faults = sorted(sc.faults, key=lambda f: f.at)
        next_tick = t0 + sc.tick_seconds
        while True:
            now = self.clock.now()
            while pending_builds and now - t0 >= pending_builds[0].start:
                b = pending_builds.pop(0)
                iid = self.instances[b.instance]
                assert self.ci is not None
                build_id = self.ci.start_build(self.agents[iid], b.duration)
                self.build_ids[build_id] = iid
                self._moment(iid, "build starts", f"build {build_id}, {b.duration:g}s", now - t0)
            while pending_scale and now - t0 >= pending_scale[0].at:
                desired = pending_scale.pop(0).desired
                self._moment("", "scale", f"desired capacity {desired}", now - t0)
                self.sandbox.scale_to(sc.group, desired)
            while pending_faults and now - t0 >= pending_faults[0].at:
                f = pending_faults.pop(0)
                assert self.ci is not None
                self.ci.inject(f.kind, seconds=f.seconds, retry_after=f.retry_after)
                system = "GitLab" if sc.agent_system == "gitlab" else "Azure DevOps"
                self._moment("", f"{system} fault", f"{f.kind} for {f.seconds:g}s", now - t0)
            if self.with_gate:
                self._deliver(settings, now)
                if now >= next_tick:
                    next_tick += sc.tick_seconds
                    gate = self.sandbox.gate(settings, self.log)
                    t = threading.Thread(target=gate.tick, daemon=True, name="gate-tick")
                    t.start()
                    self._threads.append(t)
            if on_step:
                on_step(self)
            if self._finished(pending_builds, pending_scale) or now - t0 > sc.max_seconds or self.stop.is_set():
                return
            self.stop.wait(step_wall)

    def _private_ips(self, instances: list[str]) -> dict[str, str]:
        resp = self.sandbox.client("ec2").describe_instances(InstanceIds=instances)
        return {i["InstanceId"]: i["PrivateIpAddress"] for r in resp["Reservations"] for i in r["Instances"]}

    def _deliver(self, settings: Any, now: float) -> None:
        """Invoke the handler per event, each in its own thread and Gate (like concurrent Lambda invocations).
        `drop_events` loses each event; `duplicate_events` delivers it again `duplicate_after` seconds later."""
        sc = self.scenario
        for event in self.sandbox.receive_events():
            instance = event.get("detail", {}).get("EC2InstanceId", "")
            if sc.drop_events:
                self.dropped += 1
                self._moment(instance, "event dropped", "lifecycle event lost: only the tick can find it")
                continue
            self._invoke(settings, event)
            if sc.duplicate_events:
                self._later.append((now + sc.duplicate_after, event))
        for due, event in [d for d in self._later if d[0] <= now]:
            self._later.remove((due, event))
            self.duplicated += 1
            instance = event.get("detail", {}).get("EC2InstanceId", "")
            self._moment(instance, "event duplicated", "the same lifecycle event delivered again")
            self._invoke(settings, event)

    def _invoke(self, settings: Any, event: dict[str, Any]) -> None:
        self.delivered += 1
        gate = self.sandbox.gate(settings, self.log)
        t = threading.Thread(target=dispatch, args=(gate, event), daemon=True, name="gate-event")
        t.start()
        self._threads.append(t)

    def _finished(self, pending_builds: list[BuildSpec], pending_scale: list[ScaleSpec]) -> bool:
        if pending_builds or pending_scale or self._later:
            return False
        states = self.sandbox.lifecycle_states(self.scenario.group)
        if any(s.endswith(":Wait") or s == "Terminating:Proceed" for s in states.values()):
            return False
        assert self.ci is not None
        return all(b["finished_at"] is not None for b in self.ci.builds()) or not self.with_gate

    def _timeline(
        self,
        t0: float,
        history: list[dict[str, Any]],
        builds: list[dict[str, Any]],
        records: list[tuple[float, Record]],
    ) -> list[Moment]:
        """What happened, in order: the script's steps, the lifecycle (wait, timeout, retained, terminated), builds
        ending, and each instance's decisions when they change (a run of `held` is one line, with its first reason)."""
        moments = list(self.script)
        lifecycle = {
            "wait": "waits on the hook",
            "timeout": "hook timed out",
            "retained": "retained",
            "terminated": "terminated",
        }
        for h in history:
            if h["what"] in lifecycle and h.get("instance_id") in self.instances:
                detail = " ".join(str(x) for x in (h.get("result"), f"by {h['by']}" if h.get("by") else "") if x)
                moments.append(
                    Moment(
                        t=round(h["time"] - t0, 1), instance=h["instance_id"], what=lifecycle[h["what"]], detail=detail
                    )
                )
        for b in builds:
            if b["finished_at"] is not None:
                moments.append(
                    Moment(
                        t=round(b["finished_at"] - t0, 1),
                        instance=self.build_ids.get(b["id"], ""),
                        what="build ends",
                        detail=f"build {b['id']}, {b['result']}",
                    )
                )
        # A release is logged once its CompleteLifecycleAction has returned, after the termination it caused: it is
        # shown at the completion's own time (the emulator's record), so "released" never follows "terminated".
        completed: dict[str, list[float]] = {}
        for h in history:
            if h["what"] == "complete" and h.get("by") in ("token", "instance"):  # the gate's own call
                completed.setdefault(str(h.get("instance_id")), []).append(h["time"] - t0)
        previous: dict[str, str] = {}
        for at, rec in records:
            iid, outcome = str(rec.get("instance") or ""), str(rec.get("outcome"))
            if previous.get(iid) == outcome and outcome in ("held", "error"):
                continue
            previous[iid] = outcome
            what = f"forced {_forced_result(rec)}" if outcome == "forced" else outcome
            if outcome in FINAL:
                at = max([c for c in completed.get(iid, ()) if at - 60 <= c <= at] or [at])
            moments.append(Moment(t=round(at, 1), instance=iid, what=what, detail=str(rec.get("reason") or "")))
        consequences = ("terminated", "retained")  # at the same second, after the decision that caused them
        return sorted(moments, key=lambda m: (m.t, m.what in consequences))

    def _account(self, t0: float, wall: float) -> None:
        """Judge from the servers' own records: when did each instance die, and was a build still running?"""
        assert self.ci is not None
        r = self.result
        history = self.sandbox.emulator.history() if self.sandbox.emulator else []
        died = {h["instance_id"]: h["time"] for h in history if h["what"] == "terminated"}
        completed = {h["instance_id"]: h["time"] for h in history if h["what"] in ("complete", "timeout")}
        waited = {h["instance_id"]: h["time"] for h in history if h["what"] == "wait"}
        r.hooks_timed_out = sum(1 for h in history if h["what"] == "timeout")
        r.heartbeats = sum(1 for h in history if h["what"] == "heartbeat")
        builds = self.ci.builds()
        r.builds = len(builds)
        by_instance: dict[str, list[dict[str, Any]]] = {}
        for b in builds:
            iid = self.build_ids.get(b["id"], "")
            by_instance.setdefault(iid, []).append(b)
        terminated_now = set(self.instances) - set(self.sandbox.lifecycle_states(self.scenario.group))
        for iid in self.instances:
            end = died.get(iid)
            if end is None and iid in terminated_now:
                end = self.clock.now()  # no emulator history (no hook): died by the time we look
            for b in by_instance.get(iid, []):
                finished = b["finished_at"]
                if b["result"] == "abandoned" or (end is not None and (finished is None or finished > end)):
                    r.builds_killed += 1
            mine = by_instance.get(iid, [])
            running = any(b["finished_at"] is None or b["finished_at"] > completed.get(iid, 0) for b in mine)
            if iid in completed and not running:  # completed while a build ran (forced): not a release
                ends = [b["finished_at"] for b in mine if b["finished_at"] is not None]
                start = max([waited.get(iid, completed[iid]), *ends])
                r.latencies.append(round(max(0.0, completed[iid] - start), 3))
        with self._lock:
            records = list(self.records)
            final = [rec["outcome"] for rec in self.last.values()]
        decided = Counter(str(rec.get("outcome")) for _, rec in records)
        r.decisions = dict(sorted(decided.items()))
        r.released, r.forced, r.gone, r.errors = (decided[o] for o in ("released", "forced", "gone", "error"))
        r.forced_results = dict(Counter(_forced_result(rec) for _, rec in records if rec.get("outcome") == "forced"))
        r.held = final.count("held")  # still held when the run ended
        r.instances_held = len({rec.get("instance") for _, rec in records if rec.get("outcome") == "held"})
        r.retained = sum(1 for h in history if h["what"] == "retained")
        r.events_delivered, r.events_dropped, r.events_duplicated = self.delivered, self.dropped, self.duplicated
        r.timeline = self._timeline(t0, history, builds, records)
        r.simulated_seconds = round(self.clock.now() - t0, 1)
        r.wall_seconds = round(wall, 2)
        if self.gitlab is not None:
            r.gitlab_calls = sum(1 for c in self.gitlab.calls if c["path"].startswith("/api/v4/"))
        else:
            r.azure_calls = sum(1 for c in self.ci.calls if "/_apis/" in c["path"])


def _forced_result(record: Record) -> str:
    """The result a forced completion sent (`complete ABANDON` among the record's actions)."""
    for action in record.get("actions") or []:
        if str(action).startswith("complete "):
            return str(action).split(" ", 1)[1]
    return "?"


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """While the run lasts, the first Ctrl-C (SIGINT) sets `stop` and the second raises KeyboardInterrupt. Only the
    main thread may install a handler; elsewhere (a test's worker thread) KeyboardInterrupt still works as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _agent_state(agent: dict[str, Any] | None) -> str:
    if not agent:
        return "-"
    if agent.get("deleted"):
        return "deleted"
    busy = "busy" if agent.get("busy") else "idle"
    return busy if agent.get("enabled") else f"{busy}, disabled"
