"""The round loop, on one screen: heartbeats first, then judgment, repeated until the invocation's budget or deadline.

A round is one DescribeAutoScalingGroups -> our hook checked -> the heartbeat pass (Auto Scaling only) -> EC2 details
-> one agent list per pool -> the judgment pass. Nothing after the heartbeat pass can delay a heartbeat, and the
round is level-triggered: the tick re-reads the groups every round, so lost or duplicate events change nothing.
The steps are gate.service.passes; the triggers that start rounds are gate.service.triggers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from gate.adapters.logs import Record
from gate.domain.model import Waiting
from gate.service.passes import Passes

# Without a Lambda context, a round may overrun the budget by this much, never more (Terraform: a 70 s timeout
# for a 50 s budget).
ROUND_GRACE_SECONDS = 15.0


@dataclass
class Run:
    """One invocation's memory between its rounds."""

    follow: list[Waiting] | None  # the event path's instance; None: re-read the groups every round (the tick)
    soft: float  # no round starts after this
    hard: float  # no call starts after this
    leave_busy_to_tick: bool = False
    known: dict[str, Waiting] = field(default_factory=dict)  # with EC2 details and the hold/idle clocks
    last_reason: dict[str, str] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)  # problems recorded once per invocation
    pending: list[Waiting] = field(default_factory=list)  # still ours and not finished: worth another round
    records: list[Record] = field(default_factory=list)
    recheck: dict[str, float] = field(default_factory=dict)  # when time alone may change a decision (lag bound)
    failsafe: dict[str, str] = field(default_factory=dict)  # instance -> why an error keeps it waiting (latest round)
    # False for the service hook's re-check rounds (gate/servicehook.py): judgment only, the tick keeps the hooks alive
    heartbeats: bool = True
    second_chances: int = 0  # heartbeats sent again at a round's end (Passes.heartbeat_second_chance), and sent then
    second_chances_sent: int = 0


class Rounds:
    def __init__(self, passes: Passes) -> None:
        self.p = passes

    def run(
        self,
        waiting: Sequence[Waiting] | None,
        budget: float | None,
        *,
        leave_busy_to_tick: bool = False,
        deadline: float | None = None,
        heartbeats: bool = True,
    ) -> Run:
        run = self.start(waiting, budget, deadline, leave_busy_to_tick)
        run.heartbeats = heartbeats
        try:
            first = True
            while True:
                self.round(run, first)
                first = False
                wait = self.next_wait(run)
                if not run.pending or self.p.clock.now() + wait > run.soft:
                    break
                self.p.clock.sleep(wait)
        finally:
            self.p.bound_calls(None)
        return run

    def start(
        self, waiting: Sequence[Waiting] | None, budget: float | None, deadline: float | None, leave_busy: bool
    ) -> Run:
        now = self.p.clock.now()
        soft = now + (self.p.settings.tick_budget_seconds if budget is None else budget)
        hard = soft + ROUND_GRACE_SECONDS if deadline is None else min(soft + ROUND_GRACE_SECONDS, deadline)
        self.p.bound_calls(hard)
        follow = list(waiting) if waiting is not None else None
        return Run(follow, min(soft, hard), hard, leave_busy)

    def round(self, run: Run, first: bool) -> None:
        """One round, then its heartbeat second chance: what the pass failed (or could not send) goes out once more
        after judgment, so the next round (or tick) is not the only retry."""
        self.p.heartbeats.missed = []
        self._steps(run, first)
        if run.heartbeats and not self.p.settings.dry_run:
            self.p.heartbeat_second_chance(run)

    def _steps(self, run: Run, first: bool) -> None:
        found = self.p.find(run)
        if found is None and run.follow is None and not self.p.last_found and self.p.clock.now() < run.hard:
            found = self.p.find(run)  # a cold container has nothing else to heartbeat: DescribeAutoScalingGroups again
        if found is None:
            run.pending = []
            if self.p.last_found and not self.p.settings.dry_run and run.heartbeats:  # liveness without judgment
                kept = self.p.with_our_hook(run, list(self.p.last_found))
                self.p.heartbeat_pass(run, kept)
                for w in kept:  # held by the error, unjudged: counted until DescribeAutoScalingGroups answers
                    if w.instance_id not in self.p.heartbeats.gone:
                        run.failsafe.setdefault(w.instance_id, "autoscaling")
            return
        listed = self.p.aws.listed_groups if run.follow is None else None  # set by this round's _find
        ours = self.p.with_our_hook(run, found, listed)
        random.shuffle(ours)  # when time runs out mid-round, a different tail waits each time
        if run.heartbeats:  # in a dry run, planned (gate.service.heartbeats): the proof step of the plan
            self.p.heartbeat_pass(run, ours)
        live = [w for w in ours if w.instance_id not in self.p.heartbeats.gone]
        judgeable = self.p.with_details(run, live)
        for iid in set(run.failsafe) - {w.instance_id for w in live}:  # no longer waiting (gone): no longer held
            del run.failsafe[iid]
        unjudged = {w.instance_id for w in live} - {w.instance_id for w in judgeable}
        for iid in unjudged:  # EC2 details failed: heartbeated, never judged until EC2 answers
            run.failsafe[iid] = "ec2"
        observed = None
        if judgeable or (first and run.follow is None and self.p.protector is not None):
            observed = self.p.observe(judgeable) if self.p.clock.now() < run.hard else None
            if observed is not None:
                self.p.report_observed(run, observed)
        if first and run.follow is None and self.p.protector is not None and observed is not None:
            self.p.protect(observed)
        finished = self.p.judgment_pass(run, judgeable, observed) if observed is not None else set()
        # The tick keeps every live instance (unjudged ones still need this invocation's heartbeats); the event path
        # follows only what it could judge, and leaves the rest to the tick.
        judged = {w.instance_id for w in judgeable} if run.follow is not None else {w.instance_id for w in live}
        run.pending = [w for w in live if w.instance_id in judged and w.instance_id not in finished]
        if run.follow is not None:
            run.follow = [w for w in run.follow if w.instance_id in {p.instance_id for p in run.pending}]

    def next_wait(self, run: Run) -> float:
        """The fixed re-check interval, or sooner when a decision falls due by time alone (the lag bound, an
        absence confirmation, the unregistered grace): release latency."""
        wait = self.p.settings.recheck_interval_seconds
        now = self.p.clock.now()
        for w in run.pending:
            due = run.recheck.get(w.instance_id, now + wait) - now
            if due > 0:
                wait = min(wait, max(due, 0.5))
        return wait
