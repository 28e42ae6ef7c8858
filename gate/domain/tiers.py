"""Priority tiers, pure: which max hold and forced result apply to a held instance, from its running jobs' metadata.

Tiers are ordered; a job takes the first tier whose patterns all match its metadata (shell-style globs, compared
without case: Azure DevOps names are case-insensitive). An instance running several jobs takes the strictest of their
tiers: the longest hold, and ABANDON (retain) over CONTINUE. A job the gate cannot place for sure takes the strictest
tier it might be in, and never less than the default tier (the settings' max hold and forced result, today's
behaviour):
  * a job whose metadata lacks a field some tier matches on is undecided for that tier: it counts with that tier and
    with the default, and matching goes on down the list;
  * a job that said nothing at all, and an instance whose jobs cannot all be seen (agent list failed, an agent
    missing, its busy field unknown), which counts as one such job beside those it can see: every tier with
    patterns is undecided for it, and the default always counts;
  * an instance running no job at all takes the default (the normal rules release it once idle).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import get_args

from gate.domain.actions import Result
from gate.domain.model import JobMeta

DEFAULT = "default"  # the built-in tier: the settings' max hold and forced result
# The metadata fields a tier may match on (JobMeta's), in the order records and docs list them.
FIELDS = ("pipeline", "plan_type", "branch", "stage", "job", "demands", "labels")
MAX_TIERS = 20
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: its name (in every decision record), max hold and forced result, and the patterns a job's metadata
    must match (field -> globs; any glob matching counts; a field not listed matches anything)."""

    name: str
    max_hold_seconds: float
    forced_result: Result
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def retains(self) -> bool:
        return self.forced_result == "ABANDON"


def default_tier(max_hold_seconds: float, forced_result: Result) -> Tier:
    return Tier(DEFAULT, max_hold_seconds, forced_result)


def _value_matches(value: str | tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    values = (value,) if isinstance(value, str) else value
    return any(fnmatchcase(v.casefold(), p.casefold()) for v in values for p in patterns)


def matches(tier: Tier, job: JobMeta | None) -> bool | None:
    """True: the job is in this tier; False: it is not (a known field fails); None: undecided (every known field
    matches, but a field the tier needs is unknown). A tier without patterns matches every job, known or not."""
    undecided = False
    for name, patterns in tier.match:
        value = getattr(job, name) if job is not None else None
        if value is None:
            undecided = True
        elif not _value_matches(value, patterns):
            return False
    return None if undecided else True


def tiers_for(tiers: Sequence[Tier], default: Tier, job: JobMeta | None) -> list[Tier]:
    """The tiers one job may be in: the first that matches, every undecided one before it, and the default when
    anything was undecided, nothing matched, or the job said nothing at all (None: even a tier without patterns,
    which takes every job that reaches it, does not take it below the default)."""
    found: list[Tier] = []
    for tier in tiers:
        verdict = matches(tier, job)
        if verdict is True:
            return [*found, tier, *([default] if found or job is None else [])]
        if verdict is None:
            found.append(tier)
    return [*found, default]


def strictest(candidates: Iterable[Tier]) -> Tier:
    """The longest hold, and ABANDON if any retains. When one candidate has both, it is the tier that applied;
    otherwise a combined tier named after them all ("release+default")."""
    pool = list(candidates)
    if not pool:
        raise ValueError("no tier to choose from")
    hold = max(t.max_hold_seconds for t in pool)
    retains = any(t.retains for t in pool)
    for tier in pool:
        if tier.max_hold_seconds == hold and tier.retains == retains:
            return tier
    names = list(dict.fromkeys(t.name for t in pool))
    return Tier("+".join(names), hold, "ABANDON" if retains else "CONTINUE")


def resolve(tiers: Sequence[Tier], default: Tier, jobs: Sequence[JobMeta | None], complete: bool) -> Tier:
    """The tier for an instance running `jobs` (None: a job whose metadata was not said). `complete`: every job
    running there is in `jobs`; if not, a job that said nothing joins them. No job at all: the default."""
    if not tiers:
        return default
    if not complete:
        jobs = [*jobs, None]
    candidates = [t for job in jobs for t in tiers_for(tiers, default, job)]
    return strictest(candidates or [default])


# -- configuration: GATE_TIERS (gate.settings), Terraform's `tiers` --------------------------------------------
def parse_tiers(raw: object, hold_range: tuple[float, float]) -> tuple[Tier, ...]:
    """A JSON list of tiers as GATE_TIERS and Terraform give it: [{"name", "max_hold_seconds", "forced_result",
    "pipeline": [globs], "plan_type", "branch", "stage", "job", "demands", "labels"}]. ValueError with one line naming
    the tier and what is wrong. Unknown keys are refused: a misspelled field would otherwise match every job.
    `hold_range`: the max hold's bounds, as the settings define them (GATE_MAX_HOLD_SECONDS's)."""
    if not isinstance(raw, list):
        raise ValueError('must be a JSON list such as [{"name": "pr", "max_hold_seconds": 1800, ...}]')
    if len(raw) > MAX_TIERS:
        raise ValueError(f"at most {MAX_TIERS} tiers")
    tiers: list[Tier] = []
    for i, item in enumerate(raw):
        tier = _parse_tier(item, i, hold_range)
        if tier.name in {t.name for t in tiers} | {DEFAULT}:
            raise ValueError(f"tier {i} ({tier.name}): the name is taken (names are unique; {DEFAULT!r} is built in)")
        tiers.append(tier)
    return tuple(tiers)


def _parse_tier(item: object, i: int, hold_range: tuple[float, float]) -> Tier:
    if not isinstance(item, Mapping):
        raise ValueError(f"tier {i}: must be an object with name, max_hold_seconds and forced_result")
    name = item.get("name")
    where = f"tier {i} ({name})" if isinstance(name, str) else f"tier {i}"
    unknown = sorted(set(map(str, item)) - {"name", "max_hold_seconds", "forced_result", *FIELDS})
    if unknown:
        known = ", ".join(("name", "max_hold_seconds", "forced_result", *FIELDS))
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{where}: name must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    hold = item.get("max_hold_seconds")
    low, high = hold_range
    if isinstance(hold, bool) or not isinstance(hold, int | float) or not low <= hold <= high:
        raise ValueError(f"{where}: max_hold_seconds must be a number >= {low:.0f} and <= {high:.0f}")
    result = item.get("forced_result")
    if result not in get_args(Result):
        raise ValueError(f"{where}: forced_result must be CONTINUE or ABANDON")
    match: list[tuple[str, tuple[str, ...]]] = []
    for field in FIELDS:
        patterns = item.get(field)
        if patterns is None or patterns == []:
            continue
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p.strip() for p in patterns):
            raise ValueError(f"{where}: {field} must be a list of non-empty glob patterns")
        if len(patterns) > MAX_PATTERNS or any(len(p) > MAX_PATTERN_LENGTH for p in patterns):
            raise ValueError(f"{where}: {field}: at most {MAX_PATTERNS} patterns of {MAX_PATTERN_LENGTH} characters")
        match.append((field, tuple(p.strip() for p in patterns)))
    return Tier(name, float(hold), result, tuple(match))  # type: ignore[arg-type]  # checked against Result above
