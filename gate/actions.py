"""What a decision asks the edges to do. Executed in list order: drain first, complete before delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.model import Agent

Result = Literal["CONTINUE", "ABANDON"]


@dataclass(frozen=True, slots=True)
class SetTag:
    key: str
    value: str  # "" clears the value (keeps IAM to CreateTags only)


@dataclass(frozen=True, slots=True)
class DisableAgent:
    agent: Agent


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
    tasks, which would kill an agent run as a service mid-build). Executed by `gate.ecs`, never with a Complete."""

    container_instance_arn: str


Action = SetTag | DisableAgent | Heartbeat | Complete | DeleteAgent | DrainContainerInstance
