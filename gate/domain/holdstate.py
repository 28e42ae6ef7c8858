"""A hold's state, bound to the lifecycle action it belongs to, kept in one instance tag (`gate:hold`).

Why bound: a tag outlives the wait that wrote it (an earlier warm-pool wait, an instance put back in service, a person
editing it). Read as-is it made the next scale-in `forced` at once. So the value names its action, and a value that
names another action, or none (the old `gate:held-since` / `gate:idle-since` tags), is ignored and replaced.

The action's identity is the Auto Scaling scaling activity that terminates the instance ("Terminating EC2 instance:
i-..."): DescribeScalingActivities reports it, with its ActivityId, to both the event path and the tick, which the
lifecycle action token is not (the tick never sees the token). The tag keeps a short hash of the ActivityId.

The value, space-separated `key=value` fields (only characters EC2 tag values allow everywhere):
  v=2 a=<hash of the action> h=<held since> d=<lag bound start> k=<disables acknowledged at> x=<absent since>
  l=<first complete agent list with no agent (the unregistered grace's start)>
  r=<when the gate decided to release this action, just before deleting its agents>
  p=1 (disables sent whose return is not recorded yet: read back so, the lag bound restarts at that look)
  s=<pool:id+pool:id...> g=<absent pool:id+...> b=<indexes into s of the agents seen busy, e.g. 0.3>
  j=<index into s>.<project>.<job>[u]+... (jobs seen running, to read back by id; `u`: named no agent) or j=- (lost)
Timestamps are ISO 8601 UTC (readable in the console); a timestamp in the future counts as now. Every timestamp is
on the gate's clock except `k=`, which is on the agent system's clock (see HoldState.confirmed_at).

Tags are a cache of the gate's memory, never the only copy of a bound ("facts over our own state"): the hold's
start comes from the scaling activity's StartTime (AWS keeps it: `ActionId.started`), and each container keeps its
own copy of every hold's state (`Memory`), used when the tag is missing or older, e.g. when CreateTags is denied.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from gate.domain.timestamps import format_ts, parse_ts

HOLD_TAG = "gate:hold"
LEGACY_TAGS = ("gate:held-since", "gate:idle-since")  # written by earlier versions, bound to no action
# Every gate:* tag that belongs to a hold. `gate:protected` is protection's, set on InService instances: not ours.
HOLD_TAGS = (HOLD_TAG, *LEGACY_TAGS)
TAG_VALUE_MAX = 256  # EC2 tag value limit
VERSION = "2"
# Status codes of a scaling activity that has ended: its instance no longer waits on a hook for it.
FINAL_STATUSES = frozenset({"Successful", "Failed", "Cancelled"})
_INSTANCE_ID = re.compile(r"(?<![0-9a-z])i-[0-9a-f]{8,17}(?![0-9a-z])")


def instance_ids_in(text: str) -> list[str]:
    """The instance ids a scaling activity's description names ("Terminating EC2 instance: i-...")."""
    return _INSTANCE_ID.findall(text)


AgentKey = tuple[int, int]  # (pool id, agent id)


@dataclass(frozen=True, slots=True, order=True)
class JobRef:
    """A job seen running on an agent during a hold, remembered so that its end can be read back by id when the
    agent's own job list cannot show it (GitLab: a runner that unregistered answers 404 with its jobs; a job that
    named no manager names its manager later). `attributed`: it named the agent when it was seen."""

    project_id: int
    job_id: int
    attributed: bool = True


RememberedJob = tuple[AgentKey, JobRef]


def action_hash(action_id: str) -> str:
    return hashlib.sha256(action_id.encode()).hexdigest()[:16]


class ActionId(str):
    """An ActivityId that also knows when its scaling activity started (StartTime, on AWS's clock; None: unknown).

    A str, so every caller that only needs the identity (tags, views, in-process stand-ins returning plain strings)
    is unchanged. The start is a fact AWS keeps for the action: the hold's max-hold and grace clocks run from it,
    not from a tag the gate may be unable to write. AWS's clock and the gate's (Lambda) are both NTP-synced AWS
    clocks, and the emulator serves both from one clock; a start in the future counts as now."""

    started: float | None

    def __new__(cls, value: str, started: float | None = None) -> ActionId:
        self = super().__new__(cls, value)
        self.started = started
        return self

    def __reduce__(self) -> tuple[object, ...]:
        return (ActionId, (str(self), self.started))


def action_started(action_id: str | None) -> float | None:
    """When the action's scaling activity started, if its identity carries it (ActionId)."""
    return getattr(action_id, "started", None)


@dataclass(frozen=True, slots=True)
class HoldState:
    """What the gate remembers about one hold across invocations."""

    action: str  # action_hash(ActivityId)
    held_since: float
    disabled_at: float | None = None  # the latest disable (or first sight of an already drained agent): lag bound
    seen: frozenset[AgentKey] = frozenset()  # every agent seen for the instance during this hold
    absent: frozenset[AgentKey] = frozenset()  # seen agents the agent system now says do not exist
    absent_since: float | None = None  # since when exactly `absent` has been confirmed absent
    overflow: bool = False  # too many agents to remember in one tag: never release on evidence, only max hold
    # When the agent system acknowledged the disables decided at `disabled_at`, ON THE AGENT SYSTEM'S CLOCK (the
    # last PATCH response's `Date`, rounded up; the edge stamps it): no job can be assigned to the agents after it.
    # Compared only with that system's own timestamps (a job's finishTime), never with the gate's clock. None: not
    # known (a failed PATCH or stamp, no `Date`, a skew too large or unknown, an agent seen already disabled), and
    # then only the lag bound releases.
    confirmed_at: float | None = None
    # Agents seen busy during this hold (assignedRequest, or an unfinished job request reserved by it): with the busy
    # field missing, such an agent is idle only on a job request of it seen finished (finishTime), or once absent;
    # a request that merely drops out of a list is not finished. Always a subset of `seen` (encoded as indexes).
    busy: frozenset[AgentKey] = frozenset()
    # The first look of this hold at a complete agent list (no error, every pool answered) without any agent of the
    # instance: the unregistered grace runs from here, not from the hold's start (time spent blind does not count).
    listed_since: float | None = None
    # Jobs seen running on the hold's agents (GitLab), to read back by id (`GET /projects/:id/jobs/:job_id`) when the
    # agent's own job list cannot show their end. Optional evidence: when they do not fit in the tag they are all
    # dropped and `jobs_lost` set for the rest of the hold (a partial memory would let the jobs it forgot pass as
    # ended); then only the agents' own job lists count, as before. Always for agents in `seen`.
    jobs: frozenset[RememberedJob] = frozenset()
    jobs_lost: bool = False
    # When the gate itself decided to release this action (every agent disabled and proven idle) and went on to
    # delete the agents' registrations: written before the deletes, so a completion that then fails (throttled) is
    # retried on a later look without new idle evidence, while no agent of the instance is present (decide's
    # `_complete_again`). Any agent seen present again voids it: a re-registration is judged afresh.
    released_at: float | None = None
    # Disables decided at `disabled_at` whose end is not recorded yet: a disable takes effect at the latest when its
    # PATCH returns, which may be long after the decision (a slow agent system), and a job assigned until then may
    # stay invisible for the whole lag bound. The executor clears it, moving `disabled_at` to when the disables
    # returned (the gate's clock); a hold read back still pending (a lost write, a crash) restarts the bound then.
    pending: bool = False

    def with_seen(self, keys: Iterable[AgentKey]) -> HoldState:
        return replace(self, seen=self.seen | frozenset(keys))

    def disabled(self, now: float) -> HoldState:
        """A new disable (or a new agent) at `now`: the lag bound restarts, any acknowledgement is void, and the
        disables are pending until the executor records when they returned."""
        return replace(self, disabled_at=now, confirmed_at=None, pending=True)

    def settled(self, returned: float) -> HoldState:
        """The disables returned at `returned` (the gate's clock): the lag bound runs from then."""
        disabled_at = returned if self.disabled_at is None else max(self.disabled_at, returned)
        return replace(self, disabled_at=disabled_at, pending=False)


def _keys(text: str) -> frozenset[AgentKey]:
    out: set[AgentKey] = set()
    for part in text.split("+"):
        pool, _, agent = part.partition(":")
        if pool.isdigit() and agent.isdigit():
            out.add((int(pool), int(agent)))
    return frozenset(out)


def _fmt_keys(keys: Iterable[AgentKey]) -> str:
    return "+".join(f"{p}:{a}" for p, a in sorted(keys))


def _fields(state: HoldState) -> tuple[list[str], list[str]]:
    head = [f"v={VERSION}", f"a={state.action}", f"h={format_ts(state.held_since)}"]
    if state.disabled_at is not None:
        head.append(f"d={format_ts(state.disabled_at)}")
    if state.confirmed_at is not None:
        head.append(f"k={format_ts(state.confirmed_at)}")
    if state.absent_since is not None:
        head.append(f"x={format_ts(state.absent_since)}")
    if state.listed_since is not None:
        head.append(f"l={format_ts(state.listed_since)}")
    if state.released_at is not None:
        head.append(f"r={format_ts(state.released_at)}")
    if state.pending:
        head.append("p=1")
    tail = [f"s={_fmt_keys(state.seen)}"] if state.seen else []
    if state.absent:
        tail.append(f"g={_fmt_keys(state.absent)}")
    order = sorted(state.seen)
    busy = [str(i) for i, key in enumerate(order) if key in state.busy]
    if busy:
        tail.append(f"b={'.'.join(busy)}")
    index = {key: i for i, key in enumerate(order)}
    if state.jobs_lost or any(key not in index for key, _ in state.jobs):  # never a partial memory
        tail.append("j=-")
    elif state.jobs:
        refs = sorted((index[key], ref) for key, ref in state.jobs)
        tail.append("j=" + "+".join(f"{i}.{r.project_id}.{r.job_id}{'' if r.attributed else 'u'}" for i, r in refs))
    return head, tail


def _busy_keys(text: str, seen: frozenset[AgentKey]) -> frozenset[AgentKey]:
    order = sorted(seen)
    return frozenset(order[int(i)] for i in text.split(".") if i.isdigit() and int(i) < len(order))


def _job_keys(text: str, seen: frozenset[AgentKey]) -> tuple[frozenset[RememberedJob], bool]:
    """The remembered jobs, and whether they are lost (`j=-`, or a part that does not parse: never a partial set)."""
    if not text:
        return frozenset(), False
    order = sorted(seen)
    out: set[RememberedJob] = set()
    for part in text.split("+"):
        index, _, rest = part.partition(".")
        project, _, job = rest.partition(".")
        attributed = not job.endswith("u")
        job = job.removesuffix("u")
        if not (index.isdigit() and project.isdigit() and job.isdigit()) or int(index) >= len(order):
            return frozenset(), True
        out.add((order[int(index)], JobRef(int(project), int(job), attributed)))
    return frozenset(out), False


def remembered(state: HoldState | None, key: AgentKey) -> tuple[JobRef, ...]:
    """The jobs remembered for one agent of the hold (none when they were lost)."""
    if state is None or state.jobs_lost:
        return ()
    return tuple(sorted(ref for k, ref in state.jobs if k == key))


def shrink(state: HoldState) -> HoldState:
    """The state as it can be kept in one tag: whole; else with its remembered jobs dropped (`j=-`: optional
    evidence, lost for the rest of the hold); else overflowed (never released on evidence, only by max hold)."""
    if fits(state):
        return state
    if state.jobs:
        lost = replace(state, jobs=frozenset(), jobs_lost=True)
        if fits(lost):
            return lost
        state = lost
    return replace(state, overflow=True)


def fits(state: HoldState) -> bool:
    """Whether the whole state fits in one tag value (else encode marks it `overflow` and drops the agents)."""
    head, tail = _fields(state)
    return not state.overflow and len(" ".join(head + tail)) <= TAG_VALUE_MAX


def encode(state: HoldState) -> str:
    """The tag value; when the agents do not fit in 256 characters the hold is marked `overflow` (fail safe). The
    acknowledgement (`k=`) is optional evidence: it goes first, so a stamp never turns a fitting hold into overflow."""
    head, tail = _fields(state)
    if fits(state):
        return " ".join(head + tail)
    if state.confirmed_at is not None and fits(_without_stamp(state)):
        return encode(_without_stamp(state))
    if state.jobs and not state.overflow:  # remembered jobs next: optional evidence too (`shrink`)
        lost = shrink(_without_stamp(state))
        if not lost.overflow:
            return encode(lost)
    return " ".join([*head, "o=1"])


def decode(value: str | None) -> HoldState | None:
    """None for an empty, garbled or foreign-version value."""
    if not value:
        return None
    fields = dict(part.partition("=")[::2] for part in value.split())
    held = parse_ts(fields.get("h"))
    if fields.get("v") != VERSION or not fields.get("a") or held is None:
        return None
    seen = _keys(fields.get("s", ""))
    jobs, jobs_lost = _job_keys(fields.get("j", ""), seen)
    return HoldState(
        action=fields["a"],
        held_since=held,
        disabled_at=parse_ts(fields.get("d")),
        confirmed_at=parse_ts(fields.get("k")),
        seen=seen,
        absent=_keys(fields.get("g", "")),
        absent_since=parse_ts(fields.get("x")),
        overflow=fields.get("o") == "1",
        busy=_busy_keys(fields.get("b", ""), seen),
        jobs=jobs,
        jobs_lost=jobs_lost,
        listed_since=parse_ts(fields.get("l")),
        released_at=parse_ts(fields.get("r")),
        pending=fields.get("p") == "1",
    )


def _without_stamp(state: HoldState) -> HoldState:
    return replace(state, confirmed_at=None)


def _not_future(ts: float | None, now: float) -> float | None:
    return None if ts is None else min(ts, now)


def load(tags: Mapping[str, str], action_id: str | None, now: float) -> HoldState | None:
    """The hold state for this action, or None (no tag, or a tag from another action: ignored, to be replaced).
    Timestamps in the future count as now (a clock skew or an edit must not disable max hold); an acknowledgement in
    the future, or before its disable, is no evidence and is dropped."""
    if action_id is None:
        return None
    state = decode(tags.get(HOLD_TAG))
    if state is None or state.action != action_hash(action_id):
        return None
    return replace(
        state,
        held_since=min(state.held_since, now),
        disabled_at=_not_future(state.disabled_at, now),
        absent_since=_not_future(state.absent_since, now),
        listed_since=_not_future(state.listed_since, now),
        released_at=_not_future(state.released_at, now),
    )


def stale_keys(tags: Mapping[str, str]) -> list[str]:
    """The hold tags with a value: what to clear when the hold ends or the instance is seen in service."""
    return [key for key in HOLD_TAGS if tags.get(key)]


def bound_held_since(tags: Mapping[str, str], action_id: str | None) -> float | None:
    """When this action's hold began, for views and records (None when no tag belongs to the action)."""
    state = load(tags, action_id, float("inf"))
    return state.held_since if state else None


# -- the gate's memory in this container (edge) -----------------------------------------------------------------


class Memory:
    """This container's copy of every hold's tag value, keyed by action hash: tags are a cache, not the only copy.

    When CreateTags is denied (IAM) or fails, the tag stays missing or old and every invocation would start the hold
    over: the lag bound would restart for ever and a busy instance never be released. A warm container instead keeps
    `disabled_at`, `seen`, the acknowledgement... here. The tag wins when it holds a value this container never saw
    (another container wrote it since: it is newer); memory wins when the tag is missing or holds a value this
    container has already moved past. Bounded; thread-safe (the judgment pass is concurrent)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str, frozenset[str]]] = {}  # action hash -> (value, values it superseded)

    def recall(self, tags: Mapping[str, str], action_id: str | None) -> dict[str, str]:
        """The tags to decide on: as read, with the hold tag replaced by memory's when memory is newer."""
        out = dict(tags)
        if action_id is None:
            return out
        with self._lock:
            entry = self._values.get(action_hash(action_id))
        if entry is None:
            return out
        value, older = entry
        read = tags.get(HOLD_TAG) or ""
        mine = decode(read)
        if not read or read in older or mine is None or mine.action != action_hash(action_id):
            out[HOLD_TAG] = value
        return out

    def remember(self, action_id: str | None, read: Mapping[str, str], value: str | None) -> None:
        """After a decision: `read` the tags it started from, `value` the hold tag as the gate now knows it (None or
        empty: the hold ended, forget it)."""
        if action_id is None:
            return
        key = action_hash(action_id)
        with self._lock:
            if not value:
                self._values.pop(key, None)
                return
            old_value, older = self._values.get(key, ("", frozenset()))
            superseded = {v for v in (old_value, read.get(HOLD_TAG) or "") if v and v != value}
            self._values.pop(key, None)  # re-insert: the dict's order is the eviction order
            self._values[key] = (value, frozenset(list(older | superseded)[-16:]))
            while len(self._values) > self.limit:
                self._values.pop(next(iter(self._values)))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


# -- the action's identity, from DescribeScalingActivities (edge) -------------------------------------------------
