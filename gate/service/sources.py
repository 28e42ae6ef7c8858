"""The interface every busy probe implements (Azure DevOps today; GitHub runners or GitLab as one module each), and
the invocation deadline every probe's HTTP calls obey."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gate.domain import errors
from gate.domain.errors import Misconfigured, Unavailable
from gate.domain.holdstate import AgentKey
from gate.domain.model import Agent, JobRequest, ServiceTime
from gate.domain.redact import redact


class AgentSourceError(Unavailable):
    """The agent system could not answer; the gate holds (fail safe). Text is always redacted."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.status = status
        self.retry_after = retry_after


class AuthError(AgentSourceError, Misconfigured):
    """Bad or expired credentials (401/403, or Azure's 203 sign-in page): never treated as data."""


class DeadlineExceeded(AgentSourceError, errors.DeadlineExceeded):
    """The invocation's deadline left no time for the call (or the wait the service asked for): hold, retry later."""


class AgentSource(Protocol):
    calls: int

    def set_deadline(self, at: float | None) -> None:
        """Epoch seconds (on the source's clock) after which no call starts; None lifts the bound."""
        ...

    def list_agents(self) -> list[Agent]:
        """Every agent of every configured pool, in as few calls as the API allows."""
        ...

    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        """Ask for these agents one by one; None means the service says the agent does not exist (404)."""
        ...

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        """The requests that ran or run on this agent (reserved by it); queued ones merely matching it are left out."""
        ...

    def disable(self, agent: Agent) -> ServiceTime | None:
        """Stop new jobs landing on the agent; a no-op where the system has no such switch. Returns when the system
        acknowledged it on its own clock, with the measured skew, when it says (else None)."""
        ...

    def delete(self, agent: Agent) -> None: ...


@dataclass(frozen=True, slots=True)
class Listing:
    """One round's agents, pool by pool (failure isolation, docs/judgment.md): a pool that fails (deleted, renamed,
    404, 5xx, bad JSON) is named in `failed` and holds the instances that may have agents there (every instance,
    unless GATE_GROUP_POOLS says which pools its group uses); the pools that answered are judged as usual."""

    agents: list[Agent]
    answered: frozenset[int] = frozenset()  # ids of the pools that answered
    # pool id -> error; the pool's configured name when not even its id could be resolved (renamed, deleted)
    failed: Mapping[int | str, str] = field(default_factory=dict)
    # pool key (id, or the unresolved name) -> its configured name, as GATE_GROUP_POOLS spells it
    names: Mapping[int | str, str] = field(default_factory=dict)


def list_pools(source: Any) -> Listing:
    """The source's per-pool listing (`list_pools`), or its whole `list_agents` for a source without one (a failure
    then raises AgentSourceError: every pool unknown, as before)."""
    per_pool = getattr(source, "list_pools", None)
    if callable(per_pool):
        listing = per_pool()
        assert isinstance(listing, Listing)
        return listing
    agents: list[Agent] = source.list_agents()
    return Listing(agents, frozenset(a.pool_id for a in agents))


AUDIT_LIMIT = 20  # direct asks per round at most: the audit is a sample, and every instance's evidence asks its own


def audited(
    listing: Listing, source: AgentSource, seen: frozenset[AgentKey]
) -> tuple[Listing, dict[AgentKey, Agent | None]]:
    """A list that leaves out an agent which still exists is not a complete list, whatever its `count` says (an
    emptied or shortened answer): its pool counts as failed this round, so no instance is released on it (no agent
    "never registered", no absence). Checked on the agents the list lacks that the round's holds have seen or that
    this container saw it list last time (`ListingMemory.expected`), asked for one by one (their answers are
    returned, for the holds' own evidence: one ask each). An ask that fails proves
    nothing either way; the holds' own evidence step asks again and holds on a failure."""
    listed = {(a.pool_id, a.id) for a in listing.agents}
    wanted = sorted(k for k in seen - listed if k[0] in listing.answered)[:AUDIT_LIMIT]
    by_pool: dict[int, list[int]] = {}
    for pool, agent_id in wanted:
        by_pool.setdefault(pool, []).append(agent_id)
    answers: dict[AgentKey, Agent | None] = {}
    failed: dict[int | str, str] = dict(listing.failed)
    for pool, ids in by_pool.items():
        try:
            answer = source.get_agents(pool, ids)
        except AgentSourceError:
            continue
        answers.update({(pool, i): answer[i] for i in ids if i in answer})
        alive = [i for i in ids if answer.get(i) is not None]
        if alive:
            failed[pool] = (
                f"pool {listing.names.get(pool, pool)}: the agent list left out agent(s) "
                f"{', '.join(f'#{i}' for i in alive)} that still exist: the list is incomplete"
            )
    if len(failed) == len(listing.failed):
        return listing, answers
    answered = frozenset(p for p in listing.answered if p not in failed)
    # The agents it did list stay: the holds still disable the enabled ones (no hold skips a safe action).
    return Listing(listing.agents, answered, failed, listing.names), answers


@dataclass
class ListingMemory:
    """This container's memory of what each pool listed, which decides when an empty answer is evidence.

    An answer with no agent at all (`count` 0) looks the same whether the pool is empty or the answer was emptied
    (chaos seed 550). A pool's empty answer is believed only once every agent this container last saw it list is
    confirmed gone (404, asked by the audit); a container that never saw the pool list anything has no such evidence,
    so an instance that may depend on it is held (an alarmed fail-safe hold) rather than released by the grace."""

    last: dict[int, set[int]] = field(default_factory=dict)  # pool id -> agent ids it listed, not yet confirmed gone
    empty: set[int] = field(default_factory=set)  # pools whose empty answer is explained

    def expected(self) -> frozenset[AgentKey]:
        """The agents the pools listed last time: the audit asks for the ones now missing."""
        return frozenset((pool, agent) for pool, ids in self.last.items() for agent in ids)

    def update(self, listing: Listing, asked: Mapping[AgentKey, Agent | None]) -> frozenset[int]:
        """The answered pools whose answer can be believed this round (listed agents, or an explained empty)."""
        now: dict[int, set[int]] = {}
        for a in listing.agents:
            now.setdefault(a.pool_id, set()).add(a.id)
        believed: set[int] = set()
        for pool in listing.answered:
            if now.get(pool):
                self.last[pool] = now[pool]
                self.empty.discard(pool)
                believed.add(pool)
            elif pool in self.last:
                remaining = {i for i in self.last[pool] if not ((pool, i) in asked and asked[(pool, i)] is None)}
                self.last[pool] = remaining
                if not remaining:
                    self.empty.add(pool)
                    believed.add(pool)
        return frozenset(believed)


class Deadline:
    """The time bound of one invocation, shared by every call a source makes.

    `timeout(own)` is what a call may wait: min(own timeout, time left); no call starts past the deadline, and a
    wait the service asks for (Retry-After) is allowed only if it ends before the deadline.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.at: float | None = None

    def set(self, at: float | None) -> None:
        self.at = at

    def left(self) -> float | None:
        return None if self.at is None else self.at - self._now()

    def timeout(self, own: float, what: str) -> float:
        left = self.left()
        if left is None:
            return own
        if left <= 0:
            raise DeadlineExceeded(f"{what}: not started, the invocation's deadline has passed")
        return min(own, left)

    def allows_wait(self, seconds: float) -> bool:
        left = self.left()
        return left is None or seconds < left
