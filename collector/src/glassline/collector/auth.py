"""API keys -> :class:`Principal`. The tenant always comes from the key, never from the payload.

A key arrives as ``Authorization: Bearer <key>``, ``x-glassline-api-key: <key>`` or, for
Langfuse's exporter, ``Authorization: Basic base64(<public key>:<secret key>)``: the pair
``<public key>:<secret key>`` is itself the key (``keygen --langfuse`` issues one), and a plain
Glassline key as the Basic password also works, whatever the user name.

Keys are held only as SHA-256 digests. A presented key is hashed and its digest looked up in a
dict of the known digests, so the time taken depends neither on how much of a key matched (a
near miss of the key is a digest as different as any other) nor on how many keys there are:
compared with every entry in turn, a key cost 0.29 ms with 5,000 tenants (0.7 ms a Langfuse
pair) on the front's event loop, for every export and every refusal. Keys are never logged;
errors name the header only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glassline.collector.errors import AuthError, ConfigError, ForbiddenError

if TYPE_CHECKING:  # keeps `testing` (which needs generate_key) free of the config's imports
    from glassline.collector.config import AuthConfig

__all__ = [
    "API_KEY_HEADER",
    "Keyring",
    "Principal",
    "generate_key",
    "generate_langfuse_pair",
    "hash_key",
    "key_from_headers",
    "key_id",
]

API_KEY_HEADER = "x-glassline-api-key"
_HASHED = re.compile(r"sha256:([0-9a-fA-F]{64})")
_KEY_PREFIX = "gl_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant, whether they may read every tenant's data, and the name
    of the key they used (``key_name``: the config's ``name``, else :func:`key_id`; never the
    key). Spend is attributed to that name: rollups, budgets per API key."""

    tenant: str
    is_admin: bool = False
    key_name: str | None = None

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


def key_id(digest: bytes) -> str:
    """The name of a key configured without one: ``sha256:`` and the first 8 hex digits of
    its digest, the start of its ``sha256:`` config form (a fingerprint, not the key)."""
    return "sha256:" + digest.hex()[:8]


def generate_key() -> str:
    """A new random API key (32 bytes of entropy, URL-safe)."""
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def generate_langfuse_pair() -> tuple[str, str]:
    """A new Langfuse-style key pair ``(pk-lf-..., sk-lf-...)``; the secret has 128 random bits.

    Its config form is ``hash_key(f"{public}:{secret}")``: the pair is the key.
    """
    public = "pk-lf-" + str(uuid.UUID(bytes=secrets.token_bytes(16)))
    secret = "sk-lf-" + str(uuid.UUID(bytes=secrets.token_bytes(16)))
    return public, secret


def key_from_headers(headers: Iterable[tuple[str, str]]) -> str | None:
    """The key from ``Authorization: Bearer <key>``, ``Authorization: Basic <base64 user:pass>``
    (the key is ``user:pass``) or ``x-glassline-api-key`` (header names in any case)."""
    for name, value in headers:
        lname = name.lower()
        if lname == API_KEY_HEADER and value.strip():
            return value.strip()
        if lname == "authorization":
            # Any whitespace after the scheme: "Bearer\t<key>" answered "missing API key".
            scheme, token = (*value.split(None, 1), "", "")[:2]
            token = token.strip()
            if scheme.lower() == "bearer" and token:
                return token
            if scheme.lower() == "basic" and token:
                return _basic_pair(token)
    return None


def _basic_pair(token: str) -> str | None:
    try:
        pair = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # not base64, or not UTF-8: no usable key
        return None
    return pair if ":" in pair else None


class Keyring:
    """Known key digests and what each grants."""

    def __init__(
        self,
        entries: Iterable[tuple[bytes, Principal]],
        anonymous_tenant: str | None = None,
    ) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for digest, principal in entries:
            self._by_digest.setdefault(digest, principal)  # the first entry of a digest wins
        self._anonymous = Principal(anonymous_tenant) if anonymous_tenant else None

    @classmethod
    def from_config(cls, config: AuthConfig, environ: Mapping[str, str] | None = None) -> Keyring:
        """Resolve every key spec; raises :class:`ConfigError` listing each bad one by path."""
        environ = os.environ if environ is None else environ
        problems: list[str] = []
        entries: list[tuple[bytes, Principal]] = []
        specs = [
            (f"auth.tenants.{tenant}[{i}]", spec, tenant, False)
            for tenant, keys in config.tenants.items()
            for i, spec in enumerate(keys)
        ]
        specs += [
            (f"auth.admin_keys[{i}]", spec, "*", True) for i, spec in enumerate(config.admin_keys)
        ]
        for path, spec, tenant, admin in specs:
            try:
                digest = _digest_of_spec(spec.key, environ)
            except ValueError as exc:
                problems.append(f"{path}: {exc}")
                continue
            entries.append((digest, Principal(tenant, admin, spec.name or key_id(digest))))
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
                f"missing API key: send 'Authorization: Bearer <key>', '{API_KEY_HEADER}' "
                "or 'Authorization: Basic <base64 of public key:secret key>'"
            )
        # A Basic pair is a key as a whole (a Langfuse pair) or carries one as its password.
        candidates = [key]
        if ":" in key:
            candidates.append(key.partition(":")[2])
        found: Principal | None = None
        for candidate in candidates:
            digest = hashlib.sha256(candidate.encode("utf-8", "surrogatepass")).digest()
            # Every candidate is hashed and looked up, so timing does not reveal which matched.
            principal = self._by_digest.get(digest)
            found = found or principal
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
