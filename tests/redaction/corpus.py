"""A labelled, deterministic corpus of LLM telemetry text for measuring redaction.

``generate_corpus(n, seed)`` returns :class:`Sample` objects: prompts, completions, tool calls
and log lines in several locales, built with Faker, each with the exact character spans of the
PII and secrets it contains and of the hard negatives (order numbers, UUIDs, trace ids,
timestamps, versions, prices, model names) that must survive redaction untouched.

Reused by the collector's "no PII on disk" test and the log-scan test: ``Sample.pii_values``
lists every sensitive string the default (pattern-only) Redactor removes (``Sample.names``
holds the person and place names, removed only with NER), ``to_attributes(sample)`` places the text where an
instrumented app would put it.

Phone numbers are Faker's locale formats, kept only when they are valid in their country's
numbering plan (Faker also emits digit strings no carrier could assign, e.g. US area code
0xx); :func:`raw_phone_numbers` returns the unfiltered ones for an informational figure.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

# Fixed bounds: Faker's relative dates ("-2y") move with the clock, so two generations a
# second apart would differ and the corpus would not be reproducible.
_EPOCH = datetime.datetime(2026, 1, 1)
_TWO_YEARS = datetime.timedelta(days=730)

__all__ = [
    "LOCALES",
    "Label",
    "Sample",
    "generate_corpus",
    "raw_phone_numbers",
    "to_attributes",
]

# (Faker locale, phone region)
LOCALES: tuple[tuple[str, str], ...] = (
    ("en_US", "US"),
    ("en_GB", "GB"),
    ("de_DE", "DE"),
    ("fr_FR", "FR"),
    ("es_ES", "ES"),
    ("it_IT", "IT"),
    ("nl_NL", "NL"),
    ("pt_BR", "BR"),
    ("en_IN", "IN"),
    ("ja_JP", "JP"),
)
_IBAN_LOCALES = ("de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "pt_BR")
MODEL_NAMES = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "claude-3-5-sonnet-20241022",
    "claude-3-haiku-20240307",
    "o1-preview-2024-09-12",
    "gemini-1.5-pro-002",
    "text-embedding-3-small",
)
_ALNUM = string.ascii_letters + string.digits
_NOT_PATTERN = frozenset({"NEGATIVE", "PERSON", "LOCATION"})


@dataclass(frozen=True, slots=True)
class Label:
    entity: str  # Presidio / Glassline entity name, or "NEGATIVE"
    start: int
    end: int
    value: str


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    kind: str  # "prompt" | "completion" | "tool_call" | "log"
    locale: str
    labels: tuple[Label, ...] = field(default=())

    @property
    def pii(self) -> tuple[Label, ...]:
        """PII and secrets the default (pattern-only) Redactor must remove."""
        return tuple(lb for lb in self.labels if lb.entity not in _NOT_PATTERN)

    @property
    def names(self) -> tuple[Label, ...]:
        """Person and place names: only removed when NER is enabled."""
        return tuple(lb for lb in self.labels if lb.entity in ("PERSON", "LOCATION"))

    @property
    def negatives(self) -> tuple[Label, ...]:
        return tuple(lb for lb in self.labels if lb.entity == "NEGATIVE")

    @property
    def pii_values(self) -> tuple[str, ...]:
        return tuple(lb.value for lb in self.pii)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[Label] = []
        self.pos = 0

    def add(self, text: str, entity: str | None = None) -> _Builder:
        if entity is not None:
            self.labels.append(Label(entity, self.pos, self.pos + len(text), text))
        self.parts.append(text)
        self.pos += len(text)
        return self

    def sample(self, kind: str, locale: str) -> Sample:
        return Sample("".join(self.parts), kind, locale, tuple(self.labels))


class _Gen:
    """Value generators over one seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, (loc, _) in enumerate(LOCALES):
            fk = Faker(loc)
            fk.seed_instance(seed * 1000 + i)
            self.fakers[loc] = fk
        self.regions = dict(LOCALES)

    def token(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def phone(self, loc: str) -> str:
        fk, region = self.fakers[loc], self.regions[loc]
        for _ in range(200):
            number = fk.phone_number()
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                    return number
            except phonenumbers.NumberParseException:
                continue
        raise RuntimeError(f"no valid phone number for {loc}")

    def card(self, loc: str) -> str:
        digits = self.fakers[loc].credit_card_number()
        style = self.rng.choice(("plain", "space", "dash"))
        if style == "plain" or len(digits) not in (16,):
            return digits
        if self.rng.random() < 0.25:  # a typo: Luhn fails, but it is written as a card
            digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)
        sep = " " if style == "space" else "-"
        return sep.join(digits[i : i + 4] for i in range(0, 16, 4))

    def iban(self) -> str:
        value = self.fakers[self.rng.choice(_IBAN_LOCALES)].iban()
        if self.rng.random() < 0.25:  # a wrong check digit: still an account number
            value = value[:2] + f"{(int(value[2:4]) + 1) % 100:02d}" + value[4:]
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip(self, loc: str) -> str:
        fk = self.fakers[loc]
        return self.rng.choice((fk.ipv4_public, fk.ipv4_private, fk.ipv6))()

    def secret(self) -> tuple[str, str, str]:
        """(entity, text before the secret, secret)."""
        r, t = self.rng, self.token
        slack = lambda: f"xoxb-{t(12, string.digits)}-{t(13, string.digits)}-{t(24)}"  # noqa: E731
        makers: tuple[tuple[str, str, Callable[[], str]], ...] = (
            (
                "OPENAI_API_KEY",
                "OPENAI_API_KEY=",
                lambda: "sk-proj-" + t(r.randint(60, 150), _ALNUM + "_-"),
            ),
            ("OPENAI_API_KEY", "api_key: ", lambda: "sk-" + t(48)),
            (
                "ANTHROPIC_API_KEY",
                "x-api-key: ",
                lambda: "sk-ant-api03-" + t(93, _ALNUM + "_-") + "AA",
            ),
            (
                "AWS_ACCESS_KEY",
                "aws_access_key_id = ",
                lambda: "AKIA" + t(16, string.ascii_uppercase + "234567"),
            ),
            # Outside base32 (0, 1, 8, 9): not a key AWS issues, still shaped like one.
            ("AWS_ACCESS_KEY", "key id ", lambda: "AKIA" + t(15, string.ascii_uppercase) + "0"),
            ("JWT", "id_token=", self.jwt_not_json),
            ("SECRET", "DB_PASSWORD=", lambda: t(6, string.ascii_letters) + t(6, string.digits)),
            ("SECRET", '"client_secret": "', lambda: t(30, _ALNUM)),
            (
                "SECRET",
                "Authorization: Basic ",
                lambda: base64.b64encode(
                    f"{t(6, string.ascii_lowercase)}:{t(10)}".encode()
                ).decode(),
            ),
            ("AWS_SECRET_KEY", "aws_secret_access_key = ", lambda: t(40, _ALNUM + "/+")),
            ("GITHUB_TOKEN", "GITHUB_TOKEN=", lambda: "ghp_" + t(36)),
            ("GITHUB_TOKEN", "token ", lambda: "github_pat_" + t(22) + "_" + t(59)),
            ("SLACK_TOKEN", "SLACK_BOT_TOKEN=", slack),
            ("STRIPE_KEY", "stripe.api_key = '", lambda: r.choice(("sk", "rk")) + "_live_" + t(24)),
            ("JWT", "session cookie ", self.jwt),
            ("BEARER_TOKEN", "Authorization: Bearer ", lambda: t(40, _ALNUM + "-._~")),
            ("PRIVATE_KEY", "key:\n", self.private_key),
        )
        entity, lead, make = makers[r.randrange(len(makers))]
        return entity, lead, make()

    def private_key(self) -> str:
        body = "\n".join(self.token(64, _ALNUM + "+/") for _ in range(self.rng.randint(3, 8)))
        return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"

    def jwt(self) -> str:
        def part(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = part({"alg": self.rng.choice(("HS256", "RS256")), "typ": "JWT"})
        payload = part(
            {"sub": self.token(12), "iat": self.rng.randint(1_600_000_000, 1_800_000_000)}
        )
        return f"{header}.{payload}.{self.token(43, _ALNUM + '-_')}"

    def jwt_not_json(self) -> str:
        """Shaped like a JWT (a JSON header), with a middle part that is not JSON."""
        header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
        return f"{header}.{self.token(30, _ALNUM + '-_')}.{self.token(43, _ALNUM + '-_')}"

    def negative(self, loc: str) -> str:
        fk, r = self.fakers[loc], self.rng
        kind = r.randrange(20)
        if kind >= 14:
            return self.more_negative(loc, kind)
        if kind == 0:
            return r.choice(("ORD-", "INV-", "PO-", "#A-")) + str(r.randint(10_000, 99_999_999))
        if kind == 1:
            return fk.uuid4()
        if kind == 2:
            return self.token(32, "0123456789abcdef")  # trace id
        if kind == 3:
            return self.token(16, "0123456789abcdef")  # span id
        if kind == 4:
            return (
                fk.date_time_between(_EPOCH - _TWO_YEARS, _EPOCH).isoformat(timespec="milliseconds")
                + "Z"
            )
        if kind == 5:
            return f"{r.randint(0, 4)}.{r.randint(0, 40)}.{r.randint(0, 400)}"
        if kind == 6:
            return r.choice(("$", "€", "£")) + f"{r.randint(0, 2500)}.{r.randint(0, 99):02d}"
        if kind == 7:
            return r.choice(MODEL_NAMES)
        if kind == 8:
            return f"{r.randint(1, 99999)} tokens"
        if kind == 9:
            return str(
                r.randint(1_600_000_000, 1_800_000_000) * r.choice((1, 1000))
            )  # epoch s / ms
        if kind == 10:
            return r.choice(("chatcmpl-", "msg_01", "req_", "run_")) + self.token(
                24
            )  # provider ids
        if kind == 11:
            return self.token(40, "0123456789abcdef")  # git sha
        if kind == 12:
            return f"python:3.{r.randint(8, 13)}.{r.randint(0, 20)}-slim"
        return f"{r.randint(1, 60000)} ms"

    def more_negative(self, loc: str, kind: int) -> str:
        """Timestamps in every common format, SKUs, provider URLs, semantic versions, hashes."""
        fk, r = self.fakers[loc], self.rng
        moment = fk.date_time_between(_EPOCH - _TWO_YEARS, _EPOCH).replace(
            microsecond=r.randint(0, 999_999)
        )
        if kind == 14:
            return moment.isoformat()  # microseconds: "2025-03-01T11:34:05.578856"
        if kind == 15:
            formats = (
                "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f+02:00", "%d/%m/%Y %H:%M:%S",
                "%m/%d/%Y %I:%M:%S %p", "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%Y%m%dT%H%M%S",
                "%a, %d %b %Y %H:%M:%S +0000", "%H:%M:%S.%f", "%d-%b-%Y %H:%M:%S",
            )  # fmt: skip
            return moment.strftime(r.choice(formats))
        if kind == 16:
            return f"SKU-{self.token(4, string.ascii_uppercase)}-{r.randint(1000, 999999)}"
        if kind == 17:
            host = r.choice(
                ("api.openai.com/v1/chat/completions", "api.anthropic.com/v1/messages",
                 "generativelanguage.googleapis.com/v1beta/models/gemini-1.5-pro:generateContent",
                 "bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2:0/invoke")
            )  # fmt: skip
            return "https://" + host
        if kind == 18:
            return f"v{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 200)}-rc.{r.randint(1, 9)}"
        return "sha256:" + self.token(64, "0123456789abcdef")


def generate_corpus(n: int = 2400, seed: int = 20241022) -> list[Sample]:
    """``n`` labelled samples, the same for the same ``(n, seed)``."""
    gen = _Gen(seed)
    kinds = (_prompt, _completion, _tool_call, _log_line, _chat, _stack_trace)
    out = []
    for i in range(n):
        loc = LOCALES[i % len(LOCALES)][0]
        out.append(kinds[i % len(kinds)](gen, loc))
    return out


def _pii(gen: _Gen, loc: str, b: _Builder) -> None:
    """Append one PII or secret value, with a lead-in phrase."""
    fk, r = gen.fakers[loc], gen.rng
    choice = r.randrange(8 if loc == "en_US" else 7)
    if choice == 0:
        b.add(r.choice(("email me at ", "my address is ", "contact: "))).add(
            fk.email(), "EMAIL_ADDRESS"
        )
    elif choice == 1:
        b.add(r.choice(("call me on ", "my number is ", "tel. "))).add(
            gen.phone(loc), "PHONE_NUMBER"
        )
    elif choice == 2:
        b.add("card ").add(gen.card(loc), "CREDIT_CARD")
    elif choice == 3:
        b.add("IBAN ").add(gen.iban(), "IBAN_CODE")
    elif choice == 4:
        b.add("from ").add(gen.ip(loc), "IP_ADDRESS")
    elif choice in (5, 6):
        entity, lead, secret = gen.secret()
        b.add(lead).add(secret, entity)
    else:
        b.add("SSN ").add(fk.ssn(), "US_SSN")


def _filler(gen: _Gen, loc: str, b: _Builder) -> None:
    fk = gen.fakers[loc]
    b.add(" " + fk.sentence(nb_words=gen.rng.randint(6, 14)) + " ")
    if gen.rng.random() < 0.5:
        b.add(fk.name(), "PERSON").add(" in ").add(fk.city(), "LOCATION").add(". ")


def _negatives(gen: _Gen, loc: str, b: _Builder, k: int) -> None:
    for _ in range(k):
        b.add(gen.rng.choice((" ref ", " at ", " using ", " (", " id "))).add(
            gen.negative(loc), "NEGATIVE"
        )
        b.add(gen.rng.choice((" ", ") ", ", ", ". ")))


def _prompt(gen: _Gen, loc: str) -> Sample:
    b = _Builder()
    if gen.rng.random() < 0.5:
        _named(gen, loc, b)
        b.add(" ")
    b.add("I need help with my account.")
    for _ in range(gen.rng.randint(1, 3)):
        _filler(gen, loc, b)
        _pii(gen, loc, b)
        b.add(".")
    _negatives(gen, loc, b, gen.rng.randint(1, 3))
    return b.sample("prompt", loc)


def _completion(gen: _Gen, loc: str) -> Sample:
    b = _Builder().add("Sure! I have updated the record.")
    _filler(gen, loc, b)
    b.add(" Confirmation sent to the details you gave: ")
    _pii(gen, loc, b)
    b.add(". Model")
    _negatives(gen, loc, b, gen.rng.randint(2, 4))
    return b.sample("completion", loc)


def _tool_call(gen: _Gen, loc: str) -> Sample:
    fk, r = gen.fakers[loc], gen.rng
    b = _Builder().add('{"name": "update_customer", "arguments": {"customer": "')
    b.add(fk.name(), "PERSON").add('", "note": "')
    _pii(gen, loc, b)
    b.add('", "order": "').add(gen.negative(loc), "NEGATIVE").add('", "email": "')
    b.add(fk.email(), "EMAIL_ADDRESS").add(
        f'", "amount": {r.randint(1, 900)}.{r.randint(0, 99)}}}}}'
    )
    return b.sample("tool_call", loc)


def _log_line(gen: _Gen, loc: str) -> Sample:
    fk = gen.fakers[loc]
    b = _Builder()
    b.add(
        fk.date_time_between(_EPOCH - _TWO_YEARS / 2, _EPOCH).isoformat(timespec="milliseconds")
        + "Z",
        "NEGATIVE",
    )
    b.add(" ERROR trace_id=").add(gen.token(32, "0123456789abcdef"), "NEGATIVE")
    b.add(" model=").add(gen.rng.choice(MODEL_NAMES), "NEGATIVE").add(" client=")
    b.add(gen.ip(loc), "IP_ADDRESS").add(' msg="request failed for ')
    _pii(gen, loc, b)
    b.add('" version=').add(
        f"{gen.rng.randint(1, 3)}.{gen.rng.randint(0, 12)}.{gen.rng.randint(0, 30)}", "NEGATIVE"
    )
    return b.sample("log", loc)


# How people put a name into a chat (the name is added after the lead-in, then the tail).
_NAME_PHRASES = (
    ("Hi, I'm ", ", and I have a question."),
    ("Hello, my name is ", " and I'm writing about my last order."),
    ("Dear ", ",\nthank you for reaching out."),
    ("Please forward this to ", " in accounting."),
    ("Can you check why ", " was charged twice?"),
    ("Best regards,\n", ""),
    ("The ticket is assigned to ", " since Monday."),
    ("", " asked us to update the shipping address."),
    ("Thanks ", "!"),
    ("Customer: ", ""),
)


def _named(gen: _Gen, loc: str, b: _Builder) -> None:
    """A name in one of the ways people write names in chats and tickets."""
    fk = gen.fakers[loc]
    lead, tail = gen.rng.choice(_NAME_PHRASES)
    short = lead in ("Hi, I'm ", "Dear ", "Thanks ") and gen.rng.random() < 0.4
    b.add(lead).add(fk.first_name() if short else fk.name(), "PERSON").add(tail)


def _chat(gen: _Gen, loc: str) -> Sample:
    """A multi-turn conversation: turns separated by a blank line (one message each)."""
    fk, r = gen.fakers[loc], gen.rng
    b = _Builder()
    for turn in range(r.randint(2, 5)):
        if turn:
            b.add(_TURN_BREAK)
        if turn % 2 == 0:
            _named(gen, loc, b) if r.random() < 0.6 else b.add(fk.sentence(nb_words=8))
            if r.random() < 0.7:
                b.add(" ")
                _pii(gen, loc, b)
                b.add(".")
        else:
            b.add("I found the order placed on ")
            b.add(gen.negative(loc), "NEGATIVE").add(". ").add(fk.sentence(nb_words=10))
    return b.sample("chat", loc)


def _stack_trace(gen: _Gen, loc: str) -> Sample:
    fk, r = gen.fakers[loc], gen.rng
    b = _Builder().add("Traceback (most recent call last):\n")
    for _ in range(r.randint(1, 3)):
        b.add(f'  File "/srv/app/{fk.word()}/{fk.word()}.py", line {r.randint(1, 900)}, in ')
        b.add(f"{fk.word()}_{fk.word()}\n    result = client.chat.completions.create(**kwargs)\n")
    b.add(r.choice(("ValueError", "KeyError", "RuntimeError", "httpx.HTTPStatusError")) + ": ")
    b.add(r.choice(("lookup failed for ", "no customer record for ", "cannot bill ")))
    _pii(gen, loc, b)
    b.add(" (request ").add(gen.negative(loc), "NEGATIVE").add(")")
    if r.random() < 0.5:
        b.add("\nowner: ").add(gen.fakers[loc].name(), "PERSON")
    return b.sample("stack_trace", loc)


_TURN_BREAK = "\n\n"


def to_attributes(sample: Sample, *, ensure_ascii: bool = False) -> dict[str, str]:
    """The span attributes an instrumented app would record this sample in.

    ``ensure_ascii``: JSON as Python's ``json.dumps`` writes it by default, every non-ASCII
    character (accents, CJK, no-break spaces inside phone numbers) as a ``\\uXXXX`` escape.
    """
    if sample.kind == "prompt":
        msgs = [{"role": "user", "parts": [{"type": "text", "content": sample.text}]}]
        return {"gen_ai.input.messages": json.dumps(msgs, ensure_ascii=ensure_ascii)}
    if sample.kind == "completion":
        msgs = [{"role": "assistant", "parts": [{"type": "text", "content": sample.text}]}]
        return {"gen_ai.output.messages": json.dumps(msgs, ensure_ascii=ensure_ascii)}
    if sample.kind == "tool_call":
        return {"gen_ai.tool.call.arguments": sample.text}
    if sample.kind == "chat":
        roles = ("user", "assistant")
        msgs = [
            {"role": roles[i % 2], "parts": [{"type": "text", "content": turn}]}
            for i, turn in enumerate(sample.text.split(_TURN_BREAK))
        ]
        return {"gen_ai.input.messages": json.dumps(msgs, ensure_ascii=ensure_ascii)}
    return {"exception.message": sample.text}


def raw_phone_numbers(n: int = 500, seed: int = 7) -> list[tuple[str, str]]:
    """Unfiltered Faker phone numbers ``(locale, number)``, including unassignable ones."""
    out = []
    for i, (loc, _) in enumerate(LOCALES):
        fk = Faker(loc)
        fk.seed_instance(seed + i)
        out.extend((loc, fk.phone_number()) for _ in range(n // len(LOCALES)))
    return out
