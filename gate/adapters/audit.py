"""Reads what `gate audit` needs from AWS and Azure DevOps, as the pure types of gate.domain.audit.

Terminations: DescribeScalingActivities per group ("Terminating EC2 instance: i-...", its Cause, StartTime, EndTime,
StatusCode), newest first, read back to the audit window. Jobs: each pool's job requests (assignTime, finishTime,
result, reservedAgent), and for a job that did not end normally the messages on its timeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import requests

from gate.adapters.aws import Aws, _pages
from gate.adapters.azure import AzureDevOps
from gate.adapters.github import GitHubRunners, scope_path
from gate.adapters.logs import DecisionLog
from gate.domain.audit import FINISHED_NORMALLY, Job, Termination, attribute, audit_emf
from gate.domain.holdstate import instance_ids_in
from gate.service.sources import AgentSourceError

MAX_ACTIVITY_PAGES = 50  # 5,000 activities per group: far more than a day of scale-ins
MAX_TIMELINES = 200  # timeline reads per audit: only jobs that did not end normally are read


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo is not None else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    return None


def pool_job_requests(ado: AzureDevOps, pool: str) -> list[dict[str, Any]]:
    """Every job request the pool keeps (no `agentId`: the pool's job history, as its Jobs page lists it)."""
    return ado._list(
        f"pools/{ado.pool_id(pool)}/jobrequests",
        {},
        f"job requests of pool {pool!r}",
        version=lambda: ado.job_requests_version,
        on_out_of_range=ado._negotiate_job_requests,
    )


def job_issues(ado: AzureDevOps, request: dict[str, Any]) -> list[str] | None:
    """The error and warning messages on a build job's timeline ("We stopped hearing from agent ..." is one): GET
    `{the request's owner link}/timeline` (the Build API). None when the request names no build or the call fails:
    the audit then has the job's result only."""
    href = ((request.get("owner") or {}).get("_links") or {}).get("self", {}).get("href")
    if not isinstance(href, str) or request.get("planType", "Build") != "Build":
        return None
    try:
        resp = ado.session.get(
            f"{href}/timeline",
            params={"api-version": ado.api_version},
            headers={"Authorization": ado.credential.authorization()},
            timeout=ado.deadline.timeout(ado.timeout, "timeline"),
            allow_redirects=False,
        )
        body = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError, AgentSourceError):
        return None
    if not isinstance(body, dict):
        return None
    job_id = request.get("jobId")
    messages = []
    for record in body.get("records") or []:
        if not isinstance(record, dict):
            continue
        if job_id and job_id not in (record.get("id"), record.get("parentId")):
            continue  # another job of the same build (the timeline holds every job's records)
        for issue in record.get("issues") or []:
            if isinstance(issue, dict) and isinstance(issue.get("message"), str):
                messages.append(issue["message"])
    return messages


def terminations(aws: Aws, groups: Sequence[str], since: float) -> list[Termination]:
    """Every terminate activity of the groups that ended (or is still under way) after `since`."""
    out: list[Termination] = []
    for group in groups:
        for activity in _pages(aws.autoscaling, group, MAX_ACTIVITY_PAGES):
            description = str(activity.get("Description") or "")
            started = _epoch(activity.get("StartTime"))
            if started is None or not description.lower().startswith("terminating"):
                continue
            ended = _epoch(activity.get("EndTime"))
            if started < since and ended is not None and ended < since:
                break  # newest first: what lies further back ended before the window
            for iid in instance_ids_in(description):
                out.append(
                    Termination(
                        group=group,
                        instance_id=iid,
                        started_at=started,
                        ended_at=ended,
                        cause=str(activity.get("Cause") or ""),
                        status=str(activity.get("StatusCode") or ""),
                    )
                )
    alive = still_running(aws, {t.instance_id for t in out})
    return [replace(t, status="Retained") if t.instance_id in alive else t for t in out]


ALIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})


def still_running(aws: Aws, instance_ids: Iterable[str]) -> set[str]:
    """The instances EC2 still has (a terminate activity ended, but the instance was kept: `Terminating:Retained`,
    which AWS lists as a finished activity): their builds were not killed. EC2 forgets a terminated instance within
    about an hour; an instance it does not list is gone."""
    ids = sorted(set(instance_ids))
    alive: set[str] = set()
    paginator = aws.ec2.get_paginator("describe_instances")
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    if (inst.get("State") or {}).get("Name") in ALIVE_STATES:
                        alive.add(str(inst.get("InstanceId")))
    return alive


def jobs(
    ado: AzureDevOps,
    pools: Iterable[str],
    since: float,
    instance_of: Callable[[int | None, str], str | None],
) -> list[Job]:
    """The assigned jobs of the pools that were running at or after `since`; `instance_of(agent id, agent name)`
    names the instance an agent ran on (None: unknown)."""
    out: list[Job] = []
    timelines = 0
    for pool in pools:
        for raw in pool_job_requests(ado, pool):
            assigned = _epoch(raw.get("assignTime"))
            if assigned is None:
                continue  # never ran on an agent: no instance could have killed it
            finished = _epoch(raw.get("finishTime"))
            if finished is not None and finished < since:
                continue
            agent = raw.get("reservedAgent") or {}
            name = str(agent.get("name") or "")
            agent_id = agent.get("id") if isinstance(agent.get("id"), int) else None
            result = raw.get("result")
            messages: tuple[str, ...] = ()
            normal = finished is not None and str(result or "").lower() in FINISHED_NORMALLY
            if not normal and finished is not None and timelines < MAX_TIMELINES:
                timelines += 1
                messages = tuple(job_issues(ado, raw) or ())
            definition = raw.get("definition") or {}
            out.append(
                Job(
                    job_id=f"{pool}/{raw.get('requestId')}",
                    agent=name,
                    instance_id=instance_of(agent_id, name),
                    assigned_at=assigned,
                    finished_at=finished,
                    result=str(result) if result is not None else None,
                    messages=messages,
                    pipeline=str(definition.get("name") or ""),
                )
            )
    return out


def github_jobs(
    gh: GitHubRunners,
    since: float,
    instance_of: Callable[[int | None, str], str | None],
    skipped: list[str] | None = None,
) -> list[Job]:
    """The jobs of the repositories' workflow runs created since `since` (`GET /repos/R/actions/runs`, then each run's
    jobs: `started_at`, `completed_at`, `conclusion`, `runner_name`), and the annotations of a job that did not end
    normally ("The self-hosted runner: X lost communication with the server ..."). An organisation has no jobs
    list of its own: its scopes are named in `skipped` (give the repositories in GATE_GITHUB_REPOS)."""
    out: list[Job] = []
    reads = 0
    created = datetime.fromtimestamp(since, UTC).strftime(">=%Y-%m-%dT%H:%M:%SZ")
    for scope in gh.scopes:
        if not scope.startswith("repo:"):
            if skipped is not None:
                skipped.append(scope)
            continue
        base = f"{gh.api_url}/{scope_path(scope)}"
        for run in _github_list(gh, f"{base}/actions/runs", {"created": created}, "workflow_runs"):
            for raw in _github_list(gh, f"{base}/actions/runs/{run.get('id')}/jobs", {"filter": "all"}, "jobs"):
                started = _epoch(raw.get("started_at"))
                name = str(raw.get("runner_name") or "")
                if started is None or not name:
                    continue  # never ran on a runner
                finished = _epoch(raw.get("completed_at"))
                if finished is not None and finished < since:
                    continue
                conclusion = raw.get("conclusion")
                messages: tuple[str, ...] = ()
                normal = finished is not None and str(conclusion or "").lower() in FINISHED_NORMALLY
                if not normal and finished is not None and reads < MAX_TIMELINES:
                    reads += 1
                    annotations = _github_json(gh, f"{base}/check-runs/{raw.get('id')}/annotations", {})
                    if isinstance(annotations, list):
                        messages = tuple(str(a.get("message")) for a in annotations if isinstance(a, dict))
                runner_id = raw.get("runner_id") if isinstance(raw.get("runner_id"), int) else None
                out.append(
                    Job(
                        job_id=f"{scope.removeprefix('repo:')}/{raw.get('id')}",
                        agent=name,
                        instance_id=instance_of(runner_id, name),
                        assigned_at=started,
                        finished_at=finished,
                        result=str(conclusion) if conclusion is not None else None,
                        messages=messages,
                        pipeline=str(raw.get("workflow_name") or ""),
                    )
                )
    return out


def _github_json(gh: GitHubRunners, url: str, params: dict[str, Any]) -> Any:
    resp = gh._request("GET", url, params)
    if resp.status_code >= 400:
        raise AgentSourceError(f"GET {url.removeprefix(gh.api_url)}: HTTP {resp.status_code}", status=resp.status_code)
    try:
        return resp.json()
    except ValueError:
        raise AgentSourceError(f"GET {url.removeprefix(gh.api_url)}: not JSON") from None


def _github_list(gh: GitHubRunners, url: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Every page (`per_page=100`, Link rel="next"), at most MAX_ACTIVITY_PAGES."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    query: dict[str, Any] | None = {**params, "per_page": 100}
    for _ in range(MAX_ACTIVITY_PAGES):
        assert next_url is not None
        resp = gh._request("GET", next_url, query)
        if resp.status_code >= 400:
            raise AgentSourceError(f"GET {next_url.removeprefix(gh.api_url)}: HTTP {resp.status_code}")
        try:
            page = resp.json()
        except ValueError:
            raise AgentSourceError(f"GET {next_url.removeprefix(gh.api_url)}: not JSON") from None
        items += [i for i in (page.get(key) or []) if isinstance(i, dict)] if isinstance(page, dict) else []
        next_url, query = resp.links.get("next", {}).get("url"), None
        if not next_url:
            break
    return items


def instance_from_name(name: str) -> str | None:
    """The instance id the agent's name holds as a whole token (exactly one, or None)."""
    found = set(instance_ids_in(name.lower()))
    return found.pop() if len(found) == 1 else None


def instance_mapper(ado: AzureDevOps, mapping: str, capability_name: str) -> Callable[[int | None, str], str | None]:
    """Agent -> instance for the audit: by `capability`, from the agents still registered (a deleted agent's jobs fall
    back to its name); otherwise by the name. Hostname mapping would need every terminated instance's private DNS
    name, which EC2 forgets within the hour: those jobs are matched by name, when the name holds the instance id."""
    by_id: dict[int, str] = {}
    if mapping == "capability":
        for agent in ado.list_agents():
            value = (agent.capabilities.get(capability_name) or "").strip().lower()
            if instance_ids_in(value) == [value]:
                by_id[agent.id] = value

    def instance_of(agent_id: int | None, name: str) -> str | None:
        return by_id.get(agent_id) if agent_id in by_id else instance_from_name(name)

    return instance_of


def collect(
    aws: Aws,
    ado: AzureDevOps | GitHubRunners,
    *,
    groups: Sequence[str],
    pools: Sequence[str],
    mapping: str,
    capability_name: str,
    since: float,
    skipped: list[str] | None = None,
) -> tuple[list[Job], list[Termination]]:
    """Both systems' facts for the window: the jobs first, then the terminations, so a job read as running whose
    instance dies between the two reads is still paired with that death."""
    if isinstance(ado, GitHubRunners):
        found = github_jobs(ado, since, lambda _, name: instance_from_name(name), skipped)
    else:
        found = jobs(ado, pools, since, instance_mapper(ado, mapping, capability_name))
    return found, terminations(aws, groups, since)


def scheduled(
    aws: Aws,
    source: object,
    log: DecisionLog,
    *,
    groups: Sequence[str],
    pools: Sequence[str],
    mapping: str,
    capability_name: str,
    namespace: str,
    window: float,
    now: float,
) -> dict[str, Any]:
    """The scheduled audit in the Lambda (Terraform `audit.enabled`): the kill count of the last `window` seconds as
    an EMF line (metric BuildsKilledByScaleIn, alarmed above 0). Holds are left to `gate audit`: the function does
    not read its own logs. A run that cannot read a system logs `audit_failed` and publishes no count."""
    if not isinstance(source, AzureDevOps | GitHubRunners):
        log.info("audit_skipped", reason=f"the audit reads Azure DevOps and GitHub jobs, not {type(source).__name__}")
        return {"audit": "skipped"}
    skipped: list[str] = []
    try:
        found, ended = collect(
            aws,
            source,
            groups=groups,
            pools=pools,
            mapping=mapping,
            capability_name=capability_name,
            since=now - window,
            skipped=skipped,
        )
    except Exception as exc:  # the agent system or AWS unavailable: this run has no count
        log.error("audit_failed", reason=f"{type(exc).__name__}: {exc}")
        return {"audit": "failed"}
    report = attribute(found, ended, [], since=now - window, until=now)
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    line = audit_emf(report, function, namespace, int(now * 1000)) | ({"scopes_not_read": skipped} if skipped else {})
    (log.error if report.killed_by_scale_in else log.info)("audit", **line)
    return {
        "audit": "done",
        "builds_killed_by_scale_in": len(report.killed_by_scale_in),
        "builds_lost_other": len(report.lost_other),
    }
