"""The README's "Try it by hand" lines, run as written against a real `gate emulator --seed` process.

Only three things change: the ports (the emulator gets free ones, so parallel runs do not collide), the tick
replay's budget (shorter, with idle confirmation and re-checks sped up through the same GATE_* variables a user
would set) and where gate.log is written. Everything else, the ids included, is the README's own text.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.cli.conftest import ROOT, check_output, emulator_process, gate_command

README = (ROOT / "README.md").read_text()
FAST = {"GATE_IDLE_CONFIRM_SECONDS": "2", "GATE_RECHECK_INTERVAL_SECONDS": "1", "GATE_ASSIGNMENT_LAG_SECONDS": "2"}


def readme_blocks() -> list[list[str]]:
    """The `sh` blocks of the section, as lines without comments."""
    section = README.split("## Try it by hand", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [[line.split("  #", 1)[0].strip() for line in b.splitlines() if line.strip()] for b in blocks]


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[str, str, str]]:
    [start], _ = readme_blocks()
    assert start == ".venv/bin/gate emulator --seed"
    with emulator_process("--seed", "--aws-port", "0", "--azure-port", "0") as (_, banner):
        aws = re.search(r"AWS emulator:\s+(http://127\.0\.0\.1:\d+)", banner)
        azure = re.search(r"fake Azure DevOps:\s+(http://127\.0\.0\.1:\d+)/", banner)
        assert aws and azure, banner
        yield aws.group(1), azure.group(1), banner


def test_the_seeded_world_prints_the_readmes_export_block(seeded: tuple[str, str, str]) -> None:
    aws, azure, banner = seeded
    _, lines = readme_blocks()
    exports = [line for line in lines if line.startswith("export ")]
    printed = [line.strip() for line in banner.splitlines() if line.strip().startswith("export ")]
    ported = [e.replace("http://127.0.0.1:5000", aws).replace("http://127.0.0.1:5001", azure) for e in exports]
    assert printed == ported  # the same block, only the ports differ
    for iid in re.findall(r"i-[0-9a-f]{17}", "\n".join(lines)):
        assert iid in banner  # the README's ids are the seeded ones


def test_the_readme_path_runs_line_by_line(seeded: tuple[str, str, str], tmp_path: Path) -> None:
    aws, azure, _ = seeded
    _, lines = readme_blocks()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "AWS_"))}
    outputs: dict[str, str] = {}
    for line in lines:
        line = line.replace("http://127.0.0.1:5000", aws).replace("http://127.0.0.1:5001", azure)
        if line.startswith("source "):
            continue
        words = shlex.split(line)
        if words[0] == "export":
            env.update(dict(w.split("=", 1) for w in words[1:]))
            continue
        assert words[0] == "gate", line
        args = [w if w != "gate.log" else str(tmp_path / "gate.log") for w in words[1:]]
        extra = {}
        if "--budget" in args:
            args[args.index("--budget") + 1] = "20"
            extra = FAST
        proc = _run(args, {**env, **extra})
        assert proc.returncode == 0, (line, proc.stdout, proc.stderr)
        key = " ".join(words[1:3])
        outputs[key if key not in outputs else f"{key} (again)"] = proc.stdout

    assert "all checks passed" in outputs["doctor"]
    assert outputs["status"].count("Terminating:Wait") == 2 and outputs["status"].count("InService") == 2
    assert "busy:     busy" in outputs["check i-d272e6e5e030ff84a"]
    assert (
        "found in an on-failure (DLQ) record's requestPayload"
        in outputs["replay examples/events/dlq-on-failure-record.json"]
    )
    assert "spot ci-agents" in outputs["replay examples/events/spot-interruption.json"]
    tick = outputs["replay examples/events/scheduled-tick.json"]
    assert "released ci-agents i-a9a5d904509be3a62" in tick and "held ci-agents i-d272e6e5e030ff84a" in tick
    summary = outputs["outcomes gate.log"]
    assert re.search(r"released\s+1", summary) and re.search(r"held\s+\d", summary)
    assert "finished job request 1 on i-d272e6e5e030ff84a" in outputs["emulator finish-build"]
    assert "released ci-agents i-d272e6e5e030ff84a" in outputs["replay examples/events/scheduled-tick.json (again)"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*gate_command(), *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False
    )
    check_output(proc.stdout + proc.stderr)
    return proc
