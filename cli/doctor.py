"""Is the gate's configuration real? The checks behind `gate doctor`, and the preflight of `check` and `status`.

Every mistake a newcomer makes (a wrong hook name, a typo'd group, a wrong pool, a bad PAT, a wrong organisation
URL, an unreachable endpoint) would otherwise look like a quiet `gone`, `held` or "no instances". Each check here
asks the real service once and, when something is missing, lists what does exist so the fix is obvious.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gate.domain.events import TERMINATING
from gate.settings import AgentSystem, Settings

AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
}
FOREIGN_SUBJECT = "other hooks on "


@dataclass(frozen=True)
class Finding:
    """One fact about the configuration. `ok=False`: the gate cannot work as configured; `fix` says what to do."""

    ok: bool
    subject: str
    detail: str
    fix: str = ""
    skipped: bool = False  # not checked: it depends on a check that failed (reported on its own line)
    warning: bool = False  # works as configured, but likely not as meant (with ok=True: does not fail doctor)

    def line(self) -> str:
        return f"{self.detail} ({self.fix})" if self.fix and not self.ok else self.detail


class Unreachable(RuntimeError):
    """A service cannot be reached or refuses the credentials: nothing further can be checked there."""


def _names(names: Iterable[str], wanted: str = "") -> str:
    """What exists (at most a dozen names) and, for a typo, the likely meant one (cli.common.closest)."""
    from cli.common import names_line

    return names_line(list(names), wanted)


# -- AWS ----------------------------------------------------------------------------------------------------------


def _aws_client(session: Any, service: str, endpoint: str | None) -> Any:
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=10, retries={"total_max_attempts": 2, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint, config=config)


def _aws_call(what: str, where: str, call: Callable[[], Any]) -> Any:
    """Run one AWS call; an unreachable endpoint or refused credentials become Unreachable with one clear line."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    try:
        return call()
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise Unreachable(f"cannot reach AWS ({where}): {exc}") from None
    except NoCredentialsError:
        raise Unreachable(
            f"no AWS credentials for {what} ({where}): set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (any value works against the emulator)"
        ) from None
    except NoRegionError:
        raise Unreachable("no AWS region (set AWS_DEFAULT_REGION or --region)") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), str(err.get("Message", ""))
        if code in AUTH_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (401, 403):
            raise Unreachable(f"AWS refused the credentials for {what} ({where}): {code}: {message}") from None
        raise Unreachable(f"{what} failed ({where}): {code}: {message}") from None


def aws_where(session: Any, endpoint: str | None) -> str:
    """`region R, endpoint E`: what every AWS finding and error names (a wrong region looks like a wrong name)."""
    region = session.region_name or os.environ.get("AWS_DEFAULT_REGION")
    return (f"region {region}" if region else "no region") + (f", endpoint {endpoint}" if endpoint else "")


def check_aws(settings: Settings, session: Any, endpoint: str | None, where: str | None = None) -> list[Finding]:
    """The groups exist, and each has the gate's hook on the terminating transition. Raises Unreachable.
    `where`: how errors name the AWS in use (default: region and endpoint; cli.common.AwsTarget adds the account)."""
    where = where or aws_where(session, endpoint)
    asg = _aws_client(session, "autoscaling", endpoint)
    wanted = list(settings.groups)
    found: dict[str, dict[str, Any]] = {}
    for chunk in (wanted[i : i + 50] for i in range(0, len(wanted), 50)):
        resp = _aws_call(
            "DescribeAutoScalingGroups",
            where,
            functools.partial(asg.describe_auto_scaling_groups, AutoScalingGroupNames=chunk),
        )
        found.update({g["AutoScalingGroupName"]: g for g in resp["AutoScalingGroups"]})
    findings: list[Finding] = []
    missing = [g for g in wanted if g not in found]
    if missing:
        existing: list[str] = []
        paginator = asg.get_paginator("describe_auto_scaling_groups")
        for page in _aws_call("DescribeAutoScalingGroups", where, lambda: list(paginator.paginate())):
            existing += [g["AutoScalingGroupName"] for g in page["AutoScalingGroups"]]
        for name in missing:
            findings.append(
                Finding(
                    False,
                    f"group {name}",
                    f"Auto Scaling group {name} not found in {where}; groups there: {_names(existing, name)}",
                    "fix GATE_GROUPS, or the account or region (AWS_PROFILE, AWS_DEFAULT_REGION, --profile, --region)",
                )
            )
    for name in wanted:
        if name not in found:
            continue
        findings.append(
            Finding(True, f"group {name}", f"group {name}: {len(found[name].get('Instances', []))} instances")
        )
        hooks = _aws_call(
            "DescribeLifecycleHooks", where, functools.partial(asg.describe_lifecycle_hooks, AutoScalingGroupName=name)
        )["LifecycleHooks"]
        findings.append(_hook_finding(settings, name, hooks))
        foreign = _foreign_finding(settings, name, hooks)
        if foreign is not None:
            findings.append(foreign)
    return findings


def _foreign_finding(settings: Settings, group: str, hooks: list[dict[str, Any]]) -> Finding | None:
    """The group's other terminating hooks, judged by the gate's own reading (gate.service.hooks): one that ends the
    wait before the gate's longest hold (GATE_MAX_HOLD_SECONDS or a priority tier's, whichever is longer, capped by
    the hook, as the tick judges it) is a problem; None when the gate's hook itself is unusable (reported already)."""
    from gate.service.hooks import Hook, foreign_hook_problem, read_foreign, read_hook

    mine = read_hook(group, settings.hook_name, hooks)
    if not isinstance(mine, Hook):
        return None
    foreign = read_foreign(settings.hook_name, hooks)
    longest = max([settings.max_hold_seconds, *(t.max_hold_seconds for t in settings.tiers)])
    problem = foreign_hook_problem(group, foreign, mine.max_hold(longest))
    subject = f"{FOREIGN_SUBJECT}{group}"
    if problem is not None:
        detail, _, fix = problem.partition(". Fix: ")
        return Finding(False, subject, detail, fix)
    if not foreign:
        return None
    names = ", ".join(sorted(h.name for h in foreign))
    return Finding(True, subject, f"other terminating hooks on {group} cannot end a hold early: {names}")


def _hook_finding(settings: Settings, group: str, hooks: list[dict[str, Any]]) -> Finding:
    """The gate's hook as the gate reads it (gate.service.hooks.read_hook), and the hold the gate derives from it:
    the cadence it heartbeats at and when it ends a hold (Hook.max_hold: GATE_MAX_HOLD_SECONDS, capped a margin
    before AWS's global timeout)."""
    from gate.service.hooks import GLOBAL_TIMEOUT_MARGIN_SECONDS, Hook, read_hook

    subject = f"hook on {group}"
    mine = read_hook(group, settings.hook_name, hooks)
    if not isinstance(mine, Hook):
        if any(h.get("LifecycleHookName") == settings.hook_name for h in hooks):  # ours, on another transition
            return Finding(False, subject, mine.reason, "the gate needs a terminating hook")
        listed = _names(
            (f"{h['LifecycleHookName']}" for h in hooks if h.get("LifecycleTransition") == TERMINATING),
            settings.hook_name,
        )
        others = [h["LifecycleHookName"] for h in hooks if h.get("LifecycleTransition") != TERMINATING]
        extra = f" (other transitions: {', '.join(sorted(others))})" if others else ""
        return Finding(
            False,
            subject,
            f"group {group} has no lifecycle hook {settings.hook_name}; its terminating hooks: {listed}{extra}",
            "fix GATE_HOOK_NAME, or create the hook: the Terraform module does",
        )
    max_hold = mine.max_hold(settings.max_hold_seconds)
    detail = (
        f"hook {mine.name} on {group}: terminating, heartbeat timeout {mine.heartbeat_timeout:.0f} s, "
        f"global timeout {mine.global_timeout:.0f} s, default result {mine.default_result}; the gate heartbeats "
        f"every {mine.heartbeat_every:.0f} s and ends a hold at {max_hold:.0f} s"
    )
    if max_hold < settings.max_hold_seconds:
        detail += (
            f", not at GATE_MAX_HOLD_SECONDS {settings.max_hold_seconds}: {GLOBAL_TIMEOUT_MARGIN_SECONDS:.0f} s "
            "before the global timeout, so that the gate and not the hook's default result ends it (raise "
            "HeartbeatTimeout to hold longer)"
        )
    return Finding(True, subject, detail)


# -- the agent system ---------------------------------------------------------------------------------------------


def check_agents(settings: Settings, session: Any, endpoint: str | None) -> list[Finding]:
    """The agent system answers with these credentials, and the configured pools exist. Raises Unreachable."""
    if settings.agent_system is AgentSystem.AZURE_DEVOPS:
        return check_azure_devops(settings, _pat(settings, session, endpoint))
    from gate.bootstrap import SOURCES
    from gate.service.sources import AgentSourceError

    system = "GitLab" if settings.agent_system is AgentSystem.GITLAB else "GitHub"
    url = settings.gitlab_url if settings.agent_system is AgentSystem.GITLAB else settings.github_api_url
    try:
        source = SOURCES[settings.agent_system](settings, session, endpoint, None)
        agents = source.list_agents()
    except AgentSourceError as exc:
        raise Unreachable(f"{system}: {exc} (at {url})") from None
    except Exception as exc:  # the token secret, a bad URL
        raise Unreachable(f"{system}: {type(exc).__name__}: {exc} (at {url})") from None
    findings = [Finding(True, system, f"{system} runners: {len(agents)} found")]
    if settings.agent_system is AgentSystem.GITLAB and agents:
        # A release needs the jobs of the instance's runner (gate.adapters.gitlab): without that route every idle
        # instance is held to max hold. One runner's jobs, asked as a release would.
        try:
            source.job_requests(agents[0])
        except AgentSourceError as exc:
            fix = "give the token's user the Owner role where the runners are registered (scope manage_runner or api)"
            findings.append(Finding(False, f"{system} jobs", f"the jobs of runner {agents[0].label()}: {exc}", fix))
        else:
            findings.append(Finding(True, f"{system} jobs", f"the jobs of runner {agents[0].label()} can be read"))
    return findings


def _pat(settings: Settings, session: Any, endpoint: str | None) -> str:
    from gate.adapters.secrets import load_pat

    try:
        return load_pat(settings, session, endpoint)
    except Exception as exc:  # SecretError names the ARN, never the value
        raise Unreachable(f"cannot read the PAT: {exc} (check GATE_PAT_SECRET_ARN and read access to it)") from None


def check_azure_devops(settings: Settings, pat: str) -> list[Finding]:
    import requests

    org = settings.azure_org_url
    url = f"{org}/_apis/distributedtask/pools"
    try:
        resp = requests.get(
            url,
            params={"api-version": "7.1"},
            auth=("", pat),
            headers={"X-TFS-FedAuthRedirect": "Suppress"},  # a bad PAT: 401, not a 203 sign-in page
            timeout=min(settings.http_timeout_seconds, 10),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        from gate.adapters.neterrors import network_words  # the gate's wording: the CLI and the records agree

        words = network_words(exc, url, min(settings.http_timeout_seconds, 10))
        raise Unreachable(f"cannot reach Azure DevOps at {org}: {words}") from None
    status = resp.status_code
    is_html = "html" in resp.headers.get("Content-Type", "")
    if status == 401 or (status in (203, 302) and is_html) or (status == 200 and is_html):
        raise Unreachable(
            f"Azure DevOps at {org} refused the PAT (HTTP {status}): it is wrong, expired or for another "
            "organisation (check GATE_PAT or the secret behind GATE_PAT_SECRET_ARN)"
        )
    if status == 403:
        raise Unreachable(
            f"Azure DevOps at {org} refused the PAT (HTTP 403): give it the Agent Pools (read & manage) scope"
        )
    if status == 404:
        raise Unreachable(
            f"no Azure DevOps organisation at {org} (HTTP 404): GATE_AZURE_ORG_URL should be https://dev.azure.com/ORG"
        )
    if status != 200:
        raise Unreachable(f"Azure DevOps at {org} answered HTTP {status} to the pool list")
    try:
        pools = [str(p["name"]) for p in resp.json()["value"]]
    except (ValueError, KeyError, TypeError):
        raise Unreachable(f"{org} did not answer like Azure DevOps (no pool list): check GATE_AZURE_ORG_URL") from None
    findings = []
    for pool in settings.pools:
        if pool.lower() in (p.lower() for p in pools):
            findings.append(Finding(True, f"pool {pool}", f"agent pool {pool} found in {org}"))
        else:
            findings.append(
                Finding(
                    False,
                    f"pool {pool}",
                    f"agent pool {pool} not found in {org}; pools there: {_names(pools, pool)}",
                    "fix GATE_POOLS",
                )
            )
    return findings


def check_job_requests(settings: Settings, session: Any, endpoint: str | None) -> list[Finding]:
    """With the gate's own agent source and credentials (PAT secret or Entra service principal, as the function
    builds them): list the agents, then one job-requests GET for one agent of each pool. A release needs that route
    (gate.domain.decide): without it every idle instance is held to max hold. Raises Unreachable when the credentials
    are
    refused or the service cannot be reached."""
    if settings.agent_system is not AgentSystem.AZURE_DEVOPS:
        return []
    from gate.bootstrap import SOURCES
    from gate.service.sources import AgentSourceError, AuthError

    try:
        source = SOURCES[settings.agent_system](settings, session, endpoint, None)
        agents = source.list_agents()
    except AuthError as exc:
        raise Unreachable(f"Azure DevOps refused the gate's credentials when listing agents: {exc}") from None
    except AgentSourceError as exc:
        raise Unreachable(f"the gate could not list the agents: {exc}") from None
    except Exception as exc:  # the secret, the sign-in
        raise Unreachable(f"the gate's credentials could not be used: {type(exc).__name__}: {exc}") from None
    findings: list[Finding] = []
    for pool in settings.pools:
        agent = next((a for a in agents if a.pool.lower() == pool.lower()), None)
        subject = f"job requests of pool {pool}"
        if agent is None:
            findings.append(Finding(True, subject, f"pool {pool} has no agent: its job-requests route not checked"))
            continue
        try:
            source.job_requests(agent)
        except AgentSourceError as exc:
            if exc.status == 404:
                findings.append(
                    Finding(
                        False,
                        subject,
                        f"the job-requests route of pool {pool} is missing ({exc}): the gate cannot see an agent's "
                        "job requests, so idle instances are held to max hold",
                        "allow GET .../distributedtask/pools/{id}/jobrequests for the credential, or set "
                        "GATE_CHECK_JOB_REQUESTS=false (check_job_requests = false) to release on the agent list "
                        "and the lag bound",
                    )
                )
            else:
                findings.append(Finding(False, subject, f"job requests of pool {pool} failed: {exc}", "retry"))
            continue
        findings.append(Finding(True, subject, f"job requests of pool {pool} readable (asked for {agent.label()})"))
    return findings


def check_mode(settings: Settings) -> Finding:
    """Whether the gate acts or only plans (GATE_DRY_RUN): the same checks pass either way, so doctor says which."""
    if settings.dry_run:
        return Finding(
            True,
            "mode",
            "GATE_DRY_RUN=true: the gate only plans; it logs each decision as skipped with what it would do, and "
            "sends nothing (no heartbeat, tag, disable or completion): victims wait out the hook's heartbeat timeout",
        )
    return Finding(True, "mode", "GATE_DRY_RUN=false: the gate acts (heartbeats, tags, disables, completes)")


MAPPING_HINT = (
    "name each agent after its instance, or set the capability or host name GATE_MAPPING reads "
    "(docs/deployment.md, step 1); an instance that booted moments ago may not have registered yet"
)


def check_mapping(settings: Settings, session: Any, endpoint: str | None) -> list[Finding]:
    """For each group, how many in-service instances have no agent the mapping finds: the likeliest mistake of a
    first deployment (agents not named after their instance), which every other check passes. Such an instance is
    held up to GATE_UNREGISTERED_GRACE_SECONDS when it leaves. A warning, never a failure: an instance without an
    agent may be legitimate (just booted), and an empty group is fine. Reads through the gate's own view (`gate
    status`). Raises Unreachable."""
    from gate.bootstrap import build_gate
    from gate.service.views import status

    try:
        rows, error = status(build_gate(settings, aws_endpoint=endpoint, session=session))
    except Exception as exc:  # the views name their own failures
        raise Unreachable(f"the agents of the groups' instances could not be listed: {exc}") from None
    if error is not None:
        raise Unreachable(f"the agents of the groups' instances could not be listed: {error}")
    how = f"GATE_MAPPING={settings.mapping}"
    findings: list[Finding] = []
    for group in settings.groups:
        serving = [r for r in rows if r["group"] == group and r["state"] == "InService"]
        subject = f"agents of {group}"
        if not serving:
            findings.append(Finding(True, subject, f"group {group} has no instance in service: mapping not checked"))
            continue
        lost = sorted(r["instance"] for r in serving if not r["agents"])
        if not lost:
            findings.append(
                Finding(True, subject, f"{how}: every in-service instance of {group} ({len(serving)}) has an agent")
            )
            continue
        shown = ", ".join(lost[:12]) + (f" and {len(lost) - 12} more" if len(lost) > 12 else "")
        findings.append(
            Finding(
                True,
                subject,
                f"{how}: {len(lost)} of {len(serving)} in-service instances of {group} have no agent the mapping "
                f"finds ({shown}): each would be held for want of agents when it leaves ({MAPPING_HINT})",
                warning=True,
            )
        )
    return findings


# -- together -----------------------------------------------------------------------------------------------------


def preflight(
    settings: Settings, session: Any, endpoint: str | None, *, agents: bool = True, where: str | None = None
) -> tuple[Finding | None, list[Finding]]:
    """The first problem that stops the gate from working as configured (or None), and every finding. Used by check,
    status and replay: they stop at the problem, and show what they confirmed (the hook's timeouts, the pools).
    `where`: the AWS in use as errors name it (cli.common.AwsTarget.where)."""
    try:
        findings = check_aws(settings, session, endpoint, where)
        if agents:
            findings += check_agents(settings, session, endpoint)
    except Unreachable as exc:
        return Finding(False, "reachability", str(exc)), []
    # A foreign hook does not make the views wrong (what they show is still true): doctor reports it, they go on.
    return next((f for f in findings if not f.ok and not f.subject.startswith(FOREIGN_SUBJECT)), None), findings


def function_environment(session: Any, name: str, endpoint: str | None) -> tuple[dict[str, str], list[Finding]]:
    """A deployed function's GATE_* variables, and what its configuration says (state, timeout). Raises Unreachable."""
    lam = _aws_client(session, "lambda", endpoint)
    config = _aws_call(
        "GetFunctionConfiguration",
        aws_where(session, endpoint),
        lambda: lam.get_function_configuration(FunctionName=name),
    )
    env = {k: v for k, v in config.get("Environment", {}).get("Variables", {}).items() if k.startswith("GATE_")}
    findings = [
        Finding(True, "function", f"function {name}: {config.get('Runtime', '?')}, timeout {config['Timeout']} s")
    ]
    state = config.get("State", "Active")
    if state != "Active":
        findings.append(
            Finding(False, "function", f"function {name} is {state}: {config.get('StateReason', '')}", "redeploy it")
        )
    if config.get("LastUpdateStatus", "Successful") == "Failed":
        reason = config.get("LastUpdateStatusReason", "")
        findings.append(Finding(False, "function", f"the last update of {name} failed: {reason}", "redeploy it"))
    return env, findings


# Valid stand-ins for one side's settings, so that a mistake on the other side does not stop this side's checks.
_AGENT_STAND_INS: dict[str, Any] = {
    "agent_system": "azure-devops",
    "azure_auth": "pat",
    "azure_org_url": "https://dev.azure.com/stand-in",
    "pools": ["stand-in"],
    "pat": "stand-in",
    "group_pools": {},
}
_AWS_STAND_INS: dict[str, Any] = {"groups": ["stand-in"], "hook_name": "stand-in", "group_pools": {}}


def _one_side(stand_ins: dict[str, Any]) -> Settings | None:
    """The settings with the other side's fields replaced by valid stand-ins; None when this side is invalid too."""
    from gate.settings import SettingsError, load_settings

    try:
        return load_settings(**stand_ins)
    except SettingsError:
        return None


def check_identity(session: Any, endpoint: str | None) -> tuple[Finding, str | None]:
    """Which account the credentials belong to (STS GetCallerIdentity), in which region, at which endpoint: the
    first line of the report, so every later one is read against it. Returns the account too (None: not known)."""
    from cli.common import AwsTarget

    where = aws_where(session, endpoint)
    sts = _aws_client(session, "sts", endpoint)
    try:
        account = str(_aws_call("GetCallerIdentity", where, sts.get_caller_identity)["Account"])
    except Unreachable as exc:
        return Finding(False, "aws", str(exc)), None
    target = AwsTarget(session.region_name, endpoint, account, os.environ.get("AWS_PROFILE"))
    return Finding(True, "aws", f"AWS: {target.where()}"), account


def _skipped(subject: str, why: str) -> Finding:
    return Finding(False, subject, f"{subject} not checked: {why}", skipped=True)


def run_doctor(function: str | None, endpoint: str | None, json_out: bool) -> None:
    """`gate doctor`: every check, one line each (ok / FIX / skip), then exit 0 if all pass, 2 otherwise.

    Every check runs that can: a mistake in the agent system's settings does not stop the AWS checks and the other
    way round; a check that depends on one that failed says it was not checked, and why."""
    import typer
    from rich.markup import escape

    from cli.common import AwsTarget, emit_json, fail, reachable, require_reachable, say, settings_or_problems
    from gate.adapters.aws import make_session

    session = make_session(os.environ.get("AWS_DEFAULT_REGION"))
    findings: list[Finding] = []
    aws_up, account = True, None
    if function:  # the settings come from the function: nothing can be checked without it
        require_reachable(endpoint, "the AWS endpoint")
        try:
            env, findings = function_environment(session, function, endpoint)
        except Unreachable as exc:
            fail(str(exc))
        for key in [k for k in os.environ if k.startswith("GATE_")]:  # the function's settings, not this shell's
            del os.environ[key]
        os.environ.update(env)
    problem = reachable(endpoint, "the AWS endpoint")
    if problem is not None:
        findings.append(Finding(False, "aws", problem))
        aws_up = False
    else:
        identity, account = check_identity(session, endpoint)
        findings.insert(0, identity)
        aws_up = identity.ok
    where = AwsTarget(session.region_name, endpoint, account if aws_up else None).where()
    settings, problems = settings_or_problems()
    findings += [Finding(False, "settings", part) for p in problems for part in p.split("; ")]
    if settings is not None:
        findings.append(
            Finding(
                True,
                "settings",
                f"settings valid: groups {', '.join(settings.groups)}, "
                f"hook {settings.hook_name}, agent system {settings.agent_system}",
            )
        )
    aws_side = settings or _one_side(_AGENT_STAND_INS)
    agent_side = settings or _one_side(_AWS_STAND_INS)
    if aws_side is None:
        findings.append(_skipped("groups and hooks", "fix the settings above (GATE_GROUPS, GATE_HOOK_NAME...)"))
    elif not aws_up:
        findings.append(_skipped("groups and hooks", "AWS did not answer (above)"))
    else:
        try:
            findings += check_aws(aws_side, session, endpoint, where)
        except Unreachable as exc:
            findings.append(Finding(False, "reachability", str(exc)))
    agents_ok = False
    if agent_side is None:
        findings.append(_skipped("agent system", "fix the settings above (its URL, pools, credentials)"))
    else:
        try:
            found = check_agents(agent_side, session, endpoint)
            findings += found
            agents_ok = all(f.ok for f in found)  # it answered, and the pools exist
        except Unreachable as exc:
            findings.append(Finding(False, "reachability", str(exc)))
        if agent_side.agent_system is AgentSystem.AZURE_DEVOPS:
            if agents_ok:
                try:
                    findings += check_job_requests(agent_side, session, endpoint)
                except Unreachable as exc:
                    findings.append(Finding(False, "reachability", str(exc)))
            else:
                findings.append(_skipped("job requests", "the agent system or its pools failed (above)"))
    if settings is not None and aws_up and agents_ok:
        try:
            findings += check_mapping(settings, session, endpoint)
        except Unreachable as exc:
            findings.append(Finding(False, "reachability", str(exc)))
    elif settings is not None:
        findings.append(_skipped("agents of the groups' instances", "AWS or the agent system failed (above)"))
    if settings is not None:
        findings.append(check_mode(settings))
    bad = [f for f in findings if not f.ok and not f.skipped]
    if json_out:
        emit_json({"ok": not bad, "findings": [f.__dict__ for f in findings]})
    else:
        for f in findings:
            mark = (
                "[yellow]skip[/]"
                if f.skipped
                else "[yellow]warn[/]"
                if f.warning
                else "[green]ok[/] "
                if f.ok
                else "[bold red]FIX[/]"
            )
            say(f"{mark} {escape(f.line())}")
        warned = sum(f.warning for f in findings)
        verdict = "all checks passed" if not bad else f"{len(bad)} problem(s): the gate cannot work as configured"
        if not bad and warned:
            verdict += f", {warned} warning(s) above (warn)"
        if settings is not None:
            verdict += "; dry run (GATE_DRY_RUN=true): the gate only plans" if settings.dry_run else "; the gate acts"
        say(verdict)
    if bad:
        raise typer.Exit(2)
