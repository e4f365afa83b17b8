"""config.py: YAML + env loading, validated at once, every error reported with its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from glassline.collector.config import ApiKey, CollectorConfig, load_config
from glassline.collector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ENV = {"GLASSLINE_API_KEYS": "acme=test-key-123456"}  # a collector needs at least one key


def test_defaults_are_the_otlp_ports() -> None:
    config = load_config({}, environ=ENV)
    assert (config.server.grpc_port, config.server.http_port) == (4317, 4318)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"server": {"grpc_port": 70000}},
         "server.grpc_port: Input should be less than 65536 (got 70000)"),
        ({"server": {"http_port": "x"}}, "server.http_port: Input should be a valid integer"),
        ({"server": {"workers": 0}}, "server.workers: Input should be greater than or equal to 1"),
        ({"server": {"bogus": 1}}, "server.bogus: Extra inputs are not permitted"),
        ({"surprise": {}}, "surprise: Extra inputs are not permitted"),
        # It said "a valid dictionary or instance of ServerConfig": a class, no key of the file.
        ({"server": [1, 2]}, "server: Input should be a mapping, not a list"),
        ({"alerts": "on"}, "alerts: Input should be a mapping, not a string (got 'on')"),
        ({"server": {"tls": {"cert_file": "/nonexistent.pem", "key_file": "/nonexistent.key"}}},
         "server.tls.cert_file: file not found: /nonexistent.pem"),
        ({"server": {"max_message_bytes": 10_000_000, "max_inflight_bytes": 5_000_000}},
         "server: max_message_bytes must not exceed max_inflight_bytes"),
        ({"server": {"workers": 2, "grpc_port": 0}},
         "server: workers > 1 share fixed ports"),
        # A longer hint makes the SDKs' exporters drop the batch instead of retrying it
        # (test_backpressure: the exporters refused, then delivering).
        ({"server": {"retry_after_s": 30}},
         "server.retry_after_s: must be under 10 s, an OTLP exporter's default"),
        ({"redaction": {"entities": {"NOT_AN_ENTITY": "mask"}}},
         "redaction.entities: unknown entity types ['NOT_AN_ENTITY']"),
        ({"sampling": {"head_rate": 2}}, "sampling.head_rate: Input should be less than or equal to 1"),
        ({"alerts": {"rules_file": "/nonexistent/rules.yaml"}},
         "alerts.rules_file: file not found"),
        ({"limits": {"max_attribute_length": 3}},
         "limits.max_attribute_length: Input should be greater than or equal to 16 (got 3)"),
        ({"storage": {"url": "mysql://x"}}, "storage.url: must start with sqlite:///"),
        # The trace list asks the rollups which days a filter's value was seen on.
        ({"storage": {"retention_days": 30, "rollup_retention_days": 7}},
         "storage.rollup_retention_days: must be at least storage.retention_days (30)"),
        ({"logging": {"level": "LOUD"}}, "logging.level: Input should be 'DEBUG'"),
        ({"auth": {"tenants": {"acme": "not-a-list"}}}, "auth.tenants.acme: Input should be a valid list"),
        ({"auth": {"tenants": {"acme": ["acme-key-123", {"name": "web"}]}}},
         "auth.tenants.acme[1].key: Field required"),
        # The path follows the document: no policy type ("latency", "and") leaks into it.
        ({"sampling": {"policies": [{"type": "error"}, {"type": "latency", "threshold_ms": -1}]}},
         "sampling.policies[1].threshold_ms: Input should be greater than 0 (got -1)"),
        ({"sampling": {"policies": [{"type": "and", "policies": [{"type": "cost"}]}]}},
         "sampling.policies[0].policies[0].threshold_usd: Field required"),
        # Each was valid, then start-up failed with a traceback (gRPC's int options, a thread
        # join) or the retention / tail-sampling job failed on every run (SQL integer overflow).
        ({"server": {"grpc_max_connection_age_s": 1e12}},
         "server.grpc_max_connection_age_s: Input should be less than or equal to 604800 (got "),
        ({"server": {"shutdown_grace_s": float("inf")}},
         "server.shutdown_grace_s: Input should be less than or equal to 604800 (got inf)"),
        ({"storage": {"retention_days": 1e12, "rollup_retention_days": 1e12}},
         "storage.retention_days: Input should be less than or equal to 36500 (got "),
        ({"sampling": {"decision_wait_s": 1e12}},
         "sampling.decision_wait_s: Input should be less than or equal to 604800 (got "),
        ({"jobs": {"lease_ttl_s": 1e12}},
         "jobs.lease_ttl_s: Input should be less than or equal to 604800 (got "),
    ],
)  # fmt: skip
def test_bad_config_is_reported_with_its_path(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_all_errors_are_reported_at_once() -> None:
    bad = {
        "server": {"grpc_port": -1, "http_port": 99999},
        "limits": {"max_attributes_per_span": 0},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(bad, environ=ENV)
    paths = {p.split(":")[0] for p in caught.value.problems}
    assert paths == {"server.grpc_port", "server.http_port", "limits.max_attributes_per_span"}


def test_yaml_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  http_port: 9999\nlimits:\n  max_spans_per_request: 5\n")
    config = load_config(path, environ=ENV)
    assert config.server.http_port == 9999
    assert config.limits.max_spans_per_request == 5


def test_unreadable_or_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ=ENV)
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, environ=ENV)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PyYAML's parser recursed once per level: a RecursionError traceback, exit 1.
        ("x: " + "[" * 2000 + "]" * 2000 + "\n", "not valid YAML: nested too deeply"),
        ("x: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n", "not valid YAML: nested too deeply"),
    ],
)
def test_a_config_nested_too_deeply_is_a_config_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    assert caught.value.problems == [f"{path}: {expected}"]


def test_a_config_file_too_large_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    # ``--config /dev/zero`` was read without end, taking memory until the OOM killer came.
    # A sparse file one byte past the bound stands in for it: the old code reads it whole.
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(16 * 2**20 + 1)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    assert caught.value.problems == [f"{path}: larger than 16 MiB: not a config file"]


def test_a_directory_given_as_the_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ=ENV)
    assert caught.value.problems == [f"{tmp_path}: cannot read (Is a directory)"]


def test_a_config_file_that_is_not_utf8_is_a_config_error_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("server:\n  host: café\n".encode("latin-1"))  # a traceback, before
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    assert caught.value.problems == [f"{path}: not UTF-8 text (byte 19)"]


def test_environment_overrides_nested_settings() -> None:
    env = {"GLASSLINE__SERVER__HTTP_PORT": "8080", "GLASSLINE__LOGGING__LEVEL": "DEBUG"}
    config = load_config({"server": {"http_port": 1}}, environ={**ENV, **env})
    assert config.server.http_port == 8080
    assert config.logging.level == "DEBUG"


def test_bad_environment_override_names_its_path_and_the_variable() -> None:
    # The variable was not named: "servr: Extra inputs are not permitted" sent the operator to
    # a file that has no servr.
    env = {"GLASSLINE__SERVER__GRPC_PORT": "70000", "GLASSLINE__SERVR__X": "1",
           "GLASSLINE__LOGGING__LEVEL": "LOUD"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_config({"server": {"workers": 0}}, environ={**ENV, **env})
    assert sorted(caught.value.problems) == [
        "logging.level (from GLASSLINE__LOGGING__LEVEL): Input should be 'DEBUG', 'INFO', "
        "'WARNING' or 'ERROR' (got 'LOUD')",
        "server.grpc_port (from GLASSLINE__SERVER__GRPC_PORT): Input should be less than 65536 "
        "(got 70000)",
        "server.workers: Input should be greater than or equal to 1 (got 0)",
        "servr (from GLASSLINE__SERVR__X): Extra inputs are not permitted",
    ]


def test_api_keys_come_from_the_environment_too() -> None:
    env = {"GLASSLINE_API_KEYS": "acme=key-one-123456,globex=key-two-123456,acme/web=key-3-123",
           "GLASSLINE_ADMIN_KEYS": "admin-key-123456"}  # fmt: skip
    config = load_config({"auth": {"tenants": {"acme": ["key-zero-123456"]}}}, environ=env)
    assert config.auth.tenants == {
        "acme": [ApiKey(key="key-zero-123456"), ApiKey(key="key-one-123456"),
                 ApiKey(key="key-3-123", name="web")],
        "globex": [ApiKey(key="key-two-123456")],
    }  # fmt: skip
    assert config.auth.admin_keys == [ApiKey(key="admin-key-123456")]


def test_malformed_api_keys_env_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"GLASSLINE_API_KEYS\[0\]: expected tenant=key or"):
        load_config({}, environ={"GLASSLINE_API_KEYS": "nokey"})


def test_the_example_config_is_valid() -> None:
    config = load_config(
        ROOT / "collector" / "collector.example.yaml", environ={"ACME_KEY": "k" * 20}
    )
    assert config.server.grpc_port == 4317
    # Its header promises the values shown are the defaults: every section but the example
    # tenants must equal a config that sets nothing.
    defaults = load_config({"auth": {"anonymous_tenant": "demo"}}, environ={})
    for section in type(config).model_fields.keys() - {"auth"}:
        assert getattr(config, section) == getattr(defaults, section), section


def test_alert_rule_file_errors_are_reported_with_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: spend, kind: budget, bogus: 1}\n")
    with pytest.raises(ConfigError) as caught:
        load_config({"alerts": {"rules_file": str(rules)}}, environ=ENV)
    assert caught.value.problems
    assert all(p.startswith(f"alerts.rules_file ({rules}): ") for p in caught.value.problems)


def test_key_problems_are_reported_with_the_other_sections() -> None:
    bad = {"server": {"grpc_port": 70000}, "auth": {"tenants": {"acme": ["env:UNSET_VAR"]}}}
    with pytest.raises(ConfigError) as caught:
        load_config(bad, environ={})
    assert caught.value.problems == [
        "server.grpc_port: Input should be less than 65536 (got 70000)",
        "auth.tenants.acme[0]: environment variable UNSET_VAR is not set",
    ]


def test_a_config_without_any_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        load_config({}, environ={})


def _number_settings(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every float setting of ``model``, its sections walked."""
    found = []
    for name, field in model.model_fields.items():
        for kind in get_args(field.annotation) or (field.annotation,):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += _number_settings(kind, (*path, name))
            elif kind is float:
                found.append((*path, name))
    return found


@pytest.mark.parametrize("path", _number_settings(CollectorConfig), ids=lambda path: ".".join(path))
@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e300])
def test_no_number_setting_takes_infinity_or_a_value_past_its_use(
    path: tuple[str, ...], value: float
) -> None:
    # A duration of 1e12 s or inf passed check-config, then broke start-up or a job for good.
    config: dict[str, Any] = {}
    section = config
    for part in path[:-1]:
        section = section.setdefault(part, {})
    section[path[-1]] = value
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    assert any(p.startswith(".".join(path) + ": ") for p in caught.value.problems)
