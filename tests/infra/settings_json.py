"""Generate modules/core/settings.json: the gate's own limits (defaults, ranges, choices) from gate/settings.py.

    python -m tests.infra.settings_json          # rewrite infra/modules/termination-gate/modules/core/settings.json
    python -m tests.infra.settings_json --check  # exit 1 when it is stale

The provider-free core reads the file (`jsondecode(file(...))`) in its validations, so Terraform accepts exactly the
ranges and choices the gate accepts at start-up: they are written once, in the `Field` bounds and `Literal`/`StrEnum`
types of `gate.settings.Settings`. TERRAFORM names where each setting sits in the module's inputs (object, attribute);
tests/infra/test_settings_ranges.py checks the file is current, that every bounded setting the core passes to the
Lambda is listed, and that the `optional(...)` defaults in the variable types equal the Settings defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types

from gate.settings import Settings

SETTINGS_JSON = Path(__file__).resolve().parents[2] / "infra/modules/termination-gate/modules/core/settings.json"

# (module input, attribute) -> Settings field. Only settings with bounds (ranges) or a closed set of values (choices).
# Inputs that are not objects sit under the pseudo-object "variables".
TERRAFORM: dict[tuple[str, str], str] = {
    ("variables", "agent_system"): "agent_system",
    ("hold", "max_seconds"): "max_hold_seconds",
    ("hold", "idle_confirm_seconds"): "idle_confirm_seconds",
    ("hold", "unregistered_grace_seconds"): "unregistered_grace_seconds",
    ("hold", "assignment_lag_seconds"): "assignment_lag_seconds",
    ("hold", "heartbeat_interval_seconds"): "heartbeat_interval_seconds",
    ("hold", "forced_result"): "forced_result",
    ("tick", "budget_seconds"): "tick_budget_seconds",
    ("tick", "recheck_interval_seconds"): "recheck_interval_seconds",
    ("agents", "mapping"): "mapping",
    ("agents", "http_timeout_seconds"): "http_timeout_seconds",
    ("agents", "max_retry_after_seconds"): "max_retry_after_seconds",
    ("agents", "secret_cache_seconds"): "secret_cache_seconds",
    ("azure_devops", "auth"): "azure_auth",
    ("gitlab", "runners"): "gitlab_runners",
    ("notifications", "webhook_format"): "webhook_format",
    ("notifications", "webhook_timeout_seconds"): "webhook_timeout_seconds",
    ("notifications", "hold_notify_seconds"): "hold_notify_seconds",
    ("monitoring", "log_level"): "log_level",
}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def numeric_range(name: str) -> dict[str, Any] | None:
    """A setting's bounds from its Field metadata (ge/gt/le/lt), or None when it has none."""
    field = Settings.model_fields[name]
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                bounds[attr] = _number(getattr(item, attr))
    if not bounds:
        return None
    assert ("ge" in bounds) != ("gt" in bounds) and ("le" in bounds) != ("lt" in bounds), (name, bounds)
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    whole = field.annotation is int
    text = f"{'>=' if 'ge' in bounds else '>'} {low} and {'<=' if 'le' in bounds else '<'} {high}"
    return {
        "setting": f"GATE_{name.upper()}",
        "default": _number(field.default),
        "min": low,
        "min_inclusive": "ge" in bounds,
        "max": high,
        "max_inclusive": "le" in bounds,
        "whole": whole,
        "text": text + (" (whole seconds)" if whole else ""),
    }


def choices(name: str) -> dict[str, Any] | None:
    """A setting's allowed values from its Literal or StrEnum type, or None."""
    field = Settings.model_fields[name]
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        values = [str(v) for v in typing.get_args(annotation)]
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        values = [str(member.value) for member in annotation]
    else:
        return None
    default = field.default.value if isinstance(field.default, Enum) else field.default
    return {"setting": f"GATE_{name.upper()}", "default": default, "values": values}


def render() -> str:
    ranges: dict[str, dict[str, Any]] = {}
    closed: dict[str, dict[str, Any]] = {}
    for (group, attribute), name in TERRAFORM.items():
        bounds, values = numeric_range(name), choices(name)
        assert (bounds is None) != (values is None), f"{name}: neither a range nor a closed set of values"
        target = ranges if bounds is not None else closed
        target.setdefault(group, {})[attribute] = bounds if bounds is not None else values
    document = {
        "about": (
            "The gate's own limits, generated from gate/settings.py by `python -m tests.infra.settings_json`: do not "
            "edit. modules/core validates its inputs against them (ranges: min/max, inclusive or not; choices)."
        ),
        "ranges": {g: dict(sorted(a.items())) for g, a in sorted(ranges.items())},
        "choices": {g: dict(sorted(a.items())) for g, a in sorted(closed.items())},
    }
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when settings.json is stale")
    args = parser.parse_args(argv)
    fresh = render()
    if args.check:
        current = SETTINGS_JSON.read_text() if SETTINGS_JSON.exists() else ""
        if current != fresh:
            print(f"{SETTINGS_JSON} is stale: run python -m tests.infra.settings_json", file=sys.stderr)
            return 1
        return 0
    SETTINGS_JSON.write_text(fresh)
    print(f"wrote {SETTINGS_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
