"""auth.py: API keys -> tenant principals, hashed keys, env references, header parsing."""

from __future__ import annotations

import base64
import hmac

import pytest
import yaml

from glassline.collector.auth import (
    Keyring,
    Principal,
    generate_key,
    generate_langfuse_pair,
    hash_key,
    key_from_headers,
)
from glassline.collector.cli import main
from glassline.collector.config import AuthConfig, load_config
from glassline.collector.errors import AuthError, ConfigError


def keyring(**kwargs: object) -> Keyring:
    return Keyring.from_config(AuthConfig(**kwargs), environ={"GLOBEX_KEY": "globex-key-123"})


def test_plain_hashed_and_env_keys_map_to_their_tenant() -> None:
    ring = keyring(
        tenants={"acme": ["acme-key-123", hash_key("acme-key-456")], "globex": ["env:GLOBEX_KEY"]},
        admin_keys=["admin-key-123"],
    )
    assert ring.authenticate("acme-key-123").tenant == "acme"
    assert ring.authenticate("acme-key-456").tenant == "acme"
    assert ring.authenticate("globex-key-123").tenant == "globex"
    assert ring.authenticate("admin-key-123").is_admin


def test_a_key_is_known_by_its_name_or_a_fingerprint_of_its_hash_never_by_itself() -> None:
    ring = keyring(
        tenants={"acme": [{"name": "web", "key": "acme-key-123"}, hash_key("acme-key-456")]}
    )
    assert ring.authenticate("acme-key-123") == Principal("acme", key_name="web")
    unnamed = ring.authenticate("acme-key-456").key_name
    assert unnamed == hash_key("acme-key-456")[: len("sha256:") + 8]  # the config form's start
    assert "acme-key-456" not in str(unnamed)


@pytest.mark.parametrize("key", [None, "", "acme-key-12", "ACME-KEY-123", "acme-key-123 "])
def test_missing_or_unknown_keys_are_refused(key: str | None) -> None:
    ring = keyring(tenants={"acme": ["acme-key-123"]})
    with pytest.raises(AuthError):
        ring.authenticate(key or None if key != "" else None)


def test_anonymous_tenant_only_covers_requests_without_a_key() -> None:
    ring = keyring(anonymous_tenant="demo")
    assert ring.authenticate(None) == Principal("demo")  # no key, no key name
    with pytest.raises(AuthError, match="unknown API key"):
        ring.authenticate("some-wrong-key")


def test_bad_key_specs_are_config_errors_with_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        keyring(tenants={"acme": ["sha256:1234", "env:NOPE", "short"]})
    assert caught.value.problems == [
        "auth.tenants.acme[0]: a hashed key must be 'sha256:' followed by 64 hex digits",
        "auth.tenants.acme[1]: environment variable NOPE is not set",
        "auth.tenants.acme[2]: an API key must be at least 8 characters",
    ]


def test_no_keys_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        keyring()


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ([("Authorization", "Bearer abc")], "abc"),
        ([("authorization", "bearer  abc ")], "abc"),
        ([("authorization", "Bearer\tabc")], "abc"),  # was None: "missing API key"
        ([("authorization", "\tBearer \t abc\t")], "abc"),
        ([("authorization", "Bearer")], None),
        ([("authorization", "")], None),
        ([("X-Glassline-Api-Key", "xyz")], "xyz"),
        ([("authorization", "Basic Zm9v")], None),  # "foo": no user:password pair
        ([("Authorization", "Basic cGstbGYtMTpzay1sZi0y")], "pk-lf-1:sk-lf-2"),
        ([("authorization", "basic bm90IGJhc2U2NA==!")], None),  # not base64
        ([], None),
    ],
)
def test_key_is_read_from_bearer_basic_or_api_key_header(headers: list, key: str | None) -> None:
    assert key_from_headers(headers) == key


def test_generated_keys_are_unique_and_long() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(k) >= 40 for k in keys)


def test_keygen_prints_a_key_whose_hash_authenticates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    key = out.split("\n")[1].strip()
    hashed = next(line.split("- ")[1] for line in out.splitlines() if "sha256:" in line)
    assert hashed == hash_key(key)
    assert keyring(tenants={"acme": [hashed]}).authenticate(key).tenant == "acme"


@pytest.mark.parametrize("tenant", ["on", "#team: a", "- x", "t" * 128, "café"])
def test_keygen_prints_config_lines_that_read_back_as_that_tenant(
    tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Printed as written, "on" read back as True and "#team: a" as a comment.
    assert main(["keygen", "--tenant", tenant]) == 0
    out = capsys.readouterr().out
    key = out.split("\n")[1].strip()
    snippet = out.split("Add its hash to the collector config:\n")[1]
    config = load_config(yaml.safe_load(snippet), environ={})
    assert Keyring.from_config(config.auth, environ={}).authenticate(key).tenant == tenant


@pytest.mark.parametrize("tenant", ["", "t" * 129, "a\x01b", "tab\there"])
def test_keygen_refuses_a_tenant_name_the_config_would_refuse(
    tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for langfuse in ([], ["--langfuse"]):
        assert main(["keygen", "--tenant", tenant, *langfuse]) == 2
        assert "tenant name must be 1-128 printable characters" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="tenant name must be 1-128 printable characters"):
        load_config({"auth": {"tenants": {tenant: ["k" * 40]}}}, environ={})
    with pytest.raises(ConfigError, match=r"auth\.anonymous_tenant: tenant name must be"):
        load_config({"auth": {"anonymous_tenant": tenant}}, environ={})


def basic(user: str, password: str) -> list[tuple[str, str]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("Authorization", f"Basic {token}")]


def test_a_langfuse_pair_in_basic_credentials_maps_to_its_tenant() -> None:
    public, secret = generate_langfuse_pair()
    ring = keyring(tenants={"acme": [hash_key(f"{public}:{secret}")], "globex": ["env:GLOBEX_KEY"]})
    assert ring.authenticate(key_from_headers(basic(public, secret))).tenant == "acme"
    for wrong in (basic(public, secret + "x"), basic(public + "x", secret), basic(secret, public)):
        with pytest.raises(AuthError, match="unknown API key"):
            ring.authenticate(key_from_headers(wrong))


def test_a_plain_key_as_the_basic_password_authenticates_whatever_the_user() -> None:
    ring = keyring(tenants={"acme": ["acme-key-123"]}, admin_keys=["admin-key-123"])
    found = ring.authenticate(key_from_headers(basic("pk-lf-anything", "acme-key-123")))
    assert found.tenant == "acme"
    assert ring.authenticate(key_from_headers(basic("", "admin-key-123"))).is_admin
    with pytest.raises(AuthError):  # the user name alone is no key
        ring.authenticate(key_from_headers(basic("acme-key-123", "nope")))


def test_langfuse_pairs_look_like_langfuse_keys_and_are_unique() -> None:
    pairs = {generate_langfuse_pair() for _ in range(50)}
    assert len(pairs) == 50
    for public, secret in pairs:
        assert public.startswith("pk-lf-") and secret.startswith("sk-lf-")
        assert len(secret) == len("sk-lf-") + 36 and ":" not in public + secret


def test_keygen_langfuse_prints_a_pair_whose_hash_authenticates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keygen", "--tenant", "acme", "--langfuse"]) == 0
    out = capsys.readouterr().out
    env = dict(line.strip().split("=", 1) for line in out.splitlines() if "LANGFUSE_" in line)
    hashed = next(line.split("- ")[1] for line in out.splitlines() if "sha256:" in line)
    ring = keyring(tenants={"acme": [hashed]})
    headers = basic(env["LANGFUSE_PUBLIC_KEY"], env["LANGFUSE_SECRET_KEY"])
    assert ring.authenticate(key_from_headers(headers)).tenant == "acme"


def test_a_key_is_found_without_being_compared_with_every_configured_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Compared with every entry, a key cost 0.29 ms with 5,000 tenants configured (0.7 ms for a
    # Langfuse pair), on the front's event loop, for every export and every refusal.
    keys = {f"tenant-{n:04d}": f"key-of-tenant-{n:04d}" for n in range(5000)}
    ring = keyring(tenants={tenant: [hash_key(key)] for tenant, key in keys.items()})
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    assert ring.authenticate(keys["tenant-4999"]).tenant == "tenant-4999"
    assert ring.authenticate("pk-lf-x:" + keys["tenant-0007"]).tenant == "tenant-0007"
    with pytest.raises(AuthError):
        ring.authenticate("not-a-configured-key")
    assert len(compared) <= 4  # a digest per candidate at most, never one per entry
