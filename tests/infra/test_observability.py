"""The module's Logs Insights queries and dashboard, checked against real log lines from a simulated scale-in.

The query strings come from the provider-free core (`terraform plan` + `show -json`, offline). The log lines come
from the real gate on the project's emulator and fake Azure DevOps, written by gate/adapters/logs.py exactly as Lambda
would
ship them: held, released, forced and error decisions and a round cut short. Each query's `filter` is evaluated
on those lines (the small subset of the Logs Insights syntax the queries use) and every field it names must be in
every line it selects, so a renamed log field fails here instead of leaving an empty query in CloudWatch.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.infra.conftest import Tool

Line = dict[str, Any]

# Logs Insights words and functions the queries use; everything else that looks like a name is a log field.
KEYWORDS = {
    "fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "not", "in", "desc", "asc", "like",
    "count", "count_distinct", "max", "min", "avg", "sum", "latest", "earliest", "bin", "ispresent", "display",
}  # fmt: skip
STRING = re.compile(r'"[^"]*"')
NAME = re.compile(r"(?<![\w@])[A-Za-z_][A-Za-z0-9_.]*")
CONDITION = re.compile(
    r'^\s*(?:(?P<f>[\w.]+)\s*=\s*"(?P<v>[^"]*)"|(?P<fi>[\w.]+)\s+in\s+\[(?P<vs>[^\]]*)\]|ispresent\((?P<p>[\w.]+)\))\s*$'
)


def referenced_fields(query: str) -> set[str]:
    """Log fields a query reads: names minus keywords, functions, @-fields, aliases (`as x`) and bin sizes."""
    text = STRING.sub(" ", query)
    aliases = set(re.findall(r"\bas\s+([A-Za-z_]\w*)", text))
    names = {n for n in NAME.findall(text) if n not in KEYWORDS and n not in aliases}
    return {n for n in names if not re.fullmatch(r"\d+[smhd]", n)}


def filter_predicate(query: str) -> Any:
    """The query's `filter` stage as a predicate on a parsed JSON line (conjunctions of =, in, ispresent)."""
    stages = [s.strip() for s in query.split("|")]
    conditions = [s.removeprefix("filter ").strip() for s in stages if s.startswith("filter ")]
    checks = []
    for condition in conditions:
        for part in re.split(r"\s+and\s+", condition):
            m = CONDITION.match(part)
            assert m, f"unsupported filter condition {part!r}: extend the evaluator in this test"
            if m["f"]:
                checks.append(lambda line, f=m["f"], v=m["v"]: line.get(f) == v)
            elif m["fi"]:
                values = {v.strip().strip('"') for v in m["vs"].split(",")}
                checks.append(lambda line, f=m["fi"], vs=values: line.get(f) in vs)
            else:
                checks.append(lambda line, f=m["p"]: line.get(f) is not None)
    return lambda line: all(check(line) for check in checks)


# --- the queries and dashboard, from the core module ---------------------------------------------------------


@pytest.fixture(scope="module")
def core_outputs(terraform: Tool, core_copy: Path) -> dict[str, Any]:
    variables = {
        "name": "gate",
        "partition": "aws",
        "region": "eu-west-1",
        "account_id": "123456789012",
        "autoscaling_group_names": ["ci-agents"],
        "azure_devops": {
            "org_url": "https://dev.azure.com/contoso",
            "pools": ["linux-agents"],
            "pat_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123",
        },
    }
    (core_copy / "observability.auto.tfvars.json").write_text(json.dumps(variables))
    result = terraform.run(["plan", "-no-color", "-input=false", "-out=obs.tfplan"], cwd=core_copy)
    assert result.returncode == 0, result.output
    result = terraform.run(["show", "-json", "obs.tfplan"], cwd=core_copy)
    assert result.returncode == 0, result.output
    outputs: dict[str, Any] = json.loads(result.stdout)["planned_values"]["outputs"]
    return {k: v.get("value") for k, v in outputs.items()}


# --- real log lines ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_lines() -> Iterator[list[Line]]:
    import time

    from emulator.sandbox import Sandbox
    from gate.adapters import logs
    from gate.domain.clock import ManualClock
    from gate.settings import Settings

    stream = io.StringIO()
    logs.configure(stream=stream)
    logs.bind_invocation(SimpleNamespace(aws_request_id="8f5f1c2e-sim"))  # as the handler does per invocation
    clock = ManualClock(time.time())
    try:
        with Sandbox(clock=clock) as sandbox:
            ado, emulator = sandbox.ado, sandbox.emulator
            assert ado is not None and emulator is not None
            group = sandbox.create_group("ci-agents", size=5, heartbeat_timeout=900)
            busy, _idle, late_a, late_b, survivor = group.instances
            ado.start_build(group.agents[busy], duration=100_000)
            asg = sandbox.client("autoscaling")
            late = {"AutoScalingGroupName": "ci-agents", "InstanceIds": [late_a, late_b]}
            asg.set_instance_protection(**late, ProtectedFromScaleIn=True)
            asg.set_instance_protection(**{**late, "InstanceIds": [survivor]}, ProtectedFromScaleIn=True)
            overrides: dict[str, Any] = {"idle_confirm_seconds": 0, "max_hold_seconds": 600, "tick_budget_seconds": 0}
            if "agent_concurrency" in Settings.model_fields:
                overrides["agent_concurrency"] = 1  # judge one instance after the other: the cut below is exact
            gate = sandbox.gate(sandbox.settings(**overrides))
            sandbox.scale_to("ci-agents", 1)
            for _ in range(4):  # held (busy) and released (idle) over a few ticks past every lag bound
                gate.tick(budget=0)
                clock.advance(70)
            emulator.faults.inject("DescribeAutoScalingGroups", code="InternalFailure", status=500, count=50)
            gate.tick(budget=0)  # an error decision (after the client's own retries)
            emulator.faults.clear()
            for _ in range(10):  # past max_hold_seconds: forced
                gate.tick(budget=0)
                clock.advance(70)
            # Two idle instances leave; on the second look, the first one's job-request check takes 1000 s of the
            # shared clock (the fake's "latency" fault sleeps on it), so the round runs past the invocation deadline.
            asg.set_instance_protection(**late, ProtectedFromScaleIn=False)
            deadline = time.monotonic() + 10
            while len(sandbox.instance_ids("ci-agents", ("Terminating:Wait",))) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            gate.tick(budget=0)  # disabled; the next look checks their job requests before releasing
            clock.advance(70)
            ado.inject("latency", count=1, delay=1000, path_contains="jobrequests")
            gate.tick(budget=0)
    finally:
        logs.bind_invocation(None)
        logs.configure()
    yield [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


# --- tests -----------------------------------------------------------------------------------------------------


def test_simulation_logged_every_kind_of_line_the_queries_look_for(log_lines: list[Line]) -> None:
    outcomes = {line.get("Outcome") for line in log_lines if line.get("event") == "decision"}
    assert {"held", "released", "forced", "error"} <= outcomes, outcomes
    assert any(line.get("event") == "round_cut_short" for line in log_lines), [line.get("event") for line in log_lines]


def test_each_query_selects_real_lines_that_carry_every_field_it_uses(
    core_outputs: dict[str, Any], log_lines: list[Line]
) -> None:
    queries: dict[str, str] = core_outputs["queries"]
    assert sorted(queries) == [
        "gate/forced-and-error-decisions",
        "gate/longest-holds",
        "gate/outcomes-over-time",
        "gate/rounds-cut-short",
    ]
    for name, query in queries.items():
        selected = [line for line in log_lines if filter_predicate(query)(line)]
        assert selected, f"{name} selects none of the simulation's {len(log_lines)} lines:\n{query}"
        fields = referenced_fields(query)
        assert fields, name
        for line in selected:
            missing = fields - set(line)
            assert not missing, f"{name} uses {sorted(missing)}, absent from a line it selects: {line}"
    forced_or_error = [line for line in log_lines if filter_predicate(queries["gate/forced-and-error-decisions"])(line)]
    assert {line["Outcome"] for line in forced_or_error} == {"forced", "error"}


def test_decision_lines_carry_the_metric_dimensions_the_alarms_and_dashboard_use(
    core_outputs: dict[str, Any], log_lines: list[Line]
) -> None:
    decisions = [line for line in log_lines if line.get("event") == "decision"]
    namespaces = set()
    for line in decisions:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        namespaces.add(directive["Namespace"])
        assert directive["Dimensions"] == [["FunctionName", "Outcome"]]
        assert {m["Name"] for m in directive["Metrics"]} == {"Decisions", "HeldSeconds"}
        assert line["FunctionName"] == "local" and "outcome" not in line  # one spelling: EMF's dimension
    assert namespaces == {"AsgTerminationGate"}
    assert core_outputs["metric_dimensions"] == {"FunctionName": "gate"}

    dashboard = json.loads(core_outputs["dashboard_body"])
    titles = [w["properties"]["title"] for w in dashboard["widgets"]]
    for wanted in ("outcome", "Hold durations", "Waiting instances", "Errors", "duration", "throttles"):
        assert any(wanted.lower() in t.lower() for t in titles), (wanted, titles)
    for widget in dashboard["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if metric[0] == "AsgTerminationGate":
                assert metric[1] in {m for line in decisions for m in ("Decisions", "HeldSeconds") if m in line}
                assert metric[2:6] == ["FunctionName", "gate", "Outcome", metric[5]]
                assert metric[5] in {"held", "released", "forced", "gone", "skipped", "error", "spot"}
    [waiting] = [w for w in dashboard["widgets"] if w["type"] == "log"]
    query = waiting["properties"]["query"].split("\n| ", 1)[1]
    selected = [line for line in log_lines if filter_predicate(query)(line)]
    assert selected and all(referenced_fields(query) <= set(line) for line in selected)
