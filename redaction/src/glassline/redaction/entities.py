"""Names of the entity types Glassline detects (Presidio's names where Presidio has one)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALL_ENTITIES",
    "NER_ENTITIES",
    "PII_ENTITIES",
    "SECRET_ENTITIES",
]

# Found by Presidio's own pattern recognizers (with their checksum / validation logic).
PII_ENTITIES: Final = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
)

# Found by Glassline's PatternRecognizers for credentials that leak into LLM traces, by shape
# (no checksum or alphabet check can let a credential-shaped value through). SECRET: the value
# after a credential keyword ("password=", "api_key:", "Authorization: Basic").
SECRET_ENTITIES: Final = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "JWT",
    "BEARER_TOKEN",
    "PRIVATE_KEY",
    "SECRET",
)

# Found by a spaCy NER model, only when one is configured.
NER_ENTITIES: Final = ("PERSON", "LOCATION")

ALL_ENTITIES: Final = PII_ENTITIES + SECRET_ENTITIES + NER_ENTITIES
