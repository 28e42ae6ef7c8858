"""The fleet simulation's fault model: what goes wrong, when, applied the same way to every strategy.

A `Faults` value is a list of ordinary production troubles with the hours of the simulated day they cover. The
world (bench/fleet.py) asks it at each call: is Azure DevOps down now, how slow is it, is this Auto Scaling
call throttled, is this event lost. A strategy meets a fault only through a part it really has: the gate and the
protection sidecar read the Azure DevOps REST API (latency, outages, the busy-flag lag), a drain-on-signal daemon
reads its own agent process (none of those), every hooked strategy waits for a lifecycle notification (lost events).
The windows sit over the afternoon scale-in (16:00 to 17:00 of the simulated day), when most instances are chosen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Window:
    """Hours of the simulated day, [start, start + hours)."""

    start_h: float
    hours: float

    def contains(self, hour_of_day: float) -> bool:
        return self.start_h <= hour_of_day % 24.0 < self.start_h + self.hours

    def label(self) -> str:
        end = self.start_h + self.hours
        return f"{int(self.start_h):02d}:{int(self.start_h % 1 * 60):02d}-{int(end):02d}:{int(end % 1 * 60):02d}"


@dataclass(frozen=True, slots=True)
class Faults:
    """Every knob at its fair-weather value unless set. Seconds unless named otherwise."""

    name: str = "fair weather"
    azure_latency_s: float = 0.0  # added to every Azure DevOps REST call inside `azure_latency_window`
    azure_latency_window: Window | None = None  # None with a latency: all day
    azure_outage: Window | None = None  # every Azure DevOps REST call fails (HTTP 503)
    busy_lag_s: float = 0.0  # a new assignment is invisible in the agent list and the job requests for this long
    lost_event_fraction: float = 0.0  # lifecycle notifications never delivered (EventBridge / SNS), seeded
    gate_outage: Window | None = None  # the gate's function does not run at all: no tick, events dropped
    aws_throttle: Window | None = None  # Auto Scaling answers Throttling to `aws_throttle_fraction` of attempts
    aws_throttle_fraction: float = 0.0

    def latency(self, hour_of_day: float) -> float:
        if not self.azure_latency_s:
            return 0.0
        window = self.azure_latency_window
        return self.azure_latency_s if window is None or window.contains(hour_of_day) else 0.0

    def azure_down(self, hour_of_day: float) -> bool:
        return self.azure_outage is not None and self.azure_outage.contains(hour_of_day)

    def gate_down(self, hour_of_day: float) -> bool:
        return self.gate_outage is not None and self.gate_outage.contains(hour_of_day)

    def throttled(self, hour_of_day: float, rng: random.Random) -> bool:
        """One attempt of one Auto Scaling call: throttled or not."""
        if self.aws_throttle is None or not self.aws_throttle.contains(hour_of_day):
            return False
        return rng.random() < self.aws_throttle_fraction

    def lost(self, rng: random.Random) -> bool:
        return self.lost_event_fraction > 0 and rng.random() < self.lost_event_fraction

    def describe(self) -> str:
        parts = []
        if self.azure_latency_s:
            where = self.azure_latency_window.label() if self.azure_latency_window else "all day"
            parts.append(f"Azure DevOps {self.azure_latency_s:g} s per call ({where})")
        if self.azure_outage:
            parts.append(f"Azure DevOps down {self.azure_outage.label()}")
        if self.busy_lag_s:
            parts.append(f"busy flag lags {self.busy_lag_s:g} s")
        if self.lost_event_fraction:
            parts.append(f"{self.lost_event_fraction:.0%} of lifecycle notifications lost")
        if self.gate_outage:
            parts.append(f"gate down {self.gate_outage.label()}")
        if self.aws_throttle:
            parts.append(
                f"Auto Scaling throttles {self.aws_throttle_fraction:.0%} of attempts {self.aws_throttle.label()}"
            )
        return "; ".join(parts) or "no faults"


AFTERNOON = Window(16.0, 1.0)  # the hour with the most scale-in victims of the simulated day
FAIR = Faults()

# One fault at a time, each at a level seen in production (numbers from issues 10, 11 and 15).
SCENARIOS: tuple[Faults, ...] = (
    FAIR,
    Faults("Azure slow", azure_latency_s=10.0, azure_latency_window=AFTERNOON),
    Faults("Azure down", azure_outage=AFTERNOON),
    Faults("busy-flag lag", busy_lag_s=30.0),
    Faults("lost events", lost_event_fraction=0.25),
    Faults("gate down 30 min", gate_outage=Window(16.5, 0.5)),
    Faults("AWS throttled", aws_throttle=AFTERNOON, aws_throttle_fraction=0.8),
)


def by_name(name: str) -> Faults:
    for faults in SCENARIOS:
        if faults.name == name:
            return faults
    raise KeyError(f"no fault scenario {name!r}; choose from {[f.name for f in SCENARIOS]}")


def renamed(faults: Faults, name: str) -> Faults:
    return replace(faults, name=name)
