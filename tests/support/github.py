"""A fake GitHub REST API for self-hosted runners, served on 127.0.0.1 (werkzeug, like the fake Azure DevOps).

Speaks what `gate.adapters.github` uses, in GitHub's shapes (REST API 2022-11-28, "Self-hosted runners"):
`GET /orgs/{org}/actions/runners`, `GET /repos/{owner}/{repo}/actions/runners` -> {"total_count", "runners": [...]},
`per_page` (default 30, max 100) and `page`, with a `Link` header (`next`, `last`, `first`, `prev`) as GitHub sends it;
`GET`/`DELETE .../actions/runners/{id}`; `Authorization: Bearer` (or `token`) checked, 401 "Bad credentials"
otherwise. Deleting a runner that runs a job answers 422, as GitHub does.

Jobs run on the injected clock (busy while `start + duration` is ahead), evaluated on every request, so a
`ManualClock` drives a scenario without threads. Faults: `rate_limit` (403 with `x-ratelimit-remaining: 0` and
`x-ratelimit-reset`), `secondary_rate_limit` (429 + `Retry-After`), `server_error` (5xx), `unauthorized` (401).
`calls` records method, path, query and status, never headers.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulator.faults import Faults
from emulator.httpserver import LocalServer
from gate.domain.clock import Clock, SystemClock

Json = dict[str, Any]
DOCS = "https://docs.github.com/rest/actions/self-hosted-runners"


# A job whose runner vanished is failed some minutes later with this annotation (GitHub's wording).
RUNNER_LOST_SECONDS = 600.0
RUNNER_LOST_MESSAGE = (
    "The self-hosted runner: {name} lost communication with the server. Verify the machine is running and has a "
    "healthy network connection. Anything in your workflow that terminates the runner process, starves it for CPU/"
    "Memory, or blocks its network access can cause this error."
)


@dataclass
class _Job:
    id: int
    runner_id: int
    started_at: float
    duration: float
    finished_at: float | None = None
    conclusion: str | None = None  # success, or failure once a vanished runner's job is given up
    lost_at: float | None = None  # its runner vanished mid-job (`lose_runner`)
    annotations: list[str] = field(default_factory=list)

    @property
    def ends_at(self) -> float:
        if self.lost_at is not None:
            return self.lost_at + RUNNER_LOST_SECONDS
        return self.started_at + self.duration


@dataclass
class _Runner:
    id: int
    scope: str  # "orgs/acme" or "repos/acme/ci"
    name: str
    os: str
    online: bool
    labels: list[str]
    deleted_at: float | None = None
    history: list[Json] = field(default_factory=list)


_URLS = Map(
    [
        Rule("/orgs/<org>/actions/runners", endpoint="list", methods=["GET"]),
        Rule("/repos/<owner>/<repo>/actions/runners", endpoint="list", methods=["GET"]),
        Rule("/orgs/<org>/actions/runners/<int:runner_id>", endpoint="runner", methods=["GET", "DELETE"]),
        Rule("/repos/<owner>/<repo>/actions/runners/<int:runner_id>", endpoint="runner", methods=["GET", "DELETE"]),
        # Workflow runs and their jobs (`gate audit`): one run per job here; a job's check run has its id.
        Rule("/repos/<owner>/<repo>/actions/runs", endpoint="runs", methods=["GET"]),
        Rule("/repos/<owner>/<repo>/actions/runs/<int:run_id>/jobs", endpoint="run_jobs", methods=["GET"]),
        Rule("/repos/<owner>/<repo>/check-runs/<int:job_id>/annotations", endpoint="annotations", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json; charset=utf-8")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scope(values: Mapping[str, Any]) -> str:
    return f"orgs/{values['org']}" if "org" in values else f"repos/{values['owner']}/{values['repo']}"


class FakeGitHub(LocalServer):
    """Runners of organisations and repositories, with scripted jobs and fault injection."""

    thread_name = "fake-github"

    def __init__(self, port: int = 0, clock: Clock | None = None, token: str | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.token = token
        self.url = ""
        self.calls: list[Json] = []
        self._port = port
        self._lock = threading.RLock()
        self._runners: dict[int, _Runner] = {}
        self._jobs: dict[int, _Job] = {}
        self._faults = Faults(lambda: self.clock.now())
        self._scopes: set[str] = set()  # organisations and repositories that exist (others answer 404)
        self._ids = {"runner": 0, "job": 0}
        # Called with the runner id just before a DELETE is judged: lets a test land a job in the gap between the
        # gate's last look and its delete (the race GitHub's missing "disable" leaves open).
        self.before_delete: Callable[[int], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _on_started(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    # -- scripting --------------------------------------------------------------------------------------------
    def add_runner(
        self,
        name: str,
        *,
        org: str | None = None,
        repo: str | None = None,
        os: str = "Linux",
        online: bool = True,
        labels: list[str] | None = None,
    ) -> int:
        if (org is None) == (repo is None):
            raise ValueError("give exactly one of org or repo")
        with self._lock:
            self._ids["runner"] += 1
            rid = self._ids["runner"]
            scope = f"orgs/{org}" if org else f"repos/{repo}"
            self._scopes.add(scope)
            default = ["self-hosted", os, "X64"]
            self._runners[rid] = _Runner(rid, scope, name, os, online, [*default, *(labels or [])])
            return rid

    def add_scope(self, *, org: str | None = None, repo: str | None = None) -> None:
        """An organisation or repository without runners (lists answer 200 with none instead of 404)."""
        with self._lock:
            self._scopes.add(f"orgs/{org}" if org else f"repos/{repo}")

    def start_job(self, runner_id: int, duration: float) -> int:
        """The runner takes a job now; ValueError if it is deleted, offline or busy."""
        with self._lock:
            self._advance()
            runner = self._runners[runner_id]
            if runner.deleted_at is not None or not runner.online or self._running(runner_id):
                raise ValueError(f"runner {runner_id} cannot take a job")
            self._ids["job"] += 1
            job = _Job(self._ids["job"], runner_id, self.clock.now(), duration)
            self._jobs[job.id] = job
            return job.id

    def finish_job(self, job_id: int) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if job.finished_at is None:
                job.finished_at, job.conclusion = self.clock.now(), "success"

    def lose_runner(self, runner_id: int) -> None:
        """The runner's machine is gone: it goes offline, and its running job fails with the lost-communication
        annotation some minutes later, as GitHub does."""
        with self._lock:
            self._advance()
            runner = self._runners[runner_id]
            runner.online = False
            job = self._running(runner_id)
            if job is not None and job.lost_at is None:
                job.lost_at = self.clock.now()
                job.annotations.append(RUNNER_LOST_MESSAGE.format(name=runner.name))

    def set_online(self, runner_id: int, online: bool) -> None:
        with self._lock:
            self._runners[runner_id].online = online

    def inject(
        self,
        kind: str,
        *,
        count: int | None = None,
        seconds: float | None = None,
        method: str | None = None,
        status: int = 503,
        retry_after: int = 60,
    ) -> None:
        if kind not in ("rate_limit", "secondary_rate_limit", "server_error", "unauthorized"):
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.add(kind, count, seconds, method, status, retry_after)

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- inspection -------------------------------------------------------------------------------------------
    def runner(self, runner_id: int) -> Json:
        with self._lock:
            self._advance()
            r = self._runners[runner_id]
            return {
                **self._runner_json(r),
                "scope": r.scope,
                "deleted": r.deleted_at is not None,
                "deleted_at": r.deleted_at,
            }

    def jobs(self) -> list[Json]:
        with self._lock:
            self._advance()
            return [
                {
                    "id": j.id,
                    "runner_id": j.runner_id,
                    "started_at": j.started_at,
                    "ends_at": j.ends_at,
                    "finished_at": j.finished_at,
                    "conclusion": j.conclusion,
                }
                for j in self._jobs.values()
            ]

    # -- internals --------------------------------------------------------------------------------------------
    def _advance(self) -> None:
        now = self.clock.now()
        for job in self._jobs.values():
            if job.finished_at is None and now >= job.ends_at:
                job.finished_at = job.ends_at
                job.conclusion = "failure" if job.lost_at is not None else "success"

    def _running(self, runner_id: int) -> _Job | None:
        return next((j for j in self._jobs.values() if j.runner_id == runner_id and j.finished_at is None), None)

    def _runner_json(self, r: _Runner) -> Json:
        return {
            "id": r.id,
            "name": r.name,
            "os": r.os,
            "status": "online" if r.online else "offline",
            "busy": self._running(r.id) is not None,
            "ephemeral": False,
            "labels": [
                {"id": i + 1, "name": name, "type": "read-only" if i < 3 else "custom"}
                for i, name in enumerate(r.labels)
            ],
        }

    # -- HTTP -------------------------------------------------------------------------------------------------
    def _fault(self, request: Request) -> Response | None:
        fault = self._faults.take(request.method, request.path)
        if fault is None:
            return None
        if fault.kind == "rate_limit":
            headers = {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(int(self.clock.now() + fault.retry_after)),
                "x-ratelimit-resource": "core",
            }
            body = {"message": "API rate limit exceeded for installation.", "documentation_url": DOCS}
            return _json(body, 403, headers)
        if fault.kind == "secondary_rate_limit":
            body = {"message": "You have exceeded a secondary rate limit.", "documentation_url": DOCS}
            return _json(body, 429, {"Retry-After": str(fault.retry_after)})
        if fault.kind == "unauthorized":
            return _json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        return _json({"message": "Server Error"}, fault.status)

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and hmac.compare_digest(value.encode(), self.token.encode())

    def _serve(self, request: Request) -> Response:
        fault = self._fault(request)
        if fault is not None:
            return fault
        if not self._authorized(request):
            return _json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        try:
            endpoint, values = _URLS.bind_to_environ(request.environ).match(request.path, method=request.method)
        except Exception:
            return _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        with self._lock:
            self._advance()
            if endpoint == "list":
                return self._list(request, _scope(values))
            if endpoint in ("runs", "run_jobs", "annotations"):
                return self._workflow(request, str(endpoint), _scope(values), values)
            return self._one(request, _scope(values), int(values["runner_id"]))

    def _list(self, request: Request, scope: str) -> Response:
        try:
            per_page = max(1, min(100, int(request.args.get("per_page", 30))))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            return _json({"message": "Invalid request.", "documentation_url": DOCS}, 422)
        if scope not in self._scopes:  # GitHub answers 404, also when the token cannot see it
            return _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        runners = sorted(
            (r for r in self._runners.values() if r.scope == scope and r.deleted_at is None), key=lambda r: r.id
        )
        last = max(1, -(-len(runners) // per_page))
        chunk = runners[(page - 1) * per_page : page * per_page]
        base = f"{self.url}/{scope}/actions/runners"

        def link(p: int, rel: str) -> str:
            return f'<{base}?{urlencode({"per_page": per_page, "page": p})}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else None
        return _json({"total_count": len(runners), "runners": [self._runner_json(r) for r in chunk]}, 200, headers)

    def _repo_jobs(self, scope: str) -> list[_Job]:
        return [j for j in self._jobs.values() if self._runners[j.runner_id].scope == scope]

    def _job_json(self, j: _Job, scope: str) -> Json:
        runner = self._runners[j.runner_id]
        return {
            "id": j.id,
            "run_id": j.id,
            "name": "build",
            "workflow_name": "ci",
            "status": "completed" if j.finished_at is not None else "in_progress",
            "conclusion": j.conclusion,
            "created_at": _iso(j.started_at),
            "started_at": _iso(j.started_at),
            "completed_at": _iso(j.finished_at) if j.finished_at is not None else None,
            "runner_id": runner.id,
            "runner_name": runner.name,
            "labels": list(runner.labels),
            "check_run_url": f"{self.url}/{scope}/check-runs/{j.id}",
        }

    def _workflow(self, request: Request, endpoint: str, scope: str, values: Mapping[str, Any]) -> Response:
        """Runs (one per job; `created=>=ISO`), a run's jobs, a job's check-run annotations: what `gate audit`
        reads. Unpaginated: a test world has fewer than 100 of each."""
        if scope not in self._scopes:
            return _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        jobs = {j.id: j for j in self._repo_jobs(scope)}
        if endpoint == "runs":
            since = request.args.get("created", "").removeprefix(">=")
            runs = [
                {
                    "id": j.id,
                    "name": "ci",
                    "status": self._job_json(j, scope)["status"],
                    "conclusion": j.conclusion,
                    "created_at": _iso(j.started_at),
                    "run_started_at": _iso(j.started_at),
                }
                for j in sorted(jobs.values(), key=lambda j: -j.id)
                if not since or _iso(j.started_at) >= since
            ]
            return _json({"total_count": len(runs), "workflow_runs": runs})
        job = jobs.get(int(values.get("run_id", values.get("job_id", 0))))
        if job is None:
            return _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        if endpoint == "run_jobs":
            return _json({"total_count": 1, "jobs": [self._job_json(job, scope)]})
        return _json(
            [
                {
                    "path": ".github",
                    "start_line": 1,
                    "end_line": 1,
                    "annotation_level": "failure",
                    "message": m,
                    "title": "",
                    "raw_details": "",
                }
                for m in job.annotations
            ]
        )

    def _one(self, request: Request, scope: str, runner_id: int) -> Response:
        runner = self._runners.get(runner_id)
        if runner is None or runner.scope != scope or runner.deleted_at is not None:
            return _json({"message": "Not Found", "documentation_url": DOCS}, 404)
        if request.method == "DELETE":
            if self.before_delete is not None:
                self.before_delete(runner_id)
            if self._running(runner_id) is not None:
                message = f'Bad request - Runner "{runner.name}" is still running a job"'
                return _json({"message": message, "documentation_url": DOCS}, 422)
            runner.deleted_at = self.clock.now()
            return Response(status=204)
        return _json(self._runner_json(runner))
