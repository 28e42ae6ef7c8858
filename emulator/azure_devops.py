"""A fake Azure DevOps organisation that speaks the real agent-pool REST API over HTTP.

Why a real server and not mocks: the gate, the CLI simulator and Microsoft's own SDK must all talk to it
unchanged, so the wire shapes (camelCase JSON, ISO dates, error bodies, continuation tokens, 429/203
behaviour) are the contract under test. Builds run on an injected clock and are evaluated lazily on every
request or snapshot, so a `ManualClock` drives whole scenarios without background threads.

Shapes follow captures of dev.azure.com (pools/agents list, 7.x), the SDK models in
`azure.devops.v7_1.task_agent.models` and its location discovery (`OPTIONS {org}/_apis`, then
`GET {org}/_apis/ResourceAreas`). The `jobrequests` route is undocumented in the public spec; its shape
follows the SDK's `TaskAgentJobRequest` model.

Fault kind "down" resets the TCP connection (SO_LINGER 0): clients see a connection error, not a status.

What the real service does and the fake does too (docs/azure-devops.md says where each was checked):
- `api-version` in the query or the Accept header; missing on a write (PATCH/DELETE/POST/PUT) is a 400
  VssVersionNotSpecifiedException, above the server's latest a 400 VssVersionOutOfRangeException naming the latest,
  above the released version without `-preview` a 400 VssInvalidPreviewVersionException. GETs without a version are
  served at the latest released version, as practitioners report of the service.
- Invalid credentials: with `X-TFS-FedAuthRedirect: Suppress` a 401 JSON; without it a GET gets a 203 sign-in page
  (HTML) and a write a 401. Azure DevOps Server (`server="2020"`/`"2022"`) answers 401 either way.
- Server mode serves a collection at `/tfs/<collection>` with its release's API range (2020: 6.0, 2022: 7.0), and a
  PATCH without `maxParallelism` resets it to 0 there (reported against Azure DevOps Server; an agent at 0 takes no
  job); the cloud keeps it. PATCH changes `enabled` and `maxParallelism` only; an `id` that is not the URL's is 400.
- `jobrequests?agentId=` returns the requests reserved by that agent and also the unfinished ones it merely matches
  (queued, or since reserved by another agent), plus the newest `completedRequestCount` finished ones.
- Bearer tokens issued by a `FakeEntra` token endpoint (`token_issuer=`) are accepted next to the PAT.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulator.httpserver import LocalServer
from gate.domain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Json = dict[str, Any]

API_VERSION = "7.1"
# (latest version the deployment accepts, latest released version) per deployment
API_RANGES = {None: ("7.2", "7.1"), "2022": ("7.0", "7.0"), "2020": ("6.0", "6.0")}
_VERSION = re.compile(r"^(\d+)\.(\d+)(-preview(\.\d+)?)?$")
_WEBAPI_NS = "Microsoft.VisualStudio.Services.WebApi"
AGENT_VERSION = "4.255.0"
TASK_AGENT_AREA = "a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd"
BUILD_SERVICE_OWNER = "00025394-6065-48ca-87d9-7f5672854ef7"
# Faults that replace the answer (at most one per request: the first match) ...
# "pool_not_found" answers 404 TaskAgentPoolNotFoundException, as for a deleted pool: with `path_contains="pools/2/"`
# it fails one pool for good while its agents stay inspectable (failure isolation, issue 18).
# "route_not_found" answers 404 VssResourceNotFoundException, as for a route the service does not have (with
# `path_contains="jobrequests"` and count=None: the job-requests route gone for good; loud holds, issue 18).
ANSWER_FAULTS = (
    "rate_limit",
    "server_error",
    "malformed",
    "unauthorized",
    "forbidden",
    "signin",
    "down",
    "pool_not_found",
    "route_not_found",
)
# ... and faults that delay or alter a normal answer (every match applies, also on top of an answer fault):
#   slow                 sleep `delay` wall seconds, then answer
#   latency              sleep `delay` seconds of the fake's clock (ManualClock: advances it), then answer
#   endless_pages        list answers carry an `x-ms-continuationtoken` that repeats forever
#   count_mismatch       list answers whose `count` is one more than `len(value)` (the last item is dropped)
#   no_assigned_request  agent records lack `assignedRequest`, even busy ones (includeAssignedRequest ignored)
#   slow_down            200 answers carry `Retry-After` and `X-RateLimit-*` (the service's warning before 429)
#   assignment_lag       a job assigned less than `delay` seconds ago shows neither as the agent's `assignedRequest`
#                        nor in job request lists (the service's visibility lag after assignment; JUDGMENT, issue 11)
#   empty_list           list answers are `{"count": 0, "value": []}` (JUDGMENT, issue 11)
MODIFIER_FAULTS = (
    "slow",
    "latency",
    "endless_pages",
    "count_mismatch",
    "no_assigned_request",
    "slow_down",
    "assignment_lag",
    "empty_list",
)
FAULT_KINDS = ANSWER_FAULTS + MODIFIER_FAULTS
# A job whose agent stopped renewing its lock is failed when the lock (5 minutes, `lockedUntil`) runs out, with this
# message on its timeline (the service's wording; older: "The agent: X lost communication with the server ...").
LOST_AGENT_SECONDS = 300.0
LOST_AGENT_MESSAGE = (
    "We stopped hearing from agent {name}. Verify the agent machine is running and has a healthy network connection. "
    "Anything that terminates an agent process, starves it for CPU, or blocks its network access can cause this error."
)
RESULTS = ("succeeded", "succeededWithIssues", "failed", "canceled", "skipped", "abandoned")
_NS = uuid.UUID("6f1c0f9e-2d7b-4a55-9b7e-5a1d2c3e4f50")
_DT_NS = "Microsoft.TeamFoundation.DistributedTask.WebApi"
_FW_NS = "Microsoft.TeamFoundation.Framework.Server"

# (location id, area, resource, route template): what the SDK resolves before it builds any URL.
_LOCATIONS = [
    ("e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}"),
    ("a8c47e17-4d56-4a56-92bb-de7ea7dc65be", "distributedtask", "pools", "_apis/{area}/{resource}/{poolId}"),
    (
        "e298ef32-5878-4cab-993c-043836571f42",
        "distributedtask",
        "agents",
        "_apis/{area}/pools/{poolId}/{resource}/{agentId}",
    ),
    (
        "fc825784-c92a-4299-9221-998a02d1b54f",
        "distributedtask",
        "jobrequests",
        "_apis/{area}/pools/{poolId}/{resource}/{requestId}",
    ),
]

_SIGNIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>"
    '<body><form id="signin" action="https://app.vssps.visualstudio.com/_signin">Sign In</form></body></html>'
)


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


def _guid(*parts: object) -> str:
    """Deterministic GUIDs: the same entity keeps the same planId/scope across calls, as on the service."""
    return str(uuid.uuid5(_NS, ":".join(map(str, parts))))


def iso(t: float) -> str:
    """Format like the service: UTC, milliseconds with trailing zeros trimmed, `Z` suffix."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    ms = f"{dt.microsecond // 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms}" if ms else "") + "Z"


def error_body(type_key: str, message: str, ns: str = _DT_NS) -> Json:
    """The service's WrappedException JSON, which the SDK turns into `AzureDevOpsServiceError`."""
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": f"{ns}.{type_key}, {ns}",
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    }


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers=headers,
        content_type=f"application/json; charset=utf-8; api-version={API_VERSION}",
    )


def _collection(items: list[Json], headers: dict[str, str] | None = None) -> Response:
    return _json({"count": len(items), "value": items}, headers=headers)


class _Abort(Exception):
    """Carries an error response out of a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class _Pool:
    id: int
    name: str
    created_at: float


@dataclass
class _Agent:
    id: int
    pool_id: int
    name: str
    capabilities: dict[str, str]
    computer_name: str
    enabled: bool
    online: bool
    created_at: float
    status_changed_at: float
    free_since: float  # since when it could take a job: queued jobs are assigned at event times, not "now"
    max_parallelism: int = 1
    deleted_at: float | None = None
    deleted_by: str | None = None
    history: list[Json] = field(default_factory=list)


@dataclass(frozen=True)
class JobSpec:
    """A job's own metadata as its job request shows it (`definition`, `planType`, `jobName`, `demands`, and the
    stage inside `orchestrationId`); the defaults are a one-stage build pipeline named "ci"."""

    definition: str = "ci"
    definition_id: int = 1
    plan_type: str = "Build"  # "Release" for a classic release pipeline
    stage: str | None = None  # a multi-stage YAML pipeline's stage reference name
    job_name: str = "Job"
    demands: tuple[str, ...] = ()


@dataclass
class _Build:
    id: int
    pool_id: int
    duration: float
    queued_at: float
    agent_id: int | None = None
    assigned_at: float | None = None
    finished_at: float | None = None
    result: str | None = None
    matched: tuple[int, ...] = ()  # agents that could take it when it was queued (matchedAgents)
    # What the job request says about its job (priority tiers): definition name, planType, stage, jobName, demands.
    job: JobSpec = field(default_factory=lambda: JobSpec())
    lost_at: float | None = None  # its agent vanished mid-build (`lose_agent`): it fails once the job lock expires
    issues: list[str] = field(default_factory=list)  # the job's timeline issues (the agent-lost message)

    @property
    def ends_at(self) -> float:
        if self.lost_at is not None:
            return self.lost_at + LOST_AGENT_SECONDS
        return (self.assigned_at or self.queued_at) + self.duration


@dataclass
class _Fault:
    kind: str
    count: int | None
    until: float | None
    method: str | None
    path_contains: str | None
    retry_after: int
    delay: float
    status: int

    def matches(self, method: str, path: str, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.method and self.method.upper() != method:
            return False
        return not (self.path_contains and self.path_contains.lower() not in path.lower())


_URLS = Map(
    [
        Rule("/_fake/state", endpoint="fake_state", methods=["GET"]),
        Rule("/_fake/pools", endpoint="fake_pools", methods=["POST"]),
        Rule("/_fake/agents", endpoint="fake_agents", methods=["POST"]),
        Rule("/_fake/agents/<int:agent_id>", endpoint="fake_agent", methods=["POST", "DELETE"]),
        Rule("/_fake/builds", endpoint="fake_builds", methods=["POST"]),
        Rule("/_fake/builds/<int:request_id>/finish", endpoint="fake_finish", methods=["POST"]),
        Rule("/_fake/faults", endpoint="fake_faults", methods=["POST", "DELETE"]),
        Rule("/<org>/_apis", endpoint="options", methods=["OPTIONS"]),
        Rule("/<org>/_apis/resourceareas", endpoint="areas", methods=["GET"]),
        Rule("/<org>/_apis/distributedtask/pools", endpoint="pools", methods=["GET"]),
        Rule("/<org>/_apis/distributedtask/pools/<int:pool_id>", endpoint="pool", methods=["GET"]),
        Rule("/<org>/_apis/distributedtask/pools/<int:pool_id>/agents", endpoint="agents", methods=["GET"]),
        Rule(
            "/<org>/_apis/distributedtask/pools/<int:pool_id>/agents/<int:agent_id>",
            endpoint="agent",
            methods=["GET", "PATCH", "PUT", "DELETE"],  # PUT: ReplaceAgent
        ),
        Rule("/<org>/_apis/distributedtask/pools/<int:pool_id>/jobrequests", endpoint="jobrequests", methods=["GET"]),
        Rule(
            "/<org>/_apis/distributedtask/pools/<int:pool_id>/jobrequests/<int:request_id>",
            endpoint="jobrequest",
            methods=["GET"],  # GetAgentRequest
        ),
        Rule("/<org>/_apis/build/builds/<int:build_id>/timeline", endpoint="timeline", methods=["GET"]),
    ],
    strict_slashes=False,
)


class FakeAzureDevOps(LocalServer):
    """One fake organisation: pools, agents, scripted builds and injectable faults, served on 127.0.0.1.

    `calls` logs every API request ({"time" (clock), "method", "path", "query", "status"}; status 0 for a
    dropped connection), never headers, so a PAT cannot leak into test output.
    """

    thread_name = "fake-ado"

    def __init__(
        self,
        port: int = 0,
        clock: Clock | None = None,
        org: str = "fakeorg",
        pat: str | None = None,
        page_size: int = 1000,
        server: str | None = None,
        token_issuer: Any = None,
    ) -> None:
        """`server`: None for Azure DevOps Services (dev.azure.com), "2020" or "2022" for Azure DevOps Server, where
        `org` is the collection served at /tfs/<org>. `token_issuer`: an object with `valid(token) -> bool`
        (FakeEntra) whose Bearer tokens are accepted."""
        if server not in API_RANGES:
            raise ValueError(f"server must be one of {sorted(k for k in API_RANGES if k)} or None")
        self.clock: Clock = clock or SystemClock()
        self.server = server
        self.max_version, self.released_version = API_RANGES[server]
        self.path_prefix = "/tfs" if server else ""
        self.token_issuer = token_issuer
        self.org = org
        self.page_size = page_size
        self.url = ""
        self.calls: list[Json] = []
        self._port = port
        self._pat = pat
        self._lock = threading.RLock()
        self._pools: dict[int, _Pool] = {}
        self._agents: dict[int, _Agent] = {}
        self._builds: dict[int, _Build] = {}
        self._running: dict[int, _Build] = {}  # agent id -> its running build
        self._faults: list[_Fault] = []
        self._ids = {"pool": 0, "agent": 0, "build": 0}
        # Clock fault (issue 18): the service's clock runs `clock_offset` s ahead of the world's (negative: behind),
        # in every timestamp it writes (queueTime, assignTime, finishTime, ...) and in its `Date` header; `zoneless`
        # writes timestamps without their `Z` (an on-premises server's local time).
        self.clock_offset = 0.0
        self.zoneless = False
        # Clock steps (`step_service_clock`): (world time of the step, the offset in force up to it), in time order.
        # A stamp keeps the clock it was written with; `set_service_clock` rewrites the whole history.
        self._clock_steps: list[tuple[float, float]] = []
        self._after: list[tuple[str, str, Callable[[], None]]] = []  # (method, path part, action): `after`

    # -- lifecycle ---------------------------------------------------------------------------------------

    def _on_started(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}{self.path_prefix}/{self.org}"

    @property
    def base_url(self) -> str:
        """Server root (control endpoints live under `/_fake/`, outside the org)."""
        return self.url.rsplit("/", 1)[0].removesuffix(self.path_prefix)

    # -- scripting -----------------------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def set_pat(self, pat: str | None) -> None:
        """Rotate (or revoke, with a new value) the organisation's PAT: the old one is refused from now on."""
        with self._lock:
            self._pat = pat

    def add_pool(self, name: str) -> int:
        with self._lock:
            if any(p.name.lower() == name.lower() for p in self._pools.values()):
                raise ValueError(f"pool {name!r} already exists")
            pool = _Pool(self._next_id("pool"), name, self.clock.now())
            self._pools[pool.id] = pool
            return pool.id

    def rename_pool(self, pool: str | int, name: str) -> None:
        """Rename a pool (its id stays): a gate that resolves the old name no longer finds it."""
        with self._lock:
            self._pool_ref(pool).name = name

    def _pool_ref(self, pool: str | int) -> _Pool:
        found = [p for p in self._pools.values() if p.id == pool or p.name.lower() == str(pool).lower()]
        if not found:
            raise KeyError(f"unknown pool {pool!r}")
        return found[0]

    def _live_agent(self, agent_id: int) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None or agent.deleted_at is not None:
            raise KeyError(f"unknown or deleted agent {agent_id}")
        return agent

    def add_agent(
        self,
        pool: str | int,
        name: str,
        *,
        capabilities: dict[str, str] | None = None,
        computer_name: str | None = None,
        enabled: bool = True,
        online: bool = True,
    ) -> int:
        with self._lock:
            self._advance()
            p = self._pool_ref(pool)
            if any(a.pool_id == p.id and a.name.lower() == name.lower() for a in self._live_agents()):
                raise ValueError(f"agent {name!r} already exists in pool {p.name!r}")  # as the service does
            now = self.clock.now()
            caps = dict(capabilities or {})
            agent = _Agent(
                self._next_id("agent"), p.id, name, caps, computer_name or name, enabled, online, now, now, now
            )
            self._agents[agent.id] = agent
            self._assign(now)
            return agent.id

    def start_build(self, agent_id: int, duration: float, job: JobSpec | None = None) -> int:
        """Assign a job to this agent now; ValueError if deleted, disabled, offline or busy, KeyError if unknown."""
        with self._lock:
            self._advance()
            agent = self._agents[agent_id]
            problems = {
                "deleted": agent.deleted_at is not None,
                "disabled": not agent.enabled,
                "offline": not agent.online,
                "busy": agent.id in self._running,
            }
            if any(problems.values()):
                raise ValueError(f"agent {agent_id} is {', '.join(k for k, v in problems.items() if v)}")
            now = self.clock.now()
            build = _Build(self._next_id("build"), agent.pool_id, duration, now, agent.id, now, job=job or JobSpec())
            self._builds[build.id] = self._running[agent.id] = build
            return build.id

    def queue_build(self, pool: str | int, duration: float, job: JobSpec | None = None) -> int:
        """Queue a job for the pool; the first enabled, online, idle agent takes it (FIFO)."""
        with self._lock:
            self._advance()
            now = self.clock.now()
            pool_id = self._pool_ref(pool).id
            matched = tuple(a.id for a in self._live_agents() if a.pool_id == pool_id)
            build = _Build(self._next_id("build"), pool_id, duration, now, matched=matched, job=job or JobSpec())
            self._builds[build.id] = build
            self._assign(now)
            return build.id

    def finish_build(self, request_id: int, result: str = "succeeded") -> None:
        if result not in RESULTS:
            raise ValueError(f"result must be one of {RESULTS}")
        with self._lock:
            self._advance()
            build = self._builds[request_id]
            if build.finished_at is None:
                now = self.clock.now()
                self._finish(build, now, result)
                self._assign(now)

    def set_online(self, agent_id: int, online: bool) -> None:
        """Connectivity only: a running build keeps running (the service waits out the job lock)."""
        with self._lock:
            self._advance()
            agent = self._live_agent(agent_id)
            if agent.online != online:
                now = self.clock.now()
                agent.online, agent.status_changed_at = online, now
                if online:
                    agent.free_since = now
                    self._assign(now)

    def set_enabled(self, agent_id: int, enabled: bool) -> None:
        with self._lock:
            self._advance()
            self._set_enabled(self._live_agent(agent_id), enabled, "script")

    def remove_agent(self, agent_id: int) -> None:
        """The agent vanishes outside the API (instance gone, registration purged)."""
        with self._lock:
            self._advance()
            self._delete(self._live_agent(agent_id), "script")

    def lose_agent(self, agent_id: int) -> None:
        """The agent's machine is gone (terminated mid-build): it goes offline, and its running job fails with the
        agent-lost message once the job lock expires, as the service does. The registration stays (offline)."""
        with self._lock:
            self._advance()
            agent = self._live_agent(agent_id)
            now = self.clock.now()
            agent.online, agent.status_changed_at = False, now
            build = self._running.get(agent.id)
            if build is not None and build.lost_at is None:
                build.lost_at = now
                build.issues.append(LOST_AGENT_MESSAGE.format(name=agent.name))

    def agent(self, agent_id: int) -> Json | None:
        with self._lock:
            self._advance()
            agent = self._agents.get(agent_id)
            return None if agent is None else self._agent_snapshot(agent)

    def build(self, request_id: int) -> Json:
        with self._lock:
            self._advance()
            return self._build_snapshot(self._builds[request_id])

    def builds(self) -> list[Json]:
        with self._lock:
            self._advance()
            return [self._build_snapshot(b) for b in self._builds.values()]

    def state(self) -> Json:
        with self._lock:
            self._advance()
            return {
                "now": self.clock.now(),
                "pools": [{"id": p.id, "name": p.name} for p in self._pools.values()],
                "agents": [self._agent_snapshot(a) for a in self._agents.values()],
                "builds": [self._build_snapshot(b) for b in self._builds.values()],
            }

    def inject(
        self,
        kind: str,
        *,
        count: int | None = 1,
        seconds: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: int = 2,
        delay: float = 1.0,
        status: int = 500,
    ) -> None:
        """Fail the next `count` matching API requests (None: until cleared), or all for `seconds` of clock time.

        With `seconds`, `count` is ignored. `status` applies to "server_error" (500-599). "slow" sleeps
        `delay` wall seconds and then answers normally, "latency" sleeps `delay` on the fake's clock; "down" resets
        the connection. See MODIFIER_FAULTS for the faults that alter a normal answer; `retry_after` and `delay`
        also shape "slow_down" (Retry-After and X-RateLimit-Delay on a 200). Faults hit before the PAT check,
        like the service's throttling front end; control endpoints are never faulted.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if kind == "server_error" and not 500 <= status <= 599:
            raise ValueError("server_error status must be 5xx")
        with self._lock:
            until = None if seconds is None else self.clock.now() + seconds
            count = None if seconds is not None else count
            self._faults.append(_Fault(kind, count, until, method, path_contains, retry_after, delay, status))

    def set_service_clock(self, offset: float = 0.0, *, zoneless: bool = False) -> None:
        """The clock fault: the service's timestamps and `Date` header `offset` s off the world's clock."""
        with self._lock:
            self.clock_offset, self.zoneless = offset, zoneless
            self._clock_steps.clear()

    def step_service_clock(self, offset: float) -> None:
        """A step of the service's clock (an NTP correction) now: from here on its `Date` header and the stamps it
        writes are `offset` s off the world's clock, while the stamps it wrote up to now (a job's finishTime) keep
        the clock they were written with, as a real service's stored timestamps do."""
        with self._lock:
            self._clock_steps.append((self.clock.now(), self.clock_offset))
            self.clock_offset = offset

    def _offset_at(self, t: float) -> float:
        """The offset the stamp of world time `t` was written with (a stamp at a step's instant predates it)."""
        for at, before in self._clock_steps:
            if t <= at:
                return before
        return self.clock_offset

    def service_now(self) -> float:
        """The service's own clock (the `Date` header: emulator.httpserver.QuietHandler)."""
        return self.clock.now() + self.clock_offset

    def _svc_iso(self, t: float) -> str:
        text = iso(t + self._offset_at(t))
        return text.removesuffix("Z") if self.zoneless else text

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._after.clear()

    def after(self, path_contains: str, action: Callable[[], None], *, method: str = "GET") -> None:
        """Run `action` once, right after the first matching API request has been answered: the world changing between
        two of the gate's calls at a point a test names (an agent registering after the gate's list, say)."""
        with self._lock:
            self._after.append((method.upper(), path_contains, action))

    def _run_after(self, method: str, path: str) -> None:
        with self._lock:
            due = [a for a in self._after if a[0] == method and a[1] in path]
            self._after = [a for a in self._after if a not in due]
        for _, _, action in due:
            action()

    def reset(self, *, pat: str | None = None, clock: Clock | None = None, page_size: int | None = None) -> None:
        """An empty organisation on the same server (no pools, agents, builds, faults or calls): the chaos simulation
        (chaos) runs thousands of worlds on one server. `clock` may differ from the AWS emulator's (skew)."""
        with self._lock:
            self._pools.clear()
            self._agents.clear()
            self._builds.clear()
            self._running.clear()
            self._faults.clear()
            self._after.clear()
            self._clock_steps.clear()
            self.calls.clear()
            self._ids = {"pool": 0, "agent": 0, "build": 0}
            self._pat = pat
            if clock is not None:
                self.clock = clock
            if page_size is not None:
                self.page_size = page_size

    # -- simulation ----------------------------------------------------------------------------------------

    def _live_agents(self) -> Iterable[_Agent]:
        return (a for a in self._agents.values() if a.deleted_at is None)

    def _advance(self) -> None:
        """Finish due builds in time order, handing queued jobs to freed agents at the moment they freed."""
        now = self.clock.now()
        while due := [b for b in self._running.values() if b.ends_at <= now]:
            build = min(due, key=lambda b: b.ends_at)
            at = build.ends_at
            self._finish(build, at, "failed" if build.lost_at is not None else "succeeded")
            self._assign(at)

    def _assign(self, at: float) -> None:
        queued = [b for b in self._builds.values() if b.assigned_at is None and b.finished_at is None]
        for build in sorted(queued, key=lambda b: b.id):
            idle = [
                a
                for a in self._live_agents()
                if a.pool_id == build.pool_id
                and a.enabled
                and a.online
                and a.max_parallelism > 0
                and a.id not in self._running
            ]
            if idle:
                agent = min(idle, key=lambda a: (a.free_since, a.id))
                build.agent_id, build.assigned_at = agent.id, max(at, build.queued_at)
                self._running[agent.id] = build

    def _finish(self, build: _Build, at: float, result: str) -> None:
        build.finished_at, build.result = at, result
        if build.agent_id is not None and self._running.get(build.agent_id) is build:
            del self._running[build.agent_id]
            self._agents[build.agent_id].free_since = at
        hooks = getattr(self, "service_hooks", None)  # emulator.servicehooks.WebHooks, when subscribed (PERF)
        if hooks is not None:
            hooks.build_finished(self._build_snapshot(build))

    def _set_enabled(self, agent: _Agent, enabled: bool, by: str) -> None:
        now = self.clock.now()
        agent.history.append({"time": now, "enabled": enabled, "by": by})
        if agent.enabled != enabled:
            agent.enabled = enabled
            if enabled:
                agent.free_since = now
                self._assign(now)

    def _delete(self, agent: _Agent, by: str) -> None:
        now = self.clock.now()
        agent.deleted_at, agent.deleted_by = now, by
        build = self._running.get(agent.id)
        if build is not None:
            self._finish(build, now, "abandoned")  # the job died with its agent

    def _agent_snapshot(self, a: _Agent) -> Json:
        running = self._running.get(a.id)
        return {
            "id": a.id,
            "pool_id": a.pool_id,
            "name": a.name,
            "computer_name": a.computer_name,
            "capabilities": dict(a.capabilities),
            "enabled": a.enabled,
            "online": a.online,
            "max_parallelism": a.max_parallelism,
            "deleted": a.deleted_at is not None,
            "deleted_at": a.deleted_at,
            "deleted_by": a.deleted_by,
            "busy": running is not None,
            "request_id": running.id if running else None,
            "history": [dict(h) for h in a.history],
        }

    @staticmethod
    def _build_snapshot(b: _Build) -> Json:
        return {
            "id": b.id,
            "pool_id": b.pool_id,
            "agent_id": b.agent_id,
            "duration": b.duration,
            "queued_at": b.queued_at,
            "assigned_at": b.assigned_at,
            "finished_at": b.finished_at,
            "result": b.result,
        }

    # -- REST representations ------------------------------------------------------------------------------

    def _links(self, path: str, web: str) -> Json:
        return {"self": {"href": f"{self.url}/_apis/{path}"}, "web": {"href": f"{self.url}/{web}"}}

    def _identity(self) -> Json:
        return {"displayName": "Fake Admin", "id": _guid("identity"), "uniqueName": f"admin@{self.org}.example"}

    def _pool_json(self, p: _Pool) -> Json:
        return {
            "createdOn": iso(p.created_at),
            "autoProvision": False,
            "autoUpdate": True,
            "autoSize": True,  # targetSize and agentCloudId: absent, as the service omits nulls (never null ints)
            "createdBy": self._identity(),
            "owner": self._identity(),
            "id": p.id,
            "scope": _guid("pool", p.id),
            "name": p.name,
            "isHosted": False,
            "poolType": "automation",
            "size": sum(1 for a in self._live_agents() if a.pool_id == p.id),
            "isLegacy": False,
            "options": "none",
        }

    def _agent_ref(self, a: _Agent) -> Json:
        return {
            "_links": self._links(
                f"distributedtask/pools/{a.pool_id}/agents/{a.id}",
                f"_settings/agentpools?view=jobs&poolId={a.pool_id}&agentId={a.id}",
            ),
            "id": a.id,
            "name": a.name,
            "version": AGENT_VERSION,
            "osDescription": "Linux 6.1.0-amzn2023.x86_64 #1 SMP PREEMPT_DYNAMIC",
            "enabled": a.enabled,
            "status": "online" if a.online else "offline",
            "provisioningState": "Provisioned",
            "accessPoint": "CodexAccessMapping",
        }

    def _agent_json(self, a: _Agent, caps: bool, assigned: bool, last: bool) -> Json:
        ref = self._agent_ref(a)
        body: Json = {
            "_links": ref.pop("_links"),
            "maxParallelism": a.max_parallelism,
            "createdOn": iso(a.created_at),
            "statusChangedOn": iso(a.status_changed_at),
            "authorization": {"clientId": _guid("client", a.id), "publicKey": {"exponent": "AQAB", "modulus": ""}},
        }
        if caps:
            body["systemCapabilities"] = {
                "Agent.Name": a.name,
                "Agent.Version": AGENT_VERSION,
                "Agent.ComputerName": a.computer_name,
                "Agent.HomeDirectory": "/azp/agent",
                "Agent.OS": "Linux",
                "Agent.OSArchitecture": "X64",
                **a.capabilities,  # agents report their environment variables as system capabilities
            }
            body["userCapabilities"] = {}
        running = self._running.get(a.id)
        if assigned and running is not None:
            body["assignedRequest"] = self._request_json(running)
        if last:
            done = [b for b in self._builds.values() if b.agent_id == a.id and b.finished_at is not None]
            if done:
                body["lastCompletedRequest"] = self._request_json(max(done, key=lambda b: b.finished_at or 0))
        return body | ref

    def _request_json(self, b: _Build) -> Json:
        plan = _guid("plan", b.id)
        owner = {"id": b.id, "name": f"{datetime.fromtimestamp(b.queued_at, tz=UTC):%Y%m%d}.{b.id}"}
        body: Json = {"requestId": b.id, "queueTime": self._svc_iso(b.queued_at)}
        if b.assigned_at is not None:
            body |= {"assignTime": self._svc_iso(b.assigned_at), "receiveTime": self._svc_iso(b.assigned_at)}
        if b.finished_at is not None:
            body |= {"finishTime": self._svc_iso(b.finished_at), "result": b.result}
        elif b.assigned_at is not None:
            body["lockedUntil"] = self._svc_iso(self.clock.now() + 300)
        body |= {
            "serviceOwner": BUILD_SERVICE_OWNER,
            "hostId": _guid("host", self.org),
            "scopeId": _guid("project", self.org),
            "planType": b.job.plan_type,
            "planId": plan,
            "jobId": _guid("job", b.id),
            "jobName": b.job.job_name,
            "demands": [*b.job.demands, f"Agent.Version -gtVersion {AGENT_VERSION}"],
        }
        agent = self._agents.get(b.agent_id) if b.agent_id is not None else None
        if agent is not None:
            body["reservedAgent"] = self._agent_ref(agent)
        elif b.finished_at is None:
            matched = [self._agents[i] for i in b.matched if self._agents[i].deleted_at is None]
            body["matchedAgents"] = [self._agent_ref(a) for a in matched]
        return body | {
            "definition": {"_links": self._links("build/Definitions/1", "_build/definition?definitionId=1")}
            | {"id": b.job.definition_id, "name": b.job.definition},
            "owner": {"_links": self._links(f"build/Builds/{b.id}", f"_build/results?buildId={b.id}")} | owner,
            "data": {"ParallelismTag": "Private", "IsScheduledKey": "False"},
            "poolId": b.pool_id,
            # Classic: {plan}.{phase}.{config}; multi-stage YAML: {plan}.{stage}.{job}.{config}.
            "orchestrationId": f"{plan}.{b.job.stage}.{b.job.job_name}.__default"
            if b.job.stage
            else f"{plan}.build.__default",
            "matchesAllAgentsInPool": True,
            "priority": 0,
        }

    # -- HTTP ----------------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.path_prefix and path.lower().startswith(self.path_prefix + "/"):
            environ["PATH_INFO"] = path[len(self.path_prefix) :]  # /tfs/<collection>/_apis/... on Server
        request = Request(environ)
        if request.path.startswith("/_fake/"):
            response = self._dispatch(request, control=True)
            return response(environ, start_response)
        status = 0  # stays 0 when the connection is dropped on purpose
        try:
            response = self._serve_api(request, environ)
            status = response.status_code
            return response(environ, start_response)
        finally:
            self.record_call(request.method, request.path, request.args.to_dict(), status)
            self._run_after(request.method, request.full_path)

    def _take_faults(self, request: Request) -> tuple[_Fault | None, list[_Fault]]:
        """The first matching answer fault and every matching modifier; each one taken counts down."""
        with self._lock:
            now = self.clock.now()
            self._faults = [f for f in self._faults if f.count != 0 and (f.until is None or now < f.until)]
            matching = [f for f in self._faults if f.matches(request.method, request.full_path, now)]
            answer = next((f for f in matching if f.kind in ANSWER_FAULTS), None)
            modifiers = [f for f in matching if f.kind in MODIFIER_FAULTS]
            for taken in [answer, *modifiers]:
                if taken is not None and taken.count is not None:
                    taken.count -= 1
            return answer, modifiers

    def _serve_api(self, request: Request, environ: WSGIEnvironment) -> Response:
        fault, modifiers = self._take_faults(request)
        for mod in modifiers:
            if mod.kind == "slow":
                time.sleep(mod.delay)
            elif mod.kind == "latency":
                self.clock.sleep(mod.delay)
        if fault is not None:
            if fault.kind == "down":
                sock = environ.get("werkzeug.socket")
                if isinstance(sock, socket.socket):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("fake azure devops: injected connection drop")
            return self._fault_response(fault)
        if not self._authorized(request):
            return self._refuse_credentials(request)
        version_error = self._check_api_version(request)
        if version_error is not None:
            return version_error
        response = self._dispatch(request, control=False)
        if response.status_code == 200 and modifiers:
            self._modify(request, response, modifiers)
        if response.mimetype == "application/json":  # answers and errors name the version the request negotiated
            negotiated = self._negotiated_version(request)
            response.headers["Content-Type"] = f"application/json; charset=utf-8; api-version={negotiated}"
        return response

    def _negotiated_version(self, request: Request) -> str:
        """The api-version asked for (query, else Accept header), or the latest released one when none was."""
        version = request.args.get("api-version")
        if version is None:
            accept = re.search(r"api-version=([^;,\s]+)", request.headers.get("Accept", ""))
            version = accept.group(1) if accept else None
        return version.strip() if version else self.released_version

    def _modify(self, request: Request, response: Response, modifiers: list[_Fault]) -> None:
        """Apply the answer-altering faults to a normal 200 answer."""
        kinds = {m.kind for m in modifiers}
        body = response.get_json(silent=True) if response.is_json else None
        if isinstance(body, dict):
            items = body.get("value") if isinstance(body.get("value"), list) else None
            if "no_assigned_request" in kinds:
                for record in items if items is not None else [body]:
                    if isinstance(record, dict):
                        record.pop("assignedRequest", None)
            if "assignment_lag" in kinds:
                lag = max(m.delay for m in modifiers if m.kind == "assignment_lag")
                self._hide_fresh_assignments(body, lag)
                items = body.get("value") if isinstance(body.get("value"), list) else None
            if "empty_list" in kinds and items is not None:
                items.clear()
                body["count"] = 0
            if "count_mismatch" in kinds and items is not None:
                if items:
                    items.pop()  # the service's count stays; one record goes missing
                body["count"] = len(items) + 1
            response.set_data(json.dumps(body))
            if "endless_pages" in kinds and items is not None:
                token = request.args.get("continuationToken") or response.headers.get("x-ms-continuationtoken") or "1"
                response.headers["x-ms-continuationtoken"] = token
        slow_down = next((m for m in modifiers if m.kind == "slow_down"), None)
        if slow_down is not None:
            response.headers.update(self._rate_limit_headers(slow_down, remaining=1))

    def _hide_fresh_assignments(self, body: Json, lag: float) -> None:
        """assignment_lag: drop assignments younger than `lag` from agent records and job request lists."""

        def fresh(request: Any) -> bool:
            if not isinstance(request, dict) or request.get("finishTime") or not request.get("assignTime"):
                return False
            rid = request.get("requestId")
            build = self._builds.get(rid) if isinstance(rid, int) else None
            if build is not None and build.assigned_at is not None:
                assigned = build.assigned_at  # the world's time, whatever clock stamped it
            else:
                at = datetime.fromisoformat(str(request["assignTime"]).replace("Z", "+00:00"))
                assigned = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() - self.clock_offset
            return self.clock.now() - assigned < lag

        value = body.get("value")
        items: list[Any] = value if isinstance(value, list) else [body]
        kept = []
        for record in items:
            if isinstance(record, dict) and fresh(record.get("assignedRequest")):
                record.pop("assignedRequest")
            if not (isinstance(record, dict) and "requestId" in record and fresh(record)):
                kept.append(record)
        if isinstance(body.get("value"), list):
            body["value"], body["count"] = kept, len(kept)

    def _rate_limit_headers(self, fault: _Fault, remaining: int) -> dict[str, str]:
        """What the service adds once a user nears or passes its limit (Microsoft's rate-limit docs)."""
        return {
            "Retry-After": str(fault.retry_after),
            "X-RateLimit-Resource": "Core",
            "X-RateLimit-Delay": f"{fault.delay:.3f}",
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(self.clock.now() + fault.retry_after)),
        }

    def _fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "rate_limit":
            message = (
                "TF400733: The request has been canceled: Request was blocked due to exceeding usage of "
                "resource 'Core' in namespace 'User'."
            )
            headers = self._rate_limit_headers(fault, remaining=0)
            return _json(error_body("RequestBlockedException", message, _FW_NS), 429, headers)
        if fault.kind == "server_error":
            body = error_body("VssServiceException", "fake azure devops: injected server error", _FW_NS)
            return _json(body, fault.status)
        if fault.kind == "malformed":
            return Response('{"count": 1, "value": [{"id": ', 200, content_type="application/json; charset=utf-8")
        if fault.kind == "signin":
            return Response(_SIGNIN_PAGE, 203, content_type="text/html; charset=utf-8")
        if fault.kind == "pool_not_found":
            found = re.search(r"/pools/(\d+)", fault.path_contains or "")
            message = f"No agent pool found with identifier {found.group(1) if found else 0}."
            return _json(error_body("TaskAgentPoolNotFoundException", message), 404)
        if fault.kind == "route_not_found":  # the service's answer for a resource location it does not register
            message = f"API resource location {_guid('route', fault.path_contains)} is not registered on {self.url}."
            return _json(error_body("VssResourceNotFoundException", message, _WEBAPI_NS), 404)
        if fault.kind == "forbidden":  # a valid PAT without the vso.agentpools(_manage) scope
            message = "Access Denied: the token lacks the permission to view or manage agent pools."
            return _json(error_body("AccessCheckException", message, _FW_NS), 403)
        return self._unauthorized()

    def _authorized(self, request: Request) -> bool:
        if self._pat is None and self.token_issuer is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token_issuer is not None:
            return bool(self.token_issuer.valid(value.strip()))
        if scheme.lower() != "basic" or self._pat is None:
            return False
        try:
            password = base64.b64decode(value, validate=True).decode().partition(":")[2]
        except ValueError:
            return False
        return hmac.compare_digest(password.encode(), self._pat.encode())

    def _refuse_credentials(self, request: Request) -> Response:
        """The cloud sends a browser to sign in unless told not to; writes and Azure DevOps Server get a 401."""
        suppress = request.headers.get("X-TFS-FedAuthRedirect", "").lower() == "suppress"
        if self.server is None and not suppress and request.method in ("GET", "HEAD"):
            return Response(_SIGNIN_PAGE, 203, content_type="text/html; charset=utf-8")
        return self._unauthorized()

    def _check_api_version(self, request: Request) -> Response | None:
        if request.method == "OPTIONS":
            return None
        version = request.args.get("api-version")
        if version is None:
            accept = re.search(r"api-version=([^;,\s]+)", request.headers.get("Accept", ""))
            version = accept.group(1) if accept else None
        if version is None:
            if request.method in ("GET", "HEAD"):
                return None  # served at the latest released version
            message = (
                f'No api-version was supplied for the "{request.method}" request. The version must be supplied either '
                'as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter '
                '(e.g. "?api-version=1.0").'
            )
            return _json(error_body("VssVersionNotSpecifiedException", message, _WEBAPI_NS), 400)
        match = _VERSION.match(version.strip())
        if match is None:
            message = f"The requested REST API version of {version} is not valid."
            return _json(error_body("VssInvalidApiResourceVersionException", message, _WEBAPI_NS), 400)
        asked = (int(match.group(1)), int(match.group(2)))
        if asked > _version_tuple(self.max_version):
            message = (
                f"The requested REST API version of {match.group(1)}.{match.group(2)} is out of range for this server. "
                f"The latest REST API version this server supports is {self.max_version}."
            )
            return _json(error_body("VssVersionOutOfRangeException", message, _WEBAPI_NS), 400)
        if asked > _version_tuple(self.released_version) and not match.group(3):
            plain = f"{match.group(1)}.{match.group(2)}"
            message = (
                f'The requested version "{plain}" of the resource is under preview. The -preview flag must be '
                f'supplied in the api-version for such requests. For example: "{plain}-preview"'
            )
            return _json(error_body("VssInvalidPreviewVersionException", message, _WEBAPI_NS), 400)
        return None

    def _unauthorized(self) -> Response:
        body = error_body(
            "UnauthorizedRequestException", "TF400813: The user '' is not authorized to access this resource.", _FW_NS
        )
        return _json(body, 401, {"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'})

    def _dispatch(self, request: Request, *, control: bool) -> Response:
        try:
            endpoint, values = _URLS.bind_to_environ(request.environ).match(request.path.lower(), method=request.method)
            if str(endpoint).startswith("fake_") != control:
                return Response("Not Found", 404)
            args = {k: v for k, v in values.items() if k != "org"}
            if values.get("org", self.org.lower()) != self.org.lower():
                return Response("Not Found", 404)
            with self._lock:
                self._advance()
                handler: Callable[..., Response] = getattr(self, f"_h_{endpoint}")
                return handler(request, **args)
        except HTTPException as exc:
            return exc.get_response(request.environ)
        except _Abort as exc:
            return exc.response

    def _body(self, request: Request) -> Json:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Abort(_json(error_body("VssPropertyValidationException", "Invalid JSON body.", _FW_NS), 400))
        return body

    def _rest_pool(self, pool_id: int) -> _Pool:
        if pool_id not in self._pools:
            msg = f"No agent pool found with identifier {pool_id}."
            raise _Abort(_json(error_body("TaskAgentPoolNotFoundException", msg), 404))
        return self._pools[pool_id]

    def _rest_agent(self, pool_id: int, agent_id: int) -> _Agent:
        self._rest_pool(pool_id)
        agent = self._agents.get(agent_id)
        if agent is None or agent.deleted_at is not None or agent.pool_id != pool_id:
            msg = f"No agent found in pool {pool_id} with identifier {agent_id}."
            raise _Abort(_json(error_body("TaskAgentNotFoundException", msg), 404))
        return agent

    @staticmethod
    def _flag(request: Request, name: str) -> bool:
        return request.args.get(name, "").lower() == "true"

    # REST handlers (called under the lock, after `_advance`).

    def _h_options(self, request: Request) -> Response:
        return _collection(
            [
                {
                    "id": loc_id,
                    "area": area,
                    "resourceName": resource,
                    "routeTemplate": template,
                    "resourceVersion": 1,
                    "minVersion": "1.0",
                    "maxVersion": self.max_version,
                    "releasedVersion": self.released_version,
                }
                for loc_id, area, resource, template in _LOCATIONS
            ]
        )

    def _h_areas(self, request: Request) -> Response:
        return _collection([{"id": TASK_AGENT_AREA, "name": "distributedtask", "locationUrl": f"{self.url}/"}])

    def _h_pools(self, request: Request) -> Response:
        name = request.args.get("poolName")
        pools = [p for p in self._pools.values() if name is None or p.name.lower() == name.lower()]
        return _collection([self._pool_json(p) for p in pools])

    def _h_pool(self, request: Request, pool_id: int) -> Response:
        return _json(self._pool_json(self._rest_pool(pool_id)))

    def _agent_flags(self, request: Request) -> tuple[bool, bool, bool]:
        return (
            self._flag(request, "includeCapabilities"),
            self._flag(request, "includeAssignedRequest"),
            self._flag(request, "includeLastCompletedRequest"),
        )

    def _h_agents(self, request: Request, pool_id: int) -> Response:
        """List agents by ascending id; more than a page yields `x-ms-continuationtoken` (next id)."""
        self._rest_pool(pool_id)
        name = request.args.get("agentName")
        demands = [d for d in request.args.get("demands", "").split(",") if d.strip()]
        start = int(request.args.get("continuationToken") or 0)
        agents = sorted(
            (
                a
                for a in self._live_agents()
                if a.pool_id == pool_id
                and a.id >= start
                and (name is None or a.name.lower() == name.lower())
                and all(self._satisfies(a, d) for d in demands)
            ),
            key=lambda a: a.id,
        )
        limit = min(self.page_size, int(request.args.get("$top") or self.page_size))
        page, rest = agents[:limit], agents[limit:]
        headers = {"x-ms-continuationtoken": str(rest[0].id)} if rest else None
        flags = self._agent_flags(request)
        return _collection([self._agent_json(a, *flags) for a in page], headers)

    @staticmethod
    def _satisfies(agent: _Agent, demand: str) -> bool:
        """`Name` (exists) or `Name -equals value`, matched case-insensitively like the service."""
        key, _, value = demand.strip().partition(" -equals ")
        caps = {k.lower(): v for k, v in {"Agent.Name": agent.name, **agent.capabilities}.items()}
        have = caps.get(key.strip().lower())
        return have is not None and (not value or have.lower() == value.strip().lower())

    def _h_agent(self, request: Request, pool_id: int, agent_id: int) -> Response:
        agent = self._rest_agent(pool_id, agent_id)
        if request.method == "DELETE":
            self._delete(agent, "api")
            return Response(status=200)  # Agents_Delete in the spec (7.1, 7.0, 6.0): 200, no body
        if request.method in ("PATCH", "PUT"):  # UpdateAgent, ReplaceAgent: a TaskAgent body is required
            if not request.get_data():
                message = "Value cannot be null.\r\nParameter name: agent"
                raise _Abort(_json(error_body("ArgumentNullException", message, "System"), 400))
            self._patch_agent(agent, self._body(request))
        return _json(self._agent_json(agent, *self._agent_flags(request)))

    def _h_jobrequest(self, request: Request, pool_id: int, request_id: int) -> Response:
        """GetAgentRequest: one job request of the pool, as the list shows it."""
        self._rest_pool(pool_id)
        b = self._builds.get(request_id)
        if b is None or b.pool_id != pool_id:
            message = f"No job request found in pool {pool_id} with identifier {request_id}."
            raise _Abort(_json(error_body("TaskAgentJobNotFoundException", message), 404))
        return _json(self._request_json(b))

    def _patch_agent(self, agent: _Agent, body: Json) -> None:
        """UpdateAgent: `enabled` and `maxParallelism` change; identity, version and status belong to the agent."""
        if "id" in body and body["id"] != agent.id:
            message = f"The agent ID {body['id']!r} in the request body does not match agent {agent.id} in the URL."
            raise _Abort(_json(error_body("ArgumentException", message, "System"), 400))
        enabled, parallelism = body.get("enabled"), body.get("maxParallelism", None)
        if enabled is not None and not isinstance(enabled, bool):
            raise _Abort(_json(error_body("VssPropertyValidationException", "enabled must be a boolean.", _FW_NS), 400))
        if parallelism is not None and (not isinstance(parallelism, int) or isinstance(parallelism, bool)):
            message = "maxParallelism must be an integer."
            raise _Abort(_json(error_body("VssPropertyValidationException", message, _FW_NS), 400))
        if parallelism is None and self.server is not None:
            parallelism = 0  # the partial-body damage reported against Azure DevOps Server
        if parallelism is not None and parallelism >= 0:
            agent.max_parallelism = parallelism
        if isinstance(enabled, bool):
            self._set_enabled(agent, enabled, "api")  # a running build keeps running, as on the service

    def _h_jobrequests(self, request: Request, pool_id: int) -> Response:
        """For `agentId`: requests it reserved, unfinished ones it merely matches (queued or reserved by another
        agent since), and the newest `completedRequestCount` it finished; newest first."""
        self._rest_pool(pool_id)
        agent_id = request.args.get("agentId", type=int)
        completed = request.args.get("completedRequestCount", type=int)

        def concerns(b: _Build) -> bool:
            if agent_id is None or b.agent_id == agent_id:
                return True
            return b.finished_at is None and agent_id in b.matched

        mine = sorted((b for b in self._builds.values() if b.pool_id == pool_id and concerns(b)), key=lambda b: -b.id)
        done = [b for b in mine if b.finished_at is not None]
        keep = [b for b in mine if b.finished_at is None] + (done if completed is None else done[:completed])
        return _collection([self._request_json(b) for b in keep])

    def _h_timeline(self, request: Request, build_id: int) -> Response:
        """The build's timeline (Build API): one Job record per job request (the fake runs one job per build), with
        its issues; the job request's `owner` link plus `/timeline` leads here, as on the service."""
        b = self._builds.get(build_id)
        if b is None:
            raise _Abort(_json(error_body("BuildNotFoundException", f"Build {build_id} not found."), 404))
        state = "completed" if b.finished_at is not None else ("inProgress" if b.assigned_at else "pending")
        record: Json = {
            "id": _guid("job", b.id),
            "parentId": None,
            "type": "Job",
            "name": "Job",
            "state": state,
            "result": b.result,
            "startTime": self._svc_iso(b.assigned_at) if b.assigned_at is not None else None,
            "finishTime": self._svc_iso(b.finished_at) if b.finished_at is not None else None,
            "workerName": self._agents[b.agent_id].name if b.agent_id in self._agents else None,
            "errorCount": len(b.issues),
            "issues": [{"type": "error", "category": "General", "message": m, "data": {}} for m in b.issues],
        }
        return _json({"records": [record], "lastChangedOn": self._svc_iso(self.clock.now()), "id": _guid("tl", b.id)})

    # Control handlers: the scripting API over HTTP for out-of-process use (CLI simulator).

    def _control(self, fn: Callable[[], Any], status: int = 200) -> Response:
        try:
            return _json(fn(), status)
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 404 if isinstance(exc, KeyError) else 409)

    def _h_fake_state(self, request: Request) -> Response:
        return _json(self.state())

    def _h_fake_pools(self, request: Request) -> Response:
        body = self._body(request)
        return self._control(lambda: {"id": self.add_pool(body["name"])}, 201)

    def _h_fake_agents(self, request: Request) -> Response:
        b = self._body(request)
        opts = {k: b[k] for k in ("capabilities", "computer_name", "enabled", "online") if k in b}
        return self._control(lambda: {"id": self.add_agent(b["pool"], b["name"], **opts)}, 201)

    def _h_fake_agent(self, request: Request, agent_id: int) -> Response:
        body = {} if request.method == "DELETE" else self._body(request)

        def update() -> Json | None:
            if request.method == "DELETE":
                self.remove_agent(agent_id)
            if "online" in body:
                self.set_online(agent_id, bool(body["online"]))
            if "enabled" in body:
                self.set_enabled(agent_id, bool(body["enabled"]))
            return self.agent(agent_id)

        return self._control(update)

    def _h_fake_builds(self, request: Request) -> Response:
        b = self._body(request)
        if "agent_id" in b:
            return self._control(lambda: {"id": self.start_build(int(b["agent_id"]), float(b["duration"]))}, 201)
        return self._control(lambda: {"id": self.queue_build(b["pool"], float(b["duration"]))}, 201)

    def _h_fake_finish(self, request: Request, request_id: int) -> Response:
        result = self._body(request).get("result", "succeeded")

        def finish() -> Json:
            self.finish_build(request_id, result)
            return self.build(request_id)

        return self._control(finish)

    def _h_fake_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return Response(status=204)
        body = self._body(request)

        def inject() -> Json:
            self.inject(body.pop("kind"), **body)
            return {}

        return self._control(inject, 201)
