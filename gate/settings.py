"""Gate settings from `GATE_*` environment variables, validated once at start-up with readable errors."""

from __future__ import annotations

import ipaddress
import json
import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gate.domain.decide import Policy
from gate.domain.errors import Misconfigured
from gate.domain.mapping import Mapping
from gate.domain.tiers import Tier, parse_tiers

# AWS's global lifecycle-action limit: min(48 h, 100 x HeartbeatTimeout).
AWS_MAX_GLOBAL_TIMEOUT = 172_800

# One source of truth for each setting (issue 23): the decision defaults live in the domain's `Policy` (which must not
# import settings), the ranges only here, in the Field bounds below. `policy_from` (gate.service.triggers) copies
# every field of Policy that is also a setting. The Terraform core validates against the same bounds: its
# settings.json is generated from these fields (tests/infra/settings_json.py; tests/infra/test_settings_ranges.py).
_POLICY = Policy()


class AgentSystem(StrEnum):
    """Which CI system the busy probe asks (one `gate.service.sources.AgentSource` module each; see gate.bootstrap)."""

    AZURE_DEVOPS = "azure-devops"
    GITHUB = "github"
    GITLAB = "gitlab"


class WebhookFormat(StrEnum):
    SLACK = "slack"  # {"text": "..."}: Slack, Mattermost, Teams workflows and most chat webhooks accept it
    JSON = "json"  # the text plus the decision's fields, for your own receiver


class SettingsError(Misconfigured, ValueError):
    """Settings that cannot work; the message names each bad variable."""


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _https_url(value: str, example: str) -> str:
    """An absolute https URL (plain http only for loopback), without query or fragment."""
    url = urlparse(value.strip())
    if url.scheme not in ("https", "http") or not url.hostname:
        raise ValueError(f"must be an absolute URL such as {example}")
    if url.scheme == "http" and not _is_loopback(url.hostname):
        raise ValueError("plain http is refused except for loopback (127.0.0.1, localhost, ::1): use https")
    return value.strip()


def _secret_arn_or_none(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    assert value is not None
    parts = value.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in ("secretsmanager", "ssm"):
        raise ValueError("must be a Secrets Manager secret ARN or an SSM parameter ARN")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATE_", extra="ignore", frozen=True)

    # Which CI system holds the agents. azure-devops needs azure_org_url, pools and a PAT; github needs
    # github_org and/or github_repos and a token.
    agent_system: AgentSystem = AgentSystem.AZURE_DEVOPS

    azure_org_url: str = Field(default="", description="https://dev.azure.com/ORG (plain http only for loopback)")
    pools: Annotated[list[str], NoDecode] = Field(default_factory=list, description="agent pool names")
    groups: Annotated[list[str], NoDecode] = Field(min_length=1, description="Auto Scaling group allow-list")
    hook_name: str = Field(min_length=1, max_length=255)

    mapping: Mapping = Mapping.NAME
    capability_name: str = "AWS_INSTANCE_ID"

    pat: SecretStr | None = Field(default=None, description="PAT for local use; in AWS use pat_secret_arn")
    pat_secret_arn: str | None = None

    max_hold_seconds: int = Field(default=int(_POLICY.max_hold_seconds), ge=60, le=AWS_MAX_GLOBAL_TIMEOUT)
    idle_confirm_seconds: float = Field(default=_POLICY.idle_confirm_seconds, ge=0, le=3600)
    unregistered_grace_seconds: float = Field(default=_POLICY.unregistered_grace_seconds, ge=0, le=86_400)
    heartbeat_interval_seconds: float = Field(default=_POLICY.heartbeat_interval_seconds, ge=5, le=3600)
    recheck_interval_seconds: float = Field(default=10, ge=0.05, le=300)
    tick_budget_seconds: float = Field(default=50, ge=0, le=840)
    delete_agent_on_release: bool = _POLICY.delete_agent_on_release
    forced_result: Literal["CONTINUE", "ABANDON"] = _POLICY.forced_result
    check_job_requests: bool = _POLICY.check_job_requests
    dry_run: bool = False

    http_timeout_seconds: float = Field(default=10, gt=0, le=120)
    max_retry_after_seconds: float = Field(default=20, ge=0, le=300)
    # --- Azure DevOps auth, versions, credential refresh (issue 12; docs/azure-devops.md) --------------------------
    # azure_auth: "pat" (GATE_PAT / GATE_PAT_SECRET_ARN) or "entra" (a service principal: GATE_ENTRA_SECRET_ARN names a
    # JSON secret with tenant_id, client_id and client_secret or certificate). Secrets are re-read after
    # secret_cache_seconds, and at once when Azure DevOps refuses them. azure_api_version: 7.1 for Azure DevOps
    # Services, 7.0 for Server 2022, 6.0 for Server 2020 (an "out of range" answer also negotiates it down).
    azure_auth: Literal["pat", "entra"] = "pat"
    entra_secret_arn: str | None = None
    entra_authority_host: str = "https://login.microsoftonline.com"
    azure_api_version: str = Field(default="7.1", pattern=r"^\d+\.\d+(-preview(\.\d+)?)?$")
    secret_cache_seconds: float = Field(default=300, ge=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_namespace: str = "AsgTerminationGate"

    # --- fleet features (README "Fleet features"); each is off unless configured ---------------------------------
    # Scale-in protection on InService instances while their agents are busy (only protection the gate set itself,
    # recorded in the gate:protected tag, is ever removed).
    protect_busy: bool = False
    # ECS: set the instance's container instance DRAINING once its agents are idle, then (optionally) wait until no
    # task runs there except those whose group matches ecs_ignore_task_groups (daemons, the agent's own task).
    ecs_cluster: str = Field(default="", max_length=255)
    ecs_drain: bool = _POLICY.ecs_drain
    ecs_wait_tasks: bool = _POLICY.ecs_wait_tasks
    ecs_ignore_task_groups: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Webhook for forced and error outcomes and for holds longer than hold_notify_seconds (once per hold).
    webhook_url: SecretStr | None = None
    webhook_format: WebhookFormat = WebhookFormat.SLACK
    webhook_timeout_seconds: float = Field(default=3, gt=0, le=10)
    hold_notify_seconds: float = Field(default=3600, ge=0, le=AWS_MAX_GLOBAL_TIMEOUT)
    # GitHub Actions self-hosted runners (agent_system = github).
    github_api_url: str = "https://api.github.com"
    github_org: str = ""
    github_repos: Annotated[list[str], NoDecode] = Field(default_factory=list, description="OWNER/REPO, ...")
    github_token: SecretStr | None = Field(default=None, description="token for local use; in AWS use the ARN")
    github_token_secret_arn: str | None = None
    # GitLab CI runners (agent_system = gitlab; gate/adapters/gitlab.py). gitlab_runners: "owned" lists GET /runners
    # (the runners the token's user may manage), "all" GET /runners/all (administrators of self-managed GitLab);
    # gitlab_tag_list narrows the list to runners carrying every one of these tags.
    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = Field(default=None, description="token for local use; in AWS use the ARN")
    gitlab_token_secret_arn: str | None = None
    gitlab_runners: Literal["owned", "all"] = "owned"
    gitlab_tag_list: Annotated[list[str], NoDecode] = Field(default_factory=list, description="tag, ...")

    # --- failure isolation (issue 18, docs/judgment.md) ------------------------------------------------------------
    # Which configured pools (GitHub: the organisation login or OWNER/REPO) each group's agents register in, as a JSON
    # object {"group": ["pool", ...]}. The gate cannot know an instance has no agent in a pool it cannot list, so a
    # failing pool holds every instance whose group is not named here; a named group is held only by its own pools
    # (and by any pool an agent of the instance was actually seen in).
    group_pools: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=dict)

    # --- judgment (issue 11, docs/judgment.md) ------------------------------------------------------------------------
    # No release earlier than this after the latest disable: Azure DevOps may show a job assigned just before the
    # disable neither as the agent's assignedRequest nor as a job request for ~30-60 s.
    assignment_lag_seconds: float = Field(default=_POLICY.assignment_lag_seconds, ge=0, le=3600)

    # --- priority tiers (issue 22, gate/domain/tiers.py) ------------------------------------------------------------
    # A JSON list, first match wins: [{"name": "release", "max_hold_seconds": 172800, "forced_result": "ABANDON",
    # "pipeline": ["release-*"]}, {"name": "pr", "max_hold_seconds": 1800, "forced_result": "CONTINUE",
    # "branch": ["refs/pull/*"]}]. Empty: every instance is held under max_hold_seconds and forced_result.
    tiers: Annotated[tuple[Tier, ...], NoDecode] = _POLICY.tiers

    # --- liveness (issue 10; docs/liveness.md) ---------------------------------------------------------------------
    # Heartbeats and Azure DevOps work run on bounded thread pools: a thousand waiting instances at Azure DevOps's
    # ~0.2 s per call fit in one invocation. 1 runs everything inline (deterministic simulations).
    heartbeat_concurrency: int = Field(default=16, ge=1, le=64)
    agent_concurrency: int = Field(default=8, ge=1, le=32)
    # Stop this long before the Lambda context says the invocation will be killed (logging and the last call's
    # bounded timeout fit in it).
    invocation_margin_seconds: float = Field(default=5, ge=1, le=60)

    # --- service hook receiver (issue 15; gate/servicehook.py, docs/performance.md) -------------------------------
    # The shared secret Azure DevOps sends with its "build completed" / "job state changed" web hooks (the basic-auth
    # password or an X-Gate-Secret header). Without one the receiver refuses every call.
    service_hook_secret: SecretStr | None = Field(default=None, description="for local use; in AWS use the ARN")
    service_hook_secret_arn: str | None = None

    @field_validator("pools", "groups", "ecs_ignore_task_groups", "github_repos", "gitlab_tag_list", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("group_pools", mode="before")
    @classmethod
    def _group_pools_json(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError('must be a JSON object such as {"ci-linux": ["linux-agents"]}') from None
        if not isinstance(value, dict) or not all(
            isinstance(pools, list) and pools and all(isinstance(p, str) and p.strip() for p in pools)
            for pools in value.values()
        ):
            raise ValueError('must map each group to a non-empty list of pool names: {"ci-linux": ["linux-agents"]}')
        return {str(group).strip(): [p.strip() for p in pools] for group, pools in value.items()}

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers_json(cls, value: object) -> object:
        if isinstance(value, tuple) and all(isinstance(t, Tier) for t in value):
            return value
        if isinstance(value, str):
            if not value.strip():
                return ()
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(
                    'must be a JSON list such as [{"name": "pr", "max_hold_seconds": 1800, ...}]'
                ) from None
        # A tier's max hold has GATE_MAX_HOLD_SECONDS's bounds (written once, in that Field).
        meta = Settings.model_fields["max_hold_seconds"].metadata
        low = next(float(m.ge) for m in meta if isinstance(getattr(m, "ge", None), int | float))
        high = next(float(m.le) for m in meta if isinstance(getattr(m, "le", None), int | float))
        return parse_tiers(value, (low, high))

    @field_validator("azure_org_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        if not value.strip():
            return ""  # required for agent_system = azure-devops only (checked below)
        _https_url(value, "https://dev.azure.com/ORG")
        url = urlparse(value.strip())
        if url.query or url.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("github_api_url")
    @classmethod
    def _github_url(cls, value: str) -> str:
        url = urlparse(_https_url(value, "https://api.github.com (or https://HOST/api/v3 for GitHub Enterprise)"))
        if url.query or url.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("gitlab_url")
    @classmethod
    def _gitlab_url(cls, value: str) -> str:
        url = urlparse(_https_url(value, "https://gitlab.com (or https://gitlab.example.com for self-managed)"))
        if url.query or url.fragment or url.path.rstrip("/").endswith("/api/v4"):
            raise ValueError("must be GitLab's base URL (no /api/v4, query or fragment), such as https://gitlab.com")
        return value.strip().rstrip("/")

    @field_validator("pat", "github_token", "gitlab_token", mode="before")
    @classmethod
    def _secret_given(cls, value: object) -> object:
        """An inline secret set but empty (`GATE_PAT=`) is refused, never sent: it would only come back as a 401 that
        reads like a wrong token. Surrounding whitespace (a pasted newline) goes, as for a secret read by ARN."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            if not raw.strip():
                raise ValueError("is set but empty: give the token, or unset the variable and use its _SECRET_ARN")
            return raw.strip()
        return value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a URL")
        try:
            _https_url(value, "https://hooks.slack.com/services/...")
        except ValueError as exc:  # never echo the URL: webhook URLs usually embed their token
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("github_org")
    @classmethod
    def _github_org(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", value):
            raise ValueError("must be a GitHub organisation login (letters, digits, '-')")
        return value

    @field_validator("github_repos")
    @classmethod
    def _github_repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not re.fullmatch(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}", repo):
                raise ValueError(f"{repo!r} is not OWNER/REPO")
        return value

    @field_validator("ecs_cluster")
    @classmethod
    def _ecs_cluster(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", value):
            raise ValueError("must be a cluster name (A-Z a-z 0-9 _ -), not an ARN")
        return value

    @field_validator("entra_authority_host")
    @classmethod
    def _entra_host(cls, value: str) -> str:
        url = urlparse(value.strip())
        if url.scheme != "https" or not url.hostname or url.query or url.fragment:
            raise ValueError("must be an https URL such as https://login.microsoftonline.com (msal requires https)")
        return value.strip().rstrip("/")

    @field_validator("pat_secret_arn", "github_token_secret_arn", "gitlab_token_secret_arn", "entra_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        return _secret_arn_or_none(value)

    @model_validator(mode="after")
    def _pat_source(self) -> Settings:
        problems: list[str] = []
        if self.agent_system is AgentSystem.AZURE_DEVOPS:
            if not self.azure_org_url:
                problems.append("GATE_AZURE_ORG_URL is required with GATE_AGENT_SYSTEM=azure-devops")
            if not self.pools:
                problems.append("GATE_POOLS must name at least one pool with GATE_AGENT_SYSTEM=azure-devops")
            if self.azure_auth == "entra" and self.entra_secret_arn is None:
                problems.append("GATE_AZURE_AUTH=entra needs GATE_ENTRA_SECRET_ARN")
            if self.azure_auth == "pat" and self.pat is None and self.pat_secret_arn is None:
                problems.append("set GATE_PAT_SECRET_ARN (in AWS) or GATE_PAT (local use)")
        elif self.agent_system is AgentSystem.GITLAB:
            if self.gitlab_token is None and self.gitlab_token_secret_arn is None:
                problems.append("set GATE_GITLAB_TOKEN_SECRET_ARN (in AWS) or GATE_GITLAB_TOKEN (local use)")
            if self.mapping is Mapping.HOSTNAME:
                problems.append(
                    "GATE_MAPPING=hostname does not apply to GitLab runners: use name, capability, ip or system-id"
                )
        else:
            if not self.github_org and not self.github_repos:
                problems.append("GATE_GITHUB_ORG or GATE_GITHUB_REPOS is required with GATE_AGENT_SYSTEM=github")
            if self.github_token is None and self.github_token_secret_arn is None:
                problems.append("set GATE_GITHUB_TOKEN_SECRET_ARN (in AWS) or GATE_GITHUB_TOKEN (local use)")
        if self.mapping in (Mapping.IP, Mapping.SYSTEM_ID) and self.agent_system is not AgentSystem.GITLAB:
            problems.append(
                f"GATE_MAPPING={self.mapping} applies to GitLab runner managers only (GATE_AGENT_SYSTEM=gitlab)"
            )
        if self.mapping is Mapping.CAPABILITY and not self.capability_name:
            problems.append("GATE_CAPABILITY_NAME is required with GATE_MAPPING=capability")
        if self.ecs_drain and not self.ecs_cluster:
            problems.append("GATE_ECS_DRAIN needs GATE_ECS_CLUSTER")
        if self.ecs_wait_tasks and not self.ecs_drain:
            problems.append("GATE_ECS_WAIT_TASKS needs GATE_ECS_DRAIN=true")
        problems += self._group_pools_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def configured_pools(self) -> list[str]:
        """The pool names `group_pools` may use: GATE_POOLS, or the GitHub organisation and repositories."""
        if self.agent_system is AgentSystem.AZURE_DEVOPS:
            return list(self.pools)
        if self.agent_system is AgentSystem.GITLAB:
            return ["runners"]  # one runner list (gate.adapters.gitlab.POOL_NAME)
        return ([self.github_org] if self.github_org else []) + list(self.github_repos)

    def _group_pools_problems(self) -> list[str]:
        known = set(self.configured_pools())
        groups = sorted(set(self.group_pools) - set(self.groups))
        pools = sorted({p for ps in self.group_pools.values() for p in ps} - known)
        problems = []
        if groups:
            problems.append(f"GATE_GROUP_POOLS names group(s) not in GATE_GROUPS: {', '.join(groups)}")
        if pools:
            problems.append(f"GATE_GROUP_POOLS names pool(s) not configured: {', '.join(pools)}")
        return problems


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError with one line per problem, naming the environment variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"GATE_{field.upper()}" if err["loc"] else "settings"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid gate settings:\n  " + "\n  ".join(lines)) from None
