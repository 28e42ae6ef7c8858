"""GitLab CI runners as a busy probe (GATE_AGENT_SYSTEM=gitlab), behind `gate.service.sources.AgentSource`.

REST v4 (GitLab.com and self-managed): `GET /runners` (the runners the token's user owns) or `GET /runners/all`
(administrator) -> [{"id", "description", "paused", "active", "is_shared", "runner_type", "online", "status"}],
paginated (`per_page`, `page`; `X-Next-Page` and `Link: <...>; rel="next"`); `GET /runners/:id` (adds `tag_list`);
`GET /runners/:id/managers` -> [{"id", "system_id", "ip_address", "status", "version", ...}];
`GET /runners/:id/jobs?status=running` -> [{"id", "status", "finished_at", "runner_manager": {"id", ...}, and what the
priority tiers read: "ref", "stage", "name", "project": {"path_with_namespace"}, "pipeline": {"source"}, "tag_list"
where given}];
`GET /projects/:id/jobs/:job_id` (a job seen running in the hold, read back by id: its `status`, `finished_at`,
`runner_manager`); `PUT /runners/:id` (`paused=true`); `DELETE /runners/:id`. Auth: `PRIVATE-TOKEN` (a personal,
group or project access token with the `manage_runner` scope where the instance offers it, else `api`, of a user
with the Owner role on the runners' group or project, or an administrator for `/runners/all`).

Two set-ups, told apart by GATE_MAPPING (docs/gitlab.md):

* **A runner per instance** (`name`: the runner's description names the instance id; `capability`: one of its tags
  is the instance id, or `AWS_INSTANCE_ID=i-...`): the agent is the runner. Drain pauses it (`paused=true`: GitLab
  hands a paused runner no new job), busy is its running jobs, release deletes it.
* **One runner shared by many instances** (`ip`: a runner manager's `ip_address` equals the instance's private IP;
  `system-id`: its `system_id` equals the instance's `gate:gitlab-system-id` tag): the agent is the manager.
  Pausing the runner would stop the whole fleet, so the gate never pauses it: the instance guard
  (examples/instance-guard, gate-guard-gitlab.service) sends gitlab-runner SIGQUIT, and the gate waits while a
  running job names that manager (`runner_manager`; a job that names none counts for every manager of its runner).
  The runner stays registered; GitLab removes a manager record itself once it stops contacting (a token user cannot
  delete one: `DELETE /runners/managers` takes the runner's own authentication token).

Neither list carries busyness: every agent comes with `assigned_known=False`, so the decision core asks for its jobs
(`job_requests`) and releases only on that positive evidence (a running job holds; an agent seen busy needs a job of
it seen finished, or every job it was seen running read back by id ended: `read_jobs`). An ask for a runner
answers None only on 404.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, ValidationError

from gate.adapters import secrets
from gate.adapters.rest import RestClient
from gate.adapters.secrets import SecretCredential
from gate.domain.mapping import Mapping
from gate.domain.model import Agent, JobMeta, JobRef, JobRequest
from gate.domain.redact import register_secret
from gate.service.sources import AgentSourceError, AuthError, Listing

SOURCE = "gitlab"
PER_PAGE = 100
RECENT = 20  # finished jobs looked at per agent: evidence that a job seen running has ended
RUNNERS_POOL = 1  # the pool id of a runner-per-instance listing
BUSY = 0  # a manager reporting job_execution_status "active": assigned_request is a marker
POOL_NAME = "runners"  # the configured name of the runner list (GATE_GROUP_POOLS)
FINISHED = frozenset({"success", "failed", "canceled", "skipped"})
# A job read back by id has ended when its status is one of these and it has `finished_at` (a `manual` job that ran
# and a `canceled` one keep their finished_at; `canceling` is still stopping).
READ_BACK_FINISHED = frozenset({"success", "failed", "canceled", "skipped", "manual"})
_INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{17}|[0-9a-f]{8})", re.IGNORECASE)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunnerPayload(_Payload):
    id: int
    description: str | None = None
    paused: bool | None = None  # GitLab 14.8+; `active` (its negation) before
    active: bool | None = None
    is_shared: bool = False
    online: bool | None = None
    status: str = "offline"
    tag_list: list[str] | None = None  # GET /runners/:id only
    job_execution_status: str | None = None  # "idle" or "active" (recent GitLab): only "active" is used, as busy

    @property
    def is_paused(self) -> bool:
        if self.paused is not None:
            return self.paused
        return self.active is False


class ManagerPayload(_Payload):
    id: int
    system_id: str = ""
    ip_address: str | None = None
    status: str = "offline"
    job_execution_status: str | None = None  # "idle" or "active" (GitLab 17.x): only "active" is used, as busy


class JobManager(_Payload):
    id: int


class JobPayload(_Payload):
    id: int
    status: str
    finished_at: str | None = None
    runner_manager: JobManager | None = None
    # What the priority tiers read (gate.domain.tiers), typed loosely on purpose: a field of an unexpected shape is
    # unknown metadata (the strictest tier it may be in), never a malformed answer (a failed look).
    ref: Any = None
    stage: Any = None
    name: Any = None
    project: Any = None
    pipeline: Any = None
    tag_list: Any = None

    def project_id(self) -> int:
        """Where the job can be read back (`project.id`, else `pipeline.project_id`); 0 when the answer does not
        say: no project 0 exists, so such a job is never read back ended and its agent holds."""
        for holder, key in ((self.project, "id"), (self.pipeline, "project_id")):
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return 0

    def meta(self) -> JobMeta:
        """pipeline: the project's path (its .gitlab-ci.yml is the pipeline); plan_type: the pipeline's source
        (push, merge_request_event, schedule, web...); branch: the job's ref as GitLab gives it (a branch or tag name;
        a merge request pipeline's refs/merge-requests/<iid>/head); stage; job: its name; labels: its tags, where the
        answer lists them (tag_list). Anything absent or of another shape: unknown (None)."""
        project = self.project.get("path_with_namespace") if isinstance(self.project, dict) else None
        source = self.pipeline.get("source") if isinstance(self.pipeline, dict) else None
        tags = self.tag_list
        labels = tuple(tags) if isinstance(tags, list) and all(isinstance(t, str) for t in tags) else None
        return JobMeta(
            pipeline=_text(project),
            plan_type=_text(source),
            branch=_text(self.ref),
            stage=_text(self.stage),
            job=_text(self.name),
            labels=labels,
        )


def _manager_pool(runner_id: int) -> str:
    return f"runner:{runner_id}"


class GitLabRunners(RestClient):
    """The runners one token sees (`/runners`, or `/runners/all` with `all_runners`), one agent per runner or per
    runner manager as the mapping says (see the module docstring)."""

    SERVICE = "GitLab"
    AUTH_HINT = "the token is invalid, expired or lacks the rights on these runners"

    def __init__(
        self,
        url: str,
        token: str | SecretCredential,
        *,
        mapping: Mapping = Mapping.NAME,
        capability_name: str = "AWS_INSTANCE_ID",
        all_runners: bool = False,
        tag_list: Sequence[str] = (),
        timeout: float = 10.0,
        max_retry_after: float = 20.0,
        clock: Any = None,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.mapping = mapping
        self.per_manager = mapping in (Mapping.IP, Mapping.SYSTEM_ID)
        self.capability_name = capability_name
        self.list_path = "/runners/all" if all_runners else "/runners"
        self.tag_list = list(tag_list)
        self.max_retry_after = max_retry_after
        self._version: tuple[int, int] | None = None
        if isinstance(token, str):
            register_secret(token)
            token = _static(token)
        headers = {"Accept": "application/json", "User-Agent": "asg-termination-gate"}
        super().__init__(f"{self.base_url}/api/v4", token, headers, timeout=timeout, clock=clock)

    # -- HTTP (gate.adapters.rest: retries, back-off, the refused token) ----------------------------------------
    def _auth_headers(self, header: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": header.partition(" ")[2]}

    def _rate_limited(self, resp: requests.Response, what: str, waited: int) -> bool:
        """A 429: a short wait GitLab asks for is slept on (the injected clock), once, if the deadline allows it;
        else no call before it ends, and the gate holds."""
        if resp.status_code != 429:
            return False
        wait = self._rate_limit_wait(resp)
        if not waited and wait <= self.max_retry_after and self.deadline.allows_wait(wait):
            self._sleep(wait)
            return True
        self._backoff_until = self._now() + wait
        raise AgentSourceError(f"{what}: rate limited (HTTP 429)", status=429, retry_after=wait)

    def _note_remaining(self, resp: requests.Response) -> None:
        """`RateLimit-Remaining: 0` on an answer: the next call would be refused, so none starts before the reset."""
        if resp.headers.get("RateLimit-Remaining") == "0":
            self._backoff_until = self._now() + self._rate_limit_wait(resp)

    def _check(self, resp: requests.Response, what: str) -> requests.Response:
        self._note_remaining(resp)
        return super()._check(resp, what)

    def _rate_limit_wait(self, resp: requests.Response) -> float:
        """Retry-After (seconds), else RateLimit-Reset (epoch seconds, on the clock: wall time in AWS), else 60 s."""
        try:
            if resp.headers.get("Retry-After"):
                return max(1.0, float(resp.headers["Retry-After"]))
            if resp.headers.get("RateLimit-Reset"):
                return max(1.0, float(resp.headers["RateLimit-Reset"]) - self._now())
        except ValueError:
            pass
        return 60.0

    def _pages(self, path: str, params: dict[str, Any], what: str) -> Iterator[Any]:
        """Every item of a paginated list: `Link rel="next"` when given, else `X-Next-Page`."""
        url = f"{self.api_url}{path}"
        query: dict[str, Any] = {**params, "per_page": PER_PAGE, "page": 1}
        seen: set[str] = set()
        for _ in range(1000):
            resp = self._request("GET", url, query)
            if resp.status_code == 404:
                raise AgentSourceError(f"{what}: HTTP 404", status=404)
            if resp.status_code >= 400:
                raise AgentSourceError(f"{what}: HTTP {resp.status_code}", status=resp.status_code)
            try:
                items = resp.json()
            except ValueError:
                raise AgentSourceError(f"{what}: unexpected response shape (not JSON)") from None
            if not isinstance(items, list):
                raise AgentSourceError(f"{what}: unexpected response shape (not a list)")
            yield from items
            link = resp.links.get("next", {}).get("url")
            following = (resp.headers.get("X-Next-Page") or "").strip()
            if link:
                url, query = link, {}
                key = link
            elif following:
                if not following.isdigit():
                    raise AgentSourceError(f"{what}: X-Next-Page is not a page number")
                query = {**query, "page": int(following)}
                key = following
            else:
                return
            if key in seen:
                raise AgentSourceError(f"{what}: the next page repeats: pagination would not end")
            seen.add(key)
        raise AgentSourceError(f"{what}: pagination did not end")

    def version(self) -> tuple[int, int]:
        """GitLab's (major, minor) from `GET /version`, once: routes and fields differ by version (`paused`
        since 14.8, a job's `runner_manager` since 17.1). Unknown -> the newest."""
        if self._version is None:
            resp = self._request("GET", f"{self.api_url}/version")
            found = re.match(r"(\d+)\.(\d+)", str(_json_or_none(resp).get("version", ""))) if resp.ok else None
            self._version = (int(found[1]), int(found[2])) if found else (99, 0)
        return self._version

    # -- listing ----------------------------------------------------------------------------------------------
    def _runners(self) -> list[RunnerPayload]:
        params: dict[str, Any] = {"tag_list": ",".join(self.tag_list)} if self.tag_list else {}
        try:
            return [RunnerPayload.model_validate(r) for r in self._pages(self.list_path, params, "the runner list")]
        except ValidationError:
            raise AgentSourceError("the runner list: unexpected response shape") from None

    def _runner(self, runner_id: int) -> RunnerPayload | None:
        resp = self._request("GET", f"{self.api_url}/runners/{runner_id}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise AgentSourceError(f"runner {runner_id}: HTTP {resp.status_code}", status=resp.status_code)
        try:
            return RunnerPayload.model_validate(resp.json())
        except (ValueError, ValidationError):
            raise AgentSourceError(f"runner {runner_id}: unexpected response shape") from None

    def _managers(self, runner_id: int) -> list[ManagerPayload] | None:
        """The runner's managers; None when the runner is gone (404)."""
        what = f"managers of runner {runner_id}"
        try:
            return [ManagerPayload.model_validate(m) for m in self._pages(f"/runners/{runner_id}/managers", {}, what)]
        except ValidationError:
            raise AgentSourceError(f"{what}: unexpected response shape") from None
        except AgentSourceError as exc:
            if exc.status == 404:
                return None
            raise

    def _runner_agent(self, r: RunnerPayload) -> Agent:
        if self.mapping is Mapping.CAPABILITY and r.tag_list is None:
            found = self._runner(r.id)  # the list leaves tags out: one look each
            if found is None:
                raise AgentSourceError(f"runner {r.id}: listed, then 404: the list is not to be trusted")
            r = found
        caps: dict[str, str] = {}
        ids: list[str] = []
        for tag in r.tag_list or ():
            key, sep, value = tag.partition("=")
            caps[tag] = tag
            if sep:
                caps[key.strip()] = value.strip()
            elif _INSTANCE_ID.fullmatch(tag.strip()):
                ids.append(tag.strip())
        if ids:  # several instance ids in tags: joined, so the capability mapping finds it ambiguous
            caps.setdefault(self.capability_name, ",".join(sorted(set(ids))))
        return Agent(
            source=SOURCE,
            pool_id=RUNNERS_POOL,
            pool=POOL_NAME,
            id=r.id,
            name=r.description or f"runner-{r.id}",
            enabled=not r.is_paused,
            online=r.status.lower() == "online" or bool(r.online),
            # GitLab's word that the runner runs a job is busy evidence (protection, the status view); "idle" is
            # not evidence of idle: the decision asks for its jobs (assigned_known=False).
            assigned_request=BUSY if (r.job_execution_status or "").lower() == "active" else None,
            computer_name=None,
            capabilities=caps,
            disableable=True,
            assigned_known=False,  # the runner record says nothing of jobs: its jobs are the evidence
            readable_jobs=True,  # a job seen running is read back by id when the runner's job list cannot show it
        )

    def list_agents(self) -> list[Agent]:
        """Every agent, or the first failure as raised (AuthError, DeadlineExceeded, a rate limit...)."""
        runners = self._runners()
        if not self.per_manager:
            return [self._runner_agent(r) for r in runners]
        return [agent for r in runners for agent in self._manager_agents(r.id)]

    def list_pools(self) -> Listing:
        """One runner list per round. Per runner (a runner per instance): pool 1. Per manager (`ip`, `system-id`):
        each runner is a pool (its managers, one call each); a runner whose managers cannot be read fails alone."""
        key: int | str = POOL_NAME if self.per_manager else RUNNERS_POOL
        try:
            runners = self._runners()
            if not self.per_manager:
                agents = [self._runner_agent(r) for r in runners]
                return Listing(agents, frozenset({RUNNERS_POOL}), {}, {RUNNERS_POOL: POOL_NAME})
        except AgentSourceError as exc:
            return Listing([], frozenset(), {key: f"{POOL_NAME}: {exc}"}, {key: POOL_NAME})
        agents = []
        answered: set[int] = set()
        failed: dict[int | str, str] = {}
        names: dict[int | str, str] = {}
        for runner in runners:
            names[runner.id] = POOL_NAME
            try:
                agents += self._manager_agents(runner.id)
            except AgentSourceError as exc:
                failed[runner.id] = str(exc)
                continue
            answered.add(runner.id)
        return Listing(agents, frozenset(answered), failed, names)

    def _manager_agents(self, runner_id: int) -> list[Agent]:
        managers = self._managers(runner_id)
        if managers is None:  # deleted since the list, or a GitLab without the route: nothing to judge it by
            raise AgentSourceError(
                f"runner {runner_id}: its managers answer 404 (deleted since the list, or a GitLab without "
                f"GET /runners/:id/managers, which GATE_MAPPING={self.mapping} needs)",
                status=404,
            )
        public = [m for m in managers if m.ip_address and not _private(m.ip_address)]
        # GitLab sees a NAT or public address: no instance would ever match by IP, and none may be released for it
        if public and self.mapping is Mapping.IP:
            raise AgentSourceError(
                f"runner {runner_id}: manager {public[0].system_id or public[0].id} reports a non-private IP "
                "address: GitLab does not see the instances' private IPs, so GATE_MAPPING=ip cannot map them"
            )
        return [_manager_agent(runner_id, m) for m in managers]

    # -- AgentSource ------------------------------------------------------------------------------------------
    def get_agents(self, pool_id: int, agent_ids: Sequence[int]) -> dict[int, Agent | None]:
        """Runners: GET /runners/:id each, None on 404. Managers: the runner's manager list, every one None when the
        runner is 404; a manager its runner no longer lists is no evidence (an error: hold)."""
        out: dict[int, Agent | None] = {}
        if pool_id == RUNNERS_POOL and not self.per_manager:
            for runner_id in agent_ids:
                found = self._runner(runner_id)
                out[runner_id] = None if found is None else self._runner_agent(found)
            return out
        managers = self._managers(pool_id)
        if managers is None:
            return dict.fromkeys(agent_ids)
        by_id = {m.id: m for m in managers}
        for manager_id in agent_ids:
            if manager_id not in by_id:
                raise AgentSourceError(
                    f"manager {manager_id} of runner {pool_id}: not among the runner's managers, and a manager "
                    "cannot be asked for alone: no evidence that it is gone"
                )
            out[manager_id] = _manager_agent(pool_id, by_id[manager_id])
        return out

    def job_requests(self, agent: Agent) -> list[JobRequest]:
        """Its running jobs (every page) and its latest finished ones (evidence that a job seen running ended). A
        manager's: the runner's jobs that name it, and those that name no manager (GitLab before 17.1: they may be
        its)."""
        runner_id = int(agent.capabilities["runner_id"]) if self._is_manager(agent) else agent.id
        what = f"jobs of runner {runner_id}"
        path = f"/runners/{runner_id}/jobs"
        try:
            running = [JobPayload.model_validate(j) for j in self._pages(path, {"status": "running"}, what)]
            resp = self._request("GET", f"{self.api_url}{path}", {"order_by": "id", "sort": "desc", "per_page": RECENT})
            if resp.status_code == 404:
                raise AgentSourceError(f"{what}: HTTP 404", status=404)
            if resp.status_code >= 400:
                raise AgentSourceError(f"{what}: HTTP {resp.status_code}", status=resp.status_code)
            recent = [JobPayload.model_validate(j) for j in resp.json()]
        except (ValueError, ValidationError):
            raise AgentSourceError(f"{what}: unexpected response shape") from None
        except AgentSourceError as exc:
            if exc.status == 404:
                return []  # the runner is gone: its absence is judged by the absence rule, and a job seen
                # running on it needs a finished one (never shown now), so the instance is held
            raise
        out: dict[int, JobRequest] = {}
        for job in running:
            if self._is_manager(agent) and job.runner_manager is not None and job.runner_manager.id != agent.id:
                continue
            out[job.id] = JobRequest(
                job.id,
                agent.id,
                finished=False,
                meta=job.meta(),
                project_id=job.project_id(),
                attributed=not self._is_manager(agent) or job.runner_manager is not None,
            )
        for job in recent:
            if job.id in out or job.status not in FINISHED:
                continue
            # A finished job naming no manager counts for every manager, as a running one does: once no job of
            # the runner runs, none of this manager's does.
            if self._is_manager(agent) and job.runner_manager is not None and job.runner_manager.id != agent.id:
                continue
            out[job.id] = JobRequest(
                job.id,
                agent.id,
                finished=True,
                finished_at=_epoch(job.finished_at),
                meta=job.meta(),
                project_id=job.project_id(),
                attributed=not self._is_manager(agent) or job.runner_manager is not None,
            )
        return list(out.values())

    def read_jobs(self, agent: Agent, refs: Sequence[JobRef]) -> list[JobRequest]:
        """Jobs the hold saw running on the agent, read back one by one (`GET /projects/:id/jobs/:job_id`): the
        evidence of their end when the agent's own job list cannot show it (a runner deleted as its job ended answers
        404 with its jobs; a job that named no manager names its manager later). A job is finished only with a
        finished status and `finished_at`; `agent_id` is the manager it names now (None: none, or a runner's job).
        A job or project not found (404) or not readable with the token (403) is left out: no evidence, the
        instance holds. Other failures raise, as every look does."""
        out: list[JobRequest] = []
        for ref in refs:
            what = f"job {ref.job_id} of project {ref.project_id}"
            try:
                resp = self._request("GET", f"{self.api_url}/projects/{ref.project_id}/jobs/{ref.job_id}")
            except AuthError as exc:
                if exc.status == 403:
                    continue  # the token's user cannot read that project's jobs: no evidence
                raise
            if resp.status_code == 404:
                continue
            if resp.status_code >= 400:
                raise AgentSourceError(f"{what}: HTTP {resp.status_code}", status=resp.status_code)
            try:
                job = JobPayload.model_validate(resp.json())
            except (ValueError, ValidationError):
                raise AgentSourceError(f"{what}: unexpected response shape") from None
            if job.id != ref.job_id:
                raise AgentSourceError(f"{what}: the answer is about job {job.id}")
            named = job.runner_manager.id if self._is_manager(agent) and job.runner_manager is not None else None
            ended = job.status in READ_BACK_FINISHED and job.finished_at is not None
            out.append(
                JobRequest(
                    job.id,
                    named,
                    finished=ended,
                    finished_at=_epoch(job.finished_at) if ended else None,
                    meta=job.meta(),
                    project_id=ref.project_id,
                    attributed=named is not None,
                )
            )
        return out

    def disable(self, agent: Agent) -> None:
        """Pause a runner of its own instance (`paused=true`; `active=false` before GitLab 14.8). A manager of a
        shared runner is never paused: the instance guard drains it."""
        if self._is_manager(agent):
            return
        major, minor = self.version()
        data = {"paused": "true"} if (major, minor) >= (14, 8) else {"active": "false"}
        resp = self._request("PUT", f"{self.api_url}/runners/{agent.id}", data=data)
        if resp.status_code != 200:
            raise AgentSourceError(f"pause {agent.label()}: HTTP {resp.status_code}", status=resp.status_code)

    def delete(self, agent: Agent) -> None:
        """Delete the runner registration (404: already gone). A shared runner's manager: nothing to delete with a
        user token; GitLab drops the record once the manager stops contacting it."""
        if self._is_manager(agent):
            return
        resp = self._request("DELETE", f"{self.api_url}/runners/{agent.id}")
        if resp.status_code not in (200, 204, 404):
            raise AgentSourceError(f"delete {agent.label()}: HTTP {resp.status_code}", status=resp.status_code)

    def _is_manager(self, agent: Agent) -> bool:
        return "runner_id" in agent.capabilities and agent.pool.startswith("runner:")


def _manager_agent(runner_id: int, m: ManagerPayload) -> Agent:
    caps = {"runner_id": str(runner_id), "system_id": m.system_id}
    if m.ip_address:
        caps["ip_address"] = m.ip_address.strip()  # the mapping reads it as an address (or maps it to nothing)
    return Agent(
        source=SOURCE,
        pool_id=runner_id,
        pool=_manager_pool(runner_id),
        id=m.id,
        name=m.system_id or f"manager-{m.id}",
        enabled=True,
        online=m.status.lower() == "online",
        # GitLab's own word that the manager runs a job is evidence of busy; "idle" is not evidence of idle (the
        # decision still asks for its jobs: assigned_known=False).
        assigned_request=BUSY if (m.job_execution_status or "").lower() == "active" else None,
        computer_name=None,
        capabilities=caps,
        disableable=False,  # pausing a shared runner would stop the fleet: the instance guard drains
        assigned_known=False,
        readable_jobs=True,
    )


def _private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip()).is_private
    except ValueError:
        return False


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_or_none(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# -- the token ------------------------------------------------------------------------------------------------
def _header(token: str) -> str:
    return f"PRIVATE-TOKEN {token}"  # the request sends the part after the space as the PRIVATE-TOKEN header


def _static(token: str) -> SecretCredential:
    return secrets.static_credential(token, "the GitLab token", _header)


def token_credential(
    settings: Any, session: Any = None, endpoint_url: str | None = None, now: Callable[[], float] | None = None
) -> SecretCredential:
    """GATE_GITLAB_TOKEN (local use) or the secret GATE_GITLAB_TOKEN_SECRET_ARN names (secrets.token_credential)."""
    return secrets.token_credential(
        settings.gitlab_token,
        settings.gitlab_token_secret_arn,
        what="the GitLab token",
        keys=("token", "gitlab_token", "GITLAB_TOKEN"),
        header=_header,
        max_age=settings.secret_cache_seconds,
        session=session,
        endpoint_url=endpoint_url,
        now=now,
    )


def build(settings: Any, session: Any, aws_endpoint: str | None, clock: Any) -> GitLabRunners:
    """The registry entry (gate.bootstrap.SOURCES). Reads no secret: the token is read at the first request."""
    now = clock.now if clock is not None else None
    return GitLabRunners(
        settings.gitlab_url,
        token_credential(settings, session, aws_endpoint, now),
        mapping=settings.mapping,
        capability_name=settings.capability_name,
        all_runners=settings.gitlab_runners == "all",
        tag_list=list(settings.gitlab_tag_list),
        timeout=settings.http_timeout_seconds,
        max_retry_after=settings.max_retry_after_seconds,
        clock=clock,
    )
