"""`gate outcomes`: counts per outcome, hold-time distribution, forced and error lines, from the JSON logs."""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from cli.common import console, emit_json, fail

Record = dict[str, Any]
_SINCE = re.compile(r"^(\d+)([smhd])$")


def parse_since(value: str) -> float:
    m = _SINCE.match(value.strip().lower())
    if not m or int(m.group(1)) == 0:
        fail(f"--since {value!r}: use a positive number and a unit, e.g. 30m, 6h, 2d")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds > 366 * 86400:
        fail(f"--since {value!r}: at most a year back")
    return seconds


def decisions(lines: Iterable[str]) -> list[Record]:
    """Decision lines are JSON objects with `"event": "decision"` and an `Outcome` (the EMF dimension; lines written
    before it was the only spelling have `outcome`); anything else in the log is passed over."""
    out = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            rec = json.loads(line[start:])
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("event") != "decision":
            continue
        rec["outcome"] = rec.pop("Outcome", rec.get("outcome"))
        if isinstance(rec.get("outcome"), str):
            held = rec.get("held_seconds")
            if held is not None and (isinstance(held, bool) or not isinstance(held, (int, float))):
                rec["held_seconds"] = None  # a foreign or damaged line: count it, but not in the distribution
            out.append(rec)
    return out


def from_file(path: Path) -> list[Record]:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return decisions(f)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def from_cloudwatch(log_group: str, since_seconds: float, endpoint: str | None, where: str = "") -> list[Record]:
    """`where`: the account, region and endpoint, as an error names them (cli.common.AwsTarget.where)."""
    from gate.adapters.aws import make_session

    start = int((time.time() - since_seconds) * 1000)
    lines: list[str] = []
    try:
        logs = make_session(os.environ.get("AWS_DEFAULT_REGION")).client("logs", endpoint_url=endpoint)
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group, startTime=start, filterPattern='{ $.event = "decision" }'
        ):
            lines.extend(e["message"] for e in page.get("events", []))
    except Exception as exc:  # botocore: no credentials, no such group, unreachable endpoint
        fail(f"cannot read CloudWatch Logs group {log_group}{f' in {where}' if where else ''}: {exc}")
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
        {k: r.get(k) for k in ("ts", "outcome", "group", "instance", "reason", "held_seconds", "tier", "request_id")}
        for r in records
        if r["outcome"] in ("forced", "error")
    ]
    # Priority tiers (GATE_TIERS): the judged decisions per tier that applied, and the forced ones per tier.
    tiers = Counter(str(r["tier"]) for r in records if r.get("tier"))
    forced = Counter(str(r["tier"]) for r in records if r.get("tier") and r["outcome"] == "forced")
    return {
        "decisions": len(records),
        "outcomes": dict(counts),
        "hold_seconds": dist,
        "forced_and_errors": notable,
        "tiers": {t: {"decisions": n, "forced": forced.get(t, 0)} for t, n in sorted(tiers.items())},
    }


def show(records: list[Record], json_out: bool) -> None:
    s = summarise(records)
    if json_out:
        emit_json(s)
        return
    if not records:
        console.print("no decision lines found")
        return
    console.print(f"hook outcomes ({s['decisions']} decisions)", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
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
    if set(s["tiers"]) - {"default"}:  # only worth a line when priority tiers are configured
        parts = [f"{t} {v['decisions']} ({v['forced']} forced)" for t, v in s["tiers"].items()]
        console.print("tiers: " + ", ".join(parts), highlight=False)
    for r in s["forced_and_errors"]:
        where = " ".join(str(r.get(k) or "-") for k in ("ts", "group", "instance"))
        text = f"[red]{r['outcome']}[/] {escape(where)}: {escape(str(r.get('reason')))}"
        console.print(text, highlight=False, soft_wrap=True)
