"""RedactionConfig: safe defaults, every error reported with its path, keys never echoed."""

from __future__ import annotations

import pytest

from glassline.redaction import (
    ALL_ENTITIES,
    KEY_ENV_VAR,
    RedactionConfig,
    RedactionConfigError,
    load_config,
)


def test_defaults_mask_every_pattern_entity_and_names_and_need_no_model_or_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    cfg = RedactionConfig()
    policies = cfg.policies()
    assert set(policies) == set(ALL_ENTITIES) - {"LOCATION"}
    assert set(policies.values()) == {"mask"}
    assert cfg.names.enabled is True
    assert cfg.ner.enabled is False
    assert cfg.hmac_key is None


def test_default_scope_scans_everything_and_allow_lists_ids_models_and_token_counts():
    from glassline.redaction._scope import Scope

    scope = Scope(RedactionConfig().scope)
    content = ("gen_ai.input.messages", "gen_ai.tool.call.result", "exception.message")
    structural = ("gen_ai.request.model", "gen_ai.usage.input_tokens", "user.id", "session.id")
    for name in (*content, *structural):
        assert scope.scanned(name), name
    assert not any(scope.structural(name) for name in content)
    assert all(scope.structural(name) for name in structural)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"entities": {"EMAIL": "mask"}}, "redaction.entities"),
        ({"entities": {"EMAIL_ADDRESS": "scramble"}}, "redaction.entities.EMAIL_ADDRESS"),
        ({"default_policy": "hide"}, "redaction.default_policy"),
        ({"phone_regions": ["US", "XX"]}, "redaction.phone_regions"),
        ({"score_threshold": 1.5}, "redaction.score_threshold"),
        ({"max_text_chars": 10}, "redaction.max_text_chars"),
        ({"scope": {"include": [""]}}, "redaction.scope.include"),
        ({"ner": {"entities": ["ORGANIZATION"]}}, "redaction.ner.entities[0]"),
        ({"nonsense": 1}, "redaction.nonsense"),
    ],
)
def test_invalid_config_reports_the_path(data, path):
    with pytest.raises(RedactionConfigError) as err:
        load_config(data)
    assert f"{path}:" in str(err.value)


def test_all_errors_are_reported_at_once():
    with pytest.raises(RedactionConfigError) as err:
        load_config({"default_policy": "x", "score_threshold": -1, "scope": {"bogus": 1}})
    message = str(err.value)
    for path in ("redaction.default_policy", "redaction.score_threshold", "redaction.scope.bogus"):
        assert path in message


def test_hash_policy_without_key_is_a_startup_error(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    with pytest.raises(RedactionConfigError) as err:
        load_config({"entities": {"EMAIL_ADDRESS": "hash"}})
    assert KEY_ENV_VAR in str(err.value)


def test_hash_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "k" * 32)
    cfg = load_config({"default_policy": "hash"})
    assert cfg.hmac_key is not None
    assert cfg.hmac_key.get_secret_value() == "k" * 32


def test_a_short_key_is_rejected_without_echoing_it(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    with pytest.raises(RedactionConfigError) as err:
        load_config({"default_policy": "hash", "hmac_key": "tiny-secret"})
    assert "tiny-secret" not in str(err.value)
    assert "at least 16" in str(err.value)
    assert "tiny-secret" not in repr(RedactionConfig(hmac_key="x" * 20))
