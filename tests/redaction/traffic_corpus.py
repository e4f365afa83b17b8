"""A second labelled corpus, shaped like production LLM traffic and built apart from the detector.

``tests/redaction/corpus.py`` was written beside the detector. This one was written before
reading the detector's code, from what production prompts carry: support chats and email
threads quoted into prompts, agent tool calls with customer records as JSON, RAG chunks
(tickets, invoices, HR notes), code and config with pasted secrets, log lines and stack
traces, and text in ten languages with names of many cultures (hand-made lists next to
Faker's), in lowercase chat too. Every value is labelled with its entity and the form it
takes (``Label.form``), and ``Label.promised`` says whether docs/redaction.md promises to
find it: the kinds it declares not detected (places, postal addresses, dates of birth,
passport numbers, lone first names without a cue) are labelled and counted apart.

``clean_corpus`` is the other side: text with no PII (model and product names, code
identifiers, capitalised headings), every term labelled ``NEGATIVE``, to count
over-redaction.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

__all__ = ["Label", "Sample", "clean_corpus", "forms", "traffic_corpus"]

LOCALES = (
    "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_PT", "pt_BR", "nl_NL", "pl_PL", "ja_JP",
    "en_IN",
)  # fmt: skip

# Names Faker's locales do not give, as people write them (given, family).
NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "indian": (
        ("Priya", "Raghunathan"),
        ("Venkatesh", "Subramanian"),
        ("Ananya", "Iyer"),
        ("Rohit", "Chaturvedi"),
        ("Lakshmi", "Narayanan"),
        ("Arjun", "Mehta"),
        ("Sneha", "Kulkarni"),
        ("Harpreet", "Singh Gill"),
        ("Deepika", "Banerjee"),
    ),
    "nigerian": (
        ("Chukwuemeka", "Okonkwo"),
        ("Oluwaseun", "Adebayo"),
        ("Ngozi", "Eze"),
        ("Babajide", "Ogunleye"),
        ("Chiamaka", "Nwosu"),
        ("Tunde", "Bakare"),
        ("Adaeze", "Okafor"),
        ("Ifeanyi", "Obi"),
        ("Funmilayo", "Adeyemi"),
    ),
    "vietnamese": (
        ("Nguyễn Văn", "An"),
        ("Trần Thị", "Mai"),
        ("Phạm Minh", "Tuấn"),
        ("Lê Hoàng", "Nam"),
        ("Võ Thị", "Hồng"),
        ("Đặng Quốc", "Bảo"),
    ),
    "arabic": (
        ("Mohammed", "Al-Rashid"),
        ("Fatima", "Al-Zahra"),
        ("Omar", "El-Sayed"),
        ("Abdullah", "bin Salman"),
        ("Layla", "Haddad"),
        ("Youssef", "Benali"),
        ("Khalid", "Al Mansouri"),
        ("Nour", "Abdel-Malek"),
    ),
    "chinese": (
        ("Wang", "Xiuying"),
        ("Zhang", "Wei"),
        ("Liu", "Yang"),
        ("Chen", "Jie"),
        ("Huang", "Mingzhu"),
        ("Zhou", "Xinyi"),
        ("Xu", "Haoran"),
        ("Li", "Qiang"),
    ),
    "particle": (
        ("Anouk", "van der Berg"),
        ("Siobhan", "O'Brien"),
        ("María José", "García-López"),
        ("Jean-Luc", "de la Fontaine"),
        ("Ludwig", "von Hohenberg"),
        ("Pieter", "de Vries"),
        ("Connor", "McAllister"),
        ("Giulia", "D'Angelo"),
        ("Ana Luísa", "dos Santos"),
        ("Mary-Kate", "O'Sullivan"),
        ("Jan", "van den Heuvel"),
        ("Lucía", "de la Cruz"),
    ),
    "polish": (
        ("Łukasz", "Wiśniewski"),
        ("Małgorzata", "Kowalczyk"),
        ("Grzegorz", "Zieliński"),
        ("Agnieszka", "Wójcik"),
        ("Paweł", "Dąbrowski"),
    ),
    "japanese_romaji": (("Haruki", "Sato"), ("Yuki", "Tanaka"), ("Kenji", "Watanabe")),
}
# Lowercase first names for "hey this is priya" (the docs declare lone first names undetected).
_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.co.in", "web.de", "orange.fr",
                  "libero.it", "acme-corp.io", "hotmail.es", "wp.pl", "ziggo.nl",
                  "company.com.br", "example.co.uk")  # fmt: skip
_ALNUM = string.ascii_letters + string.digits
# Regions whose national formats the docs promise (config phone_regions).
_PHONE_REGION_LOCALES = frozenset({"en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL",
                                   "en_IN", "pt_BR", "ja_JP"})  # fmt: skip
# The kinds docs/redaction.md says are not detected.
DECLARED = frozenset({"LOCATION", "POSTAL_ADDRESS", "DATE_OF_BIRTH", "PASSPORT",
                      "DRIVER_LICENSE", "PERSON_LONE_FIRST", "PASSWORD_NO_DIGIT"})  # fmt: skip
# Kinds the docs neither promise nor declare.
UNMENTIONED = frozenset({"GOOGLE_API_KEY", "PHONE_NATIONAL_OTHER"})


@dataclass(frozen=True, slots=True)
class Label:
    entity: str
    value: str
    form: str = ""  # how it is written: "cultural", "lowercase", "json", "e164", ...

    @property
    def promised(self) -> bool:
        return self.entity not in DECLARED and self.entity not in UNMENTIONED


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    kind: str  # support_chat, email_thread, tool_call, rag_chunk, code, log, multilingual
    locale: str
    labels: tuple[Label, ...] = field(default=())


class _Gen:
    """Values, each returned with its label."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, fk in enumerate(self.fakers.values()):
            fk.seed_instance(seed * 31 + i)
        self.labels: list[Label] = []

    def lab(self, entity: str, value: str, form: str = "") -> str:
        self.labels.append(Label(entity, value, form))
        return value

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return seq[self.r.randrange(len(seq))]

    def tok(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    # --- people ------------------------------------------------------------------------
    def person(self, loc: str) -> tuple[str, str, str]:
        """(given, family, form): half from the culture lists, half from Faker."""
        if self.r.random() < 0.55:
            culture = self.pick(tuple(NAMES))
            given, family = self.pick(NAMES[culture])
            return given, family, culture
        fk = self.fakers[loc]
        return fk.first_name(), fk.last_name(), "faker_" + loc

    def full_name(self, loc: str, *, lower: bool = False) -> str:
        given, family, form = self.person(loc)
        name = f"{given} {family}"
        if lower:
            return self.lab("PERSON", name.lower(), "lowercase_full")
        return self.lab("PERSON", name, form)

    def given_only(self, loc: str, *, cue: bool) -> str:
        given = self.person(loc)[0]
        if cue:
            return self.lab("PERSON", given, "given_after_cue")
        return self.lab("PERSON_LONE_FIRST", given.lower(), "lowercase_given")

    def email(self, loc: str, given: str | None = None, family: str | None = None) -> str:
        fk = self.fakers[loc]
        style = self.r.randrange(6)
        if style == 0:
            value = fk.email()
        elif style == 1 and given and family:
            local = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
            value = f"{local}@{self.pick(_EMAIL_DOMAINS)}"
        elif style == 2:
            value = f"{fk.user_name()}+{self.pick(('billing', 'orders', 'test'))}@{fk.free_email_domain()}"
        elif style == 3:
            value = fk.email().upper()
        elif style == 4:
            value = f"{fk.user_name()}@mail.{fk.domain_name()}"
        else:
            value = f"{fk.user_name()}{self.r.randint(1, 99)}@{self.pick(_EMAIL_DOMAINS)}"
        # Non-ASCII local parts are rare in practice and many servers refuse them.
        local, _, domain = value.encode("ascii", "ignore").decode().rpartition("@")
        local = local.strip(".") or fk.user_name()
        value = f"{local}@{domain}"
        return self.lab("EMAIL_ADDRESS", value, f"style{style}")

    def phone(self, loc: str) -> str:
        """A number valid in its plan (python-phonenumbers), written one of six ways."""
        fk = self.fakers[loc]
        region = loc[-2:]
        for _ in range(50):
            raw = fk.phone_number()
            try:
                number = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                break
        else:
            raise AssertionError(f"no valid {region} number from Faker")
        fmt = phonenumbers.PhoneNumberFormat
        style = self.r.randrange(6)
        if style == 0:
            entity = "PHONE_NUMBER" if loc in _PHONE_REGION_LOCALES else "PHONE_NATIONAL_OTHER"
            return self.lab(entity, phonenumbers.format_number(number, fmt.NATIONAL), "national")
        if style == 1:
            return self.lab("PHONE_NUMBER", phonenumbers.format_number(number, fmt.E164), "e164")
        if style == 2:
            value = phonenumbers.format_number(number, fmt.INTERNATIONAL)
            return self.lab("PHONE_NUMBER", value, "international")
        if style == 3:
            value = phonenumbers.format_number(number, fmt.E164)
            self.lab("PHONE_NUMBER", value, "tel_uri")
            return "tel:" + value
        if style == 4:
            value = "00" + phonenumbers.format_number(number, fmt.INTERNATIONAL)[1:]
            return self.lab("PHONE_NUMBER", value, "00_prefix")
        national = not raw.startswith(("+", "00")) and loc not in _PHONE_REGION_LOCALES
        entity = "PHONE_NATIONAL_OTHER" if national else "PHONE_NUMBER"
        return self.lab(entity, raw, "faker_as_written")

    # --- money and ids -----------------------------------------------------------------
    def card(self) -> str:
        fk = self.fakers["en_US"]
        kind = self.pick(("visa16", "mastercard", "amex", "discover"))
        number = fk.credit_card_number(card_type=kind)
        style = self.r.randrange(3)
        if style == 1 and len(number) == 16:
            number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        elif style == 2 and len(number) == 16:
            number = "-".join(number[i : i + 4] for i in range(0, 16, 4))
        elif style == 1 and len(number) == 15:
            number = f"{number[:4]} {number[4:10]} {number[10:]}"
        return self.lab("CREDIT_CARD", number, f"{kind}_{style}")

    def iban(self, loc: str) -> str:
        fk = self.fakers[loc if loc not in ("ja_JP", "en_US", "en_IN", "pt_BR") else "de_DE"]
        value = fk.iban()
        if self.r.random() < 0.5:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
            return self.lab("IBAN_CODE", value, "grouped")
        return self.lab("IBAN_CODE", value, "compact")

    def ssn(self) -> str:
        value = self.fakers["en_US"].ssn()
        if self.r.random() < 0.3:
            value = value.replace("-", " ")
            return self.lab("US_SSN", value, "spaced")
        return self.lab("US_SSN", value, "dashed")

    def ip(self) -> str:
        fk = self.fakers["en_US"]
        if self.r.random() < 0.25:
            return self.lab("IP_ADDRESS", fk.ipv6(), "v6")
        return self.lab("IP_ADDRESS", fk.ipv4_public(), "v4")

    def dob(self, loc: str) -> str:
        d = self.fakers[loc].date_of_birth(minimum_age=18, maximum_age=80)
        fmt = self.pick(("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%B %d, %Y"))
        return self.lab("DATE_OF_BIRTH", d.strftime(fmt), fmt)

    def address(self, loc: str) -> str:
        value = self.fakers[loc].address().replace("\n", ", ")
        return self.lab("POSTAL_ADDRESS", value, loc)

    def city(self, loc: str) -> str:
        return self.lab("LOCATION", self.fakers[loc].city(), loc)

    def passport(self) -> str:
        return self.lab("PASSPORT", self.fakers["en_US"].passport_number(), "us")

    # --- secrets -----------------------------------------------------------------------
    def secret(self) -> tuple[str, str]:
        """(a config line holding a secret, the line's kind)."""
        t = self.tok
        kind = self.r.randrange(12)
        if kind == 0:
            v = self.lab("OPENAI_API_KEY", "sk-proj-" + t(100, _ALNUM + "_-"), "proj")
            return f'OPENAI_API_KEY="{v}"', "env"
        if kind == 1:
            v = self.lab("ANTHROPIC_API_KEY", "sk-ant-api03-" + t(93, _ALNUM + "_-") + "AA")
            return f"client = anthropic.Anthropic(api_key='{v}')", "python"
        if kind == 2:
            a = self.lab("AWS_ACCESS_KEY", "AKIA" + t(16, string.ascii_uppercase + "234567"))
            s = self.lab("AWS_SECRET_KEY", t(40, _ALNUM + "/+"))
            return f"[default]\naws_access_key_id = {a}\naws_secret_access_key = {s}", "ini"
        if kind == 3:
            v = self.lab("GITHUB_TOKEN", "ghp_" + t(36))
            return f"git clone https://{v}@github.com/acme/billing-service.git", "shell"
        if kind == 4:
            v = self.lab(
                "SLACK_TOKEN", f"xoxb-{t(12, string.digits)}-{t(13, string.digits)}-{t(24)}"
            )
            return f'SLACK_BOT_TOKEN: "{v}"', "yaml"
        if kind == 5:
            v = self.lab("STRIPE_KEY", "sk_live_" + t(99))
            return f'stripe.api_key = "{v}"', "python"
        if kind == 6:
            v = self.lab("JWT", _jwt(self))
            return f"curl -H 'Authorization: Bearer {v}' https://api.acme-corp.io/v2/me", "curl"
        if kind == 7:
            pw = t(self.r.randint(10, 20), _ALNUM + "!#%")
            digit = any(c.isdigit() for c in pw)
            v = self.lab("SECRET" if digit else "PASSWORD_NO_DIGIT", pw, "password_kw")
            return f"DB_PASSWORD={v}", "env"
        if kind == 8:
            pw = self.lab("SECRET", t(14, _ALNUM), "url_password")
            return f'DATABASE_URL="postgresql://app_user:{pw}@db.internal:5432/orders"', "env"
        if kind == 9:
            v = self.lab("GOOGLE_API_KEY", "AIza" + t(35, _ALNUM + "_-"))
            return f'const firebaseConfig = {{ apiKey: "{v}", projectId: "acme-prod" }};', "js"
        if kind == 10:
            body = "\n".join(t(64, _ALNUM + "+/") for _ in range(6))
            v = self.lab(
                "PRIVATE_KEY",
                f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----",
            )
            return v, "pem"
        v = self.lab("SECRET", t(32, "abcdef0123456789"), "client_secret")
        return f'"client_secret": "{v}"', "json"


def forms(value: str) -> set[str]:
    """``value`` as it may appear in text or stored bytes: as is and JSON-escaped."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _jwt(g: _Gen) -> str:
    def b64(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"sub": g.tok(12, string.digits), "iat": 1733600000, "scope": "read write"}
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.{g.tok(43, _ALNUM + '-_')}"


# --- the sample kinds ----------------------------------------------------------------------
_GREETING_CUES = ("Hi", "Hello", "Dear", "Thanks", "Thank you")


def _support_chat(g: _Gen, loc: str) -> str:
    given, family, form = g.person(loc)
    lower = g.r.random() < 0.4
    if lower:
        intro = f"hey this is {g.lab('PERSON_LONE_FIRST', given.lower(), 'lowercase_given')}"
    else:
        intro = f"Hi, I'm {g.lab('PERSON', f'{given} {family}', form)}"
    agent = g.given_only(loc, cue=True)
    lines = [
        "Summarize this support conversation for the ticket and suggest a next step.",
        "",
        f"[10:4{g.r.randint(0, 9)}] Customer: {intro}, my order never arrived",
        f"[10:4{g.r.randint(0, 9)}] Agent ({agent}): Sorry to hear that! Can you confirm the email on the account?",
        f"[10:5{g.r.randint(0, 9)}] Customer: sure its {g.email(loc, given, family)}",
        f"[10:5{g.r.randint(0, 9)}] Customer: you can also call me on {g.phone(loc)}",
    ]
    if g.r.random() < 0.5:
        lines.append(f"[10:5{g.r.randint(0, 9)}] Customer: the card was {g.card()} if that helps")
    if g.r.random() < 0.4:
        lines.append(f"[10:5{g.r.randint(0, 9)}] Customer: ship to {g.address(loc)} pls")
    if g.r.random() < 0.3:
        other = g.full_name(loc, lower=True)
        lines.append(f"[10:5{g.r.randint(0, 9)}] Customer: my husband {other} placed it actually")
    return "\n".join(lines)


def _email_thread(g: _Gen, loc: str) -> str:
    s_given, s_family, s_form = g.person(loc)
    sender = g.lab("PERSON", f"{s_given} {s_family}", s_form)
    r_given, r_family, r_form = g.person(loc)
    recipient = g.lab("PERSON", f"{r_given} {r_family}", r_form)
    s_mail = g.email(loc, s_given, s_family)
    r_mail = g.email(loc, r_given, r_family)
    greeting = g.pick(_GREETING_CUES)
    r_cue = g.lab("PERSON", r_given, "given_after_cue")
    s_sig = g.lab("PERSON", s_given, "signature_given")
    body = [
        "Draft a polite reply to the last message in this thread:",
        "",
        f"From: {sender} <{s_mail}>",
        f"To: {recipient} <{r_mail}>",
        f"Subject: Re: Invoice INV-{g.r.randint(10000, 99999)} overdue",
        "",
        f"{greeting} {r_cue},",
        "",
        f"please find the corrected bank details below. IBAN: {g.iban(loc)}",
        f"If anything is unclear, reach me at {g.phone(loc)}.",
        "",
        "Best regards,",
        s_sig,
        "",
        f"> On Mon, {recipient} <{r_mail}> wrote:",
        "> We still have not received the payment for last month.",
    ]
    return "\n".join(body)


def _tool_call(g: _Gen, loc: str) -> str:
    given, family, form = g.person(loc)
    record: dict[str, object] = {
        "customer_id": f"cus_{g.tok(14)}",
        "first_name": g.lab("PERSON", given, "json_first_name"),
        "last_name": g.lab("PERSON", family, "json_last_name"),
        "email": g.email(loc, given, family),
        "phone": g.phone(loc),
        "tier": g.pick(("gold", "silver", "free")),
    }
    if g.r.random() < 0.5:
        record["billing"] = {"iban": g.iban(loc), "address": g.address(loc)}
    if g.r.random() < 0.4:
        record["dob"] = g.dob(loc)
    if g.r.random() < 0.3:
        record["ssn"] = g.ssn()
    shape = g.r.randrange(3)
    if shape == 0:
        call = {"name": "crm_update_contact", "arguments": record}
    elif shape == 1:
        query = g.lab("PERSON", f"{given} {family}", form)
        call = {"name": "crm_search", "arguments": {"query": f"contacts named {query}", "limit": 5}}
        call["result"] = [record]
    else:
        call = {
            "name": "create_ticket",
            "arguments": {
                "title": "Refund request",
                "requester": record,
                "notes": f"assigned to {g.full_name(loc, lower=g.r.random() < 0.3)}",
            },
        }
    return json.dumps(call, ensure_ascii=g.r.random() < 0.5)


def _rag_chunk(g: _Gen, loc: str) -> str:
    kind = g.r.randrange(3)
    if kind == 0:
        return "\n".join(
            [
                f"[doc 3/5] ticket #{g.r.randint(40000, 49999)} (status: open)",
                f"Reported by: {g.full_name(loc)} ({g.email(loc)})",
                f"Description: customer at {g.ip()} sees a 502 on checkout since the deploy.",
                f"Assignee: {g.full_name(loc, lower=True)}",
            ]
        )
    if kind == 1:
        return "\n".join(
            [
                f"[doc 1/4] INVOICE No. {g.r.randint(2024000, 2024999)}",
                f"Bill to: {g.full_name(loc)}",
                g.address(loc),
                f"Payment: bank transfer to {g.iban(loc)} or card ending {g.r.randint(1000, 9999)}",
                f"Questions: {g.email(loc)} / {g.phone(loc)}",
            ]
        )
    return "\n".join(
        [
            "[doc 2/3] HR note (confidential)",
            f"Employee: {g.full_name(loc)}, born {g.dob(loc)}, SSN {g.ssn()}",
            f"Manager {g.full_name(loc)} flagged the relocation to {g.city(loc)}.",
            f"Passport {g.passport()} on file; emergency contact {g.phone(loc)}.",
        ]
    )


def _code(g: _Gen, loc: str) -> str:
    snippet, lang = g.secret()
    intro = g.pick(
        (
            "why does this fail with 401? here is my config:",
            "Can you refactor this? It works locally but not in CI.",
            "Getting a KeyError in prod, relevant bits:",
        )
    )
    author = f"# author: {g.full_name(loc)} <{g.email(loc)}>"
    return f"{intro}\n```{lang}\n{author}\n{snippet}\n```"


def _log(g: _Gen, loc: str) -> str:
    kind = g.r.randrange(3)
    ts = f"2026-12-0{g.r.randint(1, 7)}T0{g.r.randint(0, 9)}:1{g.r.randint(0, 9)}:0{g.r.randint(0, 9)}.{g.r.randint(100, 999)}Z"
    if kind == 0:
        return (
            f"{ts} ERROR billing.charge: card declined user={g.email(loc)} "
            f"card={g.card()} ip={g.ip()} request_id=req_{g.tok(20)}"
        )
    if kind == 1:
        return "\n".join(
            [
                "Traceback (most recent call last):",
                '  File "/srv/app/crm/sync.py", line 88, in push_contact',
                "    resp.raise_for_status()",
                f"requests.exceptions.HTTPError: 422 Client Error for contact "
                f"'{g.full_name(loc)}' <{g.email(loc)}> phone={g.phone(loc)}",
            ]
        )
    return "\n".join(
        [
            f"{ts} WARN  c.a.s.UserService - duplicate account for {g.full_name(loc)}",
            f"java.lang.IllegalStateException: SSN {g.ssn()} already registered",
            "\tat com.acme.signup.UserService.register(UserService.java:214)",
        ]
    )


_MULTI: dict[str, Callable[[_Gen, str], str]] = {
    "de_DE": lambda g, loc: (
        f"Sehr geehrte Frau {g.lab('PERSON', g.fakers[loc].last_name(), 'after_title')}, "
        f"bitte überweisen Sie den Betrag auf {g.iban(loc)}. Rückfragen gern an "
        f"{g.full_name(loc)} unter {g.phone(loc)}."
    ),
    "fr_FR": lambda g, loc: (
        f"Bonjour, je m'appelle {g.full_name(loc)} et mon numéro est le {g.phone(loc)}. "
        f"Mon adresse e-mail : {g.email(loc)}."
    ),
    "es_ES": lambda g, loc: (
        f"Hola, soy {g.full_name(loc)}. Mi DNI no lo tengo a mano pero el teléfono es "
        f"{g.phone(loc)} y el IBAN {g.iban(loc)}."
    ),
    "it_IT": lambda g, loc: (
        f"Buongiorno, sono {g.full_name(loc)}, il mio indirizzo è {g.address(loc)}. "
        f"Contattatemi a {g.email(loc)}."
    ),
    "pt_PT": lambda g, loc: (
        f"Olá, o meu nome é {g.full_name(loc)}. Telemóvel {g.phone(loc)}, NIB/IBAN {g.iban(loc)}."
    ),
    "pt_BR": lambda g, loc: (
        f"Oi, aqui é {g.full_name(loc)}, meu whatsapp é {g.phone(loc)}. "
        f"Pode mandar o boleto pro {g.email(loc)}?"
    ),
    "nl_NL": lambda g, loc: (
        f"Beste {g.given_only(loc, cue=True)}, de factuur staat op naam van {g.full_name(loc)}; "
        f"rekeningnummer {g.iban(loc)}, bel gerust {g.phone(loc)}."
    ),
    "pl_PL": lambda g, loc: (
        f"Dzień dobry, nazywam się {g.full_name(loc)}. Proszę o kontakt pod numerem "
        f"{g.phone(loc)} lub mailowo: {g.email(loc)}. Konto: {g.iban(loc)}."
    ),
    "ja_JP": lambda g, loc: (
        f"お世話になっております。{g.lab('PERSON', g.fakers[loc].name(), 'ja_kanji')}です。"
        f"電話番号は{g.phone(loc)}、メールは{g.email(loc)}です。"
    ),
    "en_IN": lambda g, loc: (
        f"hi team, {g.full_name(loc, lower=True)} here from the Pune office, "
        f"pls update my number to {g.phone(loc)} and mail {g.email(loc)}"
    ),
    "en_US": lambda g, loc: (
        f"Patient {g.full_name(loc)} (DOB {g.dob(loc)}, SSN {g.ssn()}) called from "
        f"{g.phone(loc)} about the claim."
    ),
}

KINDS: dict[str, Callable[[_Gen, str], str]] = {
    "support_chat": _support_chat,
    "email_thread": _email_thread,
    "tool_call": _tool_call,
    "rag_chunk": _rag_chunk,
    "code": _code,
    "log": _log,
    "multilingual": lambda g, loc: _MULTI[loc](g, loc),
}


def traffic_corpus(n: int = 700, seed: int = 20261208) -> list[Sample]:
    """``n`` labelled samples, the kinds in turn, locales drawn at random (seeded)."""
    g = _Gen(seed)
    kinds = tuple(KINDS)
    samples = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        loc = g.pick(LOCALES)
        g.labels = []
        text = KINDS[kind](g, loc)
        missing = [lb for lb in g.labels if not any(f in text for f in forms(lb.value))]
        if missing:  # a value must be findable as written
            raise AssertionError(f"{kind}: label not in text: {missing}")
        samples.append(Sample(text, kind, loc, tuple(g.labels)))
    return samples


# --- the clean side: nothing here is PII -------------------------------------------------
CLEAN_TERMS = (
    "GPT-4o",
    "gpt-4o-mini",
    "Claude 3.5 Sonnet",
    "Claude Haiku",
    "Llama 3.1 70B Instruct",
    "Mistral Large",
    "Gemini 1.5 Pro",
    "Command R Plus",
    "Azure OpenAI Service",
    "Amazon Bedrock",
    "Google Cloud Storage",
    "Visual Studio Code",
    "Apple Pay",
    "Stripe Checkout",
    "Microsoft Teams",
    "Salesforce Service Cloud",
    "Zendesk Support",
    "GitHub Actions",
    "Docker Compose",
    "Kubernetes Ingress",
    "PostgreSQL",
    "Redis Cluster",
    "UserProfileSerializer",
    "getCustomerById",
    "HttpClientFactory",
    "ValueError",
    "OrderService",
    "InvoiceLineItem",
    "RetryPolicy",
    "ConnectionResetError",
    "Quarterly Revenue Review",
    "Getting Started",
    "Release Notes",
    "Known Issues",
    "Customer Success Playbook",
    "Incident Postmortem",
    "Action Items",
    "Next Steps",
    "Executive Summary",
    "Root Cause Analysis",
    "Service Level Agreement",
    "Black Friday",
    "Monday Morning",
    "Data Protection Officer",
)
_CLEAN_TEMPLATES = (
    "## {a}\n\nWe moved the summarizer from {b} to {c}; see {d} for the rollout.",
    "Compare {a} and {b} for the {c} use case, then write the {d} section.",
    "{a} raised in {b} when calling {c} (see {d}).",
    "# {a}\n- {b}\n- {c}\n- {d}",
    "The {a} team asked whether {b} works with {c} behind {d}.",
)


def clean_corpus(n: int = 200, seed: int = 7) -> list[Sample]:
    """``n`` texts with no PII, each term labelled ``NEGATIVE`` (it must survive)."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        terms = r.sample(CLEAN_TERMS, 4)
        text = r.choice(_CLEAN_TEMPLATES).format(a=terms[0], b=terms[1], c=terms[2], d=terms[3])
        out.append(Sample(text, "clean", "en_US", tuple(Label("NEGATIVE", t) for t in terms)))
    return out
