"""logs/events.py: each GenAI event shape -> the span message attribute it contributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from glassline.collector.logs.events import content_attributes


def messages(name: str, body: Any, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    out = content_attributes(name, body, attributes or {})
    return {key: json.loads(value) for key, value in out.items()}


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        (
            "gen_ai.system.message",
            {"content": "Be brief."},
            [{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}],
        ),
        (
            "gen_ai.user.message",
            {"content": [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {}}]},
            [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
        ),
        (
            "gen_ai.user.message",
            "plain string body",
            [{"role": "user", "parts": [{"type": "text", "content": "plain string body"}]}],
        ),
        (
            "gen_ai.assistant.message",
            {
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ]
            },
            [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "tool_call", "name": "lookup", "id": "c1", "arguments": {"q": "x"}}
                    ],
                }
            ],
        ),
        (
            "gen_ai.tool.message",
            {"content": "42", "id": "c1"},
            [
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}],
                }
            ],
        ),
        (
            "gen_ai.user.message",
            {"role": "developer", "content": "x"},
            [{"role": "developer", "parts": [{"type": "text", "content": "x"}]}],
        ),
    ],
)
def test_message_events_become_one_input_message(name: str, body: Any, expected: list) -> None:
    assert messages(name, body) == {"gen_ai.input.messages": expected}


def test_a_choice_becomes_an_output_message_with_its_finish_reason() -> None:
    body = {"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello"}}  # fmt: skip
    assert messages("gen_ai.choice", body) == {
        "gen_ai.output.messages": [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello"}],
                "finish_reason": "stop",
            }
        ]
    }


def test_a_choice_without_a_role_is_the_assistants() -> None:
    body = {"index": 0, "finish_reason": "length", "message": {"content": "Hel"}}
    [message] = messages("gen_ai.choice", body)["gen_ai.output.messages"]
    assert message["role"] == "assistant"


def test_operation_details_carry_the_conventions_lists_as_they_are() -> None:
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    outputs = [{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}],
                "finish_reason": "stop"}]  # fmt: skip
    attributes = {
        "gen_ai.input.messages": inputs,  # a list of kvlists when sent as an event attribute
        "gen_ai.output.messages": json.dumps(outputs),  # or a JSON string
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert messages("gen_ai.client.inference.operation.details", None, attributes) == {
        "gen_ai.input.messages": inputs,
        "gen_ai.output.messages": outputs,
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
    }


def test_operation_details_without_content_contribute_nothing() -> None:
    attributes = {"gen_ai.request.model": "gpt-4o-mini"}
    assert content_attributes("gen_ai.client.inference.operation.details", None, attributes) == {}
