"""Plain domain types shared by the decision core and the I/O edges (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gate.domain.holdstate import JobRef as JobRef
from gate.domain.holdstate import bound_held_since

HELD_SINCE_TAG = "gate:held-since"
IDLE_SINCE_TAG = "gate:idle-since"

# Lifecycle states in which an instance waits for our terminating hook: chosen by a scale-in, scaled in *into* a warm
# pool, or leaving a warm pool to be terminated. All three are judged alike: a warm pool whose state is Running runs
# its user data, so an agent may have registered there and taken a job (only the agent system can say it has not).
WAIT_STATES = frozenset({"Terminating:Wait", "Warmed:Pending:Wait", "Warmed:Terminating:Wait"})


# A forced ABANDON on a group that retains instances (TerminateHookAbandon = retain): no lifecycle action is left, the
# instance runs until someone terminates it (gate.service.retained).
RETAINED = "Terminating:Retained"
# ... and its warm-pool twin: an instance leaving a warm pool, retained the same way (listed by DescribeWarmPool).
RETAINED_STATES = frozenset({RETAINED, "Warmed:Terminating:Retained"})


class Outcome(StrEnum):
    HELD = "held"
    RELEASED = "released"
    FORCED = "forced"
    GONE = "gone"
    SKIPPED = "skipped"
    ERROR = "error"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class JobMeta:
    """What a running job says about itself, for the priority tiers (gate.domain.tiers). None: the agent system did
    not say (unknown, never "no match"): Azure DevOps job requests carry no branch; GitHub's runner list names only
    the runner's labels (the job's `runs-on` had to match them)."""

    pipeline: str | None = None  # Azure DevOps: definition.name; GitHub: the workflow's name
    plan_type: str | None = None  # Azure DevOps: planType (Build, Release)
    branch: str | None = None
    stage: str | None = None  # Azure DevOps: the stage's reference name, from orchestrationId (multi-stage YAML)
    job: str | None = None  # Azure DevOps: jobName
    demands: tuple[str, ...] | None = None  # Azure DevOps: demands ("npm", "Agent.OS -equals Linux")
    labels: tuple[str, ...] | None = None  # GitHub: the runner's labels


@dataclass(frozen=True, slots=True)
class Agent:
    """One CI agent as its system reports it (Azure DevOps agent, GitHub runner...)."""

    source: str
    pool_id: int
    pool: str
    id: int
    name: str
    enabled: bool
    online: bool = True
    assigned_request: int | None = None
    computer_name: str | None = None
    capabilities: Mapping[str, str] = field(default_factory=dict)
    disableable: bool = True  # GitHub runners cannot be disabled: the decision treats them as drained
    # False when the agent system was asked for the busy field (Azure: includeAssignedRequest) and the record lacks
    # it: absence of the field is not evidence of idleness (AZURE, issue 12; set by gate/adapters/azure.py).
    assigned_known: bool = True
    job: JobMeta | None = None  # its running job's metadata (priority tiers); None: not running one, or not said
    # Its jobs can be read back by id later (GitLab: `GET /projects/:id/jobs/:job_id`): the jobs it is seen running
    # are remembered in the hold, and asked for even while a busy flag already holds it (gate.domain.decide).
    readable_jobs: bool = False

    @property
    def busy(self) -> bool:
        return self.assigned_request is not None

    @property
    def drained(self) -> bool:
        return not self.enabled or not self.disableable

    def label(self) -> str:
        return f"{self.pool}/{self.name}#{self.id}"

    @property
    def stop_verb(self) -> str:
        """What taking it out of scheduling is called in its own system, so the words match its UI and docs: GitLab
        pauses a runner (`paused: true`); Azure DevOps (and the rest) disable an agent."""
        return "pause" if self.source == "gitlab" else "disable"


@dataclass(frozen=True, slots=True)
class JobRequest:
    request_id: int
    agent_id: int | None
    finished: bool
    finished_at: float | None = None  # finishTime, on the agent system's clock (evidence against the lag bound)
    meta: JobMeta | None = None  # pipeline, stage, job, demands... (priority tiers, gate.domain.tiers)
    # Where the job can be read back by id later (GitLab: its project; 0 when the answer did not say, which no
    # read-back finds). None: the source cannot read a job back (Azure DevOps, GitHub): it is not remembered.
    project_id: int | None = None
    # False: the job names no agent of its runner (GitLab before 17.1: a shared runner's job names no manager) and
    # counts for this agent only because it may be its.
    attributed: bool = True


@dataclass(frozen=True, slots=True)
class Waiting:
    """An instance waiting on our hook, as AWS (and our own tags) describe it."""

    group: str
    instance_id: str
    hook: str
    lifecycle_state: str = "Terminating:Wait"
    private_dns: str | None = None
    private_ip: str | None = None  # hostname mapping: the IP-derived DNS name (gate.domain.mapping.host_keys)
    # The gate's own tags as EC2 reports them (gate:*), and the identity of the lifecycle action (the ActivityId of
    # the terminate activity, gate.domain.holdstate): tags are only believed when they name this action.
    tags: Mapping[str, str] = field(default_factory=dict)
    action_id: str | None = None

    @property
    def held_since(self) -> float | None:
        """When the hold of this lifecycle action began (None: no hold tag bound to this action)."""
        return bound_held_since(self.tags, self.action_id)


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """A moment on another system's clock (an agent service's response `Date`), with the skew measured against the
    gate's clock at that response. Compared only with timestamps of the same system ("one clock per comparison")."""

    at: float  # the service's time, rounded up (the `Date` header has one-second resolution): an upper bound
    skew: float  # service clock minus the gate's clock at the response (positive: the service runs ahead)
