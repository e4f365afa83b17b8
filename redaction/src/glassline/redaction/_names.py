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
import re
import string
from collections.abc import Iterator
from pathlib import Path

from glassline.redaction._literals import trie_pattern

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
# Stop words that are first of all surnames: Li is the commonest Chinese one ("Li Qiang" was
# trimmed to a lone "Qiang" and kept); Italian "li" (them) is seldom capitalised before a name.
_SURNAMES = frozenset({"li"})
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


def _letters(test: str) -> str:
    """A ``re`` character class body of every BMP character for which ``str.<test>()`` holds."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or not getattr(chr(code), test)():
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


# The stdlib ``re`` with explicit classes scans 2-3x faster than ``regex`` with \p{Lu}.
_UP = f"[{_letters('isupper')}]"
_LO = f"[{_letters('islower')}]"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_KANA = "\u3040-\u30ff"
_PARTICLES = r"(?:van|von|der|den|de|del|della|da|di|du|dos|das|do|la|le|ten|ter|bin|al|el|zu|af|y)"
_APOSTROPHES = "'\u2019"
# A particle written capitalised inside a name ("Khalid Al Mansouri", "Anouk Van Dijk").
_PARTICLE = re.compile(_PARTICLES, re.IGNORECASE)
# After a capitalised word's first letter (Anna, Jean-Luc, O'Brien, McDonald, Ngozi; not
# CamelCase identifiers). Patterns start with the uppercase class itself, so that ``re`` skips
# to the next uppercase letter at C speed (one opening with a group or an assertion is tried at
# every character): "Mc", "Mac", "O'" and "D'" are recognised after their first letter.
_REST = (
    rf"(?:(?<=M)a?c{_UP}|(?<=[OD])[{_APOSTROPHES}]{_UP})?{_LO}+"
    rf"(?:[-{_APOSTROPHES}]{_UP}{_LO}+)*(?![\w@.][^\W\d_])"
)
_WORD = f"{_UP}{_REST}"
# Not inside a word, a path or an address: the character before the first letter, looked at
# once that letter has matched.
_BEFORE = r"(?<![\w@./\\-].)"
_NEXT = rf"[ \t]+(?:{_PARTICLES}[ \t]+){{0,2}}{_WORD}"
# Two to five capitalised words in a row (single capitalised words are everywhere in prose:
# they are only looked at after a cue, below).
_SEQUENCE = re.compile(rf"{_UP}{_BEFORE}{_REST}(?:{_NEXT}){{1,4}}")
_WORD_ONLY = re.compile(_WORD)
# Cues right before a name: titles (case as written) and phrases (any case).
_TITLES = (
    "Mr",
    "Mrs",
    "Ms",
    "Mx",
    "Miss",
    "Dr",
    "Prof",
    "Sir",
    "Herr",
    "Frau",
    "Fr",
    "Hr",
    "Mme",
    "Mlle",
    "M",
    "Sr",
    "Sra",
    "Srta",
    "Sig",
    "Sig.ra",
    "Dott",
    "Dhr",
    "Mevr",
    "Dña",
    "Don",
    "Dona",
)
_PHRASES = (
    "dear", "hi", "hello", "hey", "hallo", "liebe", "lieber", "bonjour", "salut", "hola", "ciao",
    "olá", "oi", "beste", "thanks", "thank you", "regards", "cheers", "best", "sincerely",
    "grüße", "cordialement", "saludos", "saluti", "groeten", "atenciosamente", "signed", "attn",
    "cc", "ask", "tell", "call", "contact", "customer", "client", "patient", "user",
    "assigned to", "name is", "named", "called", "i am", "i'm", "this is", "ich heiße",
    "ich bin", "mein name ist", "je m'appelle", "je suis", "mon nom est", "me llamo", "soy",
    "mi nombre es", "mi chiamo", "sono", "il mio nome è", "ik ben", "mijn naam is", "ik heet",
    "meu nome é", "eu sou", "sou", "me chamo",
    # Name-like keys written into text (JSON in a stack trace, ``last_name=`` in a log line):
    # the parsed-JSON path gives their values MODE_WHOLE; text that is not parsed gets a cue.
    "first_name", "firstname", "last_name", "lastname", "full_name", "fullname", "given_name",
    "family_name", "surname", "display_name", "customer_name", "client_name", "contact_name",
    "patient_name", "employee_name", "holder_name", "cardholder_name",
    # A transcript's role label, only before "(": "Agent (Maria): ..." (see _PAREN_ONLY).
    "agent",
)  # fmt: skip
# Cues that count only right before "(": "agent" alone is everywhere in LLM telemetry.
_PAREN_ONLY = frozenset({"agent"})
# Between a cue and its name: "Dr. ", "Regards,\n", "first_name": "", first_name=, "Agent (".
_AFTER_CUE = re.compile(
    rf"\.?\\?[\"']?[ \t]*[,:=(]?[ \t]*\\?[\"']?[ \t]*\n?[ \t]*(?P<name>{_WORD}(?:{_NEXT}){{0,3}})"
)


def _alternation(words: tuple[str, ...]) -> str:
    return rf"(?<![^\W_])(?:{trie_pattern(words)})(?![^\W_])"


# One scan of the lowercased text for both ((?i) scans 3x slower); a title must then be
# written as a title ("Dr", not "dr"). The character before the cue is matched rather than
# looked behind at, so that ``re`` skips to the next non-letter at C speed (the text searched
# gets a leading space).
_CUE_AT = re.compile(
    rf"[\W_](?P<cue>{trie_pattern(_PHRASES + tuple(t.lower() for t in _TITLES))})(?![^\W_])"
)
_PHRASE_SET = frozenset(_PHRASES)
_TITLE_SET = frozenset(_TITLES)
_ANY_CASE_CUE_AT = re.compile(f"(?i:{_alternation(_PHRASES)})|{_alternation(_TITLES)}")
# Japanese / Chinese: "山田 太郎" (a space inside CJK text separates surname and given name)
# and a name before an honorific.
# A given name of Han characters alone ends where they do ("山田 太郎です"); one with kana
# needs an honorific or a non-Japanese character after it.
_CJK = re.compile(
    rf"(?<![{_HAN}{_KANA}])[{_HAN}]{{1,3}}[ \u3000]"
    rf"(?:[{_HAN}]{{1,3}}(?![{_HAN}])|[{_HAN}{_KANA}]{{1,3}}"
    rf"(?=様|さん|氏|くん|ちゃん|先生|[^{_HAN}{_KANA}]|$))"
    rf"|[{_HAN}\u30a0-\u30ff]{{2,5}}(?=様|さん|氏|くん|ちゃん|先生)"
)
_HAN_NAME = re.compile(f"[{_HAN}]{{2,4}}")
_CJK_GATE = re.compile(f"[{_HAN}\u30a0-\u30ff]")  # a character every match of _CJK holds
# The cheapest test that a text may hold a name: an uppercase letter before a lowercase one,
# or a Han character. One class first, so that ``re`` skips to its characters at C speed.
_GATE = re.compile(f"[{_UP[1:-1]}{_HAN}](?:(?<=[{_HAN}])|{_LO})")
# The gate for ASCII text, which holds no Han and no cased letters but A-Z and a-z: with each
# read as "U" or "l", the gate is ``b"Ul" in`` the bytes, at ~1 ns a character (``re`` with
# the gate's classes, or ``str.islower``, takes 6-8).
_ASCII_CASES = bytes.maketrans(
    (string.ascii_uppercase + string.ascii_lowercase).encode(), b"U" * 26 + b"l" * 26
)


def _after_cues(text: str) -> Iterator[re.Match[str]]:
    """Capitalised words right after a cue, as matches of :data:`_AFTER_CUE`."""
    low = " " + text.lower()  # offsets in ``low`` are one more than in ``text``
    if len(low) != len(text) + 1:
        # A character lowered to two ("İ"): offsets moved, so search the text as it is.
        for cue in _ANY_CASE_CUE_AT.finditer(text):
            if cue.group().lower() in _PAREN_ONLY and not text.startswith(("(", " ("), cue.end()):
                continue
            match = _AFTER_CUE.match(text, cue.end())
            if match is not None:
                yield match
        return
    for cue in _CUE_AT.finditer(low):
        end = cue.end() - 1
        word = cue.group("cue")
        if word not in _PHRASE_SET and text[cue.start("cue") - 1 : end] not in _TITLE_SET:
            continue  # "dr", "m": a title only as written ("Dr", "M")
        if word in _PAREN_ONLY and not text.startswith(("(", " ("), end):
            continue
        match = _AFTER_CUE.match(text, end)
        if match is not None:
            yield match


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
    return frozenset(words - _SURNAMES)


class NameDetector:
    """Finds person names in text; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._stop = _stop_words()

    def may_find(self, text: str) -> bool:
        """False when :meth:`find` surely finds nothing (no capitalised word, no Han)."""
        if text.isascii():
            cases = text.encode("ascii").translate(_ASCII_CASES)
            return b"U" in cases and b"Ul" in cases  # "U" alone is found with memchr
        return _GATE.search(text) is not None

    def find(self, text: str, mode: int) -> list[tuple[int, int]]:
        """Character spans of names in ``text`` (end exclusive) for a ``MODE_*``."""
        if mode <= MODE_NONE or not self.may_find(text):
            return []
        if mode == MODE_WHOLE:
            whole = self._whole(text)
            if whole is not None:
                return [whole]
        out: list[tuple[int, int]] = []
        for match in _after_cues(text):
            span = self._name_in(match.start("name"), match.group("name"), cued=True)
            if span is not None:
                out.append(span)
        if mode == MODE_CUES:
            return out
        for match in _SEQUENCE.finditer(text):
            span = self._name_in(match.start(), match.group(), cued=False)
            if span is not None:
                out.append(span)
        if not text.isascii() and _CJK_GATE.search(text):
            out.extend(m.span() for m in _CJK.finditer(text))
        return out

    def _whole(self, text: str) -> tuple[int, int] | None:
        stripped = text.strip()
        if not stripped or len(stripped) > 80:
            return None
        start = text.index(stripped)
        if _CJK.fullmatch(stripped) or _HAN_NAME.fullmatch(stripped):
            return start, start + len(stripped)
        words = stripped.split()
        if 1 <= len(words) <= 4 and all(
            _WORD_ONLY.fullmatch(w.rstrip(",")) or re.fullmatch(_PARTICLES, w) for w in words
        ):
            return start, start + len(stripped)
        return None

    def _name_in(self, start: int, sequence: str, *, cued: bool) -> tuple[int, int] | None:
        """The name inside one capitalised sequence: common words trimmed off both ends."""
        words = [(m.start(), m.end()) for m in _WORD_ONLY.finditer(sequence)]
        lo, hi = 0, len(words)
        while lo < hi and self._common(sequence, words[lo]):
            lo += 1
        while hi > lo and self._common(sequence, words[hi - 1]):
            hi -= 1
        if lo == hi or (hi - lo == 1 and not cued):
            return None  # one word alone ("Maria", "Monday") is a name only after a cue
        if any(
            self._common(sequence, w) and not _PARTICLE.fullmatch(sequence, *w)
            for w in words[lo:hi]
        ):
            return None  # "Maria and the Team" style mixes: not a name ("Omar Al Said" is)
        return start + words[lo][0], start + words[hi - 1][1]

    def _common(self, sequence: str, word: tuple[int, int]) -> bool:
        return sequence[word[0] : word[1]].lower() in self._stop
