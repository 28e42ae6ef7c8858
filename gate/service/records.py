"""Decision records: one JSON line (and EMF metric) per decision, then the webhook subscriber if configured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gate.adapters.logs import DecisionLog, Record
from gate.domain.clock import Clock
from gate.domain.model import Agent, Outcome, Waiting

if TYPE_CHECKING:
    from gate.adapters.notify import Notifier


class Recorder:
    def __init__(self, log: DecisionLog, clock: Clock, notifier: Notifier | None = None) -> None:
        self.log = log
        self.clock = clock
        self.notifier = notifier

    def decision(
        self,
        w: Waiting,
        outcome: Outcome,
        reason: str,
        agents: Sequence[Agent],
        *,
        held_since: float | None = None,
        actions: Sequence[str] = (),
        now: float | None = None,
        failsafe: str | None = None,
        tier: str | None = None,
    ) -> Record:
        """About one waiting instance: its agents, how long it has been held, what was done. `failsafe`: the cause
        of a hold an error keeps (gate.domain.decide.Decision.failsafe), recorded as the field `failsafe`. `tier`:
        the priority tier whose max hold and forced result applied (gate.domain.tiers), recorded as `tier` on every
        record (None where no judgment chose one: gone, spot, errors before a decision)."""
        now = self.clock.now() if now is None else now
        held_since = w.held_since if held_since is None else held_since
        record: Record = {
            "outcome": str(outcome),
            "reason": reason,
            "group": w.group,
            "instance": w.instance_id,
            "hook": w.hook,
            "agents": [
                {"pool": a.pool, "id": a.id, "name": a.name, "enabled": a.enabled, "busy": a.busy} for a in agents
            ],
            "held_seconds": round(now - held_since, 3) if held_since is not None else None,
            "tier": tier,
        }
        if actions:
            record["actions"] = list(actions)
        if failsafe is not None:
            record["failsafe"] = failsafe
        self.log.decision(record, now)
        if self.notifier is not None:
            self.notifier.on_record(record, held_since)
        return record

    def plain(self, outcome: Outcome, reason: str, **where: Any) -> Record:
        """Not about one judged instance (a failed describe, a skipped event, a misconfigured hook)."""
        record: Record = {
            "outcome": str(outcome),
            "reason": reason,
            "group": where.get("group"),
            "instance": where.get("instance"),
            "hook": where.get("hook"),
            "agents": [],
            "held_seconds": None,
            "tier": None,
        }
        self.log.decision(record, self.clock.now())
        if self.notifier is not None:
            self.notifier.on_record(record)
        return record
