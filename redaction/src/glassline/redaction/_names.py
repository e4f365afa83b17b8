"""Person names without a model: capitalised word sequences, context cues and name-like keys.

The default names detector, built for the ingest path (megabytes per second, nothing
downloaded). It finds, in Latin-script text:

- two to four capitalised words in a row ("Maria García", "Jean-Luc van der Berg"), unless
  each is a common word (stop words of eight languages from spaCy, which Presidio already
  installs; greetings, months, weekdays, product and telemetry words);
- one or more capitalised words after a cue: a title ("Mr", "Frau", "Mme", "Sra"), a greeting
  or sign-off ("Dear", "Hi", "Regards,"), or a self-introduction ("my name is", "ich heiße",
  "je m'appelle", "me llamo", "mi chiamo", "mijn naam is", "meu nome é");
- the whole value of a name-like key (``"customer": "Ana Lima"``) when it is shaped like a name;

and in Japanese/Chinese text, a surname and given name separated by a space ("山田 太郎") or a
name before an honorific ("佐藤様"). It over-redacts capitalised phrases such as product or
place names written like a person's name; that is the side this detector errs on.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import regex

__all__ = [
    "MODE_CUES",
    "MODE_FULL",
    "MODE_ID",
    "MODE_NONE",
    "MODE_WHOLE",
    "NAME_KEYS",
    "NameDetector",
]

# How much of the detector a text gets (part of the result cache's key).
MODE_ID = -1  # an allow-listed structural value shaped like an id: no names (see _plan)
MODE_NONE = 0  # attribute and map keys, numbers: no names
MODE_CUES = 1  # span and event names: only names after a cue ("Mr Smith")
MODE_FULL = 2  # free text
MODE_WHOLE = 3  # the value of a name-like key: the whole value, if shaped like a name

# Keys whose value is a person's name (compared lowercased, with "-" and " " as "_").
NAME_KEYS = frozenset(
    {
        "name", "full_name", "fullname", "first_name", "firstname", "last_name", "lastname",
        "given_name", "family_name", "surname", "display_name", "displayname", "customer",
        "customer_name", "client_name", "contact", "contact_name", "author", "sender",
        "recipient", "patient", "patient_name", "owner", "assignee", "reporter", "user_name",
        "username", "person", "employee", "passenger", "holder", "cardholder", "beneficiary",
        "enduser.name", "user.name", "user.full_name",
    }
)  # fmt: skip

_STOP_LANGS = ("en", "de", "fr", "es", "it", "nl", "pt")
# Capitalised in prose but not names: greetings, sign-offs, calendar words, telemetry and
# product vocabulary. Lowercase.
_COMMON_WORDS = """
    hi hello hey dear thanks thank regards best cheers sincerely greetings welcome yes no ok
    okay sure sorry please note hallo guten tag grüße danke bitte liebe lieber sehr geehrte
    geehrter bonjour salut merci cordialement madame monsieur hola gracias saludos estimado
    estimada ciao grazie saluti gentile olá obrigado obrigada atenciosamente beste groeten
    dank goedemorgen monday tuesday wednesday thursday friday saturday sunday january february
    march april may june july august september october november december montag dienstag
    mittwoch donnerstag freitag samstag sonntag januar februar märz mai juni juli oktober
    dezember lundi mardi mercredi jeudi vendredi samedi dimanche janvier février mars avril
    juin juillet août septembre octobre novembre décembre lunes martes miércoles jueves
    viernes sábado domingo enero febrero marzo abril mayo junio julio agosto septiembre
    octubre noviembre diciembre today tomorrow yesterday morning evening team support service
    customer customers client account order orders invoice payment refund ticket issue error
    errors exception traceback file line request response user assistant system model tool
    function message content chat completion prompt agent workflow stage step task job query
    answer question summary document documents context retrieval search result results status
    warning info debug trace span event update create delete read write get post put patch new
    old first last next previous final total price cost plan pro premium basic free enterprise
    business personal private public global internal external manager director engineer admin
    administrator developer owner lead head department office company inc ltd gmbh llc corp
    street road avenue city country state region north south east west central python java
    javascript typescript rust go golang docker kubernetes linux windows macos android ios
    google microsoft amazon apple azure aws openai anthropic claude gemini gpt llama mistral
    cohere slack stripe github gitlab jira confluence postgres postgresql sqlite redis kafka
    react node django flask fastapi streamlit glassline langchain langgraph llamaindex
    openinference opentelemetry otel http https json yaml xml sql html css api url id ids key
    keys token tokens cache hit miss route retry retries budget alert alerts dashboard
    production staging development test tests testing example sample demo mr mrs ms mx miss dr
    prof sir herr frau mme mlle sr sra srta sig dott dhr mevr don dona
"""
_PARTICLES = r"(?:van|von|der|den|de|del|della|da|di|du|dos|das|do|la|le|ten|ter|bin|al|el|zu|af|y)"
# A capitalised word: Anna, Jean-Luc, O'Brien, McDonald, Ngozi; not CamelCase identifiers.
_APOSTROPHES = "'\u2019"
_WORD = (
    rf"(?:(?:Mc|Mac|O[{_APOSTROPHES}]|D[{_APOSTROPHES}])?\p{{Lu}}\p{{Ll}}+"
    rf"(?:[-{_APOSTROPHES}]\p{{Lu}}\p{{Ll}}+)*)(?![\p{{L}}\p{{N}}_@.]\p{{L}})"
)
_SEQUENCE = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}_@./\\-]){_WORD}(?:[ \t]+(?:{_PARTICLES}[ \t]+){{0,2}}{_WORD}){{0,4}}"
)
_WORD_ONLY = regex.compile(_WORD)
# Cues right before a name (the text just before a sequence is matched against this).
_CUE = regex.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Herr|Frau|Fr|Hr|Mme|Mlle|M|Sr|Sra|Srta|Sig|Sig\.ra"
    r"|Dott|Dhr|Mevr|Dña|Don|Dona)\.?"
    r"|(?i:\b(?:dear|hi|hello|hey|hallo|liebe|lieber|bonjour|salut|hola|ciao|olá|oi|beste"
    r"|thanks|thank\s+you|regards|cheers|best|sincerely|grüße|cordialement|saludos|saluti"
    r"|groeten|atenciosamente|signed|attn|cc|ask|tell|call|contact|customer"
    r"|client|patient|user|assigned\s+to|name\s+is|named|called|i\s+am|i'm|this\s+is"
    r"|ich\s+heiße|ich\s+bin|mein\s+name\s+ist|je\s+m'appelle|je\s+suis|mon\s+nom\s+est"
    r"|me\s+llamo|soy|mi\s+nombre\s+es|mi\s+chiamo|sono|il\s+mio\s+nome\s+è|ik\s+ben"
    r"|mijn\s+naam\s+is|ik\s+heet|meu\s+nome\s+é|eu\s+sou|sou|me\s+chamo))"
    r")[ \t]*[,:]?[ \t]*\n?[ \t]*$"
)
_CUE_WINDOW = 24
# Japanese / Chinese: "山田 太郎" (a space inside CJK text separates surname and given name)
# and a name before an honorific.
_CJK = regex.compile(
    r"(?<![\p{Han}\p{Hiragana}\p{Katakana}])[\p{Han}]{1,3}[ \u3000][\p{Han}\p{Hiragana}\p{Katakana}]{1,3}"
    r"(?=様|さん|氏|くん|ちゃん|先生|[^\p{Han}\p{Hiragana}\p{Katakana}]|$)"
    r"|[\p{Han}\p{Katakana}]{2,5}(?=様|さん|氏|くん|ちゃん|先生)"
)
# The cheapest test that a text may hold a name: an uppercase letter before a lowercase one,
# or a Han character.
_GATE = regex.compile(r"\p{Lu}\p{Ll}|\p{Han}")


@functools.cache
def _stop_words() -> frozenset[str]:
    words = set(_COMMON_WORDS.split())
    spec = importlib.util.find_spec("spacy")
    if spec is None or spec.origin is None:
        raise ImportError("spaCy (a dependency of presidio-analyzer) is not installed")
    root = Path(spec.origin).parent / "lang"
    for lang in _STOP_LANGS:
        # The word lists only: importing spacy.lang.<lang> would load spaCy itself (seconds).
        path = root / lang / "stop_words.py"
        module_spec = importlib.util.spec_from_file_location(f"_glassline_stop_{lang}", path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"no stop word list at {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        words.update(w.lower() for w in module.STOP_WORDS)
    return frozenset(words)


class NameDetector:
    """Finds person names in text; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._stop = _stop_words()

    def may_find(self, text: str) -> bool:
        """False when :meth:`find` surely finds nothing (no capitalised word, no Han)."""
        return _GATE.search(text) is not None

    def find(self, text: str, mode: int) -> list[tuple[int, int]]:
        """Character spans of names in ``text`` (end exclusive) for a ``MODE_*``."""
        if mode <= MODE_NONE or not _GATE.search(text):
            return []
        if mode == MODE_WHOLE:
            whole = self._whole(text)
            if whole is not None:
                return [whole]
        out: list[tuple[int, int]] = []
        for match in _SEQUENCE.finditer(text):
            span = self._name_in(text, match.start(), match.group(), mode)
            if span is not None:
                out.append(span)
        if mode != MODE_CUES:
            out.extend(m.span() for m in _CJK.finditer(text))
        return out

    def _whole(self, text: str) -> tuple[int, int] | None:
        stripped = text.strip()
        if not stripped or len(stripped) > 80:
            return None
        start = text.index(stripped)
        if _CJK.fullmatch(stripped) or regex.fullmatch(r"[\p{Han}]{2,4}", stripped):
            return start, start + len(stripped)
        words = stripped.split()
        if 1 <= len(words) <= 4 and all(
            _WORD_ONLY.fullmatch(w.rstrip(",")) or regex.fullmatch(_PARTICLES, w) for w in words
        ):
            return start, start + len(stripped)
        return None

    def _name_in(self, text: str, start: int, sequence: str, mode: int) -> tuple[int, int] | None:
        """The name inside one capitalised sequence: common words trimmed off both ends."""
        words = [(m.start(), m.end()) for m in _WORD_ONLY.finditer(sequence)]
        lo, hi = 0, len(words)
        while lo < hi and self._common(sequence, words[lo]):
            lo += 1
        while hi > lo and self._common(sequence, words[hi - 1]):
            hi -= 1
        if lo == hi:
            return None
        begin, end = start + words[lo][0], start + words[hi - 1][1]
        cued = _CUE.search(text, max(0, begin - _CUE_WINDOW), begin) is not None
        if hi - lo == 1 or mode == MODE_CUES:
            # One word alone ("Maria") or a span/event name: only after a cue.
            if not cued:
                return None
        elif any(self._common(sequence, w) for w in words[lo:hi]):
            return None  # "Maria and the Team" style mixes: not a name
        return begin, end

    def _common(self, sequence: str, word: tuple[int, int]) -> bool:
        return sequence[word[0] : word[1]].lower() in self._stop
