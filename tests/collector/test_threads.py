"""The collector's threads and processes carry their names in the OS (``top -H``, ``ps -L``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from glassline.collector.testing import run_collector, thread_cpu_seconds
from glassline.collector.threads import NamedThread, name_pool_thread


def _own_os_name() -> str:
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as comm:
        return comm.read().rstrip("\n")


@pytest.mark.parametrize(
    ("name", "in_the_os"),
    [("wal-checkpoint", "wal-checkpoint"), ("notify-on-call-pager", "notify-on-call-")],
    ids=["its Python name", "the first 15 bytes of a long one"],
)
def test_a_named_thread_has_in_the_os(name: str, in_the_os: str) -> None:
    seen: list[str] = []
    thread = NamedThread(target=lambda: seen.append(_own_os_name()), name=name)
    thread.start()
    thread.join()
    assert seen == [in_the_os]


def test_a_pool_thread_is_named_for_its_prefix_and_number() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="export", initializer=name_pool_thread) as pool:
        assert pool.submit(_own_os_name).result(timeout=30) == "export_0"


def test_each_process_and_thread_of_a_collector_shows_its_role(tmp_path: Path, h: Any) -> None:
    with run_collector({"server": {"workers": 2}}, workdir=tmp_path) as collector:
        runners, front = collector.workers()
        reply = httpx.post(  # a runner starts its export threads with its first export
            f"{collector.http_endpoint}/v1/traces", timeout=30,
            content=h.make_request(h.make_span(1)).SerializeToString(),
            headers={**collector.headers(), "content-type": "application/x-protobuf"},
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
        front_threads = set(thread_cpu_seconds([front]))
        runner_threads = [set(thread_cpu_seconds([pid])) for pid in runners]
    assert "gl-front" in front_threads
    assert "grpc-aio" in front_threads
    assert [sorted(set(names) & {"gl-runner-0", "gl-runner-1"}) for names in runner_threads] in (
        [["gl-runner-0"], ["gl-runner-1"]],
        [["gl-runner-1"], ["gl-runner-0"]],
    )
    for names in runner_threads:
        assert {"handoff-in", "export-expiry", "wal-checkpoint", "memory-release"} <= set(names)
    assert any("export_0" in names for names in runner_threads)
