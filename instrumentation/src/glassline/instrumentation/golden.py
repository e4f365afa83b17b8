"""``glassline eval run golden.jsonl --target module:function``: a golden set scored in CI.

Each line of the golden file is a JSON object: ``input`` (a JSON object: the target's keyword
arguments; anything else: its one argument), optional ``expected`` and ``id``. Every case is run
through the target, then through each ``--evaluator module:function`` (the same evaluators as
``evaluate()``: they take a :class:`~glassline.instrumentation.Call`, whose ``expected`` is the
case's); without one, ``exact_match`` compares the output with ``expected``. The report gives
per evaluator the cases, mean score and pass rate under the ``--version`` label, as a table
or ``--json``; ``--min-mean`` makes the run fail (exit 1) when any mean is lower. A target or
evaluator that raises on a case scores that case 0 (fail) and says so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glassline.instrumentation.online import Call, Evaluator, as_score

__all__ = ["exact_match", "main", "run_golden"]


def exact_match(call: Call) -> bool:
    """Pass when the output equals the case's ``expected``."""
    return bool(call.output == call.expected)


def _load(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise SystemExit(f"expected module:function, got {spec!r}")
    found = getattr(importlib.import_module(module), name, None)
    if not callable(found):
        raise SystemExit(f"{spec}: no such function")
    return found  # type: ignore[no-any-return]


def run_golden(
    cases: Sequence[dict[str, Any]], target: Callable[..., Any], evaluators: Sequence[Evaluator]
) -> dict[str, dict[str, Any]]:
    """Per evaluator name: ``cases``, ``mean``, ``pass_rate`` and the ``errors`` it met."""
    scores: dict[str, list[float]] = {}
    verdicts: dict[str, list[bool]] = {}
    errors: dict[str, int] = {}
    for case in cases:
        given = case.get("input")
        args, kwargs = ((), given) if isinstance(given, dict) else ((given,), {})
        try:
            output, failed = target(*args, **kwargs), False
        except Exception:
            output, failed = None, True
        call = Call(tuple(args), dict(kwargs), output, case.get("expected"))
        for evaluator in evaluators:
            name = getattr(evaluator, "__name__", type(evaluator).__name__)
            errored = failed  # an evaluator's error is its own: the next ones still score
            try:
                score = None if failed else as_score(evaluator(call))
            except Exception:
                score, errored = None, True
            if errored:
                errors[name] = errors.get(name, 0) + 1
                scores.setdefault(name, []).append(0.0)
                verdicts.setdefault(name, []).append(False)
                continue
            if score is None:
                continue
            if score.value is not None:
                scores.setdefault(name, []).append(score.value)
            if score.label is not None:
                verdicts.setdefault(name, []).append(score.label == "pass")
    return {
        name: {
            "cases": len(scores.get(name, verdicts.get(name, []))),
            "mean": sum(scores[name]) / len(scores[name]) if scores.get(name) else None,
            "pass_rate": sum(verdicts[name]) / len(verdicts[name]) if verdicts.get(name) else None,
            "errors": errors.get(name, 0),
        }
        for name in sorted(set(scores) | set(verdicts))
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glassline", description="Glassline tools")
    commands = parser.add_subparsers(dest="command", required=True)
    evals = commands.add_parser("eval", help="evaluation").add_subparsers(dest="action",
                                                                          required=True)  # fmt: skip
    run = evals.add_parser("run", help="score a golden set (JSON lines) with a target function")
    run.add_argument("golden", type=Path, help="JSON lines: input, expected, id")
    run.add_argument("--target", required=True, help="module:function to evaluate")
    run.add_argument("--evaluator", action="append", default=[], help="module:function (repeat)")
    run.add_argument("--version", default="current", help="label of what is evaluated (v8)")
    run.add_argument("--min-mean", type=float, help="fail when any evaluator's mean is lower")
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``glassline``; returns the exit code."""
    args = _parser().parse_args(argv)
    sys.path.insert(0, str(Path.cwd()))  # targets are usually the project's own modules
    lines = args.golden.read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    evaluators = [_load(spec) for spec in args.evaluator] or [exact_match]
    report = run_golden(cases, _load(args.target), evaluators)
    if args.json:
        print(json.dumps({"version": args.version, "evaluators": report}, indent=2))
    else:
        print(f"{'version':<12} {'evaluator':<24} {'cases':>6} {'mean':>7} {'pass':>7} errors")
        for name, r in report.items():
            mean = "-" if r["mean"] is None else f"{r['mean']:.3f}"
            rate = "-" if r["pass_rate"] is None else f"{r['pass_rate']:.1%}"
            print(f"{args.version:<12} {name:<24} {r['cases']:>6} {mean:>7} {rate:>7} "
                  f"{r['errors']}")  # fmt: skip
    low = [n for n, r in report.items() if args.min_mean is not None and
           (r["mean"] is None or r["mean"] < args.min_mean)]  # fmt: skip
    if low:
        print(f"below --min-mean {args.min_mean}: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
