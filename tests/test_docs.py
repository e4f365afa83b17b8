"""The docs' code blocks, as a user would take them: they compile, configs validate, flags exist.

A block preceded by ``<!-- fragment: why -->`` leans on names from around it (an app's own
functions, the block above): it must still compile, but is not run or validated whole. Every
other python block in docs/ runs as written against a real collector and the fake provider
(the README's quickstart has its own test); every YAML block is a whole collector config, a
section of one, or a rule file, and passes validation; every ``glassline-collector``,
``glassline-dashboard`` and ``glassline`` command line parses with the real parser, and every
``make`` target named exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from examples.fake_provider import FakeOpenAI
from glassline.collector.alerts.config import load_config as load_rules
from glassline.collector.cli import _parser as collector_parser
from glassline.collector.config import load_config
from glassline.collector.testing import RunningCollector, run_collector
from glassline.dashboard.cli import _parser as dashboard_parser
from glassline.instrumentation.golden import _parser as glassline_parser

ROOT = Path(__file__).resolve().parents[1]
NOT_DOCS = {"figures.md", "overload-log.md"}  # measurements and history, not instructions
DOCS = [
    ROOT / "README.md",
    ROOT / "collector" / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in NOT_DOCS),
]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^ *```", re.S | re.M)
# Environment a user would have exported: the API keys and the redaction key the configs
# read, so a section block is judged on its own settings.
KEY = "gl_test_0123456789abcdef0123456789"
COMMAND = re.compile(r"(^|\s|/)glassline(-collector|-dashboard)?(\s|$)")
CONFIG_ENV = {"GLASSLINE_API_KEYS": f"acme={KEY}", "GLASSLINE_REDACTION_KEY": "x" * 16}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    code: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def _blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            found.append(
                Block(
                    doc=doc,
                    line=text.count("\n", 0, match.start()) + 1,
                    lang=match.group(2),
                    code=textwrap.dedent(match.group(3)),
                    fragment=before.strip().startswith("<!-- fragment:"),
                )
            )
    return found


BLOCKS = _blocks()


def _of(lang: str, *, whole: bool = False) -> list[Block]:
    return [b for b in BLOCKS if b.lang == lang and not (whole and b.fragment)]


def _ids(blocks: list[Block]) -> list[str]:
    return [b.id for b in blocks]


PYTHON = _of("python")
RUNNABLE = [b for b in _of("python", whole=True) if b.doc.name != "README.md"]
YAML = _of("yaml", whole=True)


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_python_block_compiles(block: Block) -> None:
    compile(block.code, block.id, "exec")


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_yaml_block_is_a_valid_config(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CONFIG_ENV.items():  # the redaction section reads its key from os.environ
        monkeypatch.setenv(name, value)
    data = yaml.safe_load(block.code)
    if "rules" in data:
        rules = tmp_path / "rules.yaml"
        rules.write_text(block.code, encoding="utf-8")
        load_rules(rules)
    else:
        load_config(data, environ=CONFIG_ENV)


@pytest.mark.parametrize("config", ["collector/collector.example.yaml", "deploy/collector.yaml"])
def test_shipped_config_is_valid(config: str) -> None:
    load_config(ROOT / config, environ={**CONFIG_ENV, "ACME_KEY": KEY})


PARSERS = {
    "glassline-collector": collector_parser,
    "glassline-dashboard": dashboard_parser,
    "glassline": glassline_parser,
}


def _command_lines() -> list[tuple[str, list[str]]]:
    lines = []
    for block in BLOCKS:
        if block.lang not in ("", "bash", "console"):
            continue
        for n, line in enumerate(block.code.replace("\\\n", " ").splitlines()):
            if not COMMAND.search(line):  # a curl with a continuation would not split
                continue
            words = shlex.split(line.removeprefix("$ "), comments=True)
            while words and re.fullmatch(r"\w+=.*", words[0]):  # VAR=value before the command
                words.pop(0)
            if words and (tool := Path(words[0]).name) in PARSERS:  # .venv/bin/... too
                lines.append((f"{block.id}+{n}", [tool, *words[1:]]))
    return lines


COMMANDS = _command_lines()


@pytest.mark.parametrize("words", [w for _, w in COMMANDS], ids=[i for i, _ in COMMANDS])
def test_command_line_parses(words: list[str]) -> None:
    try:
        PARSERS[words[0]]().parse_args(words[1:])
    except SystemExit as exc:  # argparse's answer to an unknown flag, command or choice
        pytest.fail(f"{shlex.join(words)}: usage error (exit {exc.code})")


def test_the_docs_name_commands_of_every_tool() -> None:
    assert {w[0] for _, w in COMMANDS} == set(PARSERS)


MAKE = re.compile(r"^\s*make ([\w-]+)", re.M)
MAKE_TARGETS = [(b.id, t) for b in BLOCKS if b.lang in ("", "bash") for t in MAKE.findall(b.code)]


@pytest.mark.parametrize("target", [t for _, t in MAKE_TARGETS], ids=[i for i, _ in MAKE_TARGETS])
def test_make_target_exists(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target}"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> RunningCollector:
    with run_collector(tenants=("acme",), workdir=tmp_path_factory.mktemp("docs")) as c:
        yield c


@pytest.fixture(scope="module")
def provider() -> FakeOpenAI:
    with FakeOpenAI() as fake:
        yield fake


@pytest.mark.parametrize("block", RUNNABLE, ids=_ids(RUNNABLE))
def test_python_block_runs(
    block: Block, collector: RunningCollector, provider: FakeOpenAI, tmp_path: Path
) -> None:
    key = collector.api_keys["acme"]
    code = block.code.replace("http://localhost:4317", f"http://{collector.grpc_endpoint}")
    env = {
        **os.environ,
        **CONFIG_ENV,
        "GLASSLINE_ENDPOINT": f"http://{collector.grpc_endpoint}",
        "GLASSLINE_API_URL": collector.http_endpoint,
        "GLASSLINE_API_KEY": key,
        "OPENAI_BASE_URL": provider.base_url,
        "OPENAI_API_KEY": "sk-fake",
    }
    run = subprocess.run(
        [sys.executable, "-c", code.replace("gl_live_...", key)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, f"{block.id} failed:\n{run.stderr}"
