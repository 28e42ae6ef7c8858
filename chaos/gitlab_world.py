"""A GitLab world for the chaos simulation: the same groups, scale-ins, builds and fault schedule as an Azure DevOps
world (chaos.world draws them), served by the fake GitLab (emulator.gitlab) instead of the fake Azure DevOps.

Two set-ups, as docs/gitlab.md describes them: a runner per instance whose description names it (`ci-<instance>`,
GATE_MAPPING=name), paused on drain and deleted on release; or (`Plan.shared`) one runner for the fleet with a
manager per instance, never paused by the gate, mapped by its private IP (GATE_MAPPING=ip) or (`Plan.system_id`) by
the system_id the instance tags itself with (`gate:gitlab-system-id`, GATE_MAPPING=system-id). Jobs are queued on
the world's side and picked up at each step by a free runner (or manager) that is not paused and still takes jobs. The
instance-side guard (examples/instance-guard) refuses a registration on an instance that is leaving; with a shared
runner its watch unit also stops gitlab-runner from taking new jobs there (SIGQUIT: the gate never pauses a shared
runner, so nothing else drains it). `--unguarded` turns both off.

Each Azure DevOps fault window is played as its GitLab counterpart (chaos.classes.GITLAB); the AWS-side faults are
unchanged. The records handed to the checker are the fake GitLab's (runners, jobs, and the gate's PUT and DELETE
calls), translated into the agents-and-builds shape the checker reads (`gitlab_records`).
"""

from __future__ import annotations

import contextlib
import random
import re
from dataclasses import dataclass
from typing import Any

from moto.ec2.models import ec2_backends

from chaos.vclock import SkewedClock
from chaos.world import _LEAVING, _SERVING, FOREIGN_GROUP, Plan, RunRecords, SeedRun
from emulator.gitlab import FakeGitLab
from emulator.sandbox import Sandbox
from gate.domain.mapping import SYSTEM_ID_TAG

RATE_LIMIT = 2000  # the fake's normal requests per minute
_RUNNER_PATH = re.compile(r"^/api/v4/runners/(\d+)$")


@dataclass
class _Agent:
    """One agent of the world: a runner (a runner per instance) or a manager of the shared runner."""

    key: int  # the runner id, or the manager id when shared
    runner: int
    instance: str
    name: str
    retired: bool = False  # a shared runner's manager whose process is gone (its record stays in GitLab)


class GitLabRun(SeedRun):
    """Drives one GitLab seed: SeedRun's loop, events and invocations; the CI side on a FakeGitLab."""

    def __init__(self, sb: Sandbox, plan: Plan, image_id: str | None, *, gate: bool = True) -> None:
        super().__init__(sb, plan, image_id, gate=gate)
        self.fake: FakeGitLab | None = None
        self.grng = random.Random(plan.seed * 7919 + 3)  # GitLab-side draws of the world's loop (hidden runners...)
        self.race_rng = random.Random(plan.seed * 7919 + 5)  # the pause race's, drawn on the fake's server thread
        self.queue: list[float] = []  # durations of jobs waiting for a runner, FIFO
        self.agents: dict[int, _Agent] = {}
        self.silent: set[int] = set()  # agent keys whose machine stopped contacting GitLab (agent churn)
        self.job_agent: dict[int, int] = {}  # job id -> agent key
        self.fleet: dict[bool, int] = {}  # foreign? -> the shared runner (shared set-up)
        self.race_until = 0.0  # a job lands between the gate's last look and its pause, until then
        self.short_until = 0.0  # each step's lists leave out one runner (a different draw each step), until then
        self.emptied: set[int] = set()  # runners left out of every list during an emptied-list window
        self.others: list[int] = []  # runners of other machines (no instance) in the token's list

    @property
    def gl(self) -> FakeGitLab:
        assert self.fake is not None
        return self.fake

    # -- building --------------------------------------------------------------------------------------------------

    def build(self) -> None:
        plan = self.plan
        self.record_skew = plan.skew  # the whole fake runs on the skewed clock: the checker shifts its records back
        self._reset_servers()
        clock = SkewedClock(self.clock, plan.skew) if plan.skew else self.clock
        self.fake = FakeGitLab(clock=clock, token=self.pat).start()
        self.gl.before_pause = self._race
        if plan.page_size < 1000 and not plan.shared:  # pagination: other machines' runners, lists of 2-3 pages
            self.others = [self.gl.add_runner(f"laptop-{n}", tags=["laptop"]) for n in range(90 + 40 * plan.page_size)]
        if plan.shared:
            self.fleet[False] = self.gl.add_runner("autoscaled-fleet", tags=["docker"])
            if plan.foreign is not None:
                self.fleet[True] = self.gl.add_runner("other-team-fleet", tags=["docker"])
        self._create_groups()
        self._create_warm_pools()
        if "ambiguous_names" in self.on and not plan.shared:
            first = self.order[plan.groups[0].name]
            if len(first) >= 2:
                host, other = first[0], first[1]
                self._add_agent(host, f"ci-{host}-{other}", "runners")
        sm = self.client("secretsmanager")
        self.secret_arn = sm.create_secret(Name="chaos/gitlab-token", SecretString=self.pat)["ARN"]
        self.settings = self._load(
            agent_system="gitlab",
            gitlab_url=self.gl.url,
            gitlab_token_secret_arn=self.secret_arn,
            mapping=("system-id" if plan.system_id else "ip") if plan.shared else "name",
        )

    def run(self) -> RunRecords:
        try:
            return super().run()
        finally:
            if self.fake is not None:
                self.fake.stop()

    def _ip(self, iid: str) -> str:
        emu = self.sb.emulator
        assert emu is not None
        with emu._lock:
            return str(ec2_backends[emu.account_id][emu.region].get_instance(iid).private_ip)

    def _register(self, iid: str) -> None:
        if self.plan.shared:
            self._add_agent(iid, "", "runners")  # one gitlab-runner process per instance: one manager
            return
        g = self._plan_of(self.instance_group[iid])
        for k in range(g.agents_per_instance):
            self._add_agent(iid, f"ci-{iid}" if k == 0 else f"ci-{iid}-{k + 1}", "runners")

    def _add_agent(self, iid: str, name: str, pool: str) -> int | None:
        self.registered.setdefault(iid, [])
        state = dict(self._group_states(self.instance_group[iid])).get(iid)
        if not self.runs(iid, state):
            return None
        if self.plan.guarded and state != "InService":
            self.stats["guard_refusals"] = self.stats.get("guard_refusals", 0) + 1
            return None
        if self.plan.shared:
            foreign = self.instance_group[iid] == FOREIGN_GROUP
            runner = self.fleet[foreign]
            sid = f"s_{iid[2:]}{len(self.agents):04x}"  # gitlab-runner's .runner_system_id: one per process start
            key = self.gl.add_manager(runner, self._ip(iid), system_id=sid)
            name = f"manager {key} of runner {runner}"
            if self.plan.system_id and not foreign:
                self._tag_system_id(iid, sid)
        else:  # GitLab takes a second runner of the same description: no name is ever "taken"
            key = runner = self.gl.add_runner(name, tags=["docker"])
            self.gl.add_manager(runner, self._ip(iid))
        self.agents[key] = _Agent(key, runner, iid, name)
        self.registered[iid].append(key)
        return key

    def _tag_system_id(self, iid: str, sid: str) -> None:
        """The instance tags itself with its manager's system_id at boot (docs/gitlab.md), through the backend: the
        world's own calls must not meet the AWS faults meant for the gate."""
        emu = self.sb.emulator
        assert emu is not None
        with emu._lock:
            ec2_backends[emu.account_id][emu.region].create_tags([iid], {SYSTEM_ID_TAG: sid})

    def _remove_agent(self, aid: int) -> None:
        agent = self.agents.get(aid)
        if agent is None:
            return
        if self.plan.shared:  # the process stops; GitLab keeps the manager record until it goes stale
            agent.retired = True
            with contextlib.suppress(KeyError):
                self.gl.set_online(agent.runner, False, manager_id=aid)
        else:
            self.gl.remove_runner(agent.runner)

    # -- observing --------------------------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """The world's live agents: key, instance, enabled (not paused), online, busy."""
        busy = {self.job_agent.get(j["id"]) for j in self.gl.jobs() if j["finished_at"] is None}
        out = []
        runners: dict[int, dict[str, Any]] = {}
        for a in self.agents.values():
            r = runners.get(a.runner) or runners.setdefault(a.runner, self.gl.runner(a.runner))
            if r["deleted"] or a.retired:
                continue
            out.append(
                {
                    "id": a.key,
                    "instance": a.instance,
                    "enabled": not r["paused"],
                    "online": a.key not in self.silent,
                    "busy": a.key in busy,
                }
            )
        return sorted(out, key=lambda x: x["id"])

    def busy_instances(self) -> set[str]:
        return {r["instance"] for r in self.rows() if r["busy"]}

    def _takes_jobs(self, iid: str, states: dict[str, str]) -> bool:
        """Its machine runs; with a shared runner and the guard, the instance is not leaving (the watch unit's
        SIGQUIT: the gate cannot pause a shared runner). A runner of its own instance takes jobs until the gate
        pauses it, as an Azure DevOps agent does until it is disabled."""
        state = states.get(iid)
        watched = self.plan.guarded and self.plan.shared
        return self.runs(iid, state) and (not watched or state == "InService")

    def _start(self, key: int, duration: float) -> int | None:
        agent = self.agents[key]
        try:
            job = self.gl.start_job(agent.runner, duration, manager_id=key if self.plan.shared else None)
        except (ValueError, KeyError):
            return None  # paused or deleted since the look: GitLab hands it no job
        self.job_agent[job] = key
        return job

    def _boot_agents(self, states: dict[str, str], now: float) -> None:
        super()._boot_agents(states, now)
        self._shorten(now)
        if not self.queue:
            return
        free = [
            r
            for r in self.rows()
            if r["enabled"] and r["online"] and not r["busy"] and self._takes_jobs(r["instance"], states)
        ]
        while self.queue and free:
            duration = self.queue.pop(0)
            self._start(free.pop(0)["id"], duration)

    def _shorten(self, now: float) -> None:
        """The lists leave out what an emptied window hides and, in a shortened window, one runner drawn afresh at
        each step: a list skips a runner now and then (an offset page shifting under a deletion); it does not hide
        the same one for minutes."""
        hidden = set(self.emptied)
        if now < self.short_until:
            live = self._live_runners()
            if live:
                hidden.add(live[int(self.grng.random() * len(live))])
        self.gl.hidden = hidden

    def _live_runners(self) -> list[int]:
        every = sorted({a.runner for a in self.agents.values()} | set(self.fleet.values()))
        return [r for r in every if not self.gl.runner(r)["deleted"]]

    def _race(self, runner_id: int) -> None:
        """Called by the fake as the gate's pause arrives: the runner's job request, in flight, is answered first."""
        if self.gl.clock.now() >= self.race_until or self.race_rng.random() < 0.3:
            return
        key = next((a.key for a in self.agents.values() if a.runner == runner_id), None)
        busy = any(self.job_agent.get(j["id"]) == key and j["finished_at"] is None for j in self.gl.jobs())
        if key is not None and not busy and self._start(key, self.race_rng.uniform(60, 300)) is not None:
            self.stats["pause_races"] = self.stats.get("pause_races", 0) + 1

    def _settled(self, states: dict[str, str]) -> bool:
        if self.late_events or self.queue or any(j["finished_at"] is None for j in self.gl.jobs()):
            return False
        ours = {g.name for g in self.plan.groups}
        return not any(self.instance_group.get(i) in ours and s.startswith(_LEAVING) for i, s in states.items())

    def _quiesce(self) -> None:
        assert self.sb.emulator is not None
        self.sb.emulator.faults.clear()
        self._calm()
        self.queue.clear()  # queued, and maybe no runner left to take it
        for t, kind, params in list(self.pending):
            if kind in ("set_pat", "put_secret", "online", "gl_end"):
                self.pending.remove((t, kind, params))
                self._act(kind, params, {}, [])

    def _calm(self) -> None:
        gl = self.gl
        gl.clear_faults()
        self.emptied.clear()
        self.short_until = 0.0
        gl.hidden = set()
        gl.rate_limit = RATE_LIMIT
        gl.job_manager = True
        gl.endless_pages = False
        self.race_until = 0.0

    # -- acting -----------------------------------------------------------------------------------------------------

    def _act(
        self, kind: str, p: dict[str, Any], states: dict[str, str], aws_windows: list[tuple[float, dict[str, Any]]]
    ) -> None:
        now = self.clock.now()
        ours = [g.name for g in self.plan.groups]
        if kind == "queue_build":
            self.queue.append(p["duration"])
        elif kind == "start_build":
            idle = [
                r
                for r in self.rows()
                if r["enabled"] and r["online"] and not r["busy"] and states.get(r["instance"]) in _SERVING
            ]
            row = self._pick(idle, p["pick"])
            if row is not None:
                self._start(row["id"], p["duration"])
        elif kind == "offline":
            row = self._pick(self.rows(), p["pick"])
            if row is not None:
                self._online(row["id"], False)
                self.pending.append((now + p["seconds"], "online", {"agent": row["id"]}))
        elif kind == "online":
            self._online(p["agent"], True)
        elif kind == "reregister":
            waiting = [i for g in ours for i in self.order[g] if states.get(i) in self.re_registering()]
            iid = self._pick(waiting, p["pick"])
            if iid is None:
                return
            mine = [r for r in self.rows() if r["instance"] == iid]
            idle = [r for r in mine if not r["busy"]]
            if not mine:
                self._register(iid)  # a late first registration during the hold
            elif idle:
                old = self.agents[min(r["id"] for r in idle)]
                self._remove_agent(old.key)  # the runner restarts: unregistered, registered again (new id)
                self._add_agent(iid, old.name if not self.plan.shared else "", "runners")
        elif kind == "ado_fault":
            self._fault(p, now)
        elif kind == "gl_end":
            self._end(p["what"], p.get("runners", []))
        elif kind == "set_pat":
            self.gl.token = p["value"]
        else:
            super()._act(kind, p, states, aws_windows)

    def _online(self, key: int, online: bool) -> None:
        agent = self.agents.get(key)
        if agent is None:
            return
        (self.silent.discard if online else self.silent.add)(key)
        with contextlib.suppress(KeyError):
            self.gl.set_online(agent.runner, online, manager_id=key if self.plan.shared else None)

    def _fault(self, p: dict[str, Any], now: float) -> None:
        """An Azure DevOps fault window, played as its GitLab counterpart (chaos.classes.GITLAB)."""
        gl, seconds, fault = self.gl, p["seconds"], p["fault"]
        ends = now + seconds
        if "pool" in p:  # failing_pool: one runner's jobs and managers fail (GitLab has one runner list)
            runners = sorted(
                {a.runner for a in self.agents.values() if self.instance_group.get(a.instance) != FOREIGN_GROUP}
            )
            if runners:
                target = runners[int(self.grng.random() * len(runners))]
                gl.inject(
                    "server_error", seconds=seconds, status=p.get("status", 503), path_contains=f"/runners/{target}/"
                )
        elif fault == "latency":
            gl.inject("latency", seconds=seconds, delay=p["delay"])
        elif fault in ("server_error", "down"):
            gl.inject("server_error", seconds=seconds, status=p.get("status", 502) if fault == "server_error" else 502)
        elif fault == "rate_limit":
            gl.inject("rate_limit", seconds=seconds, retry_after=p["retry_after"])
        elif fault == "slow_down":  # a low limit: RateLimit-Remaining 0, then 429 until the minute's reset
            gl.rate_limit = self.grng.randint(3, 12)
            self.pending.append((ends, "gl_end", {"what": "rate"}))
        elif fault == "endless_pages":  # every page names itself as the next one
            gl.endless_pages = True
            self.pending.append((ends, "gl_end", {"what": "pages"}))
        elif fault == "assignment_lag":
            if self.plan.shared:  # jobs name no runner manager (GitLab before 17.1): each counts for every manager
                gl.job_manager = False
                self.pending.append((ends, "gl_end", {"what": "job_manager"}))
            else:
                self.race_until = max(self.race_until, gl.clock.now() + seconds)
        elif fault == "no_assigned_request":
            gl.job_manager = False
            self.pending.append((ends, "gl_end", {"what": "job_manager"}))
        elif fault == "count_mismatch":  # shortened runner lists
            self.short_until = max(self.short_until, now + seconds)
        elif fault == "empty_list":  # emptied runner lists: every runner registered now is left out
            live = self._live_runners() + self.others
            self.emptied.update(live)
            self.pending.append((ends, "gl_end", {"what": "hidden", "runners": live}))
        elif fault == "malformed":
            gl.inject("malformed", seconds=seconds)
        elif fault in ("unauthorized", "signin"):
            gl.inject("unauthorized", seconds=seconds)
        elif fault == "forbidden":
            gl.inject("forbidden", seconds=seconds)
        else:  # pragma: no cover - draw names only the faults above
            raise ValueError(fault)

    def _end(self, what: str, runners: list[int]) -> None:
        gl = self.gl
        if what == "rate":
            gl.rate_limit = RATE_LIMIT
        elif what == "pages":
            gl.endless_pages = False
        elif what == "job_manager":
            gl.job_manager = True
        elif what == "hidden":
            self.emptied.difference_update(runners)

    # -- records ----------------------------------------------------------------------------------------------------

    def _ci_records(self) -> dict[str, Any]:
        self.stats["jobs"] = len(self.job_agent)
        return gitlab_records(
            self.gl, self.agents, self.job_agent, shared=self.plan.shared, fleet=set(self.fleet.values())
        )


def gitlab_records(
    fake: FakeGitLab, agents: dict[int, _Agent], job_agent: dict[int, int], *, shared: bool, fleet: set[int]
) -> dict[str, Any]:
    """The fake GitLab's records in the checker's shape. An agent is a runner (its pauses and its deletion by the
    gate are the PUT and DELETE calls the fake served) or, shared, a manager (never paused or deleted by a user
    token: `"registration": "manager"`). A job whose runner the gate deleted while it ran is `abandoned`.
    `shared_runner_actions`: any PUT or DELETE on a shared runner (pausing it stops the whole fleet)."""
    pauses: dict[int, list[float]] = {}
    deletes: dict[int, float] = {}
    fleet_actions: list[dict[str, Any]] = []
    for c in list(fake.calls):
        m = _RUNNER_PATH.match(c["path"])
        if m is None or c["method"] not in ("PUT", "DELETE") or c["status"] >= 300:
            continue
        rid = int(m[1])
        if rid in fleet:
            fleet_actions.append({"time": c["time"], "what": c["method"], "runner": rid})
        elif c["method"] == "PUT":
            pauses.setdefault(rid, []).append(c["time"])
        else:
            deletes.setdefault(rid, c["time"])
    out_agents = []
    for a in agents.values():
        runner = fake.runner(a.runner)
        row: dict[str, Any] = {
            "id": a.key,
            "name": a.name,
            "capabilities": {"AWS_INSTANCE_ID": a.instance},
            "history": [],
            "deleted": False,
            "deleted_at": None,
            "deleted_by": None,
        }
        if shared:
            row["registration"] = "manager"
        else:
            by_api = a.runner in deletes
            row.update(
                history=[{"time": t, "enabled": False, "by": "api"} for t in pauses.get(a.runner, [])],
                deleted=bool(runner["deleted"]),
                deleted_at=deletes.get(a.runner, runner["deleted_at"]),
                deleted_by="api" if by_api else ("world" if runner["deleted"] else None),
            )
        out_agents.append(row)
    builds = []
    for j in fake.jobs():  # the fake's own record of who ran it: the manager (shared) or the runner
        manager = j.get("runner_manager")
        recorded = (manager or {}).get("id") if shared else j["runner_id"]
        key = recorded if recorded is not None else job_agent.get(j["id"])
        agent = agents.get(key) if key is not None else None
        result = j["status"]
        gone = deletes.get(agent.runner) if agent is not None and not shared else None
        if gone is not None and j["started_at"] < gone and (j["finished_at"] is None or j["finished_at"] > gone):
            result = "abandoned"
        builds.append(
            {
                "id": j["id"],
                "agent_id": key,
                "assigned_at": j["started_at"],
                "finished_at": j["finished_at"],
                "result": result,
            }
        )
    return {"agents": out_agents, "builds": builds, "shared_runner_actions": fleet_actions}
