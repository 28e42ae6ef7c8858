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


Action = SetTag | DisableAgent | Heartbeat | Complete | DeleteAgent
