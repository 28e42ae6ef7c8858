"""One JSON line per decision, which is also a CloudWatch Embedded Metric Format record.

EMF lets a single stdout line feed both CloudWatch Logs Insights and the `Decisions{Outcome}` metric the
alarms watch, without a PutMetricData call (and its permissions and latency) in the decision path. EMF needs each
dimension as a top-level key of the line, so the decision's outcome is written once, as `Outcome` (the in-memory
records keep `outcome`); Logs Insights queries and `gate outcomes` read `Outcome`.

Every line (decisions and the rest) carries the Lambda invocation's `request_id` and `cold_start`, so a decision
can be joined to the invocation's REPORT line, a timeout or an error. They are bound per invocation by
`bind_invocation` and kept in a process global rather than a contextvar: Lambda runs one invocation at a time per
container, and the round's worker threads must carry them too (a thread pool does not inherit contextvars).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from gate.domain.redact import redact_value

Record = dict[str, Any]


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: redact_value(v) for k, v in event_dict.items()}


_invocation: dict[str, Any] = {}  # request_id, cold_start of the invocation running in this container
_invocations = 0


def bind_invocation(context: Any) -> None:
    """Call first in every invocation: its request id (None without a Lambda context) and whether it is the
    container's first (a cold start: settings, clients and the secret were built for it)."""
    global _invocations
    _invocations += 1
    _invocation.clear()
    _invocation.update(request_id=getattr(context, "aws_request_id", None), cold_start=_invocations == 1)


def _add_invocation(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in _invocation.items():
        event_dict.setdefault(key, value)
    return event_dict


def configure(stream: TextIO | None = None, level: str = "INFO") -> None:
    """JSON lines to stdout (Lambda ships stdout to CloudWatch Logs); secrets redacted in every line."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            _add_invocation,
            _redact,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def emf(record: Record, namespace: str, timestamp_ms: int) -> Record:
    """Add the EMF envelope: metric `Decisions` (count) and `HeldSeconds`, dimensions `FunctionName` and `Outcome`.

    FunctionName (set by Lambda; "local" elsewhere) keeps two gates in one account from sharing metrics and alarms.
    """
    out = {k: v for k, v in record.items() if k != "outcome"}
    out["FunctionName"] = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    out["Outcome"] = record["outcome"]
    out["Decisions"] = 1
    out["HeldSeconds"] = record.get("held_seconds") or 0
    out["_aws"] = {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [["FunctionName", "Outcome"]],
                "Metrics": [
                    {"Name": "Decisions", "Unit": "Count"},
                    {"Name": "HeldSeconds", "Unit": "Seconds"},
                ],
            }
        ],
    }
    return out


def failsafe_emf(holds: Mapping[str, str], namespace: str, timestamp_ms: int) -> Record:
    """The invocation's fail-safe holds as one EMF line: metric `FailsafeHolds` (Count, dimension FunctionName), the
    number of instances an error kept waiting (gate.domain.decide.Decision.failsafe), with the causes and instances.

    Written every invocation while such a hold lasts, whether or not its decision record was written (an unchanged
    hold's record is de-duplicated), so an alarm on N consecutive periods above 0 needs no per-hold state."""
    causes: dict[str, int] = {}
    for cause in holds.values():
        causes[cause] = causes.get(cause, 0) + 1
    return {
        "FunctionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
        "FailsafeHolds": len(holds),
        "causes": dict(sorted(causes.items())),
        "instances": dict(sorted(holds.items())),
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": "FailsafeHolds", "Unit": "Count"}],
                }
            ],
        },
    }


class DecisionLog:
    """Writes decision records; also keeps them in memory (the simulator's table and the tests read them).

    `sink` sees every decision record, `events` every info and error line (level, event, fields); `echo=False`
    writes no line at all (the benchmarks count thousands of decisions a simulated day: a line each would time the
    terminal)."""

    def __init__(
        self,
        namespace: str = "AsgTerminationGate",
        sink: Callable[[Record], None] | None = None,
        keep: int = 10_000,
        *,
        echo: bool = True,
        events: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.namespace = namespace
        self.sink = sink
        self.echo = echo
        self.events = events
        self.records: list[Record] = []
        self.failsafe_lines: list[Record] = []  # every FailsafeHolds line written (the tests read them)
        self.keep = keep
        self._log = structlog.get_logger("gate")

    def decision(self, record: Record, now: float) -> None:
        record = redact_value(record)
        self.records.append(record)
        if len(self.records) > self.keep:
            del self.records[: len(self.records) - self.keep]
        if self.sink is not None:
            self.sink(record)
        if not self.echo:
            return
        level = "error" if record["outcome"] == "error" else "info"
        getattr(self._log, level)("decision", **emf(record, self.namespace, int(now * 1000)))

    def failsafe_holds(self, holds: Mapping[str, str], now: float) -> None:
        """{instance: cause} of this invocation's fail-safe holds; nothing is written when there are none (the
        alarm treats a missing period as fine)."""
        if not holds:
            return
        line = failsafe_emf(holds, self.namespace, int(now * 1000))
        self.failsafe_lines.append(line)
        if len(self.failsafe_lines) > self.keep:
            del self.failsafe_lines[: len(self.failsafe_lines) - self.keep]
        if self.echo:
            self._log.warning("failsafe_holds", **line)

    def info(self, event: str, **fields: Any) -> None:
        if self.events is not None:
            self.events("info", event, fields)
        if self.echo:
            self._log.info(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        if self.events is not None:
            self.events("error", event, fields)
        if self.echo:
            self._log.error(event, **fields)
