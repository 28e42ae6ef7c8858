"""`python -m emulator --port N [--azure-port M]`: the local AWS (and fake Azure DevOps) in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from gate.domain.clock import ScaledClock, SystemClock


def serve(
    aws_port: int,
    azure_port: int | None,
    speed: float = 1,
    pat: str = "local-pat",
    seed: bool = False,
    seed_unhooked: bool = False,
    gitlab_port: int | None = None,
) -> None:
    """`seed`: also build the world of `emulator.seed` and print one export block for a second shell;
    `seed_unhooked`: the world for `terraform apply` of the module (a group without the hook, a PAT secret);
    `gitlab_port`: also a fake GitLab (emulator.gitlab), whose runners `seed` gives the seeded instances too.

    Lambda functions deployed to the emulator run when their rules fire (`emulator.functions`), and `rate(...)`
    schedules fire in every region (`--speed` times faster), so an applied module acts as deployed."""
    from emulator.aws import AwsEmulator
    from emulator.eventbridge import Scheduler
    from emulator.functions import LocalFunctions

    clock = ScaledClock(speed) if speed != 1 else SystemClock()
    from emulator import ecs

    ecs.install()  # ListContainerInstances' ec2InstanceId filter and tasks that stay RUNNING, as ECS behaves
    aws = AwsEmulator(port=aws_port, clock=clock).start()
    aws.targets.fallback = LocalFunctions(aws.endpoint).lookup
    scheduler = Scheduler(aws.account_id, "*", aws.targets, speedup=speed).start()  # real time, `speed` times faster
    ado = None
    print(f"AWS emulator:       {aws.endpoint}   (export AWS_ENDPOINT_URL={aws.endpoint})", flush=True)
    if azure_port is not None:
        from emulator.azure_devops import FakeAzureDevOps

        ado = FakeAzureDevOps(port=azure_port, clock=clock, pat=pat).start()
        print(f"fake Azure DevOps:  {ado.url}   (export GATE_AZURE_ORG_URL={ado.url} GATE_PAT={pat})", flush=True)
        print(f"  scripting:        {ado.url.rsplit('/', 1)[0]}/_fake/state", flush=True)
    gitlab = None
    if gitlab_port is not None:
        from emulator.gitlab import LOCAL_TOKEN, FakeGitLab

        gitlab = FakeGitLab(port=gitlab_port, clock=clock, token=LOCAL_TOKEN).start()
        print(f"fake GitLab:        {gitlab.url}   (export GATE_GITLAB_URL={gitlab.url})", flush=True)
    if seed_unhooked:
        from emulator.seed import seed_unhooked as build_bare

        if ado is None:
            raise SystemExit("--seed-unhooked needs the fake Azure DevOps (--azure-port)")
        bare = build_bare(aws, ado, pat)
        for line in bare.describe(aws.endpoint, ado.url, pat):
            print(line, flush=True)
    elif seed:
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
        if gitlab is not None:
            from emulator.gitlab import exports, seed_from

            seed_from(gitlab, aws.endpoint, world.group, (world.busy_waiting, world.busy_in_service))
            print(
                "  # GitLab runners instead of Azure DevOps agents (one per instance, the same two busy):", flush=True
            )
            print(f"  {exports(gitlab)}", flush=True)
    print("ready (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()
        if gitlab is not None:
            gitlab.stop()
        if ado is not None:
            ado.stop()
        aws.stop()


def finish_build(azure_url: str, instance: str, result: str = "succeeded") -> list[int]:
    """Finish the jobs running on the agent(s) of `instance` in a running fake Azure DevOps (its `/_fake/` control
    API): the agent is named after the instance or carries it as the AWS_INSTANCE_ID capability. Returns the job
    request ids finished; raises LookupError when the instance has no agent or no running job."""
    import requests

    base = azure_url.rstrip("/").rsplit("/", 1)[0] if "/_fake" not in azure_url else azure_url.split("/_fake")[0]
    state = requests.get(f"{base}/_fake/state", timeout=10).json()
    agents = [
        a
        for a in state.get("agents", [])
        if not a.get("deleted")
        and (instance in a["name"] or a.get("capabilities", {}).get("AWS_INSTANCE_ID") == instance)
    ]
    if not agents:
        raise LookupError(f"no agent of instance {instance} in the fake Azure DevOps at {base}")
    running = [a["request_id"] for a in agents if a.get("request_id") is not None]
    if not running:
        names = ", ".join(a["name"] for a in agents)
        raise LookupError(f"no job is running on {names} (instance {instance})")
    for request_id in running:
        answer = requests.post(f"{base}/_fake/builds/{request_id}/finish", json={"result": result}, timeout=10)
        answer.raise_for_status()
    return [int(r) for r in running]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="AWS emulator port (0 = any free port)")
    parser.add_argument("--azure-port", type=int, default=None, help="also run the fake Azure DevOps on this port")
    parser.add_argument("--speed", type=float, default=1.0, help="clock acceleration")
    parser.add_argument("--pat", default="local-pat", help="PAT the fake Azure DevOps accepts")
    parser.add_argument(
        "--seed", action="store_true", help="a hooked group, a pool, agents, a scale-in (needs --azure-port)"
    )
    parser.add_argument(
        "--seed-unhooked",
        action="store_true",
        help="a group without the hook, a pool, agents, a PAT secret: for terraform apply (needs --azure-port)",
    )
    parser.add_argument("--gitlab-port", type=int, default=None, help="also run a fake GitLab on this port")
    args = parser.parse_args()
    serve(args.port, args.azure_port, args.speed, args.pat, args.seed, args.seed_unhooked, args.gitlab_port)


if __name__ == "__main__":
    main()
