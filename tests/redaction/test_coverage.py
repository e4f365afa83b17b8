"""Coverage by construction: every string of an attribute map is analysed, wherever it sits."""

from __future__ import annotations

import json

import pytest

from glassline.redaction import Redactor

EMAIL = "jane.roe@example.com"
CARD = 4111111111111111


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("app.map", {"contact": {"email": EMAIL}}, {"contact": {"email": "<EMAIL_ADDRESS>"}}),
        ("app.nested", [["ok", [EMAIL]]], [["ok", ["<EMAIL_ADDRESS>"]]]),
        ("app.keys", {EMAIL: 1}, {"<EMAIL_ADDRESS>": 1}),
        ("app.card", CARD, "<CREDIT_CARD>"),
        ("app.cards", [1, CARD], [1, "<CREDIT_CARD>"]),
        ("app.kv", {"number": CARD}, {"number": "<CREDIT_CARD>"}),
        ("gen_ai.request.model", EMAIL, "<EMAIL_ADDRESS>"),  # allow-listed key, email value
        ("enduser.id", "Jane Roe", "<PERSON>"),  # allow-listed, but not shaped like an id
        ("session.id", CARD, "<CREDIT_CARD>"),
    ],
)
def test_values_at_any_depth_and_of_any_type_are_redacted(redactor, name, value, expected):
    result = redactor.redact_attributes({name: value})
    assert result.attributes == {name: expected}


def test_attribute_keys_are_redacted(redactor):
    result = redactor.redact_attributes({f"clicks[{EMAIL}]": 3})
    assert result.attributes == {"clicks[<EMAIL_ADDRESS>]": 3}
    assert result.counts == {"EMAIL_ADDRESS": 1}


def test_json_keys_numbers_and_json_inside_json_are_redacted(redactor):
    arguments = json.dumps({"customer": "Ana Lima", "card": CARD, EMAIL: "primary"})
    messages = [{"role": "assistant", "tool_calls": [{"function": {"arguments": arguments}}]}]
    result = redactor.redact_attributes({"gen_ai.output.messages": json.dumps(messages)})
    out = json.loads(result.attributes["gen_ai.output.messages"])
    inner = json.loads(out[0]["tool_calls"][0]["function"]["arguments"])
    assert inner == {"customer": "<PERSON>", "card": "<CREDIT_CARD>", "<EMAIL_ADDRESS>": "primary"}
    assert result.counts == {"PERSON": 1, "CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gen_ai.response.id", "chatcmpl-4111111111111111"),  # card-shaped run inside an id
        ("gen_ai.request.model", "claude-3-5-sonnet-20241022"),
        ("gen_ai.request.model", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
        ("trace.parent.id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("gen_ai.usage.input_tokens", 123456789),  # a number, but no identifier in it
        ("gen_ai.response.finish_reasons", ["stop", "length"]),
        ("app.started_ns", 1_733_300_000_123_456_789),
    ],
)
def test_structural_values_of_the_expected_shape_are_left_alone(redactor, name, value):
    result = redactor.redact_attributes({name: value})
    assert result.attributes == {name: value} and result.counts == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("Maria García", "<PERSON>"),  # something found: redacted like any text
        ("4EakoKm5b-OAYGSTW~jRlLK6sNdVU72lZ.o2_-YH", "<UNEXPECTED_VALUE>"),  # not a model name
        ("zjYFrR073866", "<UNEXPECTED_VALUE>"),  # reads like a pasted token
    ],
)
def test_a_model_field_holds_a_model_name_or_is_redacted(redactor, value, expected):
    result = redactor.redact_attributes({"gen_ai.request.model": value})
    assert result.attributes == {"gen_ai.request.model": expected}
