"""`gate simulate`: a scripted scale-in with a live table and a verdict (exit 1 if any build was killed).

By default both servers are embedded (one process, one accelerated clock). `--aws-endpoint` / `--azure-url` use
servers that already run, e.g. `gate emulator --speed 20`: the fake Azure DevOps is then scripted through its
`/_fake/` control API and the simulation's clock is aligned with the fake's (so the fake must run at `--speed`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal, TextIO

import requests
import typer
from rich import box
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.common import DISCARD, check_url, console, emit_json, fail, one_line, require_reachable, short_id
from emulator.scenario import (
    BuildSpec,
    Result,
    Run,
    ScaleSpec,
    Scenario,
    ScenarioError,
    ctrl_c_sets,
    load_scenario,
)
from gate.adapters import logs
from gate.domain.clock import Clock, ScaledClock

LOCAL_PAT = "local-pat"  # what `gate emulator` accepts unless told otherwise


# -- the table ------------------------------------------------------------------------------------------------


def _agent_cell(run: Run, row: dict[str, Any]) -> str:
    """`#<agent id> <busy|idle>[,off]` (off: disabled, i.e. drained); the full name is in --json."""
    agent_id = run.agents.get(row["instance"])
    state = str(row["agent_state"]).replace(", disabled", ",off")
    return f"#{agent_id} {state}" if agent_id is not None else state


COLUMNS = ("instance", "lifecycle state", "prot", "agent", "held s", "hb", "outcome")
REASON_MIN = 30  # narrower than this, each instance's reason goes on its own line under the table
CELL_PAD = 3  # rich's padding and separator per column, rounded up


def _cells(run: Run, row: dict[str, Any], short: bool) -> list[str]:
    iid = short_id(row["instance"]) if short else row["instance"]
    held = f"{row['held_seconds']:.0f}" if row["held_seconds"] is not None else "-"
    outcome = row["outcome"]
    if row["state"] == "Terminated" and str(row["agent_state"]).startswith("busy"):
        outcome = "KILLED" if outcome == "-" else f"{outcome}, KILLED"
    prot = "yes" if row["protected"] else "no"
    return [iid, row["state"], prot, _agent_cell(run, row), held, str(row["heartbeats"]), outcome]


def render(run: Run, *, final: bool = False, width: int | None = None) -> RenderableType:
    """The table: every instance's lifecycle state, protection, agent, hold, heartbeats, outcome and last reason.

    The fixed columns never shrink or vanish: they take their natural width, and the reason gets what is left (cut
    with an ellipsis in the live view, folded in the final one). With less than REASON_MIN columns left, instance
    ids are shortened; still too narrow (80 columns), the reasons go on lines under the table.
    """
    width = width or console.width
    rows = run.rows()
    title = f"gate simulate: {'with' if run.with_gate else 'WITHOUT'} the gate, t={run.elapsed():.0f}s"
    for short in (False, True):
        cells = [_cells(run, r, short) for r in rows]
        fixed = sum(max([len(h), *(len(c[i]) for c in cells)]) + CELL_PAD for i, h in enumerate(COLUMNS))
        room = width - fixed - CELL_PAD
        if room >= REASON_MIN:
            break
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        title_justify="left",
    )
    for col in COLUMNS:
        table.add_column(col, no_wrap=True, justify="right" if col in ("held s", "hb") else "left")
    inline = room >= REASON_MIN
    if inline:
        overflow: Literal["fold", "ellipsis"] = "fold" if final else "ellipsis"
        table.add_column("reason", no_wrap=not final, overflow=overflow, max_width=room)
    reasons: list[Text] = []
    for r, c in zip(rows, cells, strict=True):
        table.add_row(*(escape(x) for x in c), *([escape(str(r["reason"]))] if inline else []))
        if not inline and r["reason"]:
            line = Text(f"{c[0]}  {r['reason']}", no_wrap=not final, overflow="fold" if final else "ellipsis")
            line.stylize("dim", 0, len(c[0]))
            reasons.append(line)
    if not reasons:
        return table
    return Group(table, *reasons)


TIMELINE_LINES = 30  # the rest is in --json


def timeline(result: Result, run: Run, width: int | None = None) -> Text:
    """What happened, one line per step: `   615s  i-…43f9b479  forced ABANDON  max hold reached …`, the reason cut
    to the terminal's width (never wrapped mid-word); long runs show their first lines and say how many more."""
    width = width or console.width
    moments = result.timeline
    shown = moments[:TIMELINE_LINES]
    out = Text("timeline (simulated seconds):\n", style="bold")
    for m in shown:
        who = short_id(m.instance) if m.instance else "-"
        head = f"{m.t:>7.0f}s  {who:<12} {m.what}"
        room = width - len(head) - 2
        text = one_line(m.detail)
        detail = text if len(text) <= room else (text[: max(room - 1, 0)].rsplit(" ", 1)[0] + "…")
        out.append(head)
        if detail and room > 10:
            out.append(f"  {detail}", style="dim")
        out.append("\n")
    if len(moments) > len(shown):
        out.append(f"  … {len(moments) - len(shown)} more (--json lists all)\n", style="dim")
    return out


def summary(result: Result, run: Run, speed: float) -> str:
    p50, p95 = result.percentile(50), result.percentile(95)
    lat = f"p50 {p50:.1f}s  p95 {p95:.1f}s" if p50 is not None and p95 is not None else "n/a"
    killed = result.builds_killed
    if killed:
        verdict = f"[bold red]builds killed {killed}[/] of {result.builds} (must be 0)"
        verdict += ": the scale-in killed running builds" if not run.with_gate else ": FAILED"
    else:
        verdict = f"[bold green]builds killed 0[/] of {result.builds} (must be 0): OK"
    if run.interrupted:
        verdict = f"[bold yellow]interrupted at t={result.simulated_seconds:.0f}s: partial result[/]; " + verdict
    forced = f"forced {result.forced}"
    if result.forced_results:
        forced += " (" + ", ".join(f"{k} {v}" for k, v in sorted(result.forced_results.items())) + ")"
    lines = [
        verdict,
        f"decisions: released {result.released}  {forced}  gone {result.gone}  "
        f"skipped {result.decisions.get('skipped', 0)}  errors {result.errors}",
        f"instances: held {result.instances_held}  still held {result.held}  retained {result.retained}  "
        f"hooks timed out {result.hooks_timed_out}  heartbeats {result.heartbeats}",
        f"events: delivered {result.events_delivered}  dropped {result.events_dropped}  "
        f"duplicated {result.events_duplicated}",
        f"release latency {lat}  simulated {result.simulated_seconds:.0f}s in {result.wall_seconds:.1f}s "
        f"(speed {speed:g}x)",
    ]
    if run.sandbox.emulator is None:
        lines.append("(AWS runs in another process: heartbeats, timeouts, latency not seen)")
    return "\n".join(lines)


# -- an out-of-process fake Azure DevOps ----------------------------------------------------------------------


class RemoteFake:
    """The scripting side of FakeAzureDevOps that a Run uses, over the fake's `/_fake/` control API."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self.base_url = self.url.rsplit("/", 1)[0]
        self.timeout = timeout
        self.calls: list[dict[str, Any]] = []  # the API call log stays in the other process
        self._started: set[int] = set()
        self._http = requests.Session()

    def _req(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self._http.request(method, f"{self.base_url}/_fake/{path}", json=body, timeout=self.timeout)
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text[:200]
            raise (KeyError if resp.status_code == 404 else ValueError)(f"fake Azure DevOps: {message}")
        return resp.json() if resp.content else None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._req("GET", "state")
        return result

    def stop(self) -> None:
        self._http.close()

    def add_pool(self, name: str) -> int:
        return int(self._req("POST", "pools", {"name": name})["id"])

    def add_agent(self, pool: str | int, name: str, **options: Any) -> int:
        return int(self._req("POST", "agents", {"pool": pool, "name": name, **options})["id"])

    def start_build(self, agent_id: int, duration: float) -> int:
        build_id = int(self._req("POST", "builds", {"agent_id": agent_id, "duration": duration})["id"])
        self._started.add(build_id)
        return build_id

    def agent(self, agent_id: int) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._req("POST", f"agents/{agent_id}", {})
        except KeyError:
            return None
        return result

    def builds(self) -> list[dict[str, Any]]:
        return [b for b in self.state()["builds"] if b["id"] in self._started]

    def inject(self, kind: str, **options: Any) -> None:
        self._req("POST", "faults", {"kind": kind, **options})


def remote_clock(fake: RemoteFake, speed: float, sample: float = 0.5) -> Clock:
    """A clock aligned with the out-of-process fake's: same epoch, and its rate checked against `speed`.

    Each reading is pinned to the middle of its request's round trip, so request latency cancels out.
    """

    def reading() -> tuple[float, float]:
        before = time.monotonic()
        now = float(fake.state()["now"])
        return (before + time.monotonic()) / 2, now

    try:
        w1, n1 = reading()
        time.sleep(sample)
        w2, n2 = reading()
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        fail(f"--azure-url {fake.url}: not a fake Azure DevOps (no /_fake/state): {exc}")
    rate = (n2 - n1) / max(w2 - w1, 1e-6)
    if abs(rate / speed - 1) > 0.25:
        fail(
            f"the fake Azure DevOps at {fake.url} runs its clock at about {rate:.0f}x but --speed is {speed:g}: "
            f"pass the --speed it was started with (builds are timed by the fake's clock)"
        )
    return ScaledClock(speed, start=n2 + (time.monotonic() - w2) * speed)


def _check_remote_aws(endpoint: str, group: str) -> None:
    import boto3

    # The same dummy credentials the Sandbox uses: an emulator (or LocalStack) accepts any.
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    try:
        found = session.client("autoscaling", endpoint_url=endpoint).describe_auto_scaling_groups(
            AutoScalingGroupNames=[group]
        )["AutoScalingGroups"]
    except Exception as exc:
        fail(f"--aws-endpoint {endpoint}: {exc}")
    if found:
        fail(f"group {group} already exists at {endpoint}: name another `group:` in a --scenario file")


# -- the command ----------------------------------------------------------------------------------------------


def build_scenario(
    *,
    instances: int,
    busy: int,
    build_minutes: float,
    scale_to: int,
    scale_at: float,
    scenario: Path | None,
    agent_system: str | None = None,
) -> Scenario:
    """`agent_system`: the CI system (azure-devops or gitlab), over the scenario file's own."""
    if scenario is not None:
        try:
            loaded = load_scenario(scenario)
            if agent_system is not None and agent_system != loaded.agent_system:
                loaded = Scenario.model_validate(loaded.model_dump() | {"agent_system": agent_system}).check()
            return loaded
        except (ScenarioError, ValueError) as exc:
            fail(str(exc))
    if busy > instances:
        fail(f"--busy {busy} is more than --instances {instances}")
    if scale_to >= instances:
        fail(f"--scale-to {scale_to} is not a scale-in from --instances {instances}")
    return Scenario(
        instances=instances,
        builds=[BuildSpec(instance=i, start=0, duration=build_minutes * 60) for i in range(busy)],
        scale=[ScaleSpec(at=scale_at, desired=scale_to)],
        agent_system=agent_system or "azure-devops",
    )


def _open_log(log_file: Path | None) -> TextIO:
    if log_file is None:
        return DISCARD
    try:
        return log_file.open("w", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {log_file}: {exc.strerror or exc}")


def run_simulation(
    *,
    instances: int,
    busy: int,
    build_minutes: float,
    scale_to: int,
    scale_at: float,
    scenario: Path | None,
    speed: float,
    gate: bool,
    aws_endpoint: str | None,
    azure_url: str | None,
    live: bool,
    json_out: bool,
    log_file: Path | None = None,
    agent_system: str | None = None,
) -> None:
    if agent_system not in (None, "azure-devops", "gitlab"):
        fail(f"--agent-system {agent_system}: azure-devops or gitlab")
    sc = build_scenario(
        instances=instances,
        busy=busy,
        build_minutes=build_minutes,
        scale_to=scale_to,
        scale_at=scale_at,
        scenario=scenario,
        agent_system=agent_system,
    )
    if azure_url and sc.agent_system != "azure-devops":
        fail("--azure-url drives a fake Azure DevOps: a GitLab simulation runs its own fake GitLab")
    clock: Clock | None = None
    fake: RemoteFake | None = None
    if aws_endpoint:
        check_url(aws_endpoint, "--aws-endpoint")
        require_reachable(aws_endpoint, "the AWS endpoint")
        _check_remote_aws(aws_endpoint, sc.group)
    if azure_url:
        check_url(azure_url, "--azure-url")
        require_reachable(azure_url, "the fake Azure DevOps")
        fake = RemoteFake(azure_url)
        clock = remote_clock(fake, speed)
        # The out-of-process fake checks its own PAT (`gate emulator --pat`, default local-pat).
        sc = sc.model_copy(update={"settings": {"pat": os.environ.get("GATE_PAT", LOCAL_PAT), **sc.settings}})

    show = live and not json_out and console.is_terminal
    run = Run(sc, speed=speed, gate=gate, aws_endpoint=aws_endpoint, azure_url=azure_url, clock=clock)
    if fake is not None:
        run.sandbox.ado = fake  # type: ignore[assignment]  # the scripting surface Run and Sandbox use
    with ctrl_c_sets(run.stop):  # from here on Ctrl-C ends the run with its partial account (see Run.run)
        if not json_out:
            longest = max((b.duration for b in sc.builds), default=0)
            scale = ", ".join(f"to {s.desired} at {s.at:g}s" for s in sc.scale) or "none"
            console.print(
                f"simulating {sc.group}: {sc.instances} instances"
                + (" (GitLab runners)" if sc.agent_system == "gitlab" else "")
                + f", {len(sc.builds)} build(s) (longest {longest:g}s), "
                f"scale {scale}, {'with' if gate else 'WITHOUT'} the gate, speed {speed:g}x",
                highlight=False,
            )
        log_stream = _open_log(log_file)
        logs.configure(stream=log_stream)
        try:
            if show:
                with Live(console=console, refresh_per_second=4, transient=True) as view:
                    result = run.run(on_step=lambda r: view.update(render(r)))
            else:
                result = run.run()
        except Exception as exc:
            fail(f"simulation failed: {type(exc).__name__}: {exc}", code=1)
        finally:
            logs.configure(stream=DISCARD)
            if log_stream is not DISCARD:
                log_stream.close()
    if json_out:
        emit_json(
            result.model_dump()
            | {
                "p50": result.percentile(50),
                "p95": result.percentile(95),
                "gate": gate,
                "speed": speed,
                "interrupted": run.interrupted,
                "instances": run.rows(),
                "scenario": sc.model_dump(exclude={"settings"}),
            }
        )
    else:
        console.print(render(run, final=True))
        console.print(timeline(result, run), highlight=False, end="")
        console.print(summary(result, run, speed), highlight=False)
    if result.builds_killed:
        raise typer.Exit(1)
    if run.interrupted:
        raise typer.Exit(130)  # the shell's convention for Ctrl-C; the partial table and summary are above
