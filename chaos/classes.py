"""The fault classes the simulation draws from, each switchable (`--faults`, `--without`)."""

from __future__ import annotations

# name -> what a seed with the class active does to the world
CLASSES: dict[str, str] = {
    "latency": "Azure DevOps answers late (1-8 s of virtual time per call) for minutes",
    "ado_errors": "Azure DevOps 5xx and dropped connections for minutes",
    "ado_throttling": "Azure DevOps 429 with Retry-After (1-40 s), and 200s carrying Retry-After",
    "aws_throttling": "Throttling / ResourceContention bursts on Auto Scaling and EC2 calls (botocore retries them)",
    "pagination": "agent lists of 1-3 per page, and windows of endless continuation tokens",
    "lagging_flags": "a new assignment stays invisible (assignedRequest and job requests) for 10-45 s",
    "missing_fields": "agent records without assignedRequest, count != len(value), empty lists, malformed JSON",
    "clock_skew": "the agent service's clock is 10-300 s ahead of or behind AWS's and the gate's",
    "auth_failures": "Azure DevOps answers 401, a 203 sign-in page or 403 for minutes",
    "credential_rotation": "the PAT rotates: secret store first or Azure DevOps first, 0-120 s apart",
    "cold_starts": "warm containers are recycled: the next invocation builds a fresh gate",
    "secret_store_failure": "GetSecretValue fails for minutes, and containers are recycled at its start",
    "lost_events": "30 % of lifecycle events are never delivered",
    "duplicate_events": "40 % of lifecycle events are delivered twice: at once, or 0.5-10 min late",
    "concurrency": "schedule invocations delivered twice at once (two containers act on the same world)",
    "tag_failures": "CreateTags / DeleteTags denied (UnauthorizedOperation) for minutes",
    "foreign_hooks": "a second terminating hook on a gate group, and an unconfigured group with the gate's hook name"
    " whose agents share the pool",
    "failing_pool": "two pools, one of them failing (5xx / dropped) for minutes",
    "reregistration": "an agent of a waiting instance re-registers (new id, same name); late registrations",
    "ambiguous_names": "an agent whose name mentions its own instance and another one",
    "agent_churn": "agents go offline and online; new instances register late, some never",
}

# Opt-in classes: named only (`--faults all,gate_outage`), never part of `all`, and drawn from a generator of their
# own on top of the seed's world, so every seed keeps the world and schedule it always had without them.
EXTRA: dict[str, str] = {
    "gate_outage": "the gate is down (no invocation runs: ticks and events are lost) for 1-15 minutes, once or"
    " twice, then comes back cold; every gate group retains on abandon (the posture for outages), so a hook that"
    " times out meanwhile leaves its instance Terminating:Retained for the gate's clean-up",
    "clock_step": "the Azure DevOps service's clock steps 5-300 s forward or back, once to three times (every time"
    " it shows, and its Date, move with it); no effect in GitLab worlds",
    "warm_pool": "warm pools on the gate's groups (Running, whose instances' agents register and take jobs where no"
    " guard refuses them, or Stopped): instances leave them through the terminating hooks at random times (sometimes"
    " DeleteWarmPool), more are put in, and DescribeWarmPool is throttled or fails (up to 150 s) for one group",
}

# What a class does in a GitLab world (chaos.gitlab_world), where it differs from the Azure DevOps wording above.
# Every class not listed acts on AWS or on the world the same way for both services.
GITLAB: dict[str, str] = {
    "latency": "GitLab answers late (1-8 s of virtual time per call) for minutes",
    "ado_errors": "GitLab 5xx (500, 502, 503) for minutes",
    "ado_throttling": "429 with Retry-After (1-40 s), or a per-minute limit of 3-12 requests: RateLimit-Remaining 0,"
    " then 429 until RateLimit-Reset",
    "pagination": "130-210 other machines' runners in the list (2-3 pages of 100: Link and X-Next-Page; a runner"
    " per instance), and windows of pages that name themselves as the next one",
    "lagging_flags": "a job is picked up between the gate's last look and its pause (a runner per instance); jobs"
    " that name no runner manager (a shared runner)",
    "missing_fields": "runner lists shortened (one runner left out) or emptied, jobs without runner_manager, HTML"
    " answers with status 200",
    "clock_skew": "the fake GitLab's clock (its job times, RateLimit-Reset) is 10-300 s off",
    "auth_failures": "GitLab answers 401 or 403 for minutes",
    "credential_rotation": "the access token rotates: secret store first or GitLab first, 0-120 s apart",
    "failing_pool": "one runner's jobs and managers answer 5xx for minutes",
    "reregistration": "a runner of a waiting instance is unregistered and registered again (new id, same"
    " description); with a shared runner, a new manager at the same IP; late registrations",
    "ambiguous_names": "a runner whose description names its own instance and another one (runner per instance)",
    "agent_churn": "runner managers stop and resume contacting GitLab; new instances register late, some never",
    "foreign_hooks": "as for Azure DevOps; the other team's runners (or shared runner) are in the token's list",
}

# Classes the gate handles today (`--faults today`: the CI run and the in-process test; extend as fixes land).
CLEAN_TODAY: tuple[str, ...] = (
    "latency",
    "ado_errors",
    "ado_throttling",
    "aws_throttling",
    "pagination",
    "lagging_flags",
    "missing_fields",  # issue #18: positive evidence with the busy field missing, grace from the first complete list
    "lost_events",
    "duplicate_events",
    "concurrency",
    "cold_starts",
    "agent_churn",
    "failing_pool",
)


def parse(faults: str | None, without: str | None) -> tuple[str, ...]:
    """The enabled classes: `faults` (comma list, or all/today) minus `without`; unknown names are an error."""

    def names(text: str | None) -> list[str]:
        out: list[str] = []
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                out.extend(CLASSES)
            elif part == "today":
                out.extend(CLEAN_TODAY)
            elif part in CLASSES or part in EXTRA:
                out.append(part)
            else:
                known = ", ".join([*CLASSES, *EXTRA])
                raise ValueError(f"unknown fault class {part!r}; choose from all, today, {known}")
        return out

    chosen = names(faults) if faults else list(CLASSES)
    removed = set(names(without))
    return tuple(c for c in [*CLASSES, *EXTRA] if c in chosen and c not in removed)
