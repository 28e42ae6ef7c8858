"""`gate outcomes`: from a local JSON log file and from CloudWatch Logs (moto serves FilterLogEvents)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.aws import AwsEmulator
from gate.adapters.logs import emf
from tests.functional.cli.conftest import gate, one_line_error

HOLDS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 3600.0]


def line(outcome: str, instance: str, held: float | None, reason: str = "r", **extra: Any) -> str:
    """A decision line as the gate writes it (gate.adapters.logs.emf: the outcome spelled `Outcome`, once)."""
    record = {
        "outcome": outcome,
        "reason": reason,
        "group": "ci-agents",
        "instance": instance,
        "hook": "asg-termination-gate",
        "agents": [],
        "held_seconds": held,
    }
    written = emf(record, "AsgTerminationGate", 0) | {
        "event": "decision",
        "level": "error" if outcome == "error" else "info",
        "ts": "2026-01-01T00:00:00Z",
        "request_id": "c8a1f0e2-3b4d-4c5e-9f6a-7b8c9d0e1f2a",
        "cold_start": False,
        **extra,
    }
    assert "outcome" not in written
    return json.dumps(written)


def decision_lines() -> list[str]:
    lines = [line("released", f"i-{n:017x}", held) for n, held in enumerate(HOLDS[:-1])]
    lines.append(line("forced", "i-00000000000000f0f", HOLDS[-1], "max hold reached (3600s >= 3600s)"))
    lines += [line("held", "i-00000000000000aaa", 5.0), line("held", "i-00000000000000aaa", 65.0)]
    lines.append(line("error", "i-00000000000000bbb", None, "complete CONTINUE failed: Throttling"))
    lines.append(line("skipped", None, None, "group x is not in the allow-list"))  # type: ignore[arg-type]
    return lines


def test_outcomes_from_a_log_file(tmp_path: Path) -> None:
    log = tmp_path / "gate.log"
    noise = [
        "START RequestId: 1234 Version: $LATEST",
        '{"event": "describe_instance_failed", "level": "error"}',  # JSON, but not a decision
        "2026-01-01T00:00:00Z\tabc\t{not json",
        line("released", "i-0000000000000ccc", "soon"),  # type: ignore[arg-type]  # damaged held_seconds
    ]
    log.write_text("\n".join(noise[:2] + decision_lines() + noise[2:]) + "\n")

    result = gate("outcomes", log)
    assert result.exit_code == 0, result
    out = result.stdout
    assert "hook outcomes (15 decisions)" in out
    counts = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) == 2 and p[1].isdigit()}
    assert counts == {"released": 10, "forced": 1, "held": 2, "error": 1, "skipped": 1}
    assert "hold time (released/forced): min 10s  p50 55s  p95 2020s  max 3600s" in out
    assert "forced 2026-01-01T00:00:00Z ci-agents i-00000000000000f0f: max hold reached" in out
    assert "error 2026-01-01T00:00:00Z ci-agents i-00000000000000bbb: complete CONTINUE failed: Throttling" in out

    data = json.loads(gate("outcomes", log, "--json").stdout)
    assert data["decisions"] == 15 and data["outcomes"]["released"] == 10
    assert data["hold_seconds"] == {"min": 10.0, "p50": 55.0, "p95": 2020.5, "max": 3600.0}
    assert [r["outcome"] for r in data["forced_and_errors"]] == ["forced", "error"]


def test_outcomes_file_errors(tmp_path: Path) -> None:
    one_line_error(gate("outcomes", tmp_path / "missing.log"), "cannot read", "No such file")
    one_line_error(gate("outcomes", tmp_path), "cannot read", "Is a directory")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"\xff\xfe binary \x00\n")
    result = gate("outcomes", empty)
    assert result.exit_code == 0 and "no decision lines found" in result.stdout


@pytest.mark.parametrize("since", ["yesterday", "6", "-1h", "0m", "1.5h", "5y", "9999d"])
def test_bad_since_is_one_line_exit_2(since: str, tmp_path: Path) -> None:
    one_line_error(gate("outcomes", "--since", since, "--log-group", "g"), "--since")


def test_outcomes_from_cloudwatch_logs() -> None:
    group = "/aws/lambda/asg-termination-gate-test"
    with AwsEmulator() as emu:
        logs = boto3.client("logs", endpoint_url=emu.endpoint, region_name="us-east-1")
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[$LATEST]abc")
        now = int(time.time() * 1000)
        old = now - 3 * 3600 * 1000  # outside --since 1h
        events: list[Any] = [{"timestamp": old, "message": line("forced", "i-00000000000000001", 7200.0, "long ago")}]
        events += [{"timestamp": now - 1000 + i, "message": m} for i, m in enumerate(decision_lines())]
        events.append({"timestamp": now, "message": "END RequestId: 1234"})
        logs.put_log_events(logGroupName=group, logStreamName="2026/01/01/[$LATEST]abc", logEvents=events)

        result = gate("outcomes", "--log-group", group, "--since", "1h", "--aws-endpoint", emu.endpoint, "--json")
        assert result.exit_code == 0, result
        data = json.loads(result.stdout)
        assert data["decisions"] == 14 and data["outcomes"] == {
            "released": 9,
            "forced": 1,
            "held": 2,
            "error": 1,
            "skipped": 1,
        }
        assert data["hold_seconds"]["max"] == 3600.0  # the 3-hour-old forced line is outside --since
        wide = gate("outcomes", "--log-group", group, "--since", "6h", "--aws-endpoint", emu.endpoint, "--json")
        assert json.loads(wide.stdout)["outcomes"]["forced"] == 2

        one_line_error(
            gate("outcomes", "--log-group", "/no/such/group", "--aws-endpoint", emu.endpoint),
            "cannot read CloudWatch Logs group /no/such/group",
            "ResourceNotFoundException",
        )


def test_lines_written_before_outcome_had_one_spelling_still_count(tmp_path: Path) -> None:
    old = json.loads(line("released", "i-0000000000000dddd", 42.0))
    old["outcome"] = old.pop("Outcome")  # older releases wrote both spellings, or only `outcome`
    log = tmp_path / "old.log"
    log.write_text(json.dumps(old) + "\n" + line("held", "i-0000000000000eeee", 5.0) + "\n")
    data = json.loads(gate("outcomes", log, "--json").stdout)
    assert data["outcomes"] == {"released": 1, "held": 1}


def test_every_line_carries_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """request_id and cold_start, bound once per invocation, on decision lines and on every other line."""
    import io

    from gate.adapters import logs

    monkeypatch.setattr(logs, "_invocations", 0)  # a fresh container
    stream = io.StringIO()
    logs.configure(stream=stream)
    try:
        log = logs.DecisionLog()
        for request_id in ("req-1", "req-2"):
            logs.bind_invocation(type("Context", (), {"aws_request_id": request_id})())
            log.decision({"outcome": "held", "reason": "busy", "instance": "i-1", "held_seconds": 1.0}, 0)
            log.info("round_cut_short", left=1)
    finally:
        logs.configure()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    pairs = [(x["request_id"], x["cold_start"]) for x in lines]
    assert pairs == [("req-1", True), ("req-1", True), ("req-2", False), ("req-2", False)]
    assert all("outcome" not in x for x in lines) and lines[0]["Outcome"] == "held"


def test_the_handler_binds_each_invocation(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """gate.handler.handle binds the Lambda context first: even the misconfiguration line names its request."""
    from gate import bootstrap, handler
    from gate.adapters import logs

    for key in [k for k in os.environ if k.startswith("GATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(bootstrap, "_gate", None)
    monkeypatch.setattr(logs, "_invocations", 0)
    context = type("Context", (), {"aws_request_id": "3f1c-request", "get_remaining_time_in_millis": lambda _: 60_000})
    for _ in range(2):
        with pytest.raises(Exception, match="GATE_"):
            handler.handle({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, context())
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [(x["event"], x["request_id"], x["cold_start"]) for x in lines] == [
        ("gate_misconfigured", "3f1c-request", True),
        ("gate_misconfigured", "3f1c-request", False),
    ]
