"""`python -m emulator --port N [--azure-port M]`: the local AWS (and fake Azure DevOps) in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from gate.domain.clock import ScaledClock, SystemClock


def serve(aws_port: int, azure_port: int | None, speed: float = 1, pat: str = "local-pat", seed: bool = False) -> None:
    """`seed`: also build the world of `emulator.seed` and print one export block for a second shell."""
    from emulator.aws import AwsEmulator

    clock = ScaledClock(speed) if speed != 1 else SystemClock()
    from emulator import ecs

    ecs.install()  # ListContainerInstances' ec2InstanceId filter and tasks that stay RUNNING, as ECS behaves
    aws = AwsEmulator(port=aws_port, clock=clock).start()
    ado = None
    print(f"AWS emulator:       {aws.endpoint}   (export AWS_ENDPOINT_URL={aws.endpoint})", flush=True)
    if azure_port is not None:
        from emulator.azure_devops import FakeAzureDevOps

        ado = FakeAzureDevOps(port=azure_port, clock=clock, pat=pat).start()
        print(f"fake Azure DevOps:  {ado.url}   (export GATE_AZURE_ORG_URL={ado.url} GATE_PAT={pat})", flush=True)
        print(f"  scripting:        {ado.url.rsplit('/', 1)[0]}/_fake/state", flush=True)
    if seed:
        from emulator.seed import seed as build_world

        if ado is None:
            raise SystemExit("--seed needs the fake Azure DevOps (--azure-port)")
        world = build_world(aws, ado)
        print(
            f"seeded: group {world.group} (hook {world.hook}), pool {world.pool}; waiting on the hook: "
            f"{world.busy_waiting} (busy), {world.idle_waiting} (idle); in service: {world.busy_in_service} (busy), "
            f"{world.idle_in_service} (idle)",
            flush=True,
        )
        print("in another shell:", flush=True)
        for line in world.exports(aws.endpoint, ado.url, pat):
            print(f"  {line}", flush=True)
    print("ready (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if ado is not None:
            ado.stop()
        aws.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="AWS emulator port (0 = any free port)")
    parser.add_argument("--azure-port", type=int, default=None, help="also run the fake Azure DevOps on this port")
    parser.add_argument("--speed", type=float, default=1.0, help="clock acceleration")
    parser.add_argument("--pat", default="local-pat", help="PAT the fake Azure DevOps accepts")
    parser.add_argument(
        "--seed", action="store_true", help="a hooked group, a pool, agents, a scale-in (needs --azure-port)"
    )
    args = parser.parse_args()
    serve(args.port, args.azure_port, args.speed, args.pat, args.seed)


if __name__ == "__main__":
    main()
