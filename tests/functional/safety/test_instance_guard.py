"""The instance-side guard (issue #18): an agent that deregisters after each job and registers again must not come
back on an instance Auto Scaling is taking away. `examples/instance-guard/gate-guard`, the real script run as a
subprocess, asks the fake IMDS (`emulator/imds.py`, IMDSv2 only), whose target lifecycle state follows the AWS
emulator's view of the instance, over HTTP. Waits are bounded polls on recorded events, never fixed sleeps."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from moto.autoscaling.models import autoscaling_backends

from emulator.imds import STATE_PATH, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER, FakeImds, target_lifecycle_state
from tests.support.world import World

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "instance-guard"
GUARD = EXAMPLE / "gate-guard"
StartImds = Callable[[str], FakeImds]

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="gate-guard needs curl")


def guard(endpoint: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """One run of the real script, with nothing of this process's environment but PATH (no proxy, no AWS_*)."""
    environment = {"PATH": os.environ["PATH"], "GATE_GUARD_IMDS_ENDPOINT": endpoint, **env}
    return subprocess.run([str(GUARD), *args], env=environment, capture_output=True, text=True, timeout=60)


def _default_signals() -> None:
    """Children start with SIGINT and SIGQUIT at their defaults: a shell cannot trap a signal ignored on entry, and
    a pytest worker may have left one ignored (the suite passed alone and failed in a full run)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def wait_for(condition: Callable[[], bool], what: str, limit: float = 180.0) -> None:
    """Bounded poll on an event; the limit only stops a broken test, it is never the expected path."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def start_imds(world: World) -> Iterator[StartImds]:
    started: list[FakeImds] = []

    def start(instance_id: str) -> FakeImds:
        imds = FakeImds(instance_id, aws_endpoint=world.sb.aws_endpoint, clock=world.clock).start()
        started.append(imds)
        return imds

    yield start
    for imds in started:
        imds.stop()


def set_lifecycle_state(world: World, instance_id: str, state: str) -> None:
    """The AWS emulator has no warm pools (emulator/aws.py): put the instance where AWS puts one that a scale-in
    sends to the group's warm pool (`Warmed:Pending:Wait`, held by the terminating hook)."""
    emu = world.emu
    with emu._lock:
        group = autoscaling_backends[emu.account_id][emu.region].autoscaling_groups[world.group.name]
        next(s for s in group.instance_states if s.instance.id == instance_id).lifecycle_state = state


def reads(imds: FakeImds, status: int = 200) -> int:
    """How many target-lifecycle-state reads the fake answered with `status`."""
    return sum(1 for c in list(imds.calls) if c["path"] == STATE_PATH and c["status"] == status)


# -- the mapping the fake IMDS serves -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifecycle_state", "pool_state", "target"),
    [
        ("Pending", None, "InService"),
        ("Pending:Wait", None, "InService"),  # a launching hook: the instance is on its way in
        ("InService", None, "InService"),
        ("Terminating", None, "Terminated"),
        ("Terminating:Wait", None, "Terminated"),  # chosen by a scale-in, held by the gate's hook
        ("Terminating:Proceed", None, "Terminated"),
        ("Terminating:Retained", None, "Terminated"),
        ("EnteringStandby", None, "Standby"),
        ("Detaching", None, "Detached"),
        ("Warmed:Pending:Wait", None, "Warmed:Stopped"),  # scale-in into a warm pool, default pool state
        ("Warmed:Pending:Wait", "Running", "Warmed:Running"),
        ("Warmed:Pending", "Hibernated", "Warmed:Hibernated"),
        ("Warmed:Running", "Running", "Warmed:Running"),
        ("Warmed:Terminating:Wait", None, "Warmed:Terminated"),
        (None, None, None),  # in no group: 404
    ],
)
def test_target_lifecycle_state_follows_the_aws_lifecycle(
    lifecycle_state: str | None, pool_state: str | None, target: str | None
) -> None:
    assert target_lifecycle_state(lifecycle_state, pool_state) == target


# -- one check, over HTTP -------------------------------------------------------------------------------------------


def test_guard_allows_in_service_and_refuses_once_a_scale_in_chose_the_instance(
    world: World, start_imds: StartImds
) -> None:
    servers = {iid: start_imds(iid) for iid in world.group.instances}
    for server in servers.values():
        before = guard(server.url)
        assert before.returncode == 0, before.stderr
        assert "allow: target lifecycle state is InService" in before.stderr

    [victim] = world.scale_in(2)
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Wait"

    after = guard(servers[victim].url)
    assert after.returncode == 1, after.stderr
    assert "refuse: target lifecycle state is Terminated" in after.stderr
    for iid, server in servers.items():
        if iid != victim:
            assert guard(server.url).returncode == 0
    # The token is a credential of sorts: it never reaches the output.
    for token in servers[victim]._tokens:
        assert token not in after.stdout + after.stderr


def test_guard_refuses_an_instance_entering_a_warm_pool(world: World, start_imds: StartImds) -> None:
    world.sb.client("autoscaling").put_warm_pool(AutoScalingGroupName=world.group.name, PoolState="Running")
    iid = world.group.instances[0]
    server = start_imds(iid)
    assert guard(server.url).returncode == 0

    set_lifecycle_state(world, iid, "Warmed:Pending:Wait")
    result = guard(server.url)
    assert result.returncode == 1, result.stderr
    assert "target lifecycle state is Warmed:Running" in result.stderr

    set_lifecycle_state(world, iid, "Warmed:Stopped")  # parked in the pool: still no agent
    assert guard(server.url).returncode == 1


def test_fake_imds_speaks_imdsv2_only(world: World, start_imds: StartImds) -> None:
    server = start_imds(world.group.instances[0])
    assert requests.get(server.url + STATE_PATH, timeout=10).status_code == 401  # IMDSv1: no token
    assert requests.get(server.url + STATE_PATH, headers={TOKEN_HEADER: "forged"}, timeout=10).status_code == 401
    assert requests.put(server.url + TOKEN_PATH, timeout=10).status_code == 400  # no TTL
    assert requests.put(server.url + TOKEN_PATH, headers={TTL_HEADER: "21601"}, timeout=10).status_code == 400
    assert requests.get(server.url + TOKEN_PATH, headers={TTL_HEADER: "60"}, timeout=10).status_code == 405

    token = requests.put(server.url + TOKEN_PATH, headers={TTL_HEADER: "5"}, timeout=10).text
    answer = requests.get(server.url + STATE_PATH, headers={TOKEN_HEADER: token}, timeout=10)
    assert (answer.status_code, answer.text) == (200, "InService")
    world.clock.advance(5)
    assert requests.get(server.url + STATE_PATH, headers={TOKEN_HEADER: token}, timeout=10).status_code == 401

    # The script without its token step (an IMDSv1 client) would read nothing: the guard's allow is IMDSv2's.
    v1 = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", server.url + STATE_PATH],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert v1.stdout == "401"


# -- IMDS gives no usable answer ------------------------------------------------------------------------------------


@pytest.fixture
def refusing_port() -> Iterator[str]:
    """A port bound but not listening: connections are refused, and no other server can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A port that accepts connections and never answers (IMDS unreachable from a container, hop limit 1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_imds_down_refuses_by_default_and_allows_only_when_told(refusing_port: str, silent_port: str) -> None:
    refused = guard(refusing_port, GATE_GUARD_ATTEMPTS="1")
    assert refused.returncode == 2, refused.stderr
    assert "unknown: no IMDSv2 token" in refused.stderr and "refused (--if-unknown refuse)" in refused.stderr

    flag = guard(refusing_port, "--if-unknown", "allow", GATE_GUARD_ATTEMPTS="1")
    assert flag.returncode == 0, flag.stderr
    assert "allowed (--if-unknown allow)" in flag.stderr
    assert guard(refusing_port, GATE_GUARD_ATTEMPTS="1", GATE_GUARD_IF_UNKNOWN="allow").returncode == 0
    # The flag beats the environment, both ways.
    assert (
        guard(refusing_port, "--if-unknown=refuse", GATE_GUARD_ATTEMPTS="1", GATE_GUARD_IF_UNKNOWN="allow").returncode
        == 2
    )
    assert guard(refusing_port, "--if-unknown", "maybe").returncode == 64

    started = time.monotonic()
    silent = guard(silent_port, GATE_GUARD_ATTEMPTS="2", GATE_GUARD_TIMEOUT="1")
    assert silent.returncode == 2, silent.stderr
    assert time.monotonic() - started < 30  # bounded: two attempts of one second and a pause between them
    assert guard(silent_port, "--if-unknown=allow", GATE_GUARD_ATTEMPTS="1", GATE_GUARD_TIMEOUT="1").returncode == 0


def test_imds_answers_without_a_state_refuses(world: World, start_imds: StartImds) -> None:
    """404 (an instance in no group: the path does not exist) and 5xx are no answer either."""
    lost = start_imds("i-0000000000000000f")
    result = guard(lost.url, GATE_GUARD_ATTEMPTS="1")
    assert result.returncode == 2, result.stderr
    assert "no target lifecycle state (HTTP 404)" in result.stderr

    server = start_imds(world.group.instances[0])
    world.emu.faults.inject("DescribeAutoScalingInstances", count=None)  # Auto Scaling throttled behind IMDS
    result = guard(server.url, GATE_GUARD_ATTEMPTS="1")
    assert result.returncode == 2, result.stderr
    assert "HTTP 500" in result.stderr
    world.emu.faults.clear()
    assert guard(server.url).returncode == 0


def test_watch_does_not_act_on_an_unknown_answer(world: World, start_imds: StartImds, tmp_path: Path) -> None:
    """An IMDS without an answer must not stop a healthy runner: the watcher keeps polling and never runs the
    command (the drop-in still refuses a restart)."""
    lost, marker = start_imds("i-0000000000000000f"), tmp_path / "ran"
    watcher = subprocess.Popen(
        [str(GUARD), "--watch", "--interval", "0.05", "--", "sh", "-c", ': > "$1"', "mark", str(marker)],
        env={"PATH": os.environ["PATH"], "GATE_GUARD_IMDS_ENDPOINT": lost.url},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: reads(lost, 404) >= 3, "three unanswered polls")
        assert watcher.poll() is None and not marker.exists()
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
    assert watcher.stderr is not None
    log = watcher.stderr.read()
    watcher.stderr.close()
    assert log.count("watching: unknown: no target lifecycle state (HTTP 404)") == 1


# -- watch mode: GitLab's graceful stop -----------------------------------------------------------------------------


def test_watch_sends_sigquit_once_the_instance_is_leaving(world: World, start_imds: StartImds, tmp_path: Path) -> None:
    received, ready = tmp_path / "signals", tmp_path / "ready"
    # A stand-in for gitlab-runner: records each SIGQUIT it gets (and exits, as gitlab-runner does once idle).
    stand_in = subprocess.Popen(
        preexec_fn=_default_signals,
        args=[
            "sh",
            "-c",
            'trap \'echo QUIT >> "$1"; exit 0\' QUIT; : > "$2"; while :; do sleep 0.05; done',
            "stand-in",
            str(received),
            str(ready),
        ],
    )
    iid = world.group.instances[0]
    server = start_imds(iid)
    env = {"PATH": os.environ["PATH"], "GATE_GUARD_IMDS_ENDPOINT": server.url}
    command = ["sh", "-c", 'kill -QUIT "$1"', "kill", str(stand_in.pid)]
    watcher = subprocess.Popen(
        [str(GUARD), "--watch", "--interval", "0.05", "--", *command],
        preexec_fn=_default_signals,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(ready.exists, "the stand-in's trap")
        wait_for(lambda: reads(server) >= 3, "three InService reads by the watcher")
        assert not received.exists() and watcher.poll() is None and stand_in.poll() is None

        world.scale_in(2, protect=[1, 2])  # the scale-in can only choose the watched instance
        assert world.sb.lifecycle_states(world.group.name)[iid] == "Terminating:Wait"

        wait_for(received.exists, "SIGQUIT at the stand-in")
        assert watcher.wait(timeout=30) == 0  # exec'd the command, which succeeded
        assert stand_in.wait(timeout=30) == 0
        assert received.read_text() == "QUIT\n"  # once
        assert watcher.stderr is not None
        log = watcher.stderr.read()
        assert "watching: allow" in log and "watching: refuse: target lifecycle state is Terminated" in log
        assert log.count("watching: allow") == 1  # one line per change of verdict, not per poll
    finally:
        for process in (watcher, stand_in):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        if watcher.stderr is not None:
            watcher.stderr.close()


# -- the systemd files ----------------------------------------------------------------------------------------------


def test_the_drop_in_makes_a_refusal_stop_the_start() -> None:
    """`ExecStartPre=-…` would ignore the guard's exit status: the agent would start anyway."""
    lines = (EXAMPLE / "10-gate-guard.conf").read_text().splitlines()
    pre = [line for line in lines if line.startswith("ExecStartPre=")]
    assert pre == ["ExecStartPre=/usr/local/bin/gate-guard"]
    assert "[Service]" in lines
    assert os.access(GUARD, os.X_OK)


def test_the_gitlab_watch_unit_signals_only_the_runner_process() -> None:
    """SIGQUIT to the whole cgroup would also reach the jobs' processes (shell executor) and kill builds."""
    unit = (EXAMPLE / "gate-guard-gitlab.service").read_text()
    [start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert start.startswith("ExecStart=/usr/local/bin/gate-guard --watch")
    assert "systemctl kill --kill-who=main --signal=SIGQUIT gitlab-runner.service" in start
