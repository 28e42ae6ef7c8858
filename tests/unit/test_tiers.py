"""Priority tiers (gate/domain/tiers.py): first match wins on glob patterns of the job's own metadata, the strictest
tier of an instance's jobs applies, and unknown metadata never makes a hold laxer than the default tier. Then the
same through `decide`: a pull-request job forced at its 30 minutes, a release job held past the default max hold and
forced ABANDON at its own."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.domain.actions import Complete, DeleteAgent
from gate.domain.decide import Observation, Policy, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, encode
from gate.domain.model import Agent, JobMeta, JobRequest, Outcome, Waiting
from gate.domain.tiers import DEFAULT, Tier, default_tier, matches, parse_tiers, resolve, strictest, tiers_for
from gate.settings import SettingsError, load_settings

HOLD_RANGE = (60.0, 172_800.0)
RELEASE = Tier("release", 172_800, "ABANDON", (("pipeline", ("release-*",)), ("plan_type", ("Release",))))
PR = Tier("pr", 1800, "CONTINUE", (("branch", ("refs/pull/*",)),))
NIGHTLY = Tier("nightly", 7200, "CONTINUE", (("pipeline", ("nightly",)),))
TIERS = (RELEASE, PR, NIGHTLY)
DEFAULT_TIER = default_tier(14_400, "CONTINUE")

RELEASE_JOB = JobMeta(pipeline="release-web", plan_type="Release", branch="refs/heads/main")
PR_JOB = JobMeta(pipeline="web", plan_type="Build", branch="refs/pull/42/merge")


# -- matching -------------------------------------------------------------------------------------------------
def test_every_pattern_field_must_match_and_globs_ignore_case() -> None:
    assert matches(RELEASE, RELEASE_JOB) is True
    assert matches(RELEASE, JobMeta(pipeline="RELEASE-web", plan_type="release")) is True
    assert matches(RELEASE, JobMeta(pipeline="release-web", plan_type="Build")) is False
    assert matches(PR, PR_JOB) is True
    assert matches(PR, JobMeta(branch="refs/heads/main")) is False


def test_a_field_the_job_does_not_carry_is_undecided_unless_a_known_field_already_fails() -> None:
    assert matches(PR, JobMeta(pipeline="web")) is None  # Azure DevOps job requests carry no branch
    assert matches(RELEASE, JobMeta(pipeline="web")) is False  # the known pipeline fails: not this tier
    assert matches(RELEASE, None) is None


def test_list_fields_match_when_any_element_matches_any_pattern() -> None:
    gpu = Tier("gpu", 7200, "CONTINUE", (("demands", ("gpu*",)),))
    assert matches(gpu, JobMeta(demands=("npm", "gpu -equals true"))) is True
    assert matches(gpu, JobMeta(demands=())) is False  # said, and empty: no match
    runners = Tier("release-runners", 7200, "ABANDON", (("labels", ("release",)),))
    assert matches(runners, JobMeta(labels=("self-hosted", "Release"))) is True


def test_a_tier_without_patterns_matches_every_job() -> None:
    everything = Tier("rest", 600, "CONTINUE")
    assert matches(everything, None) is True
    assert tiers_for((everything,), DEFAULT_TIER, JobMeta()) == [everything]
    assert tiers_for((everything,), DEFAULT_TIER, None) == [everything, DEFAULT_TIER]


def test_first_match_wins() -> None:
    both = JobMeta(pipeline="nightly", branch="refs/pull/1/merge", plan_type="Build")
    assert tiers_for(TIERS, DEFAULT_TIER, both) == [PR]
    assert tiers_for((NIGHTLY, PR), DEFAULT_TIER, both) == [NIGHTLY]
    assert tiers_for(TIERS, DEFAULT_TIER, JobMeta(pipeline="web", plan_type="Build", branch="refs/heads/x")) == [
        DEFAULT_TIER
    ]


def test_an_undecided_tier_counts_together_with_the_default_and_matching_goes_on() -> None:
    azure_job = JobMeta(pipeline="nightly", plan_type="Build")  # no branch
    assert tiers_for(TIERS, DEFAULT_TIER, azure_job) == [PR, NIGHTLY, DEFAULT_TIER]
    # The PR tier cannot apply to a job whose branch is unknown: the default (4 h) wins over PR's 30 minutes.
    assert resolve(TIERS, DEFAULT_TIER, [azure_job], complete=True) == DEFAULT_TIER
    assert resolve((PR,), DEFAULT_TIER, [JobMeta(pipeline="web")], complete=True) == DEFAULT_TIER


# -- the strictest tier -----------------------------------------------------------------------------------------
def test_strictest_is_the_longest_hold_and_retain_beats_release() -> None:
    assert strictest([PR, DEFAULT_TIER]) == DEFAULT_TIER
    assert strictest([PR, RELEASE, DEFAULT_TIER]) == RELEASE
    short_retain = Tier("keep", 600, "ABANDON")
    combined = strictest([short_retain, DEFAULT_TIER])
    assert (combined.name, combined.max_hold_seconds, combined.forced_result) == ("keep+default", 14_400, "ABANDON")
    with pytest.raises(ValueError):
        strictest([])


def test_an_instance_takes_the_strictest_tier_of_its_jobs() -> None:
    assert resolve(TIERS, DEFAULT_TIER, [PR_JOB], complete=True) == PR
    assert resolve(TIERS, DEFAULT_TIER, [PR_JOB, RELEASE_JOB], complete=True) == RELEASE
    assert resolve(TIERS, DEFAULT_TIER, [PR_JOB, PR_JOB], complete=True) == PR


def test_unknown_takes_the_strictest_tier_it_might_be_in_and_never_less_than_the_default() -> None:
    assert resolve((PR,), DEFAULT_TIER, [PR_JOB], complete=False) == DEFAULT_TIER  # a job may be hidden
    assert resolve((PR,), DEFAULT_TIER, [PR_JOB, None], complete=True) == DEFAULT_TIER  # a job without metadata
    assert resolve(TIERS, DEFAULT_TIER, [PR_JOB], complete=False) == RELEASE  # the hidden job may be a release
    assert resolve(TIERS, DEFAULT_TIER, [PR_JOB, None], complete=True) == RELEASE
    assert resolve(TIERS, DEFAULT_TIER, [], complete=True) == DEFAULT_TIER  # no job running
    assert resolve(TIERS, DEFAULT_TIER, [], complete=False) == RELEASE  # nothing seen: any job may run there
    assert resolve((), DEFAULT_TIER, [PR_JOB], complete=True) == DEFAULT_TIER  # no tiers configured
    # A catch-all tier takes every job that reaches it; one that said nothing at all never below the default.
    rest = Tier("rest", 600, "CONTINUE")
    assert resolve((rest,), DEFAULT_TIER, [JobMeta(pipeline="web")], complete=True) == rest
    assert resolve((rest,), DEFAULT_TIER, [None], complete=True) == DEFAULT_TIER
    assert resolve((rest,), DEFAULT_TIER, [JobMeta(pipeline="web")], complete=False) == DEFAULT_TIER


# -- configuration ------------------------------------------------------------------------------------------------
def test_parse_tiers_reads_the_json_shape() -> None:
    raw = [
        {"name": "release", "max_hold_seconds": 172800, "forced_result": "ABANDON", "pipeline": ["release-*"]},
        {"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE", "branch": ["refs/pull/*"], "job": []},
    ]
    release, pr = parse_tiers(raw, HOLD_RANGE)
    assert release == Tier("release", 172_800, "ABANDON", (("pipeline", ("release-*",)),))
    assert pr == Tier("pr", 1800, "CONTINUE", (("branch", ("refs/pull/*",)),))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "pr"}, "must be a JSON list"),
        (["pr"], "tier 0: must be an object"),
        ([{"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE", "pipline": ["x"]}], "unknown key"),
        ([{"name": "pr", "max_hold_seconds": 30, "forced_result": "CONTINUE"}], r"tier 0 \(pr\): max_hold_seconds"),
        ([{"name": "pr", "max_hold_seconds": True, "forced_result": "CONTINUE"}], "max_hold_seconds"),
        ([{"name": "pr", "max_hold_seconds": 1800, "forced_result": "KEEP"}], "forced_result"),
        ([{"name": "pr", "max_hold_seconds": 1800}], "forced_result"),
        ([{"name": "", "max_hold_seconds": 1800, "forced_result": "CONTINUE"}], "name must be"),
        ([{"name": "default", "max_hold_seconds": 1800, "forced_result": "CONTINUE"}], "built in"),
        ([{"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE", "branch": "refs/pull/*"}], "a list"),
        ([{"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE", "branch": [""]}], "glob patterns"),
    ],
)
def test_parse_tiers_refuses_with_one_line(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_tiers(raw, HOLD_RANGE)
    assert "\n" not in str(err.value)


def test_duplicate_names_are_refused() -> None:
    tier = {"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE"}
    with pytest.raises(ValueError, match=r"tier 1 \(pr\): the name is taken"):
        parse_tiers([tier, tier], HOLD_RANGE)


def test_gate_tiers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    base: dict[str, Any] = {
        "groups": "g",
        "hook_name": "h",
        "azure_org_url": "https://dev.azure.com/acme",
        "pools": "p",
        "pat": "x",
    }
    assert load_settings(**base).tiers == ()
    monkeypatch.setenv("GATE_TIERS", '[{"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE"}]')
    assert load_settings(**base).tiers == (Tier("pr", 1800, "CONTINUE"),)
    monkeypatch.setenv("GATE_TIERS", '[{"name": "pr", "max_hold_seconds": 999999, "forced_result": "CONTINUE"}]')
    with pytest.raises(SettingsError, match=r"GATE_TIERS: .*tier 0 \(pr\): max_hold_seconds must be a number >= 60"):
        load_settings(**base)
    monkeypatch.setenv("GATE_TIERS", "[not json")
    with pytest.raises(SettingsError, match=r"GATE_TIERS: .*must be a JSON list"):
        load_settings(**base)


# -- through decide ---------------------------------------------------------------------------------------------
T0 = 1_800_000_000.0
ACTION = "8e2c1a7e-5b0f-4a51-9d0a-1f2b3c4d5e6f"
POLICY = Policy(max_hold_seconds=14_400, forced_result="CONTINUE", tiers=(RELEASE, PR))


def busy_agent(job: JobMeta | None, id: int = 1, **kw: Any) -> Agent:
    return Agent(
        "azure-devops", 7, "pool", id, f"agent-i-0123456789abcdef{id}", False, assigned_request=100 + id, job=job, **kw
    )


def held(seen: int = 1) -> Waiting:
    state = HoldState(
        action_hash(ACTION), held_since=T0, disabled_at=T0, seen=frozenset({(7, i) for i in range(1, seen + 1)})
    )
    return Waiting("g", "i-0123456789abcdef0", "hook", action_id=ACTION, tags={HOLD_TAG: encode(state)})


def completion(decision: Any) -> str | None:
    return next((a.result for a in decision.actions if isinstance(a, Complete)), None)


def test_a_pull_request_job_is_forced_continue_at_its_30_minutes() -> None:
    obs = Observation(agents=[busy_agent(PR_JOB)])
    before = decide(held(), obs, POLICY, T0 + 1799, proven=True)
    assert (before.outcome, before.tier) == (Outcome.HELD, "pr")
    after = decide(held(), obs, POLICY, T0 + 1800, proven=True)
    assert (after.outcome, after.tier, completion(after)) == (Outcome.FORCED, "pr", "CONTINUE")
    assert "tier pr" in after.reason
    assert not any(isinstance(a, DeleteAgent) for a in after.actions)  # the busy agent stays registered


def test_a_release_job_is_held_past_the_default_max_hold_and_forced_abandon_at_its_own() -> None:
    obs = Observation(agents=[busy_agent(RELEASE_JOB)])
    past_default = decide(held(), obs, POLICY, T0 + 14_400, proven=True)
    assert (past_default.outcome, past_default.tier) == (Outcome.HELD, "release")
    at_own = decide(held(), obs, POLICY, T0 + 172_800, proven=True)
    assert (at_own.outcome, at_own.tier, completion(at_own)) == (Outcome.FORCED, "release", "ABANDON")


def test_a_pull_request_job_beside_a_release_job_is_held_as_release() -> None:
    obs = Observation(agents=[busy_agent(PR_JOB, 1), busy_agent(RELEASE_JOB, 2)])
    d = decide(held(seen=2), obs, POLICY, T0 + 14_400, proven=True)
    assert (d.outcome, d.tier) == (Outcome.HELD, "release")


@pytest.mark.parametrize(
    "obs",
    [
        Observation(agents=None, error="HTTP 503"),  # the list failed
        Observation(agents=[busy_agent(PR_JOB)], failed_pools={"other": "HTTP 500"}),  # a pool may hide a job
        Observation(agents=[busy_agent(None)]),  # a job without metadata
        Observation(agents=[busy_agent(PR_JOB, assigned_known=False)]),  # a busy field missing, job requests unasked
    ],
    ids=["list-failed", "pool-failing", "no-metadata", "busy-field-missing"],
)
def test_unknown_is_never_laxer_than_the_default_tier(obs: Observation) -> None:
    """Past the pull-request tier's 30 minutes and the default's 4 hours: the job may be a release job."""
    for tiers, expected in (((RELEASE, PR), "release"), ((PR,), DEFAULT)):
        policy = dataclasses.replace(POLICY, tiers=tiers)
        d = decide(held(), obs, policy, T0 + 1800, proven=True)
        assert (d.outcome, d.tier) == (Outcome.HELD, expected)
    d = decide(held(), obs, POLICY, T0 + 14_400, proven=True)
    assert (d.outcome, d.tier) == (Outcome.HELD, "release")


def test_a_seen_agent_missing_from_the_list_hides_its_job() -> None:
    obs = Observation(agents=[busy_agent(PR_JOB, 1)])
    d = decide(held(seen=2), obs, dataclasses.replace(POLICY, tiers=(PR,)), T0 + 1800, proven=True)
    assert d.tier == DEFAULT and d.outcome is not Outcome.FORCED


def test_unfinished_job_requests_count_as_running_jobs() -> None:
    agent = dataclasses.replace(busy_agent(None), assigned_request=None, assigned_known=False)
    jobs = {1: [JobRequest(101, 1, finished=False, meta=PR_JOB)]}
    d = decide(held(), Observation(agents=[agent], job_requests=jobs), POLICY, T0 + 1800, proven=True)
    assert (d.outcome, d.tier) == (Outcome.FORCED, "pr")


def test_a_busy_flag_naming_no_job_takes_the_tier_of_the_running_jobs_seen() -> None:
    """GitLab: the runner list says busy (job_execution_status active) but names no job; its running jobs, looked at,
    carry the metadata (gate.adapters.gitlab: ref, stage, name, project, pipeline source). Until they are looked at,
    or when none is running any more, the busy flag is a job that said nothing (the strictest tier it may be in)."""
    gitlab_pr = JobMeta(pipeline="acme/app", plan_type="merge_request_event", branch="refs/pull/7/head", job="unit")
    agent = dataclasses.replace(busy_agent(None), assigned_request=0, assigned_known=False)
    running = {1: [JobRequest(101, 1, finished=False, meta=gitlab_pr), JobRequest(99, 1, finished=True)]}
    d = decide(held(), Observation(agents=[agent], job_requests=running), POLICY, T0 + 1800, proven=True)
    assert (d.outcome, d.tier) == (Outcome.FORCED, "pr")
    ended = {1: [JobRequest(101, 1, finished=True, meta=gitlab_pr)]}
    for jobs in (None, ended):
        d = decide(held(), Observation(agents=[agent], job_requests=jobs), POLICY, T0 + 1800, proven=True)
        assert d.outcome is not Outcome.FORCED and d.tier != "pr", d


def test_a_busy_flag_naming_no_job_has_its_jobs_looked_at_only_when_tiers_are_set() -> None:
    """Busy is already proven (hold); the jobs are asked for only to place them in a tier."""
    agent = dataclasses.replace(busy_agent(None), assigned_request=0, assigned_known=False)
    d = decide(held(), Observation(agents=[agent]), POLICY, T0 + 60, proven=True)
    assert d.outcome is Outcome.HELD and d.needs_job_requests == (agent,), d
    untiered = dataclasses.replace(POLICY, tiers=())
    d = decide(held(), Observation(agents=[agent]), untiered, T0 + 60, proven=True)
    assert d.outcome is Outcome.HELD and d.needs_job_requests == (), d
    said = busy_agent(PR_JOB)  # Azure DevOps: the assigned request names its job
    d = decide(held(), Observation(agents=[said]), POLICY, T0 + 60, proven=True)
    assert d.needs_job_requests == (), d


def test_without_tiers_every_decision_names_the_default() -> None:
    policy = Policy(max_hold_seconds=3600)
    d = decide(held(), Observation(agents=[busy_agent(PR_JOB)]), policy, T0 + 1800, proven=True)
    assert (d.outcome, d.tier) == (Outcome.HELD, DEFAULT)
    d = decide(held(), Observation(agents=[busy_agent(PR_JOB)]), policy, T0 + 3600, proven=True)
    assert (d.outcome, d.tier, completion(d)) == (Outcome.FORCED, DEFAULT, "CONTINUE")
    assert "tier" not in d.reason


# -- property: never laxer than what is known -------------------------------------------------------------------
_values = st.sampled_from(["release-web", "web-pr", "nightly", "Build", "Release", "refs/pull/1/merge", "main"])
_maybe = st.one_of(st.none(), _values)
_jobs = st.one_of(
    st.none(),
    st.builds(JobMeta, pipeline=_maybe, plan_type=_maybe, branch=_maybe, stage=_maybe, job=_maybe),
)
_patterns = st.lists(st.sampled_from(["release-*", "*-pr", "nightly", "Release", "refs/pull/*", "*"]), max_size=2)
_tiers = st.lists(
    st.builds(
        lambda i, hold, result, fields: Tier(f"t{i}", hold, result, tuple((f, tuple(p)) for f, p in fields if p)),
        st.integers(0, 10**6),
        st.sampled_from([600.0, 1800.0, 14_400.0, 172_800.0]),
        st.sampled_from(["CONTINUE", "ABANDON"]),
        st.lists(
            st.tuples(st.sampled_from(["pipeline", "plan_type", "branch"]), _patterns),
            max_size=2,
            unique_by=lambda x: x[0],
        ),
    ),
    max_size=4,
    unique_by=lambda t: t.name,
)


@settings(max_examples=300, deadline=None)
@given(tiers=_tiers, jobs=st.lists(_jobs, max_size=3), complete=st.booleans(), default_retains=st.booleans())
def test_the_tier_is_never_laxer_than_a_tier_a_job_may_be_in(
    tiers: list[Tier], jobs: list[JobMeta | None], complete: bool, default_retains: bool
) -> None:
    default = default_tier(14_400, "ABANDON" if default_retains else "CONTINUE")
    chosen = resolve(tiers, default, jobs, complete)
    possible = [t for job in jobs for t in tiers_for(tiers, default, job)]
    for tier in possible:  # every tier some running job may be in
        assert chosen.max_hold_seconds >= tier.max_hold_seconds
        assert chosen.retains or not tier.retains

    def undecided(job: JobMeta | None) -> bool:  # a tier before the job's first sure match cannot tell
        for tier in tiers:
            verdict = matches(tier, job)
            if verdict is True:
                return False
            if verdict is None:
                return True
        return False

    unknown = not complete or None in jobs or any(undecided(j) for j in jobs)
    if tiers and unknown:  # anything unknown: at least the default
        assert chosen.max_hold_seconds >= default.max_hold_seconds and (chosen.retains or not default.retains)
    if tiers and jobs and complete and all(j is not None for j in jobs):
        for job in jobs:  # a job that surely matches a tier: that tier at least
            first = next((t for t in tiers if matches(t, job) is not False), None)
            if first is not None and matches(first, job):
                assert chosen.max_hold_seconds >= first.max_hold_seconds
