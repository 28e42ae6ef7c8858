"""Optional webhook (GATE_WEBHOOK_URL) for the decisions a human should see: `forced`, `error`, and holds longer
than GATE_HOLD_NOTIFY_SECONDS.

A webhook never blocks or changes a decision: it is sent after the decision was carried out, with a short timeout
(GATE_WEBHOOK_TIMEOUT_SECONDS), no retries, and failures are logged. After a failure the webhook rests for
`BREAKER_SECONDS`, so a hanging or failing receiver costs one timeout per minute at most, not one per decision.

Dedupe:
* long hold: once per instance per hold. The instance tag `gate:hold-notified` records the hold it was sent for
  (its start, from the `gate:hold` tag), so a cold start or another concurrent Lambda container does not send it again;
  each container also remembers it in memory (no second DescribeInstances). Two invocations crossing the threshold
  in the very same second could both send: a rare duplicate, never a missed notification.
* forced / error: in memory, at most once per (instance, outcome) per `COOLDOWN_SECONDS` per container: a
  persistent error (say, Auto Scaling unreachable every tick) must not page every minute. They are in the logs and
  the `Decisions{Outcome}` metric regardless.

Bodies: `slack` -> {"text": "..."}; `json` -> {"text", "outcome", "kind", "group", "instance", "hook", "reason",
"held_seconds", "agents"}. Every body passes through the redactor: the PAT / token never leave the gate; the URL
itself is registered as a secret (webhook URLs embed their credential) and never logged.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from gate.adapters.logs import DecisionLog, Record
from gate.domain.clock import Clock, SystemClock
from gate.domain.redact import redact, redact_value, register_secret
from gate.domain.timestamps import format_ts

HOLD_NOTIFIED_TAG = "gate:hold-notified"
COOLDOWN_SECONDS = 900.0
BREAKER_SECONDS = 60.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Notifier:
    def __init__(
        self,
        url: str,
        *,
        fmt: str = "slack",
        timeout: float = 3.0,
        hold_after: float = 3600.0,
        aws: Any = None,
        clock: Clock | None = None,
        log: DecisionLog | None = None,
    ) -> None:
        register_secret(url)
        self.url = url
        self.fmt = fmt
        self.timeout = (min(2.0, timeout), timeout)
        self.hold_after = hold_after
        self.aws = aws
        self.clock = clock or SystemClock()
        self.log = log or DecisionLog()
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/json", "User-Agent": "asg-termination-gate"})
        self.sent: list[dict[str, Any]] = []  # what was delivered (tests, the simulator)
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._holds: set[tuple[str, str]] = set()
        self._down_until = 0.0

    # -- what deserves a notification -------------------------------------------------------------------------
    def on_record(self, record: Record, held_since: float | None = None) -> None:
        """Called for every decision record, after it was carried out. Never raises."""
        try:
            self._on_record(record, held_since)
        except Exception as exc:  # a notification problem must never reach the decision path
            self.log.error("webhook_failed", error=redact(f"{type(exc).__name__}: {exc}"))

    def _on_record(self, record: Record, held_since: float | None) -> None:
        outcome = record.get("outcome")
        instance = str(record.get("instance") or "-")
        if outcome in ("forced", "error"):
            key = (instance, str(outcome))
            now = self.clock.now()
            with self._lock:
                last = self._last.get(key)
                if last is not None and now - last < COOLDOWN_SECONDS:
                    return
                self._last[key] = now
            self.send(str(outcome), record)
            return
        held = record.get("held_seconds")
        if outcome != "held" or held is None or held < self.hold_after or held_since is None:
            return
        hold = (instance, format_ts(held_since))
        with self._lock:
            if hold in self._holds:
                return
        if self._tag_says_sent(instance, hold[1]):
            with self._lock:
                self._holds.add(hold)
            return
        if self.send("long_hold", record):
            with self._lock:
                self._holds.add(hold)
            self._mark_sent(instance, hold[1])

    def _tag_says_sent(self, instance: str, hold: str) -> bool:
        if self.aws is None:
            return False
        try:
            resp = self.aws.ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance]}])
        except Exception as exc:
            self.log.error("webhook_dedupe_read_failed", instance=instance, error=str(exc))
            return False  # rather a duplicate than a missed long hold
        for reservation in resp.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                for tag in inst.get("Tags", []):
                    if tag["Key"] == HOLD_NOTIFIED_TAG and tag["Value"] == hold:
                        return True
        return False

    def _mark_sent(self, instance: str, hold: str) -> None:
        if self.aws is None:
            return
        try:
            self.aws.tag(instance, HOLD_NOTIFIED_TAG, hold)
        except Exception as exc:
            self.log.error("webhook_dedupe_write_failed", instance=instance, error=str(exc))

    # -- delivery ---------------------------------------------------------------------------------------------
    def text(self, kind: str, record: Record) -> str:
        where = f"instance {record.get('instance') or '-'} of group {record.get('group') or '-'}"
        held = record.get("held_seconds")
        held_text = f" after {_duration(held)}" if isinstance(held, (int, float)) else ""
        if kind == "long_hold":
            head = f"holding {where} for {_duration(held or 0)}"
        elif kind == "forced":
            head = f"FORCED release of {where}{held_text} (max hold reached)"
        else:
            head = f"ERROR on {where}"
        return f"[asg-termination-gate] {head}: {record.get('reason', '')}"

    def body(self, kind: str, record: Record) -> dict[str, Any]:
        text = self.text(kind, record)
        if self.fmt == "slack":
            return {"text": text}
        return {
            "text": text,
            "kind": kind,
            "outcome": record.get("outcome"),
            "group": record.get("group"),
            "instance": record.get("instance"),
            "hook": record.get("hook"),
            "reason": record.get("reason"),
            "held_seconds": record.get("held_seconds"),
            "agents": [a.get("name") for a in record.get("agents", []) if isinstance(a, dict)],
        }

    def send(self, kind: str, record: Record) -> bool:
        now = self.clock.now()
        with self._lock:
            if now < self._down_until:
                self.log.info("webhook_skipped", kind=kind, instance=record.get("instance"), reason="resting")
                return False
        body = redact_value(self.body(kind, record))
        try:
            resp = self.session.post(
                self.url, data=json.dumps(body), timeout=self.timeout, allow_redirects=False, verify=True
            )
            ok = 200 <= resp.status_code < 300
            problem = None if ok else f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            ok, problem = False, type(exc).__name__  # the exception text carries the URL: keep only its type
        if not ok:
            with self._lock:
                self._down_until = self.clock.now() + BREAKER_SECONDS
            self.log.error("webhook_failed", kind=kind, instance=record.get("instance"), error=problem)
            return False
        with self._lock:
            self.sent.append(body)
        self.log.info("webhook_sent", kind=kind, instance=record.get("instance"))
        return True
