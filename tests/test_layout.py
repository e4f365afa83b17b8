"""The repository's shape: one distribution per component under one PEP 420 namespace."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ["semconv", "pricing", "instrumentation", "redaction", "collector", "dashboard"]


def test_no_namespace_init_anywhere() -> None:
    offenders = [p for p in ROOT.glob("*/src/glassline/__init__.py")]
    assert offenders == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_is_its_own_distribution(component: str) -> None:
    project = tomllib.loads((ROOT / component / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"glassline-{component}"
    assert project["requires-python"] == ">=3.11"
    assert (ROOT / component / "src" / "glassline" / component).is_dir()


def test_workspace_lists_every_component() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert root["tool"]["glassline"]["workspace"]["members"] == COMPONENTS


def test_dependencies_point_one_way() -> None:
    """semconv, pricing and redaction depend on no other Glassline package; the SDK, collector
    and dashboard share the vocabulary (semconv) and the price table (pricing, which also says
    how dollars read), nobody but the application depends on the SDK, and only the dashboard
    reads the collector's store."""

    def glassline_deps(component: str) -> set[str]:
        deps = tomllib.loads((ROOT / component / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
        return {
            d.split(">")[0].split("=")[0].split("[")[0].strip()
            for d in deps
            if d.startswith("glassline")
        }

    assert glassline_deps("semconv") == set()
    assert glassline_deps("pricing") == set()
    assert glassline_deps("redaction") == set()
    assert glassline_deps("instrumentation") == {"glassline-semconv", "glassline-pricing"}
    assert glassline_deps("collector") == {
        "glassline-semconv",
        "glassline-pricing",
        "glassline-redaction",
    }
    assert glassline_deps("dashboard") == {
        "glassline-collector",
        "glassline-semconv",
        "glassline-pricing",
    }


def test_semconv_has_no_dependencies() -> None:
    project = tomllib.loads((ROOT / "semconv" / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []


def test_readme_documents_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_collector_and_dashboard_never_import_the_sdk() -> None:
    """They read attribute names from glassline.semconv, not through the OpenTelemetry SDK."""
    code = (
        "import sys, glassline.collector.server, glassline.collector.cli,"
        " glassline.dashboard.ui, glassline.dashboard.data, glassline.dashboard.spans;"
        "print(sorted(m for m in sys.modules if m.startswith('glassline.instrumentation')"
        " or m.startswith('opentelemetry.sdk')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
