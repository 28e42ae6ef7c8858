"""`python -m chaos --seeds N --start S [--seed S] [--faults a,b] [--without c] [--mix K|all]
[--agent-system azure-devops|gitlab|mix] [--unguarded] [--no-gate] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from chaos.classes import CLASSES, EXTRA, GITLAB, parse
from chaos.runner import SeedResult, first_line, replay_command, run_seeds, summarize
from chaos.world import AGENT_SYSTEMS, GITLAB_SHARE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    ap.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    ap.add_argument("--start", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--seed", type=int, action="append", help="run exactly this seed (repeatable); replays")
    ap.add_argument("--faults", default=None, help="comma list of fault classes, 'all' or 'today' (default all)")
    ap.add_argument("--without", default=None, help="comma list of fault classes to leave out")
    ap.add_argument("--mix", default="3", help="at most this many classes active per seed, or 'all' (default 3)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (0: in this process)")
    ap.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    ap.add_argument("--list", action="store_true", help="list the fault classes and exit")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="change a gate setting (e.g. assignment_lag_seconds=0: does the simulation notice a weakened rule?)",
    )
    ap.add_argument(
        "--unguarded",
        action="store_true",
        help="instances without the instance-side guard: agents register even while their instance is terminating",
    )
    ap.add_argument(
        "--agent-system",
        choices=AGENT_SYSTEMS,
        default="mix",
        help=(
            f"the CI service of the worlds: mix (default) draws GitLab for {round(GITLAB_SHARE * 100)}%% of seeds,"
            " by the seed"
        ),
    )
    ap.add_argument(
        "--no-gate",
        action="store_true",
        help="run no gate at all: the worlds' damage must show as violations (is the checker blind?)",
    )
    args = ap.parse_args(argv)
    if args.list:
        for name, what in {**CLASSES, **EXTRA}.items():
            print(f"{name:22} {what}")
            if name in GITLAB:
                print(f"{'':22} GitLab: {GITLAB[name]}")
        return 0
    try:
        enabled = parse(args.faults, args.without)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    mix = None if args.mix == "all" else int(args.mix)
    seeds = args.seed or list(range(args.start, args.start + args.seeds))
    all_classes = tuple(CLASSES)
    sets = "".join(f" --set {x}" for x in args.set)  # a replay runs the same (possibly weakened) gate
    sets += " --unguarded" if args.unguarded else ""
    sets += f" --agent-system {args.agent_system}" if args.agent_system != "mix" else ""
    sets += " --no-gate" if args.no_gate else ""
    started = time.monotonic()

    done: list[SeedResult] = []

    def report(r: SeedResult) -> None:
        done.append(r)
        if len(done) % 25 == 0 and len(seeds) > 25:
            rate = len(done) / (time.monotonic() - started) * 60
            bad = sum(len(x.violations) for x in done)
            print(f"chaos: {len(done)}/{len(seeds)} seeds, {bad} violations, {rate:.1f} seeds/min", file=sys.stderr)
        if args.json:
            return
        replay = replay_command(r.seed, enabled, mix, all_classes) + sets
        for v in r.violations:
            print(
                f"seed {r.seed} {r.agent_system} [{','.join(r.classes)}] {first_line(v)}  replay: {replay}", flush=True
            )
        if r.error:
            print(
                f"seed {r.seed} {r.agent_system} [{','.join(r.classes)}] ERROR {r.error}  replay: {replay}", flush=True
            )

    overrides = dict(item.split("=", 1) for item in args.set)
    workers = args.workers if len(seeds) > 1 else 0
    results = run_seeds(
        seeds,
        enabled,
        mix,
        workers=workers,
        on_result=report,
        overrides=overrides,
        guarded=not args.unguarded,
        agent_system=args.agent_system,
        gate=not args.no_gate,
    )
    wall = time.monotonic() - started
    summary = summarize(results)
    summary["wall_seconds"] = round(wall, 1)
    summary["seeds_per_minute"] = round(len(results) / wall * 60, 1) if wall else None
    if args.json:
        results.sort(key=lambda r: r.seed)
        doc = {
            "summary": summary,
            "classes": list(enabled),
            "mix": args.mix,
            "results": [
                {**r.__dict__, "replay": replay_command(r.seed, enabled, mix, all_classes) + sets}
                for r in results
                if r.violations or r.error or len(results) <= 50
            ],
        }
        print(json.dumps(doc, indent=2, default=str))
    else:
        for key, count in summary["by_class_and_kind"].items():
            print(f"  {key}: {count} seed(s)")
        if summary["errors"]:
            print(f"{summary['errors']} seed(s) could not run (harness errors above)")
        systems = ", ".join(f"{n} {k}" for k, n in sorted(summary["by_agent_system"].items()))
        print(f"worlds: {systems}")
        notes = summary["notes"]
        print(
            f"notes: {notes.get('held_at_end', 0)} instance(s) still held when a seed ended (safe, but stuck), "
            f"{notes.get('gate_hook_timeouts', 0)} gate hook timeout(s) without a build"
        )
        print(f"{summary['wall_seconds']} s, {summary['seeds_per_minute']} seeds/min")
        print(f"{summary['seeds']} seeds, {summary['violations']} violations")
    if summary["violations"]:
        return 1
    return 2 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
