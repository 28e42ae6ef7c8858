"""The measured kill rate (`gate audit`): which finished builds a termination killed, and what the holds cost.

Pure: the inputs are facts read from three systems (the agent system's job requests, the group's scaling activities,
the gate's decision records) and the answer is a report. Nothing here trusts the gate's own view of what happened:
a build counts as killed by scale-in when its agent's instance was terminated by a scale-in (or another termination
that passes the hook) while the build ran, whatever the gate logged.

Timestamps come from two clocks (the agent system's and AWS's). A report may compare them where the gate's
decisions may not ("one clock per comparison", docs/judgment.md): a wrong count here kills no build. A build that
ended within `tolerance` of its instance's termination is only counted with the agent system's own word that its
agent was lost, so a few seconds of skew cannot turn an ordinary failed build into a kill, nor hide one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gate.domain.timestamps import parse_ts

# Results of a build that ran to its end (the service's TaskResult names; GitHub's conclusions map onto them).
FINISHED_NORMALLY = frozenset({"succeeded", "succeededwithissues", "skipped", "success", "neutral"})

# What the agent systems write when a job's agent vanished mid-build: Azure DevOps on the job's timeline record
# ("We stopped hearing from agent X. Verify the agent machine is running ...", older: "The agent: X lost
# communication with the server ..."), the pre-2018 lock message, and GitHub Actions' runner messages.
AGENT_LOST_PATTERNS = (
    re.compile(r"we stopped hearing from agent", re.IGNORECASE),
    re.compile(r"lost communication with the server", re.IGNORECASE),
    re.compile(r"agent did not renew the lock", re.IGNORECASE),
    re.compile(r"runner has received a shutdown signal", re.IGNORECASE),
)


class Kind(StrEnum):
    """Why Auto Scaling terminated an instance, from the scaling activity's Cause text."""

    SCALE_IN = "scale-in"  # desired capacity lowered (policy, schedule, ECS capacity provider, a user)
    REPLACEMENT = "replacement"  # instance refresh, maximum instance lifetime, AZ or capacity rebalancing
    HEALTH = "health"  # EC2 or ELB health check: the instance was already unhealthy
    SPOT = "spot"  # a Spot interruption: nothing can delay it
    OTHER = "other"


# Order matters: a cause naming a health check or a Spot interruption may also say "shrinking the capacity".
_CAUSES: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.SPOT, re.compile(r"spot|interruption", re.IGNORECASE)),
    (Kind.HEALTH, re.compile(r"health check|unhealthy|impaired", re.IGNORECASE)),
    (Kind.REPLACEMENT, re.compile(r"instance refresh|maximum instance lifetime|rebalanc", re.IGNORECASE)),
    (Kind.SCALE_IN, re.compile(r"shrinking the capacity|desired capacity|user request|taken out of service", re.I)),
)

# Terminations that pass the terminating lifecycle hook for a reason the gate is there to hold: a build killed by
# one of these is what the gate exists to prevent.
GATED = frozenset({Kind.SCALE_IN, Kind.REPLACEMENT})


def termination_kind(cause: str) -> Kind:
    for kind, pattern in _CAUSES:
        if pattern.search(cause or ""):
            return kind
    return Kind.OTHER


def agent_lost(messages: Iterable[str]) -> bool:
    return any(p.search(m or "") for m in messages for p in AGENT_LOST_PATTERNS)


@dataclass(frozen=True, slots=True)
class Job:
    """One job the agent system assigned to an agent (running or finished); times on the agent system's clock."""

    job_id: str
    agent: str  # the agent's name as the job request names it
    instance_id: str | None  # the instance the agent ran on, when the name or the listing tells
    assigned_at: float
    finished_at: float | None
    result: str | None  # None while running
    messages: tuple[str, ...] = ()  # the job's error issues, when read
    pipeline: str = ""

    @property
    def ended_normally(self) -> bool:
        return self.finished_at is not None and (self.result or "").lower() in FINISHED_NORMALLY

    @property
    def says_agent_lost(self) -> bool:
        return (self.result or "").lower() == "abandoned" or agent_lost(self.messages)


@dataclass(frozen=True, slots=True)
class Termination:
    """One terminate activity of a group: the instance died at `ended_at` (still waiting: `None`)."""

    group: str
    instance_id: str
    started_at: float
    ended_at: float | None
    cause: str
    status: str = "Successful"

    @property
    def kind(self) -> Kind:
        return termination_kind(self.cause)

    @property
    def died_at(self) -> float | None:
        """Cancelled or failed activities killed nothing."""
        return self.ended_at if self.status == "Successful" else None


@dataclass(frozen=True, slots=True)
class Hold:
    """One hold of a lifecycle action, from the gate's decision records: [start, end] on the gate's clock."""

    group: str
    instance_id: str
    start: float
    end: float
    outcome: str  # released, forced, gone, or held (still holding when the audit looked)


@dataclass(frozen=True, slots=True)
class Loss:
    job: Job
    why: str
    termination: Termination | None = None


@dataclass
class HoldCost:
    holds: int = 0
    forced: int = 0
    still_holding: int = 0
    busy_hours: float = 0.0  # held while a build ran on the instance: the price of not killing it
    idle_hours: float = 0.0  # held with no build running: judgment lag, idle confirmation, an outage's fail-safe


@dataclass
class Report:
    since: float
    until: float
    jobs: int = 0
    terminations: int = 0
    killed_by_scale_in: list[Loss] = field(default_factory=list)
    lost_other: list[Loss] = field(default_factory=list)
    holds: HoldCost = field(default_factory=HoldCost)

    def as_dict(self) -> dict[str, object]:
        def loss(x: Loss) -> dict[str, object]:
            t = x.termination
            return {
                "job": x.job.job_id,
                "pipeline": x.job.pipeline,
                "agent": x.job.agent,
                "instance": x.job.instance_id,
                "result": x.job.result,
                "agent_lost": x.job.says_agent_lost,
                "assigned_at": x.job.assigned_at,
                "finished_at": x.job.finished_at,
                "why": x.why,
                "terminated_at": t.died_at if t else None,
                "cause": t.cause if t else None,
            }

        h = self.holds
        return {
            "since": self.since,
            "until": self.until,
            "jobs": self.jobs,
            "terminations": self.terminations,
            "builds_killed_by_scale_in": len(self.killed_by_scale_in),
            "builds_lost_other": len(self.lost_other),
            "killed_by_scale_in": [loss(x) for x in self.killed_by_scale_in],
            "lost_other": [loss(x) for x in self.lost_other],
            "holds": {
                "count": h.holds,
                "forced": h.forced,
                "still_holding": h.still_holding,
                "instance_hours": round(h.busy_hours + h.idle_hours, 3),
                "held_busy_hours": round(h.busy_hours, 3),
                "held_idle_hours": round(h.idle_hours, 3),
            },
        }


def _killed_by(job: Job, termination: Termination, tolerance: float) -> bool:
    """Did this termination end the job? It must die after the job started; the job must not have ended normally;
    and it either still ran (unfinished, or finished clearly after the death: the service noticed the agent gone)
    or ended near the death with the service's word that its agent was lost."""
    died = termination.died_at
    if died is None or job.ended_normally or job.assigned_at >= died:
        return False
    if job.finished_at is None or job.finished_at > died + tolerance:
        return True
    return job.says_agent_lost and job.finished_at >= died - tolerance


def attribute(
    jobs: Sequence[Job],
    terminations: Sequence[Termination],
    holds: Sequence[Hold],
    *,
    since: float,
    until: float,
    tolerance: float = 60.0,
) -> Report:
    """Sort every job that did not end normally into killed by a gated termination, lost for another reason, or
    neither (an ordinary failed or cancelled build); and price the holds in instance-hours, busy or idle."""
    report = Report(since=since, until=until, jobs=len(jobs), terminations=len(terminations))
    by_instance: dict[str, list[Termination]] = {}
    for t in sorted(terminations, key=lambda t: t.ended_at or t.started_at):
        by_instance.setdefault(t.instance_id, []).append(t)
    for job in sorted(jobs, key=lambda j: (j.assigned_at, j.job_id)):
        if job.ended_normally:
            continue
        killer = next(
            (t for t in by_instance.get(job.instance_id or "", []) if _killed_by(job, t, tolerance)),
            None,
        )
        if killer is not None and killer.kind in GATED:
            report.killed_by_scale_in.append(Loss(job, f"instance terminated by {killer.kind}", killer))
        elif killer is not None:
            report.lost_other.append(Loss(job, f"instance terminated ({killer.kind})", killer))
        elif job.says_agent_lost:
            report.lost_other.append(Loss(job, "agent lost, no termination of its instance found"))
    report.holds = hold_cost(holds, jobs, until)
    return report


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def hold_cost(holds: Sequence[Hold], jobs: Sequence[Job], until: float) -> HoldCost:
    """Instance-hours each hold cost, split by whether a build ran on the instance meanwhile (busy) or not (idle)."""
    cost = HoldCost()
    runs: dict[str, list[tuple[float, float]]] = {}
    for job in jobs:
        if job.instance_id:
            runs.setdefault(job.instance_id, []).append((job.assigned_at, job.finished_at or until))
    for hold in holds:
        cost.holds += 1
        cost.forced += hold.outcome == "forced"
        cost.still_holding += hold.outcome == "held"
        length = max(0.0, hold.end - hold.start)
        busy = sum(_overlap(hold.start, hold.end, a, b) for a, b in _merged(runs.get(hold.instance_id, [])))
        busy = min(busy, length)
        cost.busy_hours += busy / 3600
        cost.idle_hours += (length - busy) / 3600
    return cost


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def record_time(record: dict[str, object]) -> float | None:
    """When a decision was made, on the gate's clock: the EMF timestamp (milliseconds, written from the clock the
    gate decided by), else the line's ISO `ts`."""
    envelope = record.get("_aws")
    if isinstance(envelope, dict):
        stamp = envelope.get("Timestamp")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return float(stamp) / 1000
    return parse_ts(str(record.get("ts") or ""))


def holds_from_records(records: Iterable[dict[str, object]], until: float) -> list[Hold]:
    """One Hold per lifecycle action from decision records (`outcome`, `held_seconds`, a time): the last record of
    each instance's run of records says how it ended and how long it was held. A run ends at a final outcome."""
    open_: dict[tuple[str, str], tuple[float, float, float]] = {}  # (group, instance) -> (first ts, last ts, held_s)
    holds: list[Hold] = []
    timed = []
    for r in records:
        ts = record_time(r)
        if ts is not None and r.get("instance") and r.get("outcome") in ("held", "released", "forced", "gone"):
            timed.append((ts, r))
    for ts, r in sorted(timed, key=lambda x: x[0]):
        key = (str(r.get("group") or ""), str(r["instance"]))
        held = r.get("held_seconds")
        held_s = float(held) if isinstance(held, (int, float)) and not isinstance(held, bool) else 0.0
        first = open_.get(key, (ts - held_s, ts, held_s))[0]
        first = min(first, ts - held_s)
        if r["outcome"] == "held":
            open_[key] = (first, ts, held_s)
            continue
        open_.pop(key, None)
        holds.append(Hold(key[0], key[1], first, ts, str(r["outcome"])))
    holds += [Hold(g, i, first, until, "held") for (g, i), (first, _, _) in open_.items()]
    return holds


AUDIT_EVENT_KEY = "gate-audit"  # the scheduled audit's EventBridge input: {"gate-audit": {"window_seconds": N}}
MAX_WINDOW_SECONDS = 7 * 86400


def audit_request(event: object) -> float | None:
    """The window (seconds) of a scheduled audit event, or None when the event is not one (the handler's other
    paths take it). A malformed window falls back to a day rather than failing the run."""
    if not isinstance(event, dict) or AUDIT_EVENT_KEY not in event:
        return None
    body = event[AUDIT_EVENT_KEY]
    window = body.get("window_seconds") if isinstance(body, dict) else None
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= MAX_WINDOW_SECONDS:
        return 86400.0
    return float(window)


def audit_emf(report: Report, function_name: str, namespace: str, timestamp_ms: int) -> dict[str, object]:
    """The scheduled audit's result as one EMF line: metrics `BuildsKilledByScaleIn` (the alarm's, above 0 is a
    build the gate did not save) and `BuildsLostOther`, dimension FunctionName; the killed jobs named (at most 20)."""
    summary = report.as_dict()
    return {
        "FunctionName": function_name,
        "BuildsKilledByScaleIn": summary["builds_killed_by_scale_in"],
        "BuildsLostOther": summary["builds_lost_other"],
        "window_seconds": round(report.until - report.since),
        "jobs": report.jobs,
        "terminations": report.terminations,
        "killed": summary["killed_by_scale_in"][:20] if isinstance(summary["killed_by_scale_in"], list) else [],
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "BuildsKilledByScaleIn", "Unit": "Count"},
                        {"Name": "BuildsLostOther", "Unit": "Count"},
                    ],
                }
            ],
        },
    }
