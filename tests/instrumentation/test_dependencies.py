"""The SDK stays light: no heavy or sibling-package dependencies, and none imported."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires

FORBIDDEN = {"streamlit", "presidio", "spacy", "sqlalchemy", "starlette", "uvicorn"}


def test_declared_dependencies_are_light() -> None:
    names = {
        re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()
        for req in requires("glassline-instrumentation") or []
    }
    assert names, "no dependencies found: is glassline-instrumentation installed?"
    assert not {n for n in names if any(n.startswith(f) for f in FORBIDDEN)}
    # Only the shared vocabulary and price table, which pull in nothing heavy themselves.
    assert {n for n in names if n.startswith("glassline")} == {
        "glassline-semconv",
        "glassline-pricing",
    }


def test_importing_the_sdk_imports_no_other_glassline_component() -> None:
    code = (
        "import sys, glassline.instrumentation, glassline.instrumentation.testing;"
        "print(sorted(m for m in sys.modules if m.startswith('glassline.')"
        " and not m.startswith(('glassline.instrumentation', 'glassline.semconv', 'glassline.pricing'))"
        " or m.split('.')[0] in {'streamlit','presidio_analyzer','spacy','sqlalchemy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
