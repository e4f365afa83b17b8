"""The package's __init__: config without Presidio; the redactor loads on first use."""

from __future__ import annotations

import subprocess
import sys

import glassline.redaction as redaction


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_reading_a_config_does_not_load_presidio_or_spacy() -> None:
    modules = loaded_after("from glassline.redaction import RedactionConfig, load_config")
    assert "glassline.redaction.config" in modules
    assert not {m for m in modules if m.split(".")[0] in {"presidio_analyzer", "spacy"}}
    assert "glassline.redaction.redactor" not in modules


def test_the_redactor_loads_on_first_use() -> None:
    modules = loaded_after("from glassline.redaction import Redactor")
    assert {"glassline.redaction.redactor", "presidio_analyzer"} <= modules


def test_every_public_name_resolves() -> None:
    for name in redaction.__all__:
        assert getattr(redaction, name) is not None
    assert set(redaction.__all__) <= set(dir(redaction))
