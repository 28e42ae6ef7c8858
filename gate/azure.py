"""Azure DevOps agent pools over REST (api-version 7.1): list, job requests, disable, delete.

One paginated list call per pool per round is the whole read cost; retries (429/5xx, honouring Retry-After)
are urllib3's, capped so a long Retry-After turns into a fail-safe hold instead of a stalled Lambda.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gate.model import Agent, JobRequest
from gate.redact import register_secret
from gate.sources import AgentSourceError, AuthError

API_VERSION = "7.1"
SOURCE = "azure-devops"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RequestRef(_Payload):
    request_id: int = Field(alias="requestId")


class TaskAgentPayload(_Payload):
    id: int
    name: str
    enabled: bool = True
    status: str = "offline"
    system_capabilities: dict[str, str | None] = Field(default_factory=dict, alias="systemCapabilities")
    user_capabilities: dict[str, str | None] | None = Field(default=None, alias="userCapabilities")
    assigned_request: RequestRef | None = Field(default=None, alias="assignedRequest")


class JobRequestPayload(_Payload):
    request_id: int = Field(alias="requestId")
    reserved_agent: dict[str, Any] | None = Field(default=None, alias="reservedAgent")
    finish_time: datetime | None = Field(default=None, alias="finishTime")
    result: str | None = None


class PoolPayload(_Payload):
    id: int
    name: str


class _ListPayload(_Payload):
    count: int = 0
    value: list[dict[str, Any]]


class _RetryAfterTooLong(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"Retry-After {seconds:.0f}s")
        self.seconds = seconds


class _CappedRetry(Retry):
    """urllib3 Retry that refuses to sleep longer than `max_retry_after`: the caller holds and backs off instead
    of stalling a Lambda invocation (urllib3 itself would sleep whatever the server asks)."""

    max_retry_after: float = 20.0

    def new(self, **kw: Any) -> _CappedRetry:
        new = super().new(**kw)
        new.max_retry_after = self.max_retry_after
        return new

    def sleep(self, response: Any = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after is not None and retry_after > self.max_retry_after:
            raise _RetryAfterTooLong(retry_after)
        super().sleep(response)


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class AzureDevOps:
    """One client per org. Thread-safe enough for the gate's sequential use; pool ids are cached."""

    def __init__(
        self,
        org_url: str,
        pat: str,
        pools: list[str],
        *,
        timeout: float = 10.0,
        max_retry_after: float = 20.0,
        retries: int = 3,
        backoff: float = 0.5,
        clock: Any = None,
    ) -> None:
        self.org_url = org_url.rstrip("/")
        self.pools = pools
        self.timeout = (min(3.05, timeout), timeout)
        self.calls = 0
        self._clock_now = clock.now if clock is not None else time.time
        self._backoff_until = 0.0
        self._pool_ids: dict[str, int] = {}
        self._lock = threading.Lock()
        register_secret(pat)
        retry = _CappedRetry(
            total=retries,
            connect=retries,
            read=1,
            status=retries,
            backoff_factor=backoff,
            backoff_max=10,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "PATCH", "DELETE"}),  # PATCH enabled=false and DELETE are idempotent
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.max_retry_after = max_retry_after
        self.session = requests.Session()
        self.session.auth = ("", pat)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "asg-termination-gate"})
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))

    # -- HTTP -------------------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> requests.Response:
        now = self._clock_now()
        if now < self._backoff_until:
            raise AgentSourceError(
                f"rate limited by Azure DevOps: backing off for {self._backoff_until - now:.0f}s more",
                status=429,
                retry_after=self._backoff_until - now,
            )
        query = {"api-version": API_VERSION, **(params or {})}
        url = f"{self.org_url}/_apis/distributedtask/{path}"
        with self._lock:
            self.calls += 1
        try:
            resp = self.session.request(
                method, url, params=query, json=json, timeout=self.timeout, allow_redirects=False
            )
        except _RetryAfterTooLong as exc:
            self._backoff_until = self._clock_now() + exc.seconds
            raise AgentSourceError(
                f"{method} {path}: rate limited, {exc}", status=429, retry_after=exc.seconds
            ) from None
        except requests.RequestException as exc:
            raise AgentSourceError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 203 or (resp.status_code == 200 and "html" in resp.headers.get("Content-Type", "")):
            raise AuthError(
                f"{method} {path}: Azure DevOps answered with a sign-in page: the PAT is invalid or expired",
                status=resp.status_code,
            )
        if resp.status_code in (401, 403):
            raise AuthError(
                f"{method} {path}: HTTP {resp.status_code}: the PAT lacks access (needs "
                "vso.agentpools_manage) or is invalid",
                status=resp.status_code,
            )
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = _retry_after(resp)
            if retry_after:
                self._backoff_until = self._clock_now() + retry_after
            raise AgentSourceError(
                f"{method} {path}: HTTP {resp.status_code} after retries",
                status=resp.status_code,
                retry_after=retry_after,
            )
        if 300 <= resp.status_code < 400:
            raise AuthError(
                f"{method} {path}: redirected (HTTP {resp.status_code}): probably a sign-in redirect",
                status=resp.status_code,
            )
        return resp

    def _json(self, resp: requests.Response, what: str) -> Any:
        if resp.status_code >= 400:
            raise AgentSourceError(f"{what}: HTTP {resp.status_code}: {resp.text[:200]}", status=resp.status_code)
        try:
            return resp.json()
        except ValueError:
            raise AgentSourceError(f"{what}: response is not JSON", status=resp.status_code) from None

    def _list(self, path: str, params: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Follow `x-ms-continuationtoken` until the last page."""
        token: str | None = None
        for _ in range(10_000):
            page_params = dict(params, continuationToken=token) if token else params
            resp = self._request("GET", path, params=page_params)
            try:
                page = _ListPayload.model_validate(self._json(resp, what))
            except ValidationError:
                raise AgentSourceError(f"{what}: unexpected response shape", status=resp.status_code) from None
            yield from page.value
            token = resp.headers.get("x-ms-continuationtoken")
            if not token:
                return
        raise AgentSourceError(f"{what}: pagination did not end")

    # -- API ---------------------------------------------------------------------------------------------
    def pool_id(self, name: str) -> int:
        if name not in self._pool_ids:
            found = [PoolPayload.model_validate(p) for p in self._list("pools", {"poolName": name}, "list pools")]
            match = [p for p in found if p.name.lower() == name.lower()]
            if not match:
                raise AgentSourceError(f"agent pool {name!r} not found in {self.org_url}", status=404)
            self._pool_ids[name] = match[0].id
        return self._pool_ids[name]

    def list_agents(self) -> list[Agent]:
        """Every agent of every configured pool: one paginated call per pool."""
        agents: list[Agent] = []
        for pool in self.pools:
            pool_id = self.pool_id(pool)
            params = {"includeCapabilities": "true", "includeAssignedRequest": "true"}
            for raw in self._list(f"pools/{pool_id}/agents", params, f"list agents of pool {pool!r}"):
                try:
                    payload = TaskAgentPayload.model_validate(raw)
                except ValidationError:
                    raise AgentSourceError(f"list agents of pool {pool!r}: malformed agent record") from None
                agents.append(_to_agent(payload, pool_id, pool))
        return agents

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        params = {"agentId": agent.id, "completedRequestCount": 1}
        out: list[JobRequest] = []
        for raw in self._list(f"pools/{agent.pool_id}/jobrequests", params, f"job requests of {agent.label()}"):
            try:
                job = JobRequestPayload.model_validate(raw)
            except ValidationError:
                raise AgentSourceError(f"job requests of {agent.label()}: malformed record") from None
            reserved = (job.reserved_agent or {}).get("id")
            out.append(
                JobRequest(
                    job.request_id,
                    reserved if isinstance(reserved, int) else agent.id,
                    finished=job.finish_time is not None or job.result is not None,
                )
            )
        return out

    def disable(self, agent: Agent) -> None:
        path = f"pools/{agent.pool_id}/agents/{agent.id}"
        resp = self._request("PATCH", path, json={"id": agent.id, "enabled": False})
        if resp.status_code == 404:
            return  # gone already: nothing can run there
        body = self._json(resp, f"disable {agent.label()}")
        if isinstance(body, dict) and body.get("enabled") is not False:
            raise AgentSourceError(f"disable {agent.label()}: the server did not disable the agent")

    def delete(self, agent: Agent) -> None:
        resp = self._request("DELETE", f"pools/{agent.pool_id}/agents/{agent.id}")
        if resp.status_code not in (200, 204, 404):
            raise AgentSourceError(f"delete {agent.label()}: HTTP {resp.status_code}", status=resp.status_code)


def _to_agent(p: TaskAgentPayload, pool_id: int, pool: str) -> Agent:
    caps = {k: v for k, v in p.system_capabilities.items() if v is not None}
    caps.update({k: v for k, v in (p.user_capabilities or {}).items() if v is not None})
    return Agent(
        source=SOURCE,
        pool_id=pool_id,
        pool=pool,
        id=p.id,
        name=p.name,
        enabled=p.enabled,
        online=p.status.lower() == "online",
        assigned_request=p.assigned_request.request_id if p.assigned_request else None,
        computer_name=caps.get("Agent.ComputerName"),
        capabilities=caps,
    )
