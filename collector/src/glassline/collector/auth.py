"""API keys -> :class:`Principal`. The tenant always comes from the key, never from the payload.

Keys are held only as SHA-256 digests. A presented key is hashed and compared against every
known digest with :func:`hmac.compare_digest`, so the time taken does not depend on how much of
a key matched, nor on which entry matched. Keys are never logged; errors name the header only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glassline.collector.errors import AuthError, ConfigError, ForbiddenError

if TYPE_CHECKING:  # keeps `testing` (which needs generate_key) free of the config's imports
    from glassline.collector.config import AuthConfig

__all__ = ["API_KEY_HEADER", "Keyring", "Principal", "generate_key", "hash_key", "key_from_headers"]

API_KEY_HEADER = "x-glassline-api-key"
_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")
_KEY_PREFIX = "gl_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant, and whether they may read every tenant's data."""

    tenant: str
    is_admin: bool = False

    def readable_tenant(self, asked: str | None) -> str | None:
        """The tenant a query may read: ``asked`` for an admin (None: every tenant), else
        the caller's own; raises ForbiddenError when a tenant asks for another's data."""
        if self.is_admin:
            return asked or None
        if asked and asked != self.tenant:
            raise ForbiddenError("only an admin key may read another tenant")
        return self.tenant


def hash_key(key: str) -> str:
    """The config form of a key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new random API key (32 bytes of entropy, URL-safe)."""
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def key_from_headers(headers: Iterable[tuple[str, str]]) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``x-glassline-api-key`` (any case)."""
    for name, value in headers:
        lname = name.lower()
        if lname == API_KEY_HEADER and value.strip():
            return value.strip()
        if lname == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class Keyring:
    """Known key digests and what each grants."""

    def __init__(
        self,
        entries: Iterable[tuple[bytes, Principal]],
        anonymous_tenant: str | None = None,
    ) -> None:
        self._entries = list(entries)
        self._anonymous = Principal(anonymous_tenant) if anonymous_tenant else None

    @classmethod
    def from_config(cls, config: AuthConfig, environ: Mapping[str, str] | None = None) -> Keyring:
        """Resolve every key spec; raises :class:`ConfigError` listing each bad one by path."""
        environ = os.environ if environ is None else environ
        problems: list[str] = []
        entries: list[tuple[bytes, Principal]] = []
        specs = [
            (f"auth.tenants.{tenant}[{i}]", spec, Principal(tenant))
            for tenant, keys in config.tenants.items()
            for i, spec in enumerate(keys)
        ]
        specs += [
            (f"auth.admin_keys[{i}]", spec, Principal("*", is_admin=True))
            for i, spec in enumerate(config.admin_keys)
        ]
        for path, spec, principal in specs:
            try:
                entries.append((_digest_of_spec(spec, environ), principal))
            except ValueError as exc:
                problems.append(f"{path}: {exc}")
        if not specs and not config.anonymous_tenant:
            problems.append(
                "auth: no API keys configured (add auth.tenants, GLASSLINE_API_KEYS, "
                "or set auth.anonymous_tenant for a local demo)"
            )
        if problems:
            raise ConfigError(problems)
        return cls(entries, config.anonymous_tenant)

    def authenticate(self, key: str | None) -> Principal:
        """The principal for ``key``; raises :class:`AuthError` if missing or unknown."""
        if key is None:
            if self._anonymous is not None:
                return self._anonymous
            raise AuthError(
                f"missing API key: send 'Authorization: Bearer <key>' or '{API_KEY_HEADER}'"
            )
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found: Principal | None = None
        for known, principal in self._entries:
            # No early exit: every entry is compared so timing does not reveal which matched.
            if hmac.compare_digest(digest, known) and found is None:
                found = principal
        if found is None:
            raise AuthError("unknown API key")
        return found


def _digest_of_spec(spec: str, environ: Mapping[str, str]) -> bytes:
    if spec.startswith("env:"):
        name = spec[4:]
        value = environ.get(name)
        if not value:
            raise ValueError(f"environment variable {name} is not set")
        spec = value
    if spec.startswith("sha256:"):
        match = _HASHED.fullmatch(spec)
        if match is None:
            raise ValueError("a hashed key must be 'sha256:' followed by 64 hex digits")
        return bytes.fromhex(match.group(1))
    if len(spec) < 8:
        raise ValueError("an API key must be at least 8 characters")
    return hashlib.sha256(spec.encode("utf-8")).digest()
