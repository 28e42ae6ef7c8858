"""The custom termination policy (idle-first selection): one agent list, the rules of gate.domain.selection, an answer
within Auto Scaling's two seconds.

Auto Scaling allows the function two seconds; without an answer by then (or with an error) it waits a short time and
invokes it again, and the scale-in waits meanwhile. So everything here is bounded by `budget` (default
`BUDGET_SECONDS`, less when the Lambda context has less left): the agent list and the one DescribeInstances run on a
worker thread under that deadline, and when it passes the answer is the fallback (every instance offered: the
group's next policies choose, the hook gates). Nothing here raises, heartbeats or touches a lifecycle action: the
gate's hook judges whatever is terminated, exactly as without this policy.

Cost per invocation: one agent list per pool (no job requests, no agent asked by id) and at most one DescribeInstances
per 200 candidates (only for hostname mapping or candidates with no agent: their launch times).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from gate.adapters.logs import DecisionLog
from gate.domain.clock import Clock
from gate.domain.mapping import AgentIndex, Mapping
from gate.domain.model import Waiting
from gate.domain.selection import CAUSES, Readiness, Request, Selection, choose, fallback, parse_request, readiness
from gate.service.judgment import RoundAgents
from gate.service.sources import AgentSource, AgentSourceError, list_pools
from gate.settings import Settings

BUDGET_SECONDS = 1.2  # of AWS's 2 s: the rest is the Lambda's own overhead, a cold start's imports and the answer
MARGIN_SECONDS = 0.3  # left of the context's remaining time when it is less than the budget


class InstanceDetails(Protocol):
    """What the policy asks EC2 (gate.adapters.aws.Aws implements it)."""

    def set_deadline(self, deadline: float | None, now: Callable[[], float] | None = None) -> None: ...

    def launch_details(self, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class Selector:
    def __init__(
        self,
        settings: Settings,
        source: AgentSource,
        ec2: InstanceDetails,
        clock: Clock,
        log: DecisionLog,
        *,
        budget: float = BUDGET_SECONDS,
        threaded: bool = True,
    ) -> None:
        """`threaded=False` runs the look inline (the fleet simulation: its world is single-threaded and its sources
        never block; the deadline still bounds every call)."""
        self.settings = settings
        self.source = source
        self.ec2 = ec2
        self.clock = clock
        self.log = log
        self.budget = budget
        self.threaded = threaded
        self._lock = threading.Lock()  # one look at a time per container (a late one from a timed-out invocation)
        self.invocations = 0

    def select(self, event: Any, remaining: float | None = None) -> Selection:
        """The answer to one invocation; `remaining`: seconds the Lambda context has left (None: the budget)."""
        self.invocations += 1
        start = self.clock.now()
        budget = self.budget if remaining is None else max(0.0, min(self.budget, remaining - MARGIN_SECONDS))
        request = parse_request(event)
        if isinstance(request, str):
            selection = Selection((), request, True)
        elif request.group not in self.settings.groups:
            selection = fallback(request, f"group {request.group} is not one of the gate's (GATE_GROUPS)")
        elif request.cause not in CAUSES:
            selection = choose(request, {})  # the fallback, with its reason
        else:
            selection = self._bounded(request, start + budget)
        self._record(request, selection, self.clock.now() - start)
        return selection

    def _bounded(self, request: Request, deadline: float) -> Selection:
        if not self.threaded:
            return self._look(request, deadline)
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="selection")
        try:
            future = pool.submit(self._look, request, deadline)
            return future.result(timeout=max(0.0, deadline - self.clock.now()))
        except concurrent.futures.TimeoutError:
            return fallback(request, "no answer from the agent system within the policy's deadline")
        finally:
            pool.shutdown(wait=False)

    def _look(self, request: Request, deadline: float) -> Selection:
        """One agent list and, where needed, one DescribeInstances, then the rules. Never raises."""
        if not self._lock.acquire(timeout=max(0.0, deadline - self.clock.now())):
            return fallback(request, "an earlier look is still running")
        try:
            self.source.set_deadline(deadline)
            self.ec2.set_deadline(deadline, self.clock.now)
            return self._judge(request)
        except AgentSourceError as exc:
            return fallback(request, f"agent system unavailable: {exc}")
        except Exception as exc:  # the answer must come, whatever broke: the hook still gates
            return fallback(request, f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self.source.set_deadline(None)
            self.ec2.set_deadline(None)
            self._lock.release()

    def _judge(self, request: Request) -> Selection:
        settings = self.settings
        listing = list_pools(self.source)
        if listing.failed and not listing.answered:
            return fallback(request, "agent system unavailable: " + "; ".join(listing.failed.values()))
        waiting = [Waiting(request.group, c.instance_id, settings.hook_name, "InService") for c in request.candidates]
        details: dict[str, dict[str, Any]] = {}
        problem = ""
        if settings.mapping is Mapping.HOSTNAME:
            details, problem = self._details([w.instance_id for w in waiting])
            waiting = [_with(w, details.get(w.instance_id, {})) for w in waiting]
        index = AgentIndex(listing.agents, settings.mapping, settings.capability_name, waiting)
        if settings.mapping is not Mapping.HOSTNAME:
            agentless = [w.instance_id for w in waiting if not index.agents_for(w) and not index.ambiguous_for(w)]
            if agentless:
                details, problem = self._details(agentless)
        listed = {a.pool_id for a in listing.agents}
        observed = RoundAgents(
            index,
            failed_pools=dict(listing.failed),
            answered_pools=listing.answered,
            pool_names=dict(listing.names),
            group_pools={g: frozenset(ps) for g, ps in settings.group_pools.items()},
            listed_pools=frozenset(listing.names.get(p, str(p)) for p in listed),
        )
        now = self.clock.now()
        grace = settings.unregistered_grace_seconds
        ready: dict[str, Readiness] = {
            w.instance_id: readiness(
                observed.observation(w), details.get(w.instance_id, {}).get("launched_at"), now, grace
            )
            for w in waiting
        }
        selection = choose(request, ready)
        if problem:
            selection = Selection(selection.instance_ids, f"{selection.reason}; {problem}", selection.fallback)
        return selection

    def _details(self, ids: Sequence[str]) -> tuple[dict[str, dict[str, Any]], str]:
        """Launch details, or none and why (those candidates stay unknown)."""
        try:
            return self.ec2.launch_details(ids), ""
        except Exception as exc:
            return {}, f"describe instances failed ({exc}): {len(ids)} candidate(s) unknown"

    def _record(self, request: Request | str, selection: Selection, seconds: float) -> None:
        """One JSON line per invocation (Logs Insights: `filter event = "termination_policy"`)."""
        fields: dict[str, Any] = {"fallback": selection.fallback, "reason": selection.reason}
        if isinstance(request, Request):
            fields.update(
                group=request.group,
                cause=request.cause,
                capacity=sum(request.capacity.values()),
                candidates=len(request.candidates),
            )
        fields.update(chosen=list(selection.instance_ids) if not selection.fallback else [], seconds=round(seconds, 3))
        self.log.info("termination_policy", **fields)


def _with(waiting: Waiting, details: dict[str, Any]) -> Waiting:
    return replace(waiting, private_dns=details.get("private_dns"), private_ip=details.get("private_ip"))
