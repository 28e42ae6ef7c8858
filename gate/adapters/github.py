"""GitHub Actions self-hosted runners as a busy probe (GATE_AGENT_SYSTEM=github), behind
`gate.service.sources.AgentSource`.

REST (api-version 2022-11-28): `GET /orgs/{org}/actions/runners` and `GET /repos/{owner}/{repo}/actions/runners`
-> {"total_count", "runners": [{"id", "name", "os", "status": online|offline, "busy", "labels": [{"name"}]}]},
paginated with `per_page`/`page` and the `Link: <...>; rel="next"` header; `DELETE .../actions/runners/{id}`.
Auth: `Authorization: Bearer TOKEN` (fine-grained PAT or GitHub App installation token: organisation permission
"Self-hosted runners: read and write", or repository permission "Administration: read and write" for repo runners;
classic PAT: admin:org / repo).

GitHub has no "disable runner" switch: runners come back with `disableable=False`, `disable()` is a no-op, and the
decision core treats them as drained, still waiting while `busy`. The residual race (a job assigned between the last
idle check and the termination) is explained in the README ("Fleet features").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.adapters import secrets
from gate.adapters.rest import RestClient
from gate.adapters.secrets import SecretCredential
from gate.domain.model import Agent, JobMeta, JobRequest
from gate.domain.redact import register_secret
from gate.service.sources import AgentSourceError, Listing

SOURCE = "github"
API_VERSION = "2022-11-28"
PER_PAGE = 100
BUSY = 0  # runners report `busy`, not the job: assigned_request is a marker


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LabelPayload(_Payload):
    name: str


class RunnerPayload(_Payload):
    id: int
    name: str
    os: str = ""
    status: str = "offline"
    # None: the record leaves `busy` out (or null). That is not `busy: false`: the runner may run a job (`_to_agent`).
    busy: bool | None = None
    labels: list[LabelPayload] = Field(default_factory=list)


class RunnersPage(_Payload):
    total_count: int = 0
    runners: list[RunnerPayload]


def scope_path(scope: str) -> str:
    """`org:acme` -> `orgs/acme`, `repo:acme/ci` -> `repos/acme/ci`."""
    kind, _, name = scope.partition(":")
    return f"orgs/{name}" if kind == "org" else f"repos/{name}"


class GitHubRunners(RestClient):
    """Runners of one organisation and/or some repositories; `pool` is `org:NAME` or `repo:OWNER/REPO`."""

    SERVICE = "GitHub"
    AUTH_HINT = "the token is invalid or lacks the self-hosted runners permission"

    def __init__(
        self,
        api_url: str,
        token: str | SecretCredential,
        *,
        org: str = "",
        repos: list[str] | None = None,
        timeout: float = 10.0,
        clock: Any = None,
    ) -> None:
        self.scopes = ([f"org:{org}"] if org else []) + [f"repo:{r}" for r in repos or []]
        if not self.scopes:
            raise ValueError("GitHubRunners needs an organisation or at least one repository")
        if isinstance(token, str):
            register_secret(token)
            token = _static(token)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "asg-termination-gate",
        }
        super().__init__(api_url.rstrip("/"), token, headers, timeout=timeout, clock=clock)

    # -- HTTP (gate.adapters.rest: retries, back-off, the refused token) ----------------------------------------
    def _check(self, resp: requests.Response, what: str) -> requests.Response:
        """A 403 or 429 naming a rate limit (Retry-After, or no request left): no call before it ends; the gate
        holds meanwhile (they are not retried)."""
        if resp.status_code in (403, 429) and (
            resp.headers.get("Retry-After") or resp.headers.get("x-ratelimit-remaining") == "0"
        ):
            wait = self._rate_limit_wait(resp)
            self._backoff_until = self._now() + wait
            raise AgentSourceError(f"{what}: rate limited (HTTP {resp.status_code})", status=429, retry_after=wait)
        return super()._check(resp, what)

    def _rate_limit_wait(self, resp: requests.Response) -> float:
        try:
            if resp.headers.get("Retry-After"):
                return max(1.0, float(resp.headers["Retry-After"]))
            reset = float(resp.headers.get("x-ratelimit-reset", "0"))
            return max(1.0, reset - self._now())  # epoch seconds: the clock's (wall time in AWS)
        except ValueError:
            return 60.0

    def _pages(self, scope: str) -> Iterator[RunnerPayload]:
        url: str | None = f"{self.api_url}/{scope_path(scope)}/actions/runners"
        params: dict[str, Any] | None = {"per_page": PER_PAGE, "page": 1}
        seen: set[str] = set()
        for _ in range(1000):
            assert url is not None
            resp = self._request("GET", url, params)
            if resp.status_code == 404:
                raise AgentSourceError(
                    f"runners of {scope}: HTTP 404 (no such organisation/repository, or the token cannot see it)",
                    status=404,
                )
            if resp.status_code >= 400:
                raise AgentSourceError(f"runners of {scope}: HTTP {resp.status_code}", status=resp.status_code)
            try:
                page = RunnersPage.model_validate(resp.json())
            except (ValueError, ValidationError):
                raise AgentSourceError(f"runners of {scope}: unexpected response shape") from None
            yield from page.runners
            url = resp.links.get("next", {}).get("url")
            params = None  # the next link carries per_page and page
            if not url:
                return
            if url in seen:
                raise AgentSourceError(f"runners of {scope}: the next-page link repeats: pagination would not end")
            seen.add(url)
        raise AgentSourceError(f"runners of {scope}: pagination did not end")

    # -- AgentSource ------------------------------------------------------------------------------------------
    def list_agents(self) -> list[Agent]:
        """Every runner of every configured scope: one paginated call per scope; any scope failing fails it all."""
        agents: list[Agent] = []
        for pool_id, scope in enumerate(self.scopes, start=1):
            agents += [_to_agent(r, pool_id, scope) for r in self._pages(scope)]
        return agents

    def list_pools(self) -> Listing:
        """Every scope (organisation, repository) listed on its own: a failing scope is named in `failed` under its
        pool id, and the others still count (failure isolation)."""
        agents: list[Agent] = []
        answered: set[int] = set()
        failed: dict[int | str, str] = {}
        names: dict[int | str, str] = {}
        for pool_id, scope in enumerate(self.scopes, start=1):
            names[pool_id] = scope.split(":", 1)[1]  # the organisation login or OWNER/REPO, as configured
            try:
                agents += [_to_agent(r, pool_id, scope) for r in self._pages(scope)]
            except AgentSourceError as exc:
                failed[pool_id] = f"{scope}: {exc}"
                continue
            answered.add(pool_id)
        return Listing(agents, frozenset(answered), failed, names)

    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        """GET .../actions/runners/{id} per runner; None when GitHub says 404 (the runner is gone)."""
        scope = self.scopes[pool_id - 1]
        out: dict[int, Agent | None] = {}
        for runner_id in agent_ids:
            resp = self._request("GET", f"{self.api_url}/{scope_path(scope)}/actions/runners/{runner_id}")
            if resp.status_code == 404:
                out[runner_id] = None
                continue
            if resp.status_code >= 400:
                raise AgentSourceError(
                    f"runner {runner_id} of {scope}: HTTP {resp.status_code}", status=resp.status_code
                )
            try:
                out[runner_id] = _to_agent(RunnerPayload.model_validate(resp.json()), pool_id, scope)
            except (ValueError, ValidationError):
                raise AgentSourceError(f"runner {runner_id} of {scope}: unexpected response shape") from None
        return out

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        return []  # the runners API has no per-runner job list; `busy` is the evidence

    def disable(self, agent: Agent) -> None:
        """GitHub cannot disable a runner: nothing to do (the agents are disableable=False)."""

    def delete(self, agent: Agent) -> None:
        url = f"{self.api_url}/{scope_path(agent.pool)}/actions/runners/{agent.id}"
        resp = self._request("DELETE", url)
        if resp.status_code not in (200, 204, 404):
            raise AgentSourceError(f"delete {agent.label()}: HTTP {resp.status_code}", status=resp.status_code)


def _to_agent(r: RunnerPayload, pool_id: int, scope: str) -> Agent:
    caps: dict[str, str] = {"os": r.os} if r.os else {}
    for label in r.labels:
        key, sep, value = label.name.partition("=")
        caps[label.name] = label.name
        if sep:
            caps[key] = value  # a label such as AWS_INSTANCE_ID=i-0123... serves the capability mapping
    return Agent(
        source=SOURCE,
        pool_id=pool_id,
        pool=scope,
        id=r.id,
        name=r.name,
        enabled=True,
        online=r.status.lower() == "online",
        # Only GitHub's own `busy: false` is an idle runner; a record that does not say may run a job, and holds.
        assigned_request=BUSY if r.busy is not False else None,
        assigned_known=r.busy is not None,
        computer_name=r.name,  # a runner is named after its host unless told otherwise
        capabilities=caps,
        disableable=False,
        # Priority tiers: the runner list names no workflow or branch, only the runner's labels, which the job's
        # `runs-on` had to match; the other fields stay unknown (gate.domain.tiers).
        job=JobMeta(labels=tuple(label.name for label in r.labels)) if r.busy else None,
    )


# -- the token ------------------------------------------------------------------------------------------------
def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _static(token: str) -> SecretCredential:
    return secrets.static_credential(token, "the GitHub token", _bearer)


def token_credential(
    settings: Any, session: Any = None, endpoint_url: str | None = None, now: Callable[[], float] | None = None
) -> SecretCredential:
    """GATE_GITHUB_TOKEN (local use) or the secret GATE_GITHUB_TOKEN_SECRET_ARN names (secrets.token_credential)."""
    return secrets.token_credential(
        settings.github_token,
        settings.github_token_secret_arn,
        what="the GitHub token",
        keys=("token", "github_token", "GITHUB_TOKEN"),
        header=_bearer,
        max_age=settings.secret_cache_seconds,
        session=session,
        endpoint_url=endpoint_url,
        now=now,
    )


def build(settings: Any, session: Any, aws_endpoint: str | None, clock: Any) -> GitHubRunners:
    """The registry entry (gate.bootstrap.SOURCES). Reads no secret: the token is read at the first request."""
    now = clock.now if clock is not None else None
    return GitHubRunners(
        settings.github_api_url,
        token_credential(settings, session, aws_endpoint, now),
        org=settings.github_org,
        repos=list(settings.github_repos),
        timeout=settings.http_timeout_seconds,
        clock=clock,
    )
