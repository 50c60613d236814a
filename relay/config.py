"""Relay configuration: settings from a YAML file, secrets from the environment.

Relative paths in the file (the allowlist, the database) are read relative to the file itself, so the
example configuration works from any working directory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agent.yaml_file import load_yaml_model
from relay.allowlist import is_repo_name

__all__ = [
    "ENV_APP_PRIVATE_KEY",
    "ENV_APP_PRIVATE_KEY_FILE",
    "ENV_CALLBACK_TOKEN_SECRET",
    "ENV_WEBHOOK_SECRET",
    "AllowlistSettings",
    "CallbackSettings",
    "ConfigError",
    "DispatchSettings",
    "GitHubSettings",
    "OidcIssuer",
    "OidcSettings",
    "RelayConfig",
    "Secrets",
    "ServerSettings",
    "StoreSettings",
    "SweeperSettings",
    "check_service_url",
    "load_config",
    "load_secrets",
]

ENV_WEBHOOK_SECRET = "RELAY_WEBHOOK_SECRET"
ENV_APP_PRIVATE_KEY = "RELAY_GITHUB_APP_PRIVATE_KEY"
ENV_APP_PRIVATE_KEY_FILE = "RELAY_GITHUB_APP_PRIVATE_KEY_FILE"
ENV_CALLBACK_TOKEN_SECRET = "RELAY_CALLBACK_TOKEN_SECRET"

GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
MIN_CALLBACK_SECRET_BYTES = 32


class ConfigError(ValueError):
    """The configuration or a secret is missing or malformed; the message names the field."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_service_url(value: str) -> str:
    """Accept https URLs, and plain http only towards this machine (tests, local development)."""
    parts = urlsplit(value)
    if not parts.hostname:
        raise ValueError(f"{value!r} is not an absolute URL")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return value
    raise ValueError(f"{value!r} must use https (http is accepted only for loopback hosts)")


ServiceUrl = Annotated[str, AfterValidator(check_service_url)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubSettings(_Settings):
    app_id: int = Field(gt=0, description="The GitHub App's numeric id.")
    api_url: ServiceUrl = Field(
        default="https://api.github.com",
        description="REST API base URL; `https://HOST/api/v3` for GitHub Enterprise, a loopback URL in tests.",
    )
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    token_refresh_margin_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3000,
        description="An installation token is reused only while it has more than this left to live.",
    )


class AllowlistSettings(_Settings):
    source: str = Field(description="A file path, or an http(s) URL (a github.com blob URL is read via the API).")
    reload_interval_seconds: float = Field(
        default=300.0, ge=1, description="The least time between two looks at the source for a change."
    )

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            return check_service_url(value)
        if not value.strip():
            raise ValueError("must name a file or a URL")
        return value


class OidcIssuer(_Settings):
    issuer: ServiceUrl = Field(description="Expected `iss` claim, exactly as the issuer writes it.")
    jwks_url: ServiceUrl | None = Field(
        default=None, description="Where the signing keys are; default: read from the issuer's discovery document."
    )


class OidcSettings(_Settings):
    audience: str = Field(default="pytorch-cross-repo-ci-relay", min_length=1)
    issuers: tuple[OidcIssuer, ...] = Field(default=(OidcIssuer(issuer=GITHUB_ACTIONS_ISSUER),), min_length=1)
    jwks_cache_seconds: float = Field(default=300.0, ge=1)
    leeway_seconds: float = Field(default=30.0, ge=0, le=300, description="Tolerated clock skew.")


class DispatchSettings(_Settings):
    workers: int = Field(default=8, ge=1, le=128, description="Concurrent repository_dispatch requests.")
    max_attempts: int = Field(default=6, ge=1, le=30, description="Attempts per (delivery, repo) before it fails.")
    backoff_initial_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)


class CallbackSettings(_Settings):
    public_url: ServiceUrl = Field(
        description="The URL downstream jobs post results to (sent to them in the dispatch)."
    )
    rate_limit_per_minute: int = Field(default=100, ge=1, description="Accepted callbacks per repo per minute.")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class StoreSettings(_Settings):
    database: Path = Field(
        default=Path("~/.local/state/distributed-triage/relay.sqlite3"),
        description="SQLite file for outbox, state and results.",
    )
    status_ttl_seconds: int = Field(
        default=259_200, ge=60, description="How long a dispatch accepts callbacks (GitHub keeps runs 3 days)."
    )
    synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description="normal survives a process crash; full also survives power loss, at an fsync per write.",
    )
    journal_mib: int = Field(
        default=64,
        ge=32,
        le=4096,
        description="Size of the intake journal next to the database (it must hold a 25 MB webhook).",
    )


class SweeperSettings(_Settings):
    zombie_timeout_seconds: int = Field(default=21_600, ge=1, description="In-progress silence before timed_out.")
    interval_seconds: float = Field(default=60.0, gt=0)


class ServerSettings(_Settings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class RelayConfig(_Settings):
    """Everything `python -m relay serve` needs that is not a secret."""

    upstream_repo: str = Field(default="pytorch/pytorch", description="Only webhooks from this repo are relayed.")
    github: GitHubSettings
    allowlist: AllowlistSettings
    callback: CallbackSettings
    oidc: OidcSettings = OidcSettings()
    dispatch: DispatchSettings = DispatchSettings()
    store: StoreSettings = StoreSettings()
    sweeper: SweeperSettings = SweeperSettings()
    server: ServerSettings = ServerSettings()

    @field_validator("upstream_repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not is_repo_name(value):
            raise ValueError(f"{value!r} is not owner/repo")
        return value


def load_config(path: Path) -> RelayConfig:
    """Read and validate the YAML file; every problem is a ConfigError naming the field."""
    config = load_yaml_model(path, RelayConfig, what="config", error=ConfigError)
    return _resolve_paths(config, path.resolve().parent)


def _resolve_paths(config: RelayConfig, base: Path) -> RelayConfig:
    allowlist = config.allowlist
    if not allowlist.is_url:
        allowlist = allowlist.model_copy(update={"source": str(base / Path(allowlist.source).expanduser())})
    store = config.store.model_copy(update={"database": base / config.store.database.expanduser()})
    return config.model_copy(update={"allowlist": allowlist, "store": store})


@dataclass(frozen=True)
class Secrets:
    """Values that never appear in a file or a log."""

    webhook_secret: bytes = field(repr=False)
    app_private_key: str = field(repr=False)
    callback_token_key: bytes = field(repr=False)


def load_secrets(environ: Mapping[str, str]) -> Secrets:
    """Read the three secrets; a missing or unusable one is a ConfigError naming the variable."""
    webhook = environ.get(ENV_WEBHOOK_SECRET, "")
    if not webhook:
        raise ConfigError(f"{ENV_WEBHOOK_SECRET} is not set: export the GitHub App's webhook secret")
    callback = environ.get(ENV_CALLBACK_TOKEN_SECRET, "")
    if len(callback.encode()) < MIN_CALLBACK_SECRET_BYTES:
        raise ConfigError(
            f"{ENV_CALLBACK_TOKEN_SECRET} must hold at least {MIN_CALLBACK_SECRET_BYTES} bytes of random text "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    return Secrets(
        webhook_secret=webhook.encode(),
        app_private_key=_private_key(environ),
        callback_token_key=callback.encode(),
    )


def _private_key(environ: Mapping[str, str]) -> str:
    pem = environ.get(ENV_APP_PRIVATE_KEY, "")
    source = ENV_APP_PRIVATE_KEY
    if not pem:
        path = environ.get(ENV_APP_PRIVATE_KEY_FILE, "")
        if not path:
            raise ConfigError(
                f"{ENV_APP_PRIVATE_KEY} (PEM text) or {ENV_APP_PRIVATE_KEY_FILE} (a path) must be set "
                "to the GitHub App's private key; for local use, `python -m relay dev-key PATH` makes one"
            )
        source = ENV_APP_PRIVATE_KEY_FILE
        try:
            pem = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{ENV_APP_PRIVATE_KEY_FILE}: cannot read {path}: {exc.strerror}") from exc
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{source}: the GitHub App key must be RSA (App JWTs are RS256)")
    return pem
