"""`gate outcomes`: counts per outcome, hold-time distribution, forced and error lines, from the JSON logs."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from cli.common import console, fail

Record = dict[str, Any]
_SINCE = re.compile(r"^(\d+)([smhd])$")


def parse_since(value: str) -> float:
    m = _SINCE.match(value.strip())
    if not m:
        fail(f"--since {value!r}: use a number and a unit, e.g. 30m, 6h, 2d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def decisions(lines: Iterable[str]) -> list[Record]:
    """Decision lines are JSON objects with an `outcome`; anything else in the log is passed over."""
    out = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            rec = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("event") == "decision" and "outcome" in rec:
            out.append(rec)
    return out


def from_file(path: Path) -> list[Record]:
    try:
        with path.open() as f:
            return decisions(f)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


def from_cloudwatch(log_group: str, since_seconds: float, endpoint: str | None) -> list[Record]:
    import boto3

    logs = boto3.client("logs", endpoint_url=endpoint)
    start = int((time.time() - since_seconds) * 1000)
    lines: list[str] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group, startTime=start, filterPattern='{ $.event = "decision" }'
        ):
            lines.extend(e["message"] for e in page.get("events", []))
    except Exception as exc:
        fail(f"cannot read CloudWatch Logs group {log_group}: {exc}")
    return decisions(lines)


def summarise(records: list[Record]) -> dict[str, Any]:
    counts = Counter(r["outcome"] for r in records)
    holds = sorted(
        float(r["held_seconds"])
        for r in records
        if r["outcome"] in ("released", "forced") and r.get("held_seconds") is not None
    )
    dist: dict[str, float] = {}
    if holds:
        q = statistics.quantiles(holds, n=100, method="inclusive") if len(holds) > 1 else [holds[0]] * 99
        dist = {"min": holds[0], "p50": q[49], "p95": q[94], "max": holds[-1]}
    notable = [
        {k: r.get(k) for k in ("ts", "outcome", "group", "instance", "reason", "held_seconds")}
        for r in records
        if r["outcome"] in ("forced", "error")
    ]
    return {"decisions": len(records), "outcomes": dict(counts), "hold_seconds": dist, "forced_and_errors": notable}


def show(records: list[Record], json_out: bool) -> None:
    s = summarise(records)
    if json_out:
        console.print_json(json.dumps(s))
        return
    table = Table(title=f"hook outcomes ({s['decisions']} decisions)")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, n in sorted(s["outcomes"].items(), key=lambda kv: -kv[1]):
        table.add_row(outcome, str(n))
    console.print(table)
    if s["hold_seconds"]:
        d = s["hold_seconds"]
        console.print(
            f"hold time (released/forced): min {d['min']:.0f}s  p50 {d['p50']:.0f}s  "
            f"p95 {d['p95']:.0f}s  max {d['max']:.0f}s",
            highlight=False,
        )
    for r in s["forced_and_errors"]:
        console.print(
            f"[red]{r['outcome']}[/] {r.get('ts') or ''} {r.get('group')} {r.get('instance')}: {r['reason']}",
            highlight=False,
        )
