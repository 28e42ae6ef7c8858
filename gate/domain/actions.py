"""What a decision asks the edges to do. Executed in list order: drain first, complete before delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.domain.holdstate import HoldState
from gate.domain.model import Agent

Result = Literal["CONTINUE", "ABANDON"]


@dataclass(frozen=True, slots=True)
class SetTag:
    key: str
    value: str  # "" clears the value (keeps IAM to CreateTags only)


@dataclass(frozen=True, slots=True)
class DisableAgent:
    agent: Agent


@dataclass(frozen=True, slots=True)
class ConfirmDisables:
    """After every DisableAgent of the decision succeeded, write the hold tag again with `confirmed_at` = when the
    last PATCH was acknowledged, ON THE AGENT SYSTEM'S CLOCK (its response `Date`, rounded up: `decide.
    acknowledgement`). Only the edge knows that time; it bounds when the disables took effect, so a job that finishes
    (finishTime, the same clock) after it proves that no job was assigned before the disable (docs/judgment.md).
    Best effort: no stamp (no `Date`, a skew over `max_skew`, a failed write) leaves the lag bound as the way out."""

    state: HoldState  # the state the decision wrote with its disables (`confirmed_at` None)
    max_skew: float = 5.0  # Policy.clock_skew_seconds: a larger measured skew means no stamp


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Complete:
    result: Result


@dataclass(frozen=True, slots=True)
class DeleteAgent:
    agent: Agent


@dataclass(frozen=True, slots=True)
class DrainContainerInstance:
    """Set the instance's ECS container instance DRAINING (only once its agents are idle: DRAINING stops service
    tasks, which would kill an agent run as a service mid-build). Executed by `gate.adapters.ecs`, never with a
    Complete."""

    container_instance_arn: str


@dataclass(frozen=True, slots=True)
class Terminate:
    """End a retained instance (EC2 TerminateInstances): what Complete means once no lifecycle action is left
    (`Terminating:Retained`, gate.service.retained)."""


Action = (
    SetTag | DisableAgent | ConfirmDisables | Heartbeat | Complete | DeleteAgent | DrainContainerInstance | Terminate
)
