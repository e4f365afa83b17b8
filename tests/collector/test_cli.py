"""cli.py: the subcommands an operator runs against a collector's store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from glassline.collector.cli import main
from glassline.collector.storage import StorageConfig, Store
from glassline.collector.testing import free_port

from .conftest import POSTGRES_URL
from .storage.test_search import found, tid
from .storage.test_search_backfill import old_store
from .storage.test_space import NOW, fill
from .storage.test_space import old_store as old_sqlite_store


def test_search_backfill_makes_old_traces_searchable_and_shows_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'glassline.db'}"
    store = Store.open(url)
    old_store(store, 3)
    store.close()
    config = tmp_path / "collector.yaml"
    config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n")
    assert main(["search-backfill", "--config", str(config), "--batch", "2"]) == 0
    out, err = capsys.readouterr()
    assert "not searchable yet" not in err  # the start-up hint, not for the command itself
    assert "2 of 3 traces checked (67%), 2 indexed" in out
    assert "3 of 3 traces checked (100%), 3 indexed" in out
    assert out.rstrip().endswith("done: 3 traces indexed, 0 already were")
    store = Store.open(url)
    try:
        assert found(store, "quokkas") == [tid(2), tid(1), tid(0)]
    finally:
        store.close()


def test_search_backfill_refuses_an_empty_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "collector.yaml"
    url = f"sqlite:///{tmp_path / 'glassline.db'}"
    config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n")
    assert main(["search-backfill", "--config", str(config), "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--tenant", "--stage"])
def test_kill_switch_set_refuses_a_name_too_long_for_its_column(
    any_store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    # PostgreSQL refused the INSERT with a traceback; SQLite stored it, and the API refused it.
    config = tmp_path / "collector.yaml"
    config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{any_store_url}'}}\n")
    tenant, stage = ("x" * 300, "generate") if flag == "--tenant" else ("acme", "x" * 300)
    args = ["kill-switch", "set", "--config", str(config), "--tenant", tenant, "--stage", stage]
    assert main(args) == 2
    assert f"{flag[2:]} is longer than" in capsys.readouterr().err
    assert main(["kill-switch", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""  # nothing was stored


def test_python_dash_m_runs_the_same_command() -> None:
    # It answered "No module named glassline.collector.__main__".
    done = subprocess.run(
        [sys.executable, "-m", "glassline.collector", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: glassline-collector")


def test_compact_rewrites_an_old_sqlite_store_so_it_can_give_space_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "glassline.db"
    old_sqlite_store(database)
    url = f"sqlite:///{database}"
    store = Store.open(StorageConfig(url=url, retention_days=7))
    fill(store)
    store.purge(NOW)
    store.close()
    before = database.stat().st_size
    config = tmp_path / "collector.yaml"
    config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n")
    assert main(["compact", "--config", str(config)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"compacting {database} (")
    assert "retention gives space back from now on" in out
    assert database.stat().st_size < before / 2
    store = Store.open(url)
    try:
        assert store.gives_space_back
    finally:
        store.close()


# The test server's URL with a database that does not exist, and a password not to print.
_NO_DB = make_url(POSTGRES_URL).set(database="glassline_no_such_db", password="hunter2")


def _unopenable_stores(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """url -> (what the message names, the database's reason), one per way a store fails."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return {
        f"sqlite:///{blocker}/sub/glassline.db": (f"sqlite:///{blocker}/sub/glassline.db",
                                                  "Not a directory"),
        f"sqlite:///{tmp_path}": (f"sqlite:///{tmp_path}", "unable to open database file"),
        _NO_DB.render_as_string(hide_password=False): (
            _NO_DB.render_as_string(hide_password=True),
            'database "glassline_no_such_db" does not exist',
        ),
    }  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [["kill-switch", "list"], ["search-backfill"], ["compact"]],
)
def test_a_store_that_cannot_be_opened_is_one_line_naming_storage_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Each was a traceback (OperationalError, FileNotFoundError) ending in the real cause.
    for url, (shown, reason) in _unopenable_stores(tmp_path).items():
        config = tmp_path / "collector.yaml"
        config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n")
        assert main([*command, "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"glassline-collector: storage.url {shown}: cannot open the store:")
        assert reason in err and "Traceback" not in err and "hunter2" not in err
        assert err.count("\n") == 1, err


def test_a_collector_whose_store_cannot_be_opened_exits_1_naming_storage_url(
    tmp_path: Path,
) -> None:
    url = _NO_DB.render_as_string(hide_password=False)
    config = tmp_path / "collector.yaml"
    config.write_text(
        f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n"
        f"server: {{workers: 2, grpc_port: {free_port()}, http_port: {free_port()}}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "glassline.collector", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    last = done.stderr.rstrip().splitlines()[-1]
    shown = _NO_DB.render_as_string(hide_password=True)
    assert last.startswith(f"glassline-collector: storage.url {shown}: cannot open the store:")
    assert last.endswith('database "glassline_no_such_db" does not exist')


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # An unset shell variable in --stage "$STAGE" stopped the whole tenant, exit 0.
        (["set", "--tenant", "acme", "--stage", ""],
         "--stage is empty: leave it out to stop or resume the whole tenant"),
        (["clear", "--tenant", "acme", "--stage", " "],
         "--stage is empty: leave it out to stop or resume the whole tenant"),
        # Checked before the config: it said "auth: no API keys configured" without one.
        (["set", "--stage", "generate"], "set needs --tenant"),
    ],
)  # fmt: skip
def test_kill_switch_usage_mistakes_are_one_line_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'glassline.db'}"
    config = tmp_path / "collector.yaml"
    config.write_text(f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: '{url}'}}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main(["kill-switch", *args, "--config", str(empty)]) == 2
    assert capsys.readouterr().err == f"glassline-collector kill-switch: {expected}\n"
    assert main(["kill-switch", *args, "--config", str(config)]) == 2
    capsys.readouterr()
    assert main(["kill-switch", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""  # nothing was switched off
