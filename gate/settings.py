"""Gate settings from `GATE_*` environment variables, validated once at start-up with readable errors."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# AWS's global lifecycle-action limit: min(48 h, 100 x HeartbeatTimeout).
AWS_MAX_GLOBAL_TIMEOUT = 172_800


class Mapping(StrEnum):
    """How an instance is matched to its agents."""

    NAME = "name"  # agent name contains the instance id
    CAPABILITY = "capability"  # a capability (e.g. AWS_INSTANCE_ID) equals the instance id
    HOSTNAME = "hostname"  # Agent.ComputerName equals the instance's private DNS name


class SettingsError(ValueError):
    """Settings that cannot work; the message names each bad variable."""


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
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

    azure_org_url: str = Field(description="https://dev.azure.com/ORG (plain http only for loopback)")
    pools: Annotated[list[str], NoDecode] = Field(min_length=1, description="agent pool names")
    groups: Annotated[list[str], NoDecode] = Field(min_length=1, description="Auto Scaling group allow-list")
    hook_name: str = Field(min_length=1, max_length=255)

    mapping: Mapping = Mapping.NAME
    capability_name: str = "AWS_INSTANCE_ID"

    pat: SecretStr | None = Field(default=None, description="PAT for local use; in AWS use pat_secret_arn")
    pat_secret_arn: str | None = None

    max_hold_seconds: int = Field(default=14_400, ge=60, le=AWS_MAX_GLOBAL_TIMEOUT)
    idle_confirm_seconds: float = Field(default=15, ge=0, le=3600)
    unregistered_grace_seconds: float = Field(default=300, ge=0, le=86_400)
    heartbeat_interval_seconds: float = Field(default=60, ge=5, le=3600)
    recheck_interval_seconds: float = Field(default=10, ge=0.05, le=300)
    tick_budget_seconds: float = Field(default=50, ge=0, le=840)
    delete_agent_on_release: bool = True
    forced_result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"
    check_job_requests: bool = True
    dry_run: bool = False

    http_timeout_seconds: float = Field(default=10, gt=0, le=120)
    max_retry_after_seconds: float = Field(default=20, ge=0, le=300)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_namespace: str = "AsgTerminationGate"

    @field_validator("pools", "groups", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("azure_org_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        url = urlparse(value.strip())
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError("must be an absolute URL such as https://dev.azure.com/ORG")
        if url.scheme == "http" and not _is_loopback(url.hostname):
            raise ValueError("plain http is refused except for loopback (127.0.0.1, localhost, ::1): use https")
        if url.query or url.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("pat_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        parts = value.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] not in ("secretsmanager", "ssm"):
            raise ValueError("must be a Secrets Manager secret ARN or an SSM parameter ARN")
        return value

    @model_validator(mode="after")
    def _pat_source(self) -> Settings:
        if self.pat is None and self.pat_secret_arn is None:
            raise ValueError("set GATE_PAT_SECRET_ARN (in AWS) or GATE_PAT (local use)")
        if self.mapping is Mapping.CAPABILITY and not self.capability_name:
            raise ValueError("GATE_CAPABILITY_NAME is required with GATE_MAPPING=capability")
        return self


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
