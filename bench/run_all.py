"""`make bench`: every benchmark at its quick size, one after another, in one process tree.

Each prints its own table with ratios against a baseline measured in the same run. Full-size
runs (the figures in the README) are each script's default: `python -m bench.<name> --help`.
"""

from __future__ import annotations

import subprocess
import sys

QUICK = [
    "sdk_overhead",
    "redaction",
    "pipeline_steps",
    "ingest",
    "sampling",
    "query_api",
    "quality",
]


def main() -> int:
    failed = []
    for name in QUICK:
        print(f"\n=== bench.{name} --quick ===", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}", "--quick"]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
