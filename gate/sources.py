"""The interface every busy probe implements (Azure DevOps today; GitHub runners or GitLab as one module each)."""

from __future__ import annotations

from typing import Protocol

from gate.model import Agent, JobRequest
from gate.redact import redact


class AgentSourceError(RuntimeError):
    """The agent system could not answer; the gate holds (fail safe). Text is always redacted."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.status = status
        self.retry_after = retry_after


class AuthError(AgentSourceError):
    """Bad or expired credentials (401/403, or Azure's 203 sign-in page): never treated as data."""


class AgentSource(Protocol):
    calls: int

    def list_agents(self) -> list[Agent]:
        """Every agent of every configured pool, in as few calls as the API allows."""
        ...

    def job_requests(self, agent: Agent) -> list[JobRequest]: ...

    def disable(self, agent: Agent) -> None:
        """Stop new jobs landing on the agent; a no-op where the system has no such switch."""
        ...

    def delete(self, agent: Agent) -> None: ...
