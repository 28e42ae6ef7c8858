"""A day of CI builds, seeded: the same arrivals and durations are replayed against every strategy.

Arrivals are a non-homogeneous Poisson process (thinning) with a working-day profile: a quiet night at
`night_fraction` of the peak rate, a morning and an afternoon peak. Durations are log-normal (median
`median_build_minutes`, shape `build_sigma`) clipped to [2 min, 2 h], the long-tailed shape of CI job times.
The peak rate is derived from the group size, so a 20-instance test fleet is as busy as a 200-instance one.

Each build also says what it is (its pipeline, for the priority tiers): a release pipeline's job (`release_share`), a
pull-request validation (`pr_share`) or a main-branch CI build (the rest), drawn from a stream of its own so the
arrivals and durations are the same whatever the shares.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY = 86_400.0
# Simulated wall-clock origin: a midnight UTC, so hours of the day and the gate's ISO tags read naturally.
EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    capacity: int = 200  # agents the group can hold at most (instances x agents per instance)
    hours: float = 24.0
    start_hour: float = 0.0
    seed: int = 7
    peak_utilisation: float = 0.8  # mean busy agents at the peak / capacity
    night_fraction: float = 0.08  # arrival rate at night relative to the peak
    median_build_minutes: float = 12.0
    build_sigma: float = 0.85
    min_build_minutes: float = 2.0
    max_build_minutes: float = 120.0
    release_share: float = 0.1  # builds of a release pipeline
    pr_share: float = 0.4  # pull-request validations


# What a build is, and the pipeline it runs in (the job metadata a priority tier matches, gate.domain.tiers).
KINDS = ("release", "pr", "ci")
PIPELINES = {"release": "app-release", "pr": "app-pr", "ci": "app-ci"}


@dataclass(frozen=True, slots=True)
class BuildSpec:
    id: int
    arrival: float  # absolute simulated time
    duration: float  # seconds
    kind: str = "ci"  # one of KINDS

    @property
    def pipeline(self) -> str:
        return PIPELINES[self.kind]


def profile(hour_of_day: float, night_fraction: float) -> float:
    """Relative arrival rate in [night_fraction, 1]: peaks around 10:30 and 15:00, quiet from 20:00 to 07:00."""
    h = hour_of_day % 24.0
    morning = math.exp(-(((h - 10.5) / 1.8) ** 2))
    afternoon = math.exp(-(((h - 15.0) / 2.3) ** 2))
    return night_fraction + (1.0 - night_fraction) * min(1.0, max(morning, afternoon))


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def mean_duration(cfg: WorkloadConfig) -> float:
    """Mean of the clipped log-normal, in closed form (so the peak rate does not depend on sampling noise)."""
    mu, s = math.log(cfg.median_build_minutes * 60), cfg.build_sigma
    a, b = cfg.min_build_minutes * 60, cfg.max_build_minutes * 60
    inner = math.exp(mu + s * s / 2) * (_phi((math.log(b) - mu - s * s) / s) - _phi((math.log(a) - mu - s * s) / s))
    return inner + a * _phi((math.log(a) - mu) / s) + b * (1 - _phi((math.log(b) - mu) / s))


def peak_rate(cfg: WorkloadConfig) -> float:
    """Builds per second at the peak: Little's law, busy = rate x mean duration."""
    return cfg.peak_utilisation * cfg.capacity / mean_duration(cfg)


def generate(cfg: WorkloadConfig) -> list[BuildSpec]:
    rng = random.Random(f"workload:{cfg.seed}")
    kinds = random.Random(f"kinds:{cfg.seed}")  # its own stream: the shares change nothing else about the day
    start = EPOCH + cfg.start_hour * 3600
    end = start + cfg.hours * 3600
    lam = peak_rate(cfg)
    mu, s = math.log(cfg.median_build_minutes * 60), cfg.build_sigma
    lo, hi = cfg.min_build_minutes * 60, cfg.max_build_minutes * 60
    builds: list[BuildSpec] = []
    t = start
    while True:
        t += rng.expovariate(lam)
        if t >= end:
            return builds
        accept = rng.random() < profile((t - EPOCH) / 3600, cfg.night_fraction)
        duration = min(hi, max(lo, rng.lognormvariate(mu, s)))  # drawn either way: streams stay aligned
        if accept:
            builds.append(BuildSpec(len(builds) + 1, t, duration, _kind(kinds.random(), cfg)))


def _kind(draw: float, cfg: WorkloadConfig) -> str:
    if draw < cfg.release_share:
        return "release"
    return "pr" if draw < cfg.release_share + cfg.pr_share else "ci"
