"""A fake GitLab REST API v4 for CI runners, served on 127.0.0.1 (werkzeug, like the fake Azure DevOps and GitHub).

Speaks what `gate.adapters.gitlab` uses, in GitLab's shapes (docs.gitlab.com/api/runners, /api/rest, rate limits):
`GET /api/v4/runners` (runners the token's user owns) and `/runners/all` (administrator; 403 otherwise), filtered
by `scope`, `type`, `status`, `paused` and `tag_list`, each item {"id", "description", "ip_address", "active",
"paused", "is_shared", "runner_type", "name", "online", "status"}; `GET /runners/:id` adds "tag_list", "contacted_at",
"version"...; `PUT /runners/:id` (`paused`, or the older `active`) answers the runner; `DELETE /runners/:id` 204;
`GET /runners/:id/managers` [{"id", "system_id", "version", "revision", "platform", "architecture", "created_at",
"contacted_at", "ip_address", "status", "job_execution_status"}]; `GET /runners/:id/jobs` (`status`, `order_by`,
`sort`) [{"id", "status", "name", "stage", "created_at", "started_at", "finished_at", "duration", "project",
"pipeline", "runner_manager"}] (`runner_manager` from GitLab 17.1: leave it out with `job_manager=False`);
`GET /projects/:id/jobs/:job_id` (the job entity: the list's fields plus "allow_failure", "commit", "runner" (null
once its runner is deleted), "web_url"...; 404 {"message": "404 Project Not Found"} or {"message": "404 Not found"});
`GET /version`. Lists paginate (`per_page` default 20, max 100; `page`) with `X-Page`, `X-Per-Page`, `X-Total`,
`X-Total-Pages`, `X-Next-Page`, `X-Prev-Page` and `Link` (`prev`, `next`, `first`, `last`). Every answer carries
`RateLimit-Limit`, `-Observed`, `-Remaining`, `-Reset` and `-ResetTime` (a per-minute window on the clock); past the
limit, or under the `rate_limit` fault, 429 with `Retry-After`. Auth: `PRIVATE-TOKEN` or `Authorization: Bearer`;
401 {"message": "401 Unauthorized"}; missing objects 404 {"message": "404 Runner Not Found"}.

Behaviour: a paused or deleted runner takes no new job (`start_job` refuses it); jobs run on the injected clock
(finished once `started_at + duration` has passed), so a `ManualClock` drives a scenario without threads;
`before_pause` lets a job land between the gate's last look and its pause; `hidden` runners are left out of the
lists (a shortened answer) while still found one by one. `calls` records method, path, query and
status, never headers.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulator.faults import Faults
from emulator.httpserver import LocalServer
from gate.domain.clock import Clock, SystemClock

Json = dict[str, Any]
RUNNER_TYPES = ("instance_type", "group_type", "project_type")
JOB_STATUSES = ("running", "success", "failed", "canceled")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Manager:
    id: int
    system_id: str
    ip_address: str
    created_at: float
    online: bool = True


@dataclass
class _Job:
    id: int
    runner_id: int
    manager_id: int | None
    created_at: float
    started_at: float
    duration: float
    status: str = "running"
    finished_at: float | None = None
    # What the job says of itself (the gate's priority tiers read it): its ref, stage, name, project path, its
    # pipeline's source, and its tags (served as tag_list only when given: GitLab's runner job list leaves them out)
    ref: str = "main"
    stage: str = "test"
    name: str | None = None
    project: str = "acme/app"
    source: str = "push"
    tags: list[str] | None = None
    project_id: int = 1

    @property
    def ends_at(self) -> float:
        return self.started_at + self.duration


@dataclass
class _Runner:
    id: int
    description: str
    tags: list[str]
    runner_type: str
    owned: bool
    created_at: float
    paused: bool = False
    deleted_at: float | None = None
    managers: list[_Manager] = field(default_factory=list)


_URLS = Map(
    [
        Rule("/api/v4/version", endpoint="version", methods=["GET"]),
        Rule("/api/v4/runners", endpoint="owned", methods=["GET"]),
        Rule("/api/v4/runners/all", endpoint="all", methods=["GET"]),
        Rule("/api/v4/runners/<int:runner_id>", endpoint="runner", methods=["GET", "PUT", "DELETE"]),
        Rule("/api/v4/runners/<int:runner_id>/managers", endpoint="managers", methods=["GET"]),
        Rule("/api/v4/runners/<int:runner_id>/jobs", endpoint="jobs", methods=["GET"]),
        Rule("/api/v4/projects/<int:project_id>/jobs/<int:job_id>", endpoint="project_job", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _bool(value: str) -> bool:
    """A boolean parameter as GitLab's API (Grape) reads it: true/false, 1/0, yes/no, in any case."""
    return value.strip().lower() in ("true", "1", "t", "yes", "y", "on")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class FakeGitLab(LocalServer):
    """Runners (one per instance, or shared with a manager per instance), scripted jobs and fault injection."""

    thread_name = "fake-gitlab"

    def __init__(
        self,
        port: int = 0,
        clock: Clock | None = None,
        token: str | None = None,
        *,
        admin: bool = False,
        version: str = "17.5.2-ee",
        job_manager: bool = True,
        rate_limit: int = 2000,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.token = token
        self.admin = admin  # may the token list /runners/all
        self.version = version
        self.job_manager = job_manager  # jobs name their runner_manager (GitLab 17.1+)
        self.rate_limit = rate_limit  # requests per minute, as GitLab.com's authenticated API limit
        self.url = ""
        self.calls: list[Json] = []
        self._port = port
        self._lock = threading.RLock()
        self._runners: dict[int, _Runner] = {}
        self._jobs: dict[int, _Job] = {}
        self._faults = Faults(lambda: self.clock.now())
        self._ids = {"runner": 0, "manager": 0, "job": 0}
        self._projects: dict[str, int] = {}  # project path -> id, as jobs name them
        self._window = (0, 0)  # (minute, requests in it)
        # Called with the runner id just before a pause is applied: lets a test land a job between the gate's last
        # look and its pause (GitLab hands out the job a runner asked for before the pause).
        self.before_pause: Callable[[int], None] | None = None
        # Runners the lists leave out while `GET /runners/:id` still finds them: a shortened (or emptied) answer.
        self.hidden: set[int] = set()
        # The largest page a list answers, whatever `per_page` asks (GitLab's is 100): small pages force pagination.
        self.max_per_page = 100
        # Every page names itself as the next one (a broken proxy or cache): pagination that never ends.
        self.endless_pages = False

    def _on_started(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    # -- scripting --------------------------------------------------------------------------------------------
    def add_runner(
        self,
        description: str,
        *,
        tags: list[str] | None = None,
        runner_type: str = "project_type",
        owned: bool = True,
        paused: bool = False,
    ) -> int:
        """`owned`: listed by GET /runners (else only by /runners/all)."""
        if runner_type not in RUNNER_TYPES:
            raise ValueError(f"runner_type must be one of {RUNNER_TYPES}")
        with self._lock:
            self._ids["runner"] += 1
            rid = self._ids["runner"]
            self._runners[rid] = _Runner(
                rid, description, list(tags or []), runner_type, owned, self.clock.now(), paused=paused
            )
            return rid

    def add_manager(self, runner_id: int, ip_address: str, system_id: str | None = None) -> int:
        """A machine running this runner (`gitlab-runner run` with its authentication token) contacts GitLab."""
        with self._lock:
            self._ids["manager"] += 1
            mid = self._ids["manager"]
            sid = system_id or f"s_{mid:012x}"
            self._runners[runner_id].managers.append(_Manager(mid, sid, ip_address, self.clock.now()))
            return mid

    def manager_system_id(self, manager_id: int) -> str:
        with self._lock:
            return next(m.system_id for r in self._runners.values() for m in r.managers if m.id == manager_id)

    def start_job(
        self,
        runner_id: int,
        duration: float,
        manager_id: int | None = None,
        *,
        ref: str = "main",
        stage: str = "test",
        name: str | None = None,
        project: str = "acme/app",
        source: str = "push",
        tags: list[str] | None = None,
    ) -> int:
        """The runner (through `manager_id`, or its first manager) picks up a job now; ValueError if the runner is
        paused or deleted: GitLab gives a paused runner no job. The rest is what the job says of itself (by default
        a push pipeline's `test` job on main of acme/app; `tags` listed as tag_list only when given)."""
        with self._lock:
            self._advance()
            runner = self._runners[runner_id]
            if runner.deleted_at is not None or runner.paused:
                raise ValueError(f"runner {runner_id} takes no job (paused or deleted)")
            if manager_id is None and runner.managers:
                manager_id = runner.managers[0].id
            now = self.clock.now()
            self._ids["job"] += 1
            job = _Job(self._ids["job"], runner_id, manager_id, now, now, duration)
            job.ref, job.stage, job.name, job.project, job.source, job.tags = ref, stage, name, project, source, tags
            job.project_id = self._projects.setdefault(project, len(self._projects) + 1)
            self._jobs[job.id] = job
            return job.id

    def finish_job(self, job_id: int, status: str = "success") -> None:
        with self._lock:
            job = self._jobs[job_id]
            if job.finished_at is None:
                job.finished_at, job.status = self.clock.now(), status

    def inject(
        self,
        kind: str,
        *,
        count: int | None = None,
        seconds: float | None = None,
        method: str | None = None,
        status: int = 503,
        retry_after: int = 60,
        delay: float = 0.0,
        path_contains: str | None = None,
    ) -> None:
        """Faults: `rate_limit` (429 + Retry-After), `server_error` (`status`), `unauthorized` (401), `forbidden`
        (403), `not_found` (404 for every runner path), `latency` (sleep `delay` seconds of the fake's clock, then
        answer normally), `malformed` (200 with an HTML body). `path_contains`: only requests whose path contains it."""
        if kind not in ("rate_limit", "server_error", "unauthorized", "forbidden", "not_found", "latency", "malformed"):
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.add(kind, count, seconds, method, status, retry_after, delay, path_contains)

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_online(self, runner_id: int, online: bool, manager_id: int | None = None) -> None:
        """The runner's managers (or one of them) stop or resume contacting GitLab: connectivity only, a running
        job keeps running."""
        with self._lock:
            for m in self._runners[runner_id].managers:
                if manager_id in (None, m.id):
                    m.online = online

    def remove_runner(self, runner_id: int) -> None:
        """The registration vanishes outside the user API (`gitlab-runner unregister` with the runner's own token,
        or an administrator): not recorded in `calls`."""
        with self._lock:
            runner = self._runners[runner_id]
            if runner.deleted_at is None:
                runner.deleted_at = self.clock.now()

    # -- inspection -------------------------------------------------------------------------------------------
    def runner(self, runner_id: int) -> Json:
        with self._lock:
            self._advance()
            r = self._runners[runner_id]
            return {**self._detail(r), "deleted": r.deleted_at is not None, "deleted_at": r.deleted_at}

    def jobs(self) -> list[Json]:
        with self._lock:
            self._advance()
            # the API's shape, with the times as epoch seconds on the fake's clock (for accounting)
            return [
                self._job_json(j)
                | {
                    "started_at": j.started_at,
                    "finished_at": j.finished_at,
                    "ends_at": j.ends_at,
                    "runner_id": j.runner_id,
                }
                for j in self._jobs.values()
            ]

    # -- internals --------------------------------------------------------------------------------------------
    def _advance(self) -> None:
        now = self.clock.now()
        for job in self._jobs.values():
            if job.finished_at is None and now >= job.ends_at:
                job.finished_at, job.status = job.ends_at, "success"

    def _status(self, r: _Runner) -> str:
        if not r.managers:
            return "never_contacted"
        return "online" if any(m.online for m in r.managers) else "offline"

    def _summary(self, r: _Runner) -> Json:
        status = self._status(r)
        return {
            "id": r.id,
            "description": r.description,
            "ip_address": r.managers[-1].ip_address if r.managers else None,
            "active": not r.paused,
            "paused": r.paused,
            "is_shared": r.runner_type == "instance_type",
            "runner_type": r.runner_type,
            "name": "gitlab-runner",
            "online": status == "online",
            "status": status,
            "created_at": _iso(r.created_at),
            "job_execution_status": "active"
            if any(j.runner_id == r.id and j.finished_at is None for j in self._jobs.values())
            else "idle",
        }

    def _detail(self, r: _Runner) -> Json:
        last = max((m.created_at for m in r.managers), default=None)
        return {
            **self._summary(r),
            "architecture": "amd64",
            "platform": "linux",
            "contacted_at": _iso(last),
            "maintenance_note": None,
            "projects": [],
            "revision": "66a723c3",
            "tag_list": list(r.tags),
            "version": "17.5.0",
            "access_level": "not_protected",
            "maximum_timeout": 3600,
            "run_untagged": not r.tags,
            "locked": False,
        }

    def _manager_json(self, r: _Runner, m: _Manager) -> Json:
        busy = any(j.manager_id == m.id and j.finished_at is None for j in self._jobs.values())
        return {
            "id": m.id,
            "system_id": m.system_id,
            "version": "17.5.0",
            "revision": "66a723c3",
            "platform": "linux",
            "architecture": "amd64",
            "created_at": _iso(m.created_at),
            "contacted_at": _iso(self.clock.now()) if m.online else _iso(m.created_at),
            "ip_address": m.ip_address,
            "status": "online" if m.online else "offline",
            "job_execution_status": "active" if busy else "idle",
        }

    def _job_json(self, j: _Job) -> Json:
        body: Json = {
            "id": j.id,
            "status": j.status,
            "stage": j.stage,
            "name": j.name or f"job-{j.id}",
            "ref": j.ref,
            "tag": False,
            "coverage": None,
            "created_at": _iso(j.created_at),
            "started_at": _iso(j.started_at),
            "finished_at": _iso(j.finished_at),
            "duration": (j.finished_at or self.clock.now()) - j.started_at,
            "project": {"id": j.project_id, "name": j.project.rpartition("/")[2], "path_with_namespace": j.project},
            "pipeline": {
                "id": 100 + j.id,
                "project_id": j.project_id,
                "ref": j.ref,
                "status": j.status,
                "source": j.source,
            },
        }
        if j.tags is not None:
            body["tag_list"] = list(j.tags)
        if self.job_manager:
            runner = self._runners[j.runner_id]
            manager = next((m for m in runner.managers if m.id == j.manager_id), None)
            body["runner_manager"] = self._manager_json(runner, manager) if manager else None
        return body

    # -- HTTP -------------------------------------------------------------------------------------------------
    def _rate_headers(self) -> tuple[dict[str, str], bool]:
        """GitLab's RateLimit-* headers for a per-minute window on the clock, and whether this request is over."""
        now = self.clock.now()
        minute = int(now // 60)
        with self._lock:
            seen = self._window[1] + 1 if self._window[0] == minute else 1
            self._window = (minute, seen)
        reset = (minute + 1) * 60
        headers = {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Observed": str(seen),
            "RateLimit-Remaining": str(max(0, self.rate_limit - seen)),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
        }
        return headers, seen > self.rate_limit

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        value = request.headers.get("PRIVATE-TOKEN")
        if value is None:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return False
        return hmac.compare_digest(value.encode(), self.token.encode())

    def _serve(self, request: Request) -> Response:
        limits, over = self._rate_headers()
        response = self._answer(request, over, limits)
        for key, value in limits.items():
            response.headers.setdefault(key, value)
        return response

    def _answer(self, request: Request, over: bool, limits: dict[str, str]) -> Response:
        fault = self._faults.take(request.method, request.path)
        if fault is not None and fault.kind == "latency":
            self.clock.sleep(fault.delay)  # a slow answer: on the fake's clock, outside the lock
            fault = None
        if over or (fault is not None and fault.kind == "rate_limit"):
            retry = fault.retry_after if fault is not None else int(limits["RateLimit-Reset"]) - int(self.clock.now())
            limits["RateLimit-Remaining"] = "0"
            return Response("Retry later\n", status=429, headers={"Retry-After": str(max(1, retry))})
        if fault is not None and fault.kind == "unauthorized":
            return _json({"message": "401 Unauthorized"}, 401)
        if fault is not None and fault.kind == "forbidden":
            return _json({"message": "403 Forbidden"}, 403)
        if fault is not None and fault.kind == "server_error":
            return _json({"message": "500 Internal Server Error"}, fault.status)
        if not self._authorized(request):
            return _json({"message": "401 Unauthorized"}, 401)
        if fault is not None and fault.kind == "malformed":
            return Response("<html><body>502 Bad Gateway</body></html>", status=200, content_type="text/html")
        try:
            endpoint, values = _URLS.bind_to_environ(request.environ).match(request.path, method=request.method)
        except Exception:
            return _json({"error": "404 Not Found"}, 404)
        if fault is not None and fault.kind == "not_found" and endpoint != "version":
            return _json({"message": "404 Runner Not Found"}, 404)
        with self._lock:
            self._advance()
            if endpoint == "version":
                return _json({"version": self.version, "revision": "6b1fb2ed0c2", "kas": {"enabled": False}})
            if endpoint in ("owned", "all"):
                return self._list(request, endpoint == "all")
            if endpoint == "project_job":
                return self._project_job(int(values["project_id"]), int(values["job_id"]))
            runner = self._runners.get(int(values["runner_id"]))
            if runner is None or runner.deleted_at is not None:
                return _json({"message": "404 Runner Not Found"}, 404)
            if endpoint == "managers":
                return _json([self._manager_json(runner, m) for m in runner.managers])
            if endpoint == "jobs":
                return self._runner_jobs(request, runner)
            if request.method == "PUT":
                return self._update(request, runner)
            if request.method == "DELETE":
                runner.deleted_at = self.clock.now()
                return Response(status=204)
            return _json(self._detail(runner))

    def _project_job(self, project_id: int, job_id: int) -> Response:
        """`GET /projects/:id/jobs/:job_id`: the job entity. Its runner stays named while the runner exists; a
        deleted runner's jobs keep their status and times, with `runner` null."""
        if project_id not in self._projects.values():
            return _json({"message": "404 Project Not Found"}, 404)
        job = self._jobs.get(job_id)
        if job is None or job.project_id != project_id:
            return _json({"message": "404 Not found"}, 404)
        body = self._job_json(job)
        runner = self._runners[job.runner_id]
        path = f"{self.url}/{job.project}"
        body.update(
            {
                "allow_failure": False,
                "archived": False,
                "erased_at": None,
                "queued_duration": 0.5,
                "commit": {"id": f"{job.id:040x}", "short_id": f"{job.id:08x}", "title": "Update"},
                "user": {"id": 1, "username": "ci-bot", "name": "CI bot", "state": "active"},
                "artifacts": [],
                "artifacts_expire_at": None,
                "web_url": f"{path}/-/jobs/{job.id}",
                "project": {"ci_job_token_scope_enabled": False},
                "runner": None if runner.deleted_at is not None else self._summary(runner),
                "tag_list": list(job.tags or ()),
            }
        )
        if job.status == "failed":
            body["failure_reason"] = "script_failure"
        return _json(body)

    def _update(self, request: Request, runner: _Runner) -> Response:
        form = dict(request.form)
        if request.is_json:
            form.update({k: str(v).lower() for k, v in (request.get_json(silent=True) or {}).items()})
        if "paused" not in form and "active" not in form:
            return _json({"error": "at least one parameter must be provided"}, 400)
        paused = _bool(form["paused"]) if "paused" in form else not _bool(form["active"])
        if paused and self.before_pause is not None:
            self.before_pause(runner.id)
        runner.paused = paused
        return _json(self._detail(runner))

    def _list(self, request: Request, everything: bool) -> Response:
        if everything and not self.admin:
            return _json({"message": "403 Forbidden"}, 403)
        args = request.args
        runners = [
            r
            for r in self._runners.values()
            if r.deleted_at is None and (everything or r.owned) and r.id not in self.hidden
        ]
        if "tag_list" in args:
            wanted = {t.strip() for t in args["tag_list"].split(",") if t.strip()}
            runners = [r for r in runners if wanted <= set(r.tags)]
        if "paused" in args:
            runners = [r for r in runners if r.paused == _bool(args["paused"])]
        if "type" in args:
            runners = [r for r in runners if r.runner_type == args["type"]]
        if "status" in args:
            runners = [r for r in runners if self._status(r) == args["status"]]
        runners.sort(key=lambda r: r.id)
        return self._paged(request, [self._summary(r) for r in runners])

    def _runner_jobs(self, request: Request, runner: _Runner) -> Response:
        status = request.args.get("status")
        if status is not None and status not in JOB_STATUSES:
            return _json({"error": "status does not have a valid value"}, 400)
        jobs = [j for j in self._jobs.values() if j.runner_id == runner.id and status in (None, j.status)]
        jobs.sort(key=lambda j: j.id, reverse=request.args.get("sort", "desc") == "desc")
        return self._paged(request, [self._job_json(j) for j in jobs])

    def _paged(self, request: Request, items: list[Json]) -> Response:
        try:
            per_page = max(1, min(self.max_per_page, int(request.args.get("per_page", 20))))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            return _json({"error": "page is invalid"}, 400)
        pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.url}{request.path}"
        query = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}

        def link(p: int, rel: str) -> str:
            return f'<{base}?{urlencode({**query, "page": p, "per_page": per_page})}>; rel="{rel}"'

        following = page if self.endless_pages else (page + 1 if page < pages else None)
        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if following is not None:
            links.append(link(following, "next"))
        links += [link(1, "first"), link(pages, "last")]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(following) if following is not None else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return _json(chunk, 200, headers)


class GitLabScript:
    """What a scripted scale-in (`emulator.scenario.Run`) does to its CI system, on a FakeGitLab: the surface it
    uses of the fake Azure DevOps (`start_build`, `agent`, `builds`, `inject`, `calls`), so a GitLab world runs the
    same scripts. `shared=False`: a runner per instance named after it (`ci-<instance id>`, the `name` mapping);
    `shared=True`: one runner for the fleet and a manager per instance at its private IP (the `ip` mapping)."""

    def __init__(self, fake: FakeGitLab, *, shared: bool = False) -> None:
        self.fake = fake
        self.shared = shared
        self._runner_of: dict[int, int] = {}  # agent key (runner id, or manager id when shared) -> runner id
        self.system_ids: dict[str, str] = {}  # instance id -> its manager's system_id
        self._shared_runner: int | None = None

    @property
    def calls(self) -> list[Json]:
        return self.fake.calls

    def add_instances(self, private_ips: dict[str, str]) -> dict[str, int]:
        """Register the instances' runners (or managers); returns instance id -> agent key."""
        out: dict[str, int] = {}
        if self.shared and self._shared_runner is None:
            self._shared_runner = self.fake.add_runner("autoscaled-fleet", tags=["docker"])
        for iid, ip in private_ips.items():
            if self.shared:
                assert self._shared_runner is not None
                out[iid] = self.fake.add_manager(self._shared_runner, ip)
                self._runner_of[out[iid]] = self._shared_runner
                self.system_ids[iid] = self.fake.manager_system_id(out[iid])
            else:
                runner = self.fake.add_runner(f"ci-{iid}", tags=["docker"])
                self.fake.add_manager(runner, ip)
                out[iid] = self._runner_of[runner] = runner
        return out

    def start_build(self, agent_id: int, duration: float) -> int:
        """A job on the instance's runner (ValueError if it is paused or deleted, as Azure DevOps refuses a
        disabled agent)."""
        runner = self._runner_of[agent_id]
        return self.fake.start_job(runner, duration, manager_id=agent_id if self.shared else None)

    def agent(self, agent_id: int) -> Json | None:
        """`name`, `enabled`, `busy`, `deleted`: the row the simulation's table shows."""
        runner = self.fake.runner(self._runner_of[agent_id])
        mine = [
            j
            for j in self.fake.jobs()
            if j["runner_id"] == runner["id"] and (not self.shared or _manager_id(j) == agent_id)
        ]
        return {
            "id": agent_id,
            "name": runner["description"] if not self.shared else f"{runner['description']}/manager {agent_id}",
            "enabled": not runner["paused"],
            "busy": any(j["finished_at"] is None for j in mine),
            "deleted": runner["deleted"],
        }

    def builds(self) -> list[Json]:
        """Jobs as the simulation accounts builds: `id`, `finished_at`, `result`."""
        return [{"id": j["id"], "finished_at": j["finished_at"], "result": j["status"]} for j in self.fake.jobs()]

    def inject(self, kind: str, *, seconds: float, retry_after: int = 60) -> None:
        self.fake.inject(kind, seconds=seconds, retry_after=retry_after)


def _manager_id(job: Json) -> int | None:
    manager = job.get("runner_manager")
    return int(manager["id"]) if isinstance(manager, dict) else None


# -- `python -m emulator.gitlab`: a fake GitLab in the foreground, beside `gate emulator` --------------------------

LOCAL_TOKEN = "glpat-local-gitlab-token"  # what `python -m emulator.gitlab` accepts unless told otherwise
SEED_JOB_SECONDS = 4 * 3600  # as emulator.seed's builds: nothing ends while someone reads along


def seed_runners(fake: FakeGitLab, autoscaling: Any, ec2: Any, group: str, busy: Iterable[str] = ()) -> dict[str, int]:
    """A runner per instance of `group` (description `ci-<instance id>`, a manager at the instance's private IP), as
    `gate emulator --seed` gives each instance an Azure DevOps agent; the `busy` instances run a long job. Reads the
    group from any AWS endpoint (boto3 clients); returns instance id -> runner id."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not groups:
        raise LookupError(f"no Auto Scaling group {group}")
    ids = [i["InstanceId"] for i in groups[0]["Instances"]]
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"] if ids else []
    ips = {i["InstanceId"]: i.get("PrivateIpAddress", "") for r in reservations for i in r["Instances"]}
    runners: dict[str, int] = {}
    for iid in ids:
        runners[iid] = fake.add_runner(f"ci-{iid}", tags=["docker"])
        if ips.get(iid):
            fake.add_manager(runners[iid], ips[iid])
    for iid in busy:
        if iid in runners:
            fake.start_job(runners[iid], SEED_JOB_SECONDS)
    return runners


def seed_from(fake: FakeGitLab, aws_endpoint: str, group: str, busy: Iterable[str] = ()) -> dict[str, int]:
    """`seed_runners` on the AWS emulator at `aws_endpoint` (its dummy credentials)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    autoscaling = session.client("autoscaling", endpoint_url=aws_endpoint)
    ec2 = session.client("ec2", endpoint_url=aws_endpoint)
    return seed_runners(fake, autoscaling, ec2, group, busy)


def exports(fake: FakeGitLab, token: str = LOCAL_TOKEN) -> str:
    return f"export GATE_AGENT_SYSTEM=gitlab GATE_GITLAB_URL={fake.url} GATE_GITLAB_TOKEN={token}"


def main(argv: list[str] | None = None) -> None:
    """Run a fake GitLab on 127.0.0.1 until Ctrl-C; `--seed` gives the instances of `gate emulator --seed`'s group a
    runner each (its two busy instances run a job) and prints the exports that point the gate at it."""
    import argparse
    import signal

    from gate.domain.clock import ScaledClock

    parser = argparse.ArgumentParser(prog="python -m emulator.gitlab", description=main.__doc__)
    parser.add_argument("--port", type=int, default=5002, help="port (0 = any free port)")
    parser.add_argument("--token", default=LOCAL_TOKEN, help="the access token it accepts")
    parser.add_argument("--speed", type=float, default=1.0, help="clock acceleration (as gate emulator's)")
    parser.add_argument("--seed", action="store_true", help="a runner per instance of --group, read from AWS")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:5000", help="the AWS emulator (for --seed)")
    parser.add_argument("--group", default="ci-agents", help="the group whose instances get runners (for --seed)")
    args = parser.parse_args(argv)
    clock: Clock = ScaledClock(args.speed) if args.speed != 1 else SystemClock()
    fake = FakeGitLab(port=args.port, clock=clock, token=args.token).start()
    print(f"fake GitLab:        {fake.url}   (export GATE_GITLAB_URL={fake.url})", flush=True)
    try:
        if args.seed:
            from emulator.seed import INSTANCE_IDS

            busy = (INSTANCE_IDS[0], INSTANCE_IDS[2])  # emulator.seed's busy instances: waiting, and in service
            runners = seed_from(fake, args.aws_endpoint, args.group, busy)
            print(f"seeded: {len(runners)} runner(s), one per instance of {args.group}", flush=True)
            print("in another shell (with gate emulator --seed's AWS exports):", flush=True)
            print(
                f"  export GATE_AGENT_SYSTEM=gitlab GATE_GITLAB_URL={fake.url} GATE_GITLAB_TOKEN={args.token}",
                flush=True,
            )
        print("ready (Ctrl-C stops)", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
