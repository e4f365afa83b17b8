"""Write the compatibility table from the peer suite's results.

    .venv/bin/python -m pytest tests/peers          # writes .peers/results.json
    .venv/bin/python -m tests.peers.table           # copies it to docs/peers/results.json and
                                                    # rewrites the table in README.md and
                                                    # docs/normalization.md

The table sits between ``<!-- peers-table -->`` and ``<!-- /peers-table -->`` in both files;
tests/peers/test_table.py checks that both match docs/peers/results.json.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUN_RESULTS = ROOT / ".peers" / "results.json"
RESULTS = ROOT / "docs" / "peers" / "results.json"
TARGETS = (ROOT / "README.md", ROOT / "docs" / "normalization.md")
COLUMNS = {
    "calls": "one LLM span per call",
    "model": "model",
    "tokens": "tokens",
    "cached": "cached tokens",
    "reasoning": "reasoning tokens",
    "cost": "cost = genai-prices",
    "content": "content",
    "tree": "span tree",
    "kinds": "kinds",
    "stage": "stage names",
    "rollups": "requests in rollups",
    "offline": "offline-safe",
}
MARKS = {"pass": "✓", "fail": "✗", "not sent": "not sent", "n/a": "n/a", "library": "library bug"}
_BLOCK = re.compile(r"(<!-- peers-table -->\n).*?(<!-- /peers-table -->)", re.DOTALL)


def render(results: dict[str, Any]) -> str:
    """The markdown table, then a note for every cell that is not a plain pass."""
    head = ["library", "version", "transport", *COLUMNS.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    notes: dict[tuple[str, str], list[str]] = {}  # (library, why) -> columns, in order
    for name in sorted(results, key=lambda n: results[n]["title"].lower()):
        run = results[name]
        cells = [run["title"], run["version"], run["transport"]]
        for check in COLUMNS:
            outcome = run["checks"].get(check, {"result": "fail", "detail": "not run"})
            cells.append(MARKS.get(outcome["result"], outcome["result"]))
            if outcome["result"] not in ("pass", "n/a"):
                notes.setdefault((run["title"], outcome["detail"]), []).append(COLUMNS[check])
        lines.append("| " + " | ".join(cells) + " |")
    listed = [f"- {title}, {', '.join(cols)}: {why}" for (title, why), cols in notes.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(listed) + "\n"


def replace_block(text: str, table: str) -> str:
    if not _BLOCK.search(text):
        raise SystemExit("no <!-- peers-table --> block to fill")
    return _BLOCK.sub(lambda m: m.group(1) + table + m.group(2), text)


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else RUN_RESULTS
    results = json.loads(source.read_text(encoding="utf-8"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    table = render(results)
    for target in TARGETS:
        target.write_text(
            replace_block(target.read_text(encoding="utf-8"), table), encoding="utf-8"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
