"""The repository's shape: one distribution per component under one PEP 420 namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ["instrumentation", "redaction", "collector", "dashboard"]


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
    """instrumentation and redaction depend on no other Glassline package; the others share
    the instrumentation's attribute vocabulary, and only the dashboard reads the collector's store."""

    def glassline_deps(component: str) -> set[str]:
        deps = tomllib.loads((ROOT / component / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
        return {
            d.split(">")[0].split("=")[0].split("[")[0].strip()
            for d in deps
            if d.startswith("glassline")
        }

    assert glassline_deps("instrumentation") == set()
    assert glassline_deps("redaction") == set()
    assert glassline_deps("collector") == {"glassline-instrumentation", "glassline-redaction"}
    assert glassline_deps("dashboard") == {"glassline-collector", "glassline-instrumentation"}


def test_readme_documents_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
