"""`gate doctor` and the gate agree on when a hold ends (issue 23).

Doctor reads the group's hook with the gate's own reading (`gate.service.hooks.read_hook`) and timing rule
(`Hook.max_hold`): GATE_MAX_HOLD_SECONDS, capped 300 s before AWS's global timeout, min(48 h, 100 x HeartbeatTimeout).
Doctor used to read the hook itself and said holds end at the global timeout, while the gate forces 300 s earlier.

Over HTTP: the AWS emulator and the fake Azure DevOps on the world's ManualClock, `gate doctor` through the CLI, and
the real gate driven like the Lambda (a tick a minute) until it ends the hold of a busy instance.
"""

from __future__ import annotations

import re

import pytest

from tests.functional.liveness.conftest import busy, lambda_for, make_world
from tests.functional.safety.conftest import doctor


def doctors_hold(result: object) -> float:
    """The hold end doctor reports for the group's hook (its `ok  hook ...` line)."""
    stdout = str(getattr(result, "stdout", ""))
    [line] = [x for x in stdout.splitlines() if x.startswith("ok  hook asg-termination-gate on ci-agents")]
    match = re.search(r"ends a hold at (\d+) s", line)
    assert match is not None, line
    return float(match.group(1))


@pytest.mark.parametrize(
    ("heartbeat_timeout", "max_hold", "ends"),
    [
        (30, None, 2_700),  # global timeout 3,000 s is below the 4 h default: 300 s before it, not at it
        (300, "600", 600),  # global timeout 30,000 s: GATE_MAX_HOLD_SECONDS as configured
    ],
    ids=["capped-by-the-hook", "as-configured"],
)
def test_doctor_and_the_gate_end_a_hold_at_the_same_time(
    monkeypatch: pytest.MonkeyPatch, heartbeat_timeout: int, max_hold: str | None, ends: float
) -> None:
    settings = {"max_hold_seconds": max_hold} if max_hold else {}
    for world in make_world(size=2, heartbeat_timeout=heartbeat_timeout):
        result = doctor(world, monkeypatch, **settings)
        assert result.exit_code == 0, result
        said = doctors_hold(result)
        assert said == ends, result
        if max_hold is None:
            assert "not at GATE_MAX_HOLD_SECONDS 14400: 300 s before the global timeout" in result.stdout, result

        [victim] = world.scale_in(1)
        waiting_since = world.clock.now()
        busy(world, [victim], 2 * ends)  # the build outlasts the hold: only the max hold ends it
        fn = lambda_for(world, **({"max_hold_seconds": int(max_hold)} if max_hold else {}))
        assert fn.gate.policy_for("ci-agents").max_hold_seconds == said
        minutes = 0
        while not world.history("complete") and minutes < said / 60 + 5:
            fn.minutes(1, events=False)
            minutes += 1
        [forced] = [r for r in fn.records if r["outcome"] == "forced"]
        assert forced["instance"] == victim and f">= {said:.0f}s)" in forced["reason"], forced
        assert said <= forced["held_seconds"] < said + 60, forced  # the tick after the max hold was reached
        [complete] = world.history("complete")[victim]
        assert complete["time"] - waiting_since < said + 60 < heartbeat_timeout * 100  # before AWS's global timeout
        assert not world.history("timeout"), world.history("timeout")  # the gate ended it, not AWS's DefaultResult
