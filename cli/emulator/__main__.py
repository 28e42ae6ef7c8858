"""`python -m cli.emulator --port N [--azure-port M]`: the local AWS (and fake Azure DevOps) in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from gate.clock import ScaledClock, SystemClock


def serve(aws_port: int, azure_port: int | None, speed: float = 1, pat: str = "local-pat") -> None:
    from cli.emulator.aws import AwsEmulator

    clock = ScaledClock(speed) if speed != 1 else SystemClock()
    from cli.emulator import ecs

    ecs.install()  # ListContainerInstances' ec2InstanceId filter and tasks that stay RUNNING, as ECS behaves
    aws = AwsEmulator(port=aws_port, clock=clock).start()
    ado = None
    print(f"AWS emulator:       {aws.endpoint}   (export AWS_ENDPOINT_URL={aws.endpoint})", flush=True)
    if azure_port is not None:
        from cli.emulator.azure_devops import FakeAzureDevOps

        ado = FakeAzureDevOps(port=azure_port, clock=clock, pat=pat).start()
        print(f"fake Azure DevOps:  {ado.url}   (export GATE_AZURE_ORG_URL={ado.url} GATE_PAT={pat})", flush=True)
        print(f"  scripting:        {ado.url.rsplit('/', 1)[0]}/_fake/state", flush=True)
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
    parser = argparse.ArgumentParser(prog="python -m cli.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="AWS emulator port (0 = any free port)")
    parser.add_argument("--azure-port", type=int, default=None, help="also run the fake Azure DevOps on this port")
    parser.add_argument("--speed", type=float, default=1.0, help="clock acceleration")
    parser.add_argument("--pat", default="local-pat", help="PAT the fake Azure DevOps accepts")
    args = parser.parse_args()
    serve(args.port, args.azure_port, args.speed, args.pat)


if __name__ == "__main__":
    main()
