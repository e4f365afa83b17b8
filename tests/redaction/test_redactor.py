"""Redactor: what it finds, how each policy renders, scope, JSON, truncation, fail closed."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import pytest

from glassline.redaction import FAILED_TOKEN, RedactionConfig, Redactor


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def _hashing(key: str = "k" * 32, **extra: Any) -> Redactor:
    return Redactor(
        RedactionConfig.model_validate({"default_policy": "hash", "hmac_key": key, **extra})
    )


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("EMAIL_ADDRESS", "jane.doe@example.co.uk"),
        ("PHONE_NUMBER", "+44 20 7946 0958"),
        ("PHONE_NUMBER", "+49 30 901820"),
        ("PHONE_NUMBER", "(212) 555-0199"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("CREDIT_CARD", "2223000048400011"),
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("IBAN_CODE", "GB29NWBK60161331926819"),
        ("US_SSN", "536-22-8451"),
        ("IP_ADDRESS", "203.0.113.7"),
        ("IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ("OPENAI_API_KEY", "sk-proj-" + "a1B2" * 20),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-" + "Zx9_" * 24),
        ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        ("GITHUB_TOKEN", "ghp_" + "a" * 36),
        ("SLACK_TOKEN", "xoxb-123456789012-1234567890123-" + "A" * 24),
        ("STRIPE_KEY", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
        (
            "PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\nMIIEv" + "A" * 60 + "\n-----END PRIVATE KEY-----",
        ),
    ],
)
def test_each_entity_is_masked_in_free_text(redactor, entity, value):
    out = redactor(f"User said: reach me via {value} tomorrow.")
    assert value not in out
    assert out == f"User said: reach me via <{entity}> tomorrow."


def test_phone_numbers_inside_cjk_text(redactor):
    assert redactor("電話番号は090-1234-5678です") == "電話番号は<PHONE_NUMBER>です"


def test_secrets_keep_their_context_readable(redactor):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert redactor(f"cookie {jwt}") == "cookie <JWT>"
    assert (
        redactor("Authorization: Bearer abcDEF123456ghiJKL")
        == "Authorization: Bearer <BEARER_TOKEN>"
    )
    assert redactor("aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == (
        "aws_secret_access_key = <AWS_SECRET_KEY>"
    )


def test_hard_negatives_survive(redactor):
    text = (
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 at 2024-08-06T12:33:01.123Z "
        "(epoch 1722947581) model gpt-4o-2024-08-06 and claude-3-5-sonnet-20241022, order ORD-16926707, "
        "id 05126700-c9aa-4c0c-867a-2f1fad8a524d, v3.8.18, $1,234.56, 1234 tokens in 523 ms"
    )
    assert redactor(text) == text


def test_text_without_candidates_is_returned_as_is(redactor):
    text = "Summarise the meeting notes in three bullet points, please."
    assert redactor.redact_many([text])[0].text is text


def test_a_lone_surrogate_is_analysed_like_any_text(redactor):
    # JSON escapes can carry one ("\\ud800") into a value; it has no UTF-8 form.
    text = "token: abc \ud800 mail jane.doe@example.com, key sk-ant-api03-abcdefghijklmnopqrstuv"
    result = redactor.redact_many([text])[0]
    assert not result.failed
    assert result.text == "token: abc \ud800 mail <EMAIL_ADDRESS>, key <ANTHROPIC_API_KEY>"


def test_hash_is_stable_keyed_and_format_insensitive():
    a, b = _hashing(), _hashing(key="z" * 32)
    one = a("mail Jane.Doe@Example.com")
    assert one == a("mail jane.doe@example.com")
    token = one.removeprefix("mail ")
    assert token.startswith("<EMAIL_ADDRESS:") and len(token) == len("<EMAIL_ADDRESS:>") + 12
    assert b("mail jane.doe@example.com") != one
    assert a("call +44 20 7946 0958") == a("call +442079460958")
    assert a("mail john@example.com") != one


def test_drop_removes_the_attribute_and_keep_leaves_the_value():
    r = Redactor(
        RedactionConfig.model_validate({"entities": {"CREDIT_CARD": "drop", "IP_ADDRESS": "keep"}})
    )
    result = r.redact_attributes(
        {
            "gen_ai.tool.call.arguments": "pay with 4111111111111111",
            "http.client_ip": "from 203.0.113.7",
        }
    )
    assert result.attributes == {"http.client_ip": "from 203.0.113.7"}
    assert result.counts == {"CREDIT_CARD": 1}
    assert r("pay with 4111111111111111") == "[DROPPED]"


def test_attributes_follow_scope_and_types(redactor):
    attrs = {
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "user.id": "jane@example.com",  # allow-listed, but an email is still an email
        "session.id": "chatcmpl-4111111111111111",  # an id: digit runs inside it are its own
        "gen_ai.usage.input_tokens": 1200,
        "http.request.header.x_forwarded_for": ["203.0.113.7", "198.51.100.23"],
        "custom.note": "ping jane@example.com",
        "flag": True,
    }
    result = redactor.redact_attributes(attrs)
    assert result.attributes == {
        **attrs,
        "user.id": "<EMAIL_ADDRESS>",
        "http.request.header.x_forwarded_for": ["<IP_ADDRESS>", "<IP_ADDRESS>"],
        "custom.note": "ping <EMAIL_ADDRESS>",
    }
    assert result.counts == {"IP_ADDRESS": 2, "EMAIL_ADDRESS": 2}
    assert attrs["custom.note"] == "ping jane@example.com"  # the input is not modified


def test_custom_scope_globs():
    r = Redactor(
        RedactionConfig.model_validate({"scope": {"include": ["app.*"], "exclude": ["app.raw"]}})
    )
    result = r.redact_attributes(
        {"app.msg": "jane@example.com", "app.raw": "jane@example.com", "other": "jane@example.com"}
    )
    assert result.attributes == {
        "app.msg": "<EMAIL_ADDRESS>",
        "app.raw": "jane@example.com",
        "other": "jane@example.com",
    }


def test_json_messages_are_redacted_leaf_by_leaf_and_stay_valid(redactor):
    messages = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "I'm jane@example.com,\nIBAN DE89370400440532013000"}
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "arguments": {"phone": "+1 415 555 0132"}}],
        },
    ]
    out = redactor.redact_attributes({"gen_ai.input.messages": json.dumps(messages)})
    parsed = json.loads(out.attributes["gen_ai.input.messages"])
    assert parsed[0]["parts"][0]["content"] == "I'm <EMAIL_ADDRESS>,\nIBAN <IBAN_CODE>"
    assert parsed[1]["parts"][0]["arguments"] == {"phone": "<PHONE_NUMBER>"}
    assert parsed[0]["role"] == "user"
    assert out.counts == {"EMAIL_ADDRESS": 1, "IBAN_CODE": 1, "PHONE_NUMBER": 1}


@pytest.mark.parametrize("depth", [200, 600, 3_000])
def test_json_nested_too_deep_to_walk_is_redacted_as_text(redactor, depth):
    # A few hundred levels overflowed the walk over the parsed value, thousands the parser:
    # the whole batch failed, retryably, every time the exporter sent it again.
    value = "[" * depth + '"mail jane@example.com or call +1 415 555 0132"' + "]" * depth
    out = redactor.redact_attributes({"gen_ai.input.messages": value, "app.payload": value})
    for key in ("gen_ai.input.messages", "app.payload"):
        stored = out.attributes[key]
        assert "jane@example.com" not in stored and "415 555" not in stored
        assert stored.startswith("[" * depth) and "<EMAIL_ADDRESS>" in stored
    assert out.counts == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 2}


def test_untouched_json_keeps_its_formatting(redactor):
    raw = '[ {"role": "user",  "content": "hello there, how are you"} ]'
    assert (
        redactor.redact_attributes({"gen_ai.input.messages": raw}).attributes[
            "gen_ai.input.messages"
        ]
        is raw
    )


def test_long_values_are_cut_at_a_word_boundary_and_reported():
    r = Redactor(RedactionConfig(max_text_chars=1000))
    value = "word " * 400 + "jane@example.com"
    result = r.redact_attributes({"input.value": value})
    assert result.truncated == {"input.value": len(value)}
    assert len(result.attributes["input.value"]) <= 1000
    assert result.attributes["input.value"].endswith("word")


class _Exploding(str):
    """A str whose analysis raises (len() fails), standing in for any analysis error."""

    def __len__(self) -> int:
        raise RuntimeError("boom: jane@example.com")


def test_a_failing_value_fails_closed_without_affecting_the_others(redactor, caplog):
    caplog.set_level(logging.DEBUG)
    bad = _Exploding("secret jane@example.com")
    results = redactor.redact_many(["mail jane@example.com", cast(str, bad), "plain"])
    assert [r.text for r in results] == ["mail <EMAIL_ADDRESS>", FAILED_TOKEN, "plain"]
    assert [r.failed for r in results] == [False, True, False]
    attrs = redactor.redact_attributes({"exception.message": bad, "note": "ip 203.0.113.7"})
    assert attrs.attributes == {"exception.message": FAILED_TOKEN, "note": "ip <IP_ADDRESS>"}
    assert attrs.failed == 1
    assert "jane@example.com" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_analyze_many_reports_spans(redactor):
    text = "mail jane@example.com from 203.0.113.7"
    (findings,) = redactor.analyze_many([text])
    assert [(f.entity, text[f.start : f.end]) for f in findings] == [
        ("EMAIL_ADDRESS", "jane@example.com"),
        ("IP_ADDRESS", "203.0.113.7"),
    ]


def test_batches_give_the_same_result_as_single_texts(redactor):
    texts = [
        "call +33 1 42 68 53 00 or 4111-1111-1111-1111",
        "nothing here",
        "ip 10.0.0.1, mail a.b@c.io, ssn 536-22-8451",
    ]
    batched = [r.text for r in redactor.redact_many(texts)]
    assert batched == [redactor(t) for t in texts]
    assert all("<" in t for t in (batched[0], batched[2]))


def test_batches_of_many_texts_match_single_texts_for_every_trigger(redactor):
    # One pre-scan and one scan per trigger serve the whole batch; the offsets mapped back to
    # each text must land exactly where a single-text run finds them.
    texts = [
        "ok",
        "keys AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPL2 here",
        "tok ghp_" + "a" * 36,
        "a@b.co",
        "plain words only",
        "v6 2001:db8:85a3::8a2e:370:7334 then card 4111 1111 1111 1111",
        "x" * 5,
        "call (212) 555-0199, mail jane.doe@example.co.uk",
    ] * 3
    batched = [r.text for r in redactor.redact_many(texts)]
    assert batched == [redactor(t) for t in texts]
    assert batched[1] == "keys <AWS_ACCESS_KEY> and <AWS_ACCESS_KEY> here"
    assert batched[7] == "call <PHONE_NUMBER>, mail <EMAIL_ADDRESS>"


def test_values_without_any_trigger_are_returned_untouched(redactor):
    cold = json.dumps([{"role": "user", "content": "how do refunds work for annual plans"}])
    hot = json.dumps([{"role": "user", "content": "refund to jane@example.com please"}])
    out = redactor.redact_attributes_many([{"m": cold}, {"m": hot}])
    assert out[0].attributes["m"] is cold
    assert "<EMAIL_ADDRESS>" in out[1].attributes["m"]


@pytest.mark.parametrize(
    "raw",
    [
        # JSON escapes can hide what the pre-scan looks for in the raw text: "@" as \u0040,
        # no-break spaces between the groups of a phone number, "/" as "\/" between its digits.
        '[{"content": "mail jane\\u0040example.com"}]',
        json.dumps([{"content": "appelez le +33\u00a01\u00a042\u00a068\u00a053\u00a000"}]),
        '[{"content": "call 212\\/555\\/0199 now"}]',
    ],
)
def test_json_escapes_cannot_hide_pii_from_the_pre_scan(redactor, raw):
    out = redactor.redact_attributes({"gen_ai.input.messages": raw})
    content = json.loads(out.attributes["gen_ai.input.messages"])[0]["content"]
    assert out.counts, content
    assert "jane@" not in content and "42" not in content and "0199" not in content


def test_only_changed_maps_are_returned_by_redact_attributes_changed():
    r = Redactor(RedactionConfig(max_text_chars=300))
    maps = [
        {"note": "how do refunds work"},  # no trigger: never analysed
        {"note": "call me at 2024-06-08 please"},  # a trigger hit, nothing found
        {"note": "mail jane@example.com"},
        {"note": "word " * 100},  # cut at the analysis limit
    ]
    changed = r.redact_attributes_changed(maps)
    assert sorted(changed) == [2, 3]
    assert changed[2].attributes == {"note": "mail <EMAIL_ADDRESS>"}
    assert changed[3].truncated == {"note": 500}
    assert maps[2]["note"] == "mail jane@example.com"  # the input is not modified
    assert [x.attributes for x in r.redact_attributes_many(maps)][:2] == maps[:2]


def test_what_was_found_clean_is_remembered_as_hashes_never_as_values() -> None:
    redactor = Redactor()
    spans = [{"gen_ai.request.model": "gpt-4o-mini", "user.id": "user-42", "note": "plain words"}]
    for _ in range(2):  # texts are remembered first, then the attributes made of them
        assert redactor.redact_attributes_changed(spans) == {}
    remembered = set(redactor._clean)
    assert remembered and all(isinstance(h, int) for h in remembered)
    assert redactor.redact_attributes_changed(spans) == {}  # now skipped: the same outcome
    assert redactor._clean == remembered
    # The same names with other values are looked at as before.
    leaked = {"gen_ai.request.model": "gpt-4o-mini", "user.id": "jane@example.com"}
    assert redactor.redact_attributes(leaked).attributes["user.id"] == "<EMAIL_ADDRESS>"


def test_an_analysed_value_left_as_it_was_is_remembered_and_keeps_its_type() -> None:
    redactor = Redactor()
    # Digit runs make these worth analysing; nothing is found in them.
    spans = [{"gen_ai.request.model": "claude-3-5-sonnet-20241022", "n": 1234567, "v": [7654321]}]
    for _ in range(3):
        assert redactor.redact_attributes_changed(spans) == {}
    assert redactor.redact_attributes(spans[0]).attributes == spans[0]
    mixed = {"v": [7654321, "jane@example.com"]}  # the list is rebuilt: the number stays one
    assert redactor.redact_attributes(mixed).attributes == {"v": [7654321, "<EMAIL_ADDRESS>"]}
    # A model key still replaces a pasted token, seen before or not.
    pasted = {"gen_ai.request.model": "zjYFrR073866"}
    for _ in range(2):
        assert redactor.redact_attributes(pasted).attributes == {
            "gen_ai.request.model": "<UNEXPECTED_VALUE>"
        }
