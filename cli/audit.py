"""`gate audit`: how many builds scale-in actually killed, from the agent system's, AWS's and the gate's own records.

The attribution is pure (gate.domain.audit); this module reads the three sources and prints the report. Exit 1 when
a build was killed by scale-in (the number the gate exists to keep at 0), as `gate simulate` does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from cli.common import DISCARD, console, emit_json, fail, short_id
from cli.outcomes import Record, decisions, from_file


def _records_from_cloudwatch(log_group: str, since: float, endpoint: str | None) -> tuple[list[Record], str | None]:
    """The decision lines, or why they could not be read (the kill count does not need them; the hold cost does)."""
    from gate.adapters.aws import make_session

    lines: list[str] = []
    try:
        logs = make_session(os.environ.get("AWS_DEFAULT_REGION")).client("logs", endpoint_url=endpoint)
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group, startTime=int(since * 1000), filterPattern='{ $.event = "decision" }'
        ):
            lines.extend(e["message"] for e in page.get("events", []))
    except Exception as exc:  # botocore: no such group, access denied
        return [], f"hold cost unknown: cannot read CloudWatch Logs group {log_group}: {exc}"
    return decisions(lines), None


def run_audit(
    since_seconds: float,
    *,
    log_file: Path | None,
    log_group: str,
    endpoint: str | None,
    tolerance: float,
    json_out: bool,
) -> None:
    from cli.common import settings_or_exit
    from gate.adapters import logs
    from gate.adapters.audit import collect
    from gate.adapters.aws import Aws, make_session
    from gate.adapters.azure import AzureDevOps
    from gate.adapters.github import GitHubRunners
    from gate.bootstrap import SOURCES
    from gate.domain.audit import attribute, holds_from_records
    from gate.service.sources import AgentSourceError

    settings = settings_or_exit()
    if str(settings.agent_system) not in ("azure-devops", "github"):
        fail(f"gate audit reads Azure DevOps and GitHub jobs; GATE_AGENT_SYSTEM={settings.agent_system} is not covered")
    until = time.time()
    since = until - since_seconds
    region = os.environ.get("AWS_DEFAULT_REGION")
    session = make_session(region)
    logs.configure(stream=DISCARD)  # the adapters' own log lines are not the report
    try:
        ado = SOURCES[settings.agent_system](settings, session, endpoint, None)
    except Exception as exc:  # the PAT's secret unreadable, a sign-in refused
        fail(f"cannot set up {settings.agent_system}: {exc}")
    if not isinstance(ado, AzureDevOps | GitHubRunners):
        fail(f"gate audit cannot read the jobs of {type(ado).__name__}")
    skipped: list[str] = []
    try:
        jobs, terminations = collect(
            Aws(session, endpoint),
            ado,
            groups=settings.groups,
            pools=settings.pools,
            mapping=str(settings.mapping),
            capability_name=settings.capability_name,
            since=since,
            skipped=skipped,
        )
    except AgentSourceError as exc:
        fail(f"cannot read the job history: {exc}", code=1)
    except Exception as exc:  # botocore: DescribeScalingActivities refused or unreachable
        fail(f"cannot read the groups' scaling activities: {exc}", code=1)
    if log_file is not None:
        records, note = from_file(log_file), None
    else:
        records, note = _records_from_cloudwatch(log_group, since, endpoint)
    holds = [h for h in holds_from_records(records, until) if h.end >= since]
    report = attribute(jobs, terminations, holds, since=since, until=until, tolerance=tolerance)
    if skipped:
        unread = f"no jobs read for {', '.join(skipped)}: an organisation has no jobs list; set GATE_GITHUB_REPOS"
        note = f"{note}; {unread}" if note else unread
    pools = ado.scopes if isinstance(ado, GitHubRunners) else settings.pools
    data: dict[str, Any] = report.as_dict() | {"groups": settings.groups, "pools": pools, "note": note}
    if json_out:
        emit_json(data)
    else:
        show(data)
    if report.killed_by_scale_in:
        raise typer.Exit(1)


def show(data: dict[str, Any]) -> None:
    hours = (data["until"] - data["since"]) / 3600
    console.print(
        f"audit of the last {hours:.1f} h: {data['jobs']} jobs in {', '.join(data['pools'])}, "
        f"{data['terminations']} terminations in {', '.join(data['groups'])}",
        highlight=False,
    )
    killed, lost = data["builds_killed_by_scale_in"], data["builds_lost_other"]
    colour = "red" if killed else "green"
    console.print(f"[bold {colour}]builds killed by scale-in: {killed}[/] (should be 0)", highlight=False)
    console.print(f"builds lost for other reasons: {lost}", highlight=False)
    rows = [("killed", x) for x in data["killed_by_scale_in"]] + [("lost", x) for x in data["lost_other"]]
    if rows:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("", "job", "pipeline", "agent", "instance", "result", "why"):
            table.add_column(column)
        for label, x in rows:
            table.add_row(
                label,
                str(x["job"]),
                escape(str(x["pipeline"] or "-")),
                escape(str(x["agent"] or "-")),
                short_id(str(x["instance"])) if x["instance"] else "-",
                str(x["result"] or "running"),
                escape(str(x["why"])),
            )
        console.print(table)
    h = data["holds"]
    console.print(
        f"holds: {h['count']} ({h['forced']} forced, {h['still_holding']} still holding), "
        f"{h['instance_hours']:.2f} instance-hours: held busy {h['held_busy_hours']:.2f}, "
        f"held idle {h['held_idle_hours']:.2f}",
        highlight=False,
    )
    if data.get("note"):
        console.print(f"[yellow]{escape(data['note'])}[/]", highlight=False)
