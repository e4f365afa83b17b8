"""The collector's configuration: one pydantic model tree, validated at startup.

Loaded from YAML, then overridden from the environment: ``GLASSLINE__SERVER__GRPC_PORT=4317``
sets ``server.grpc_port`` (``__`` separates levels; values are parsed as YAML scalars), and
``GLASSLINE_API_KEYS="acme=<key>,acme/batch=<key>,globex=sha256:<hex>"`` (``tenant/name=``
names the key) / ``GLASSLINE_ADMIN_KEYS`` add keys.
Every problem is reported at once with its path, e.g.
``server.grpc_port: Input should be less than 65536 (got 70000)``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from glassline.collector.errors import ConfigError
from glassline.collector.objects import MAX_OBJECTS
from glassline.collector.processors.enrich import PricingConfig
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.storage.config import StorageConfig
from glassline.collector.validation import MAX_DURATION_S, read_yaml, validation_problems
from glassline.redaction.config import RedactionConfig

__all__ = [
    "AlertsSection",
    "ApiKey",
    "AuthConfig",
    "CollectorConfig",
    "JobsConfig",
    "LimitsConfig",
    "LoggingConfig",
    "ServerConfig",
    "StorageConfig",
    "TlsConfig",
    "load_config",
]

ENV_PREFIX = "GLASSLINE__"
_EXPORTER_TIMEOUT_S = 10.0  # OTEL_EXPORTER_OTLP_TIMEOUT's default in the SDKs


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    """Serve both receivers over TLS with this PEM certificate chain and private key."""

    cert_file: Path
    key_file: Path

    @field_validator("cert_file", "key_file")
    @classmethod
    def _readable(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"file not found: {path}")
        return path

    @model_validator(mode="after")
    def _loadable(self) -> TlsConfig:
        # Checked here, not at bind time, where grpc reports only "Failed to bind to address".
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_verify_locations(cafile=str(self.cert_file))
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(
                f"cert_file {self.cert_file} is not a PEM certificate ({exc})"
            ) from None
        try:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (ssl.SSLError, OSError) as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise ValueError(
                    f"key_file {self.key_file} is not the private key of cert_file {self.cert_file}"
                ) from None
            raise ValueError(f"key_file {self.key_file} is not a PEM private key ({exc})") from None
        return self


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    grpc_port: int = Field(4317, ge=0, lt=65536)
    http_port: int = Field(4318, ge=0, lt=65536)
    workers: int = Field(1, ge=1, le=64)
    # Threads per process that decode, process and store admitted exports (a runner's, or the
    # only process's). The work is mostly under the GIL: two keep it busy (one works while the
    # other waits on the store), and each more holds one more decoded export at once. Measured
    # with 512-span exports: 4 stored the same as 2, and the memory the first burst leaves
    # behind (fragments around the peak) was +25-31 MB a runner against +18-19. Raise it for
    # a PostgreSQL server far away, where a transaction waits out round trips. The name is
    # historical: gRPC and HTTP exports share these threads.
    grpc_threads: int = Field(2, ge=1, le=256)
    # gRPC clients keep one connection for hours, and an L4 balancer picks a replica per
    # connection: a GOAWAY after this age makes clients reconnect and be spread again, so a
    # few busy clients cannot pin one replica while another idles. (Within one collector the
    # front spreads exports over the workers itself: see handoff.py.)
    grpc_max_connection_age_s: float | None = Field(30.0, gt=0, le=MAX_DURATION_S)
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_inflight_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_inflight_requests: int = Field(64, ge=1)
    # Requests still receiving their body, per process: a separate, larger bound, so slow or
    # silent senders do not take max_inflight_requests from the requests that are all here.
    # What they hold is bounded by max_inflight_bytes and the body timeout, but for one read
    # each (up to 256 KB) taken off the socket before admission reserves it: 256 of them
    # reading at once is max_inflight_bytes (64 MB) more at the peak, within the memory bound.
    # A gRPC call's message is held by grpc until whole, so only max_inflight_bytes //
    # max_message_bytes calls (8) receive at once (see receivers/grpc.py max_unseen_calls).
    max_receiving_requests: int = Field(256, ge=1)
    # Query API reads (GET /api/...) at once per process; another waits for a slot up to
    # max_queue_wait_s, then is refused (429). Each holds one of the store's pooled connections
    # (15), which the exports' writes, /readyz and the WAL checkpoints need too.
    max_inflight_queries: int = Field(8, ge=1)
    # An export must start within this of its hand-over, or it is refused (429 /
    # RESOURCE_EXHAUSTED): well under an exporter's 10 s timeout, so the answer arrives while
    # the exporter still listens. One estimated to wait over half of it behind the admitted
    # ones is refused up front; the other half absorbs the estimate's error, so few admitted
    # exports reach the deadline. null: no queue-wait bound.
    max_queue_wait_s: float | None = Field(1.0, gt=0, le=MAX_DURATION_S)
    # HTTP: a connection must send a request's headers within this, and its body within
    # http_body_timeout_s of the headers; otherwise it is closed (idle and slowloris clients).
    # A gRPC call's message has http_body_timeout_s too, then the call ends UNAVAILABLE.
    http_header_timeout_s: float = Field(10.0, gt=0, le=MAX_DURATION_S)
    http_body_timeout_s: float = Field(30.0, gt=0, le=MAX_DURATION_S)
    # ... and meanwhile at least this many bytes a second over each window, or it is closed:
    # a stalled or trickling upload gives its receiving place and bytes back within a window.
    # 0: no rate limit (the body deadline alone); above a GiB/s it would cut every client.
    # A gRPC message is seen only whole: one not in after a window gives its receiving place
    # to a newer export when they are all taken (not with 0).
    http_body_min_rate_bytes_s: float = Field(1024.0, ge=0, le=2**30)
    http_body_rate_window_s: float = Field(5.0, gt=0, le=MAX_DURATION_S)
    # The delay every refusal names (Retry-After / RetryInfo); kept under an exporter's
    # timeout (see the validator).
    retry_after_s: float = Field(1.0, gt=0)
    shutdown_grace_s: float = Field(30.0, ge=0, le=MAX_DURATION_S)
    tls: TlsConfig | None = None

    @field_validator("retry_after_s")
    @classmethod
    def _retried_within_an_exporters_timeout(cls, seconds: float) -> float:
        if seconds >= _EXPORTER_TIMEOUT_S:
            raise ValueError(
                f"must be under {_EXPORTER_TIMEOUT_S:g} s, an OTLP exporter's default timeout: "
                "the OpenTelemetry SDKs' exporters drop a batch whose retry hint is longer "
                "than the time they have left"
            )
        return seconds

    @model_validator(mode="after")
    def _consistent(self) -> ServerConfig:
        if self.max_message_bytes > self.max_inflight_bytes:
            raise ValueError("max_message_bytes must not exceed max_inflight_bytes")
        if self.workers > 1 and 0 in (self.grpc_port, self.http_port):
            raise ValueError("workers > 1 share fixed ports: grpc_port and http_port must not be 0")
        return self


class ApiKey(_Model):
    """One key: a plain string in the config, or ``{name: web-frontend, key: "sha256:..."}``.

    The name is what spend is attributed to (rollups, budgets ``per: [api_key]``, the
    dashboard); a key without one is named by :func:`glassline.collector.auth.key_id`.
    """

    key: str
    name: str | None = Field(None, min_length=1, max_length=128)


def _key_spec(value: object) -> object:
    return {"key": value} if isinstance(value, str) else value


KeySpec = Annotated[ApiKey, BeforeValidator(_key_spec)]


class AuthConfig(_Model):
    """API keys. Each key is a plain key, ``sha256:<64 hex>`` (its hash), or ``env:VAR``,
    optionally named (:class:`ApiKey`)."""

    tenants: dict[str, list[KeySpec]] = Field(default_factory=dict)
    admin_keys: list[KeySpec] = Field(default_factory=list)
    # Requests without any key go to this tenant; for local demos only (unknown keys still fail).
    anonymous_tenant: str | None = None

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, tenants: dict[str, list[ApiKey]]) -> dict[str, list[ApiKey]]:
        for name in tenants:
            if problem := tenant_name_problem(name):
                raise ValueError(f"{problem} (got {name[:140]!r})")  # the path names no key
        return tenants

    @field_validator("anonymous_tenant")
    @classmethod
    def _anonymous_name(cls, name: str | None) -> str | None:
        if name is not None and (problem := tenant_name_problem(name)):
            raise ValueError(problem)
        return name


def tenant_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a tenant, or None: 1-128 printable characters (the tenant
    columns' width; a control character is a mistake, and unreadable in every listing)."""
    if not 1 <= len(name) <= 128 or not name.isprintable():
        return "tenant name must be 1-128 printable characters"
    return None


class LimitsConfig(_Model):
    """Per-request and per-span limits applied at ingest."""

    max_spans_per_request: int = Field(10_000, ge=1)
    # protobuf messages (JSON objects and arrays) a request makes its parser allocate
    max_objects_per_request: int = Field(MAX_OBJECTS, ge=1_000)
    max_attributes_per_span: int = Field(256, ge=1)
    max_events_per_span: int = Field(128, ge=0)
    max_attribute_length: int = Field(16_384, ge=16)  # characters; longer values are truncated
    truncation_marker: str = "…[truncated]"


class JobsConfig(_Model):
    """Background jobs; each runs in one replica at a time under a database lease."""

    retention_interval_s: float = Field(3600.0, gt=0, le=MAX_DURATION_S)
    lease_ttl_s: float = Field(120.0, gt=0, le=MAX_DURATION_S)


class AlertsSection(_Model):
    """Alert rules live in their own file (reloaded on SIGHUP); see docs/alerts.md."""

    rules_file: Path | None = None

    @field_validator("rules_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"file not found: {path}")
        return path


class LoggingConfig(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class CollectorConfig(_Model):
    """The whole collector configuration (``collector.example.yaml`` documents each field)."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    # null turns redaction off: prompts and completions then reach the disk as sent.
    redaction: RedactionConfig | None = Field(default_factory=RedactionConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


def _env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]
) -> list[str]:
    """Applies the ``GLASSLINE__`` variables to ``data``; ``origins`` gains each path they
    set or created, with the variable's name, so a problem there names the variable."""
    problems = []
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        node = data
        for depth, part in enumerate(path[:-1], 1):
            if part not in node:
                origins.setdefault(".".join(path[:depth]), name)
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {'.'.join(path)} is not a section")
                break
            node = child
        else:
            node[path[-1]] = value
            origins[".".join(path)] = name
    return problems


def _env_keys(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems = []
    auth = data.setdefault("auth", {})
    if not isinstance(auth, dict):
        return []
    for i, pair in enumerate(filter(None, environ.get("GLASSLINE_API_KEYS", "").split(","))):
        who, sep, key = pair.strip().partition("=")
        tenant, slash, name = who.partition("/")
        if not sep or not tenant or not key or (slash and not name):
            problems.append(f"GLASSLINE_API_KEYS[{i}]: expected tenant=key or tenant/name=key")
            continue
        keys = auth.setdefault("tenants", {})
        keys = keys.setdefault(tenant, []) if isinstance(keys, dict) else None
        if isinstance(keys, list):  # otherwise the file's value is wrong and reported as such
            keys.append({"name": name, "key": key} if name else key)
    admin = [k.strip() for k in environ.get("GLASSLINE_ADMIN_KEYS", "").split(",") if k.strip()]
    admin_keys = auth.setdefault("admin_keys", [])
    if admin and isinstance(admin_keys, list):
        admin_keys.extend(admin)
    return problems


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> CollectorConfig:
    """Read YAML (a path) or a mapping, apply environment overrides, validate everything.

    Raises :class:`ConfigError` listing every problem with its path.
    """
    environ = os.environ if environ is None else environ
    if source is None:
        data: Any = {}
    elif isinstance(source, Mapping):
        data = _deep_copy(source)
    else:
        try:
            data = read_yaml(source) or {}
        except ValueError as exc:
            raise ConfigError([f"{source}: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(["<root>: the configuration must be a mapping"])
    origins: dict[str, str] = {}
    problems = _env_overrides(data, environ, origins) + _env_keys(data, environ)
    try:
        config = CollectorConfig.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, data, origins=origins)
        config = None
    # Sections that need more than their model (key specs, the rule file) are checked even
    # when another section failed, so one run reports everything.
    problems += _keys_problems(data.get("auth"), environ)
    problems += _rules_file_problems(data.get("alerts"))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _keys_problems(auth: Any, environ: Mapping[str, str]) -> list[str]:
    from glassline.collector.auth import Keyring

    try:
        Keyring.from_config(AuthConfig.model_validate(auth or {}), environ)
    except ValidationError:
        return []  # already reported with its path
    except ConfigError as exc:
        return exc.problems
    return []


def _rules_file_problems(alerts: Any) -> list[str]:
    from glassline.collector.alerts.config import AlertConfigError
    from glassline.collector.alerts.config import load_config as load_rules

    try:
        path = AlertsSection.model_validate(alerts or {}).rules_file
    except ValidationError:
        return []  # already reported with its path
    if path is None:
        return []
    try:
        load_rules(path)
    except AlertConfigError as exc:
        return [f"alerts.rules_file ({path}): {e}" for e in exc.errors]
    return []


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
