"""The agent source, built on first use (docs/liveness.md, "Liveness before construction")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from gate.domain.model import Agent, JobRequest
from gate.domain.redact import redact
from gate.service.sources import AgentSource, AgentSourceError


class LazySource:
    """An AgentSource built on first use, so that nothing which reads a secret, signs in or calls an agent system is
    built before an invocation's first heartbeat pass (docs/liveness.md, "Liveness before construction").

    A build that fails (the credential's secret unreadable, a client that cannot be set up) is an AgentSourceError
    for that use, which the gate treats as "agent system unavailable": hold, fail safe. It is tried again on a
    later use, no sooner than `first_backoff` s after the failure, doubling up to `max_backoff` (on the gate's
    clock): bounded, and never cached as a permanent failure.
    """

    def __init__(
        self,
        build: Callable[[], AgentSource],
        now: Callable[[], float],
        *,
        what: str = "the agent system",
        first_backoff: float = 5.0,
        max_backoff: float = 60.0,
    ) -> None:
        self._build = build
        self._now = now
        self.what = what
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._source: AgentSource | None = None
        self._deadline: float | None = None
        self._failed: str | None = None
        self._retry_at = 0.0
        self._step = first_backoff
        self._lock = threading.Lock()
        self.builds = 0  # build attempts, for tests

    @property
    def built(self) -> AgentSource | None:
        """The real source, or None while it has not been built."""
        return self._source

    @property
    def calls(self) -> int:
        return self._source.calls if self._source is not None else 0

    @calls.setter
    def calls(self, value: int) -> None:
        if self._source is not None:
            self._source.calls = value

    def get(self) -> AgentSource:
        """The real source, built now if need be; AgentSourceError when it cannot be (yet)."""
        source = self._source
        if source is not None:
            return source
        with self._lock:
            if self._source is not None:
                return self._source
            now = self._now()
            if self._failed is not None and now < self._retry_at:
                raise AgentSourceError(f"{self._failed} (next try in {self._retry_at - now:.0f}s)")
            self.builds += 1
            try:
                source = self._build()
            except AgentSourceError as exc:
                self._fail(now, f"cannot set up {self.what}: {exc}")
                raise AgentSourceError(self._failed or str(exc), status=exc.status) from None
            except Exception as exc:  # a SecretError, a bad URL, a missing module: hold, never crash the round
                self._fail(now, f"cannot set up {self.what}: {type(exc).__name__}: {exc}")
                raise AgentSourceError(self._failed or type(exc).__name__) from None
            source.set_deadline(self._deadline)
            self._source, self._failed, self._step = source, None, self.first_backoff
            return source

    def _fail(self, now: float, message: str) -> None:
        self._failed = redact(message)
        self._retry_at = now + self._step
        self._step = min(self._step * 2, self.max_backoff)

    def set_deadline(self, at: float | None) -> None:
        self._deadline = at
        if self._source is not None:
            self._source.set_deadline(at)

    def list_agents(self) -> list[Agent]:
        return self.get().list_agents()

    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        return self.get().get_agents(pool_id, agent_ids)

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        return self.get().job_requests(agent)

    def disable(self, agent: Agent) -> Any:  # what the real source's disable returns (its acknowledgement)
        return self.get().disable(agent)

    def delete(self, agent: Agent) -> None:
        self.get().delete(agent)

    def __getattr__(self, name: str) -> Any:
        """Anything else (a client's own helpers, e.g. AzureDevOps.pool_id) is the real source's: builds it."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)
