"""The one way the collector words a configuration error: ``path: message (got value)``.

Used for the collector config, the alert rule file and the sampling section alike, so every
error reads the same: ``sampling.policies[1].threshold_ms: Input should be greater than 0
(got -5)``. Paths follow the document as written: pydantic inserts a tagged union's tag
(``latency``) into its location, which is no key of the document and is dropped here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

__all__ = [
    "MAX_DURATION_S",
    "MAX_RETENTION_DAYS",
    "MAX_YAML_BYTES",
    "read_yaml",
    "validation_problems",
]

_NO_INPUT = frozenset({"missing", "extra_forbidden"})
# A config or rule file is kilobytes. Past this it is a mistake (``/dev/zero``, a log file
# given by error), and reading it whole took memory without end.
MAX_YAML_BYTES = 16 * 1024 * 1024
# Bounds of the duration settings. Past a week a duration is a typo (an extra zero, ms for s);
# past about 24 days gRPC's millisecond options overflow, and at 1e12 s an instant past 2262
# fits none of the stores' integers: start-up failed with a traceback, or the retention or
# tail-sampling job failed on every run and so never did its work.
MAX_DURATION_S = 7 * 86_400
MAX_RETENTION_DAYS = 36_500  # 100 years: a cutoff still fits the stores' nanosecond columns


def read_yaml(path: str | Path) -> Any:
    """A YAML file's document; ``ValueError`` says why there is none (unreadable, not UTF-8,
    not YAML), for the caller to word as its own error."""
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read ({exc.strerror})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ValueError(f"larger than {MAX_YAML_BYTES // 2**20} MiB: not a config file")
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML's parser recurses once per level: a traceback, before
        raise ValueError("not valid YAML: nested too deeply") from None


def validation_problems(
    error: ValidationError, data: Any, *, root: str = "", origins: Mapping[str, str] | None = None
) -> list[str]:
    """One line per problem; ``data`` is the validated document, ``root`` prefixes each path.

    ``origins``: the paths set from outside the document (an environment variable), each with
    its source, named on the problems at or under them: ``servr (from GLASSLINE__SERVR__X)``.
    """
    problems = []
    for item in error.errors():
        path = _path(item["loc"], data, root)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "model_type":  # pydantic names the model class, no key of the file
            message = f"Input should be a mapping, not {_yaml_type(item.get('input'))}"
        line = f"{path or '<root>'}{_origin(path, origins or {})}: {message}"
        if item["type"] not in _NO_INPUT and "input" in item:
            line += _got(item["input"])
        problems.append(line)
    return problems


def _origin(path: str, origins: Mapping[str, str]) -> str:
    for at, source in origins.items():
        if path == at or path.startswith((f"{at}.", f"{at}[")):
            return f" (from {source})"
    return ""


def _yaml_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "empty"
    return "a boolean" if isinstance(value, bool) else "a number"


def _path(loc: tuple[int | str, ...], data: Any, root: str) -> str:
    out, node = root, data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part not in node and part in _tags(node):
            continue  # the union tag pydantic inserts: the document has no such key
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _tags(node: dict[str, Any]) -> set[Any]:
    return {node.get("type"), node.get("kind")}


def _got(value: Any) -> str:
    if isinstance(value, dict | list):
        return ""  # a whole section: its path says where
    text = repr(value) if isinstance(value, str) else str(value)
    return f" (got {text if len(text) <= 80 else text[:77] + '...'})"
