"""`gate`: try the gate locally (simulate), inspect a live setup (check, status), replay events, read outcomes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    DISCARD,
    AwsTarget,
    OneLineErrors,
    apply_aws_options,
    apply_endpoints,
    aws_target,
    console,
    emit_json,
    fail,
    require_reachable,
    settings_or_exit,
)

if TYPE_CHECKING:
    from gate.service.triggers import Gate

app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="asg-termination-gate: hold Auto Scaling scale-in until CI agents are idle.",
    epilog="Exit codes: 0 done; 1 ran, bad verdict (a build killed, a handler error) or failed midway; "
    "2 could not run (bad option or file, missing GATE_* settings, endpoint unreachable, credentials refused, "
    "a group, hook or pool that does not exist); 130 interrupted (simulate prints a partial summary).",
)

AwsEndpoint = Annotated[str | None, typer.Option("--aws-endpoint", help="AWS endpoint (default: AWS_ENDPOINT_URL)")]
Localstack = Annotated[bool, typer.Option("--localstack", help="reach AWS through localstack-client settings")]
JsonOut = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _gate(
    aws_endpoint: str | None,
    localstack: bool,
    *,
    preflight: str = "all",
    confirmed: list[str] | None = None,
    target: list[AwsTarget] | None = None,
    **overrides: Any,
) -> Gate:
    """The gate as the handler builds it, after checking that what the settings name exists (exit 2 if not).

    `preflight`: "all" (groups, hook, agent system and pools), "aws" (groups and hook only), "" (none).
    `confirmed`: receives what was checked and found (the hooks with their timeouts, the pools).
    `target`: receives the AWS in use (account, region, endpoint), which the command prints and its errors name.
    """
    from cli.doctor import preflight as check_config
    from gate.adapters import logs
    from gate.adapters.aws import make_session
    from gate.bootstrap import build_gate

    apply_endpoints(aws_endpoint, localstack)
    settings = settings_or_exit(**overrides)
    endpoint = aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
    require_reachable(endpoint, "the AWS endpoint")
    logs.configure(stream=DISCARD)  # records are shown by the CLI itself
    region = os.environ.get("AWS_DEFAULT_REGION")
    session = make_session(region)
    where = aws_target(endpoint, session)
    if target is not None:
        target.append(where)
    if preflight:
        problem, findings = check_config(settings, session, endpoint, agents=preflight == "all", where=where.where())
        if problem is not None:
            fail(problem.line() + " (`gate doctor` checks everything)")
        if confirmed is not None:
            confirmed += [f.detail for f in findings if f.subject.startswith(("hook", "pool"))]
    try:
        return build_gate(settings, aws_endpoint=endpoint, region=region)
    except Exception as exc:
        fail(f"cannot set up the gate ({where.where()}): {exc}")


@app.command()
def simulate(
    instances: Annotated[int, typer.Option(min=1, max=500, help="instances (one agent each)")] = 3,
    busy: Annotated[int, typer.Option(min=0, help="how many instances run a build")] = 1,
    build_minutes: Annotated[float, typer.Option(min=0.1, help="build duration")] = 10,
    scale_to: Annotated[int, typer.Option(min=0, help="desired capacity after scale-in")] = 1,
    scale_at: Annotated[float, typer.Option(min=0, help="scale-in time, seconds after start")] = 30,
    scenario: Annotated[Path | None, typer.Option(help="YAML/JSON scenario file (overrides the options above)")] = None,
    speed: Annotated[float, typer.Option(min=1, max=1000, help="time acceleration (logic unchanged)")] = 20,
    no_gate: Annotated[bool, typer.Option("--no-gate", help="same scenario without the hook: see builds die")] = False,
    aws_endpoint: Annotated[
        str | None,
        typer.Option("--aws-endpoint", help="a running AWS emulator, e.g. `gate emulator` (default: embedded)"),
    ] = None,
    azure_url: Annotated[
        str | None,
        typer.Option(help="a running fake Azure DevOps org URL; its clock must run at --speed (default: embedded)"),
    ] = None,
    live: Annotated[bool, typer.Option(help="live table")] = True,
    log_file: Annotated[Path | None, typer.Option(help="write the handler's JSON decision lines here")] = None,
    json_out: JsonOut = False,
    agent_system: Annotated[
        str | None,
        typer.Option("--agent-system", help="azure-devops (default) or gitlab (an embedded fake GitLab)"),
    ] = None,
) -> None:
    """Run a scale-in on the embedded AWS emulator and fake Azure DevOps (or GitLab), with the real handler.

    Live table on a terminal; otherwise (CI) the final table and the summary. Exit 1 if a build was killed.
    """
    from cli.simulate import run_simulation

    run_simulation(
        instances=instances,
        busy=busy,
        build_minutes=build_minutes,
        scale_to=scale_to,
        scale_at=scale_at,
        scenario=scenario,
        speed=speed,
        gate=not no_gate,
        aws_endpoint=aws_endpoint,
        azure_url=azure_url,
        live=live,
        json_out=json_out,
        log_file=log_file,
        agent_system=agent_system,
    )


@app.command()
def check(
    instance_id: Annotated[str, typer.Argument(help="EC2 instance id")],
    aws_endpoint: AwsEndpoint = None,
    localstack: Localstack = False,
    json_out: JsonOut = False,
) -> None:
    """Dry run: what the gate would do now for INSTANCE_ID (agents found, busy, decision). Acts on nothing."""
    from cli.inspect import show_check

    if not instance_id.startswith("i-"):
        fail(f"{instance_id!r} is not an EC2 instance id (i-...)")
    confirmed: list[str] = []
    target: list[AwsTarget] = []
    gate = _gate(aws_endpoint, localstack, confirmed=confirmed, target=target, dry_run=True)
    show_check(gate, instance_id, json_out, confirmed, target[0])


@app.command()
def status(aws_endpoint: AwsEndpoint = None, localstack: Localstack = False, json_out: JsonOut = False) -> None:
    """The configured groups' instances: lifecycle state, protection, agents, busy."""
    from cli.inspect import show_status

    confirmed: list[str] = []
    target: list[AwsTarget] = []
    show_status(
        _gate(aws_endpoint, localstack, confirmed=confirmed, target=target, dry_run=True),
        json_out,
        confirmed,
        target[0],
    )


@app.command()
def replay(
    event_file: Annotated[
        Path, typer.Argument(help="a saved EventBridge event, DLQ on-failure record or SQS message (JSON)")
    ],
    execute: Annotated[bool, typer.Option("--execute", help="really act (default: dry run)")] = False,
    budget: Annotated[float, typer.Option(min=0, max=840, help="seconds of re-checks (default: one look)")] = 0,
    log_file: Annotated[
        Path | None, typer.Option(help="append the handler's JSON decision lines here (for `gate outcomes`)")
    ] = None,
    aws_endpoint: AwsEndpoint = None,
    localstack: Localstack = False,
    json_out: JsonOut = False,
) -> None:
    """Feed a saved event to the handler (dry run unless --execute). Exit 1 if the handler recorded an error.

    A record from the function's on-failure destination (DLQ) is unwrapped: its `requestPayload` is replayed.
    """
    from cli.common import print_target
    from cli.replay import NotAnEvent, print_records, unwrap
    from gate.adapters import logs
    from gate.domain.events import Skipped, parse_event
    from gate.handler import dispatch

    try:
        event, found_in = unwrap(json.loads(event_file.read_text()))
    except OSError as exc:
        fail(f"cannot read {event_file}: {exc.strerror or exc}")
    except NotAnEvent as exc:
        fail(f"{event_file} {exc}")
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        fail(f"{event_file} is not JSON: {exc}")
    parsed = parse_event(event)
    if isinstance(parsed, Skipped) and not parsed.reason.startswith("autoscaling test notification"):
        # Not an event the handler acts on (the handler would log it as skipped): a replay of it is a mistake.
        fail(f"{event_file} is not a lifecycle, scheduled or spot event: {parsed.reason}")
    target: list[AwsTarget] = []
    gate = _gate(
        aws_endpoint, localstack, preflight="aws", target=target, dry_run=not execute, tick_budget_seconds=budget
    )
    if log_file is not None:
        try:
            stream = log_file.open("a", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {log_file}: {exc.strerror or exc}")
        logs.configure(stream=stream)
    try:
        records = dispatch(gate, event)
    finally:
        if log_file is not None:
            logs.configure(stream=DISCARD)
            stream.close()
    if json_out:
        emit_json({"dry_run": not execute, "records": records, "unwrapped_from": found_in, "aws": target[0].as_json()})
    else:
        print_target(target[0])
        if found_in:
            console.print(f"replaying the event found in {found_in}", highlight=False)
        print_records(records, dry_run=not execute)
    if any(r["outcome"] == "error" for r in records):
        raise typer.Exit(1)


@app.command()
def outcomes(
    log_file: Annotated[Path | None, typer.Argument(help="handler JSON log file (default: CloudWatch Logs)")] = None,
    log_group: Annotated[str, typer.Option(help="CloudWatch log group")] = "/aws/lambda/asg-termination-gate",
    since: Annotated[str, typer.Option(help="how far back, e.g. 30m, 6h, 2d (CloudWatch only)")] = "24h",
    aws_endpoint: AwsEndpoint = None,
    localstack: Localstack = False,
    json_out: JsonOut = False,
) -> None:
    """Summarise hook outcomes from the handler's JSON logs (a file, or CloudWatch Logs)."""
    from cli.common import print_target
    from cli.outcomes import from_cloudwatch, from_file, parse_since, show

    since_seconds = parse_since(since)
    if log_file is not None:
        records = from_file(log_file)
    else:
        apply_endpoints(aws_endpoint, localstack)
        endpoint = aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
        require_reachable(endpoint, "the AWS endpoint")
        target = aws_target(endpoint)
        records = from_cloudwatch(log_group, since_seconds, endpoint, where=target.where())
        if not json_out:
            print_target(target)
    show(records, json_out)


@app.command()
def audit(
    since: Annotated[str, typer.Option(help="how far back, e.g. 6h, 24h, 7d")] = "24h",
    log_file: Annotated[
        Path | None, typer.Option(help="the handler's JSON decision lines (default: CloudWatch Logs)")
    ] = None,
    log_group: Annotated[str, typer.Option(help="CloudWatch log group")] = "/aws/lambda/asg-termination-gate",
    tolerance: Annotated[
        float, typer.Option(min=0, max=3600, help="seconds of clock skew allowed between AWS and the agent system")
    ] = 60,
    aws_endpoint: AwsEndpoint = None,
    localstack: Localstack = False,
    json_out: JsonOut = False,
) -> None:
    """Builds killed by scale-in (should be 0), builds lost for other reasons, and what the holds cost, from the
    agent system's finished jobs, the groups' scaling activities and the gate's decision records. Exit 1 if a
    build was killed by scale-in."""
    from cli.audit import run_audit
    from cli.outcomes import parse_since

    since_seconds = parse_since(since)
    apply_endpoints(aws_endpoint, localstack)
    endpoint = aws_endpoint or os.environ.get("AWS_ENDPOINT_URL")
    require_reachable(endpoint, "the AWS endpoint")
    run_audit(
        since_seconds,
        log_file=log_file,
        log_group=log_group,
        endpoint=endpoint,
        tolerance=tolerance,
        json_out=json_out,
    )


@app.command()
def doctor(
    function: Annotated[
        str | None, typer.Option("--function", help="a deployed gate: read its GATE_* settings from the function")
    ] = None,
    aws_endpoint: AwsEndpoint = None,
    localstack: Localstack = False,
    json_out: JsonOut = False,
) -> None:
    """Check every setting against AWS and the agent system; print what to fix. Exit 2 if anything is wrong.

    Without --function the settings come from this shell's GATE_* variables, as for `check` and `status`.
    """
    from cli.doctor import run_doctor

    apply_endpoints(aws_endpoint, localstack)
    run_doctor(function, aws_endpoint or os.environ.get("AWS_ENDPOINT_URL"), json_out)  # reachability: a finding


emulator_app = typer.Typer(no_args_is_help=False)
app.add_typer(emulator_app, name="emulator")


@emulator_app.callback(invoke_without_command=True)
def emulator(
    ctx: typer.Context,
    aws_port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port (printed)")] = 5000,
    azure_port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port (printed)")] = 5001,
    speed: Annotated[float, typer.Option(min=1, max=1000, help="clock acceleration")] = 1,
    pat: Annotated[str, typer.Option(help="PAT the fake Azure DevOps accepts")] = "local-pat",
    seed: Annotated[
        bool, typer.Option("--seed", help="also create a hooked group, a pool and agents, and print the exports")
    ] = False,
    seed_unhooked: Annotated[
        bool,
        typer.Option("--seed-unhooked", help="a group without the hook, agents and a PAT secret, for terraform apply"),
    ] = False,
    gitlab_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="also a fake GitLab on this port (0: any free port); --seed adds runners"),
    ] = None,
) -> None:
    """Run the AWS emulator and the fake Azure DevOps in the foreground (Ctrl-C or SIGTERM stops).

    With --seed: group ci-agents (hook asg-termination-gate, 4 instances, one agent each, two busy), scaled in so
    that one busy and one idle instance wait on the hook; it prints the export block for `gate status` and friends.
    With --seed-unhooked: the world to apply the Terraform module to (infra/README.md). Lambda functions deployed
    to the emulator run when their rules fire. `gate emulator finish-build INSTANCE` ends a job by hand.
    With --gitlab-port: a fake GitLab too; with --seed each seeded instance also gets a runner (docs/gitlab.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    if seed and seed_unhooked:
        fail("--seed and --seed-unhooked build different worlds: choose one")
    import socket

    from emulator.__main__ import serve

    ports = [p for p in (aws_port, azure_port, gitlab_port) if p]
    for port in set(ports):
        if ports.count(port) > 1:
            fail(f"two of --aws-port, --azure-port and --gitlab-port are both {port}")
        with socket.socket() as probe:  # werkzeug would print its own multi-line complaint
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                fail(f"cannot start the emulator: 127.0.0.1:{port}: {exc.strerror or exc}")
    try:
        serve(aws_port, azure_port, speed, pat, seed, seed_unhooked, gitlab_port)
    except OSError as exc:  # port in use, address not available
        fail(f"cannot start the emulator: {exc.strerror or exc}")


@emulator_app.command("finish-build")
def emulator_finish_build(
    instance: Annotated[str, typer.Argument(help="the instance whose agent runs the job, e.g. i-d272e6e5e030ff84a")],
    azure_url: Annotated[
        str | None, typer.Option(help="the fake Azure DevOps (default: GATE_AZURE_ORG_URL)", show_default=False)
    ] = None,
    result: Annotated[str, typer.Option(help="the job's result: succeeded, failed, canceled")] = "succeeded",
) -> None:
    """Finish the job running on an instance's agent in `gate emulator`'s fake Azure DevOps (the hand tour's busy
    instance is otherwise held for hours): the gate releases it at its next look."""
    import requests

    from emulator.__main__ import finish_build

    url = azure_url or os.environ.get("GATE_AZURE_ORG_URL")
    if not url:
        fail("no fake Azure DevOps: pass --azure-url or export GATE_AZURE_ORG_URL (as `gate emulator` prints it)")
    try:
        finished = finish_build(url, instance, result)
    except LookupError as exc:
        fail(str(exc))
    except (requests.ConnectionError, requests.Timeout) as exc:
        from gate.adapters.neterrors import network_words

        fail(f"the fake Azure DevOps at {url} did not answer: {network_words(exc)}")
    except (requests.RequestException, ValueError) as exc:
        fail(f"the fake Azure DevOps at {url} did not answer: {type(exc).__name__}: {exc}")
    console.print(f"finished job request {', '.join(map(str, finished))} on {instance} ({result})", highlight=False)


@app.command()
def bench(
    out: Annotated[Path, typer.Option(help="result folder")] = Path("bench-results"),
    quick: Annotated[bool, typer.Option(help="smaller runs (CI smoke)")] = False,
) -> None:
    """Benchmarks that print numbers: release latency, tick cost, package size, fleet simulation."""
    from cli.bench import run_bench

    run_bench(out, quick)


@app.command(
    add_help_option=False,  # --help goes to the simulation's own parser, which knows its options
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def chaos(ctx: typer.Context) -> None:
    """The seeded fault simulation (the project's red team): `gate chaos --seeds N --start S [--seed S] [--json]`,
    options as `python -m chaos --help`. Exit 1 on a violation of the invariant."""
    from chaos.__main__ import main as chaos_main

    raise typer.Exit(chaos_main(list(ctx.args)))


def _show_version(value: bool) -> None:
    if value:
        from gate import __version__

        typer.echo(f"asg-termination-gate {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="show the version and exit")
    ] = False,
    region: Annotated[
        str | None, typer.Option("--region", help="AWS region for every command (default: AWS_DEFAULT_REGION)")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="AWS profile for every command (default: AWS_PROFILE; wins over AWS_ACCESS_KEY_ID)"
        ),
    ] = None,
) -> None:
    """asg-termination-gate: hold Auto Scaling scale-in until CI agents are idle."""
    apply_aws_options(region, profile)


if __name__ == "__main__":  # pragma: no cover
    app()
