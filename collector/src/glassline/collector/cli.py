"""``glassline-collector``: run the collector, check a config, create API keys, kill switches,
index old traces for search, compact a SQLite store."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import yaml

from glassline.collector.config import CollectorConfig, load_config, tenant_name_problem
from glassline.collector.errors import ConfigError

if TYPE_CHECKING:
    from glassline.collector.storage import search_backfill

__all__ = ["main"]

_EXAMPLES = """\
examples:
  glassline-collector --config collector.yaml        run (OTLP gRPC :4317, HTTP :4318)
  glassline-collector check-config --config collector.yaml
                                                     validate, print every error with its path
  glassline-collector keygen --tenant acme           new API key + the hash for the config
  glassline-collector keygen --tenant acme --langfuse
                                                     a Langfuse key pair (pk-lf-/sk-lf-) instead
  glassline-collector kill-switch set --tenant acme --stage generate --reason "runaway loop"
                                                     stop acme's generate stage (every budget
                                                     guard denies it within its refresh interval)
  glassline-collector kill-switch clear --tenant acme --stage generate
  glassline-collector kill-switch list
  glassline-collector search-backfill --config collector.yaml
                                                     make traces stored before full-text search
                                                     searchable (safe while the collector runs;
                                                     run it again after a crash to finish)
  glassline-collector compact --config collector.yaml
                                                     rewrite a SQLite store created before
                                                     incremental auto-vacuum so retention can
                                                     shrink it (exports wait meanwhile)

environment:
  GLASSLINE_CONFIG=collector.yaml                    config file when --config is not given
  GLASSLINE__SERVER__HTTP_PORT=8080                  override any setting (levels split by __)
  GLASSLINE_API_KEYS="acme=<key>,globex=sha256:<hex>"  add tenant keys
                                                     (acme/web=<key>: a key named "web")
  GLASSLINE_ADMIN_KEYS="<key>"                       add admin keys (read every tenant)

exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.
"""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="YAML config file (see collector.example.yaml); env overrides apply on top",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="glassline-collector",
        description="OTLP collector for LLM telemetry: receives traces over gRPC and HTTP, "
        "normalizes, prices and redacts them, and stores spans, traces and rollups.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run the collector (the default)")
    sub.add_parser(
        "check-config", parents=[common], help="validate the config and exit (2 if invalid)"
    )
    keygen = sub.add_parser("keygen", help="create an API key and its sha256 hash for the config")
    keygen.add_argument("--tenant", required=True, help="tenant the key belongs to")
    keygen.add_argument(
        "--langfuse", action="store_true",
        help="issue a Langfuse-style public/secret key pair for Langfuse's SDK and exporter",
    )  # fmt: skip
    kill = sub.add_parser(
        "kill-switch", parents=[common], help="stop (set), resume (clear) or list model calls"
    )
    kill.add_argument("action", choices=["set", "clear", "list"])
    kill.add_argument("--tenant", help="tenant to stop or resume (list: only this one)")
    kill.add_argument("--stage", help="only this stage (default: the whole tenant)")
    kill.add_argument("--reason", default="", help="why (shown to the guards and in the list)")
    backfill = sub.add_parser(
        "search-backfill", parents=[common],
        help="index the traces stored before full-text search (revision 0009), newest first",
        description="Give every stored trace without a search document one, built from its "
        "stored (redacted) spans, newest first, in short transactions. Safe while the "
        "collector runs; idempotent, so after an interruption a new run finishes the job. "
        "Stores of up to 1,000 traces are indexed when the collector starts.",
    )  # fmt: skip
    backfill.add_argument(
        "--batch", type=int, default=500, metavar="N", help="traces per transaction (500)"
    )
    compact = sub.add_parser(
        "compact", parents=[common],
        help="rewrite a SQLite store without its free pages, so retention can shrink it",
        description="Rewrite the SQLite store (VACUUM) without its free pages and in "
        "incremental auto-vacuum mode, so that from then on each retention pass gives the "
        "space it frees back to the file system. Needed once for a store created before "
        "that mode (the collector's log says so). Holds the write lock until done (9 s for "
        "a 2.8 GB file holding 0.65 GB of data on a 2-core host): exports wait, so run it "
        "with the collector stopped or in a quiet hour. Needs free disk for a copy of the data in the temp directory. "
        "PostgreSQL needs none of this: autovacuum reuses the space.",
    )  # fmt: skip
    compact.add_argument(
        "--every", type=float, default=10.0, metavar="S", help="seconds between progress lines"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "keygen":
        if problem := tenant_name_problem(args.tenant):
            print(f"glassline-collector keygen: {problem} (got {args.tenant!r})", file=sys.stderr)
            return 2
        return _keygen_langfuse(args.tenant) if args.langfuse else _keygen(args.tenant)
    if args.command is None:
        # Start-up builds hundreds of thousands of objects that live as long as the process
        # (modules, config, Presidio): the cyclic GC would scan them over and over for nothing,
        # 15% of the start-up CPU (measured). Each process freezes them and turns it back on
        # once ready (server.Worker).
        gc.disable()
    if args.command == "kill-switch" and (problem := _kill_switch_usage(args)):
        print(f"glassline-collector kill-switch: {problem}", file=sys.stderr)
        return 2
    path = getattr(args, "config", None) or os.environ.get("GLASSLINE_CONFIG")
    try:
        config = _load(path)
    except ConfigError as exc:
        print(f"glassline-collector: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{path or '(defaults)'}: configuration is valid")
        return 0
    from glassline.collector.storage import StoreUnavailable

    try:
        return _with_store(config, args)
    except StoreUnavailable as exc:  # the operator's to fix, not a bug: no traceback
        print(f"glassline-collector: {exc.message}", file=sys.stderr)
        return 1


def _with_store(config: CollectorConfig, args: argparse.Namespace) -> int:
    """Run the commands that open the store: kill-switch, search-backfill, compact, run."""
    if args.command == "kill-switch":
        return _kill_switch(config, args)
    if args.command == "search-backfill":
        return _search_backfill(config, args.batch)
    if args.command == "compact":
        return _compact(config, args.every)
    from glassline.collector.supervisor import run  # heavy imports only when running

    return run(config)


def _load(path: str | None) -> CollectorConfig:
    return load_config(path)  # also checks key specs and the alert rule file


def _kill_switch_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with the kill-switch arguments, checked before the config is read."""
    if args.action != "list" and not args.tenant:
        return f"{args.action} needs --tenant"
    if args.stage is not None and not args.stage.strip():
        # An empty --stage (an unset shell variable) stopped the whole tenant.
        return "--stage is empty: leave it out to stop or resume the whole tenant"
    return None


def _kill_switch(config: CollectorConfig, args: argparse.Namespace) -> int:
    """Set, clear or list kill switches in the collector's store (running or not)."""
    from glassline.collector.alerts import kill_switch
    from glassline.collector.storage import Store

    stage = args.stage or ""
    store = Store.open(config.storage)  # migrates: the table exists afterwards
    try:
        if args.action == "set":
            try:
                kill_switch.set_switch(
                    store.engine, tenant=args.tenant, stage=stage, reason=args.reason
                )
            except ValueError as exc:
                print(f"glassline-collector: kill-switch set: {exc}", file=sys.stderr)
                return 2
            print(f"stopped: tenant {args.tenant!r}" + (f" stage {stage!r}" if stage else ""))
        elif args.action == "clear":
            found = kill_switch.clear(store.engine, tenant=args.tenant, stage=stage)
            print("resumed" if found else "no such kill switch")
        else:
            cursor: str | None = None
            while True:
                page, cursor = kill_switch.list_switches(store.engine, args.tenant, after=cursor)
                for item in page:
                    print(f"{item['tenant']}\t{item['stage'] or '*'}\t{item['reason']}")
                if cursor is None:
                    break
    finally:
        store.close()
    return 0


def _search_backfill(config: CollectorConfig, batch: int) -> int:
    """Index the traces stored before full-text search, printing progress per batch."""
    from glassline.collector.storage import Store

    if batch < 1:
        print("glassline-collector: --batch must be at least 1", file=sys.stderr)
        return 2
    store = Store.open(config.storage, index_old_traces=False)  # migrates; the work is below
    began = time.monotonic()

    def show(p: search_backfill.Progress) -> None:
        reached = time.strftime("%Y-%m-%d %H:%M", time.gmtime((p.cursor_ns or 0) // 10**9))
        share = p.checked / p.total if p.total else 1.0
        rate = p.checked / max(time.monotonic() - began, 1e-9)
        print(f"{p.checked:,} of {p.total:,} traces checked ({share:.0%}), {p.indexed:,} "
              f"indexed, back to {reached} UTC, {rate:,.0f} traces/s", flush=True)  # fmt: skip

    try:
        done = store.backfill_search(batch=batch, on_batch=show)
    finally:
        store.close()
    print(f"done: {done.indexed:,} traces indexed, {done.checked - done.indexed:,} already were")
    return 0


def _compact(config: CollectorConfig, every_s: float) -> int:
    """VACUUM a SQLite store into incremental auto-vacuum mode, printing progress."""
    from glassline.collector.storage import Store

    store = Store.open(config.storage, index_old_traces=False)  # migrates; the work is below
    try:
        path = store.sqlite_file
        if path is None:
            print("nothing to compact: PostgreSQL reuses the space that retention frees "
                  "(autovacuum); an in-memory store has no file")  # fmt: skip
            return 0
        before = os.path.getsize(path)
        print(f"compacting {path} ({before / 1e6:,.0f} MB); exports wait until it ends",
              flush=True)  # fmt: skip
        began = time.monotonic()
        with _every(every_s, lambda: _show_compaction(path, began)):
            store.compact()
    finally:
        store.close()
    after = os.path.getsize(path)
    print(f"done in {time.monotonic() - began:,.0f} s: {before / 1e6:,.0f} MB -> "
          f"{after / 1e6:,.0f} MB; retention gives space back from now on")  # fmt: skip
    return 0


def _show_compaction(path: str, began: float) -> None:
    # VACUUM copies the data to a temporary file, then back into the store through its WAL.
    wal = os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0
    print(f"  {time.monotonic() - began:,.0f} s: {wal / 1e6:,.0f} MB written back", flush=True)


@contextmanager
def _every(interval_s: float, show: Callable[[], None]) -> Iterator[None]:
    """Call ``show`` every ``interval_s`` seconds while the block runs."""
    from glassline.collector.threads import NamedThread

    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval_s):
            show()

    thread = NamedThread(target=loop, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _keygen(tenant: str) -> int:
    from glassline.collector.auth import generate_key, hash_key

    key = generate_key()
    print(f"API key for tenant {tenant!r} (give it to the app; it is not stored anywhere):")
    print(f"  {key}")
    print("Add its hash to the collector config:")
    print(_config_snippet(tenant, hash_key(key)))
    return 0


def _keygen_langfuse(tenant: str) -> int:
    from glassline.collector.auth import generate_langfuse_pair, hash_key

    public, secret = generate_langfuse_pair()
    print(f"Langfuse key pair for tenant {tenant!r} (set these in the app; not stored anywhere):")
    print(f"  LANGFUSE_PUBLIC_KEY={public}")
    print(f"  LANGFUSE_SECRET_KEY={secret}")
    print("  LANGFUSE_BASE_URL=http://<collector host>:4318")
    print("Add the pair's hash to the collector config:")
    print(_config_snippet(tenant, hash_key(f"{public}:{secret}")))
    return 0


def _config_snippet(tenant: str, hashed: str) -> str:
    """The config lines that add ``hashed`` to ``tenant``, indented two spaces; YAML quotes
    a name that would otherwise read as something else (``"on"``, ``"a: b"``, ``"#1"``)."""
    text = yaml.safe_dump({"auth": {"tenants": {tenant: [hashed]}}}, width=1000)
    return "\n".join(f"  {line}" for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
