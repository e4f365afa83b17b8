"""bench/wire.py: the load generator's HTTP/1.1 and gRPC clients, against real servers (the
collector, and grpcio's own HTTP/2 for refusals the collector gives only under load)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from bench.ingest import EXPORT, make_batch
from bench.wire import GrpcConnection, Http1Connection, answer_hint
from glassline.collector._aio import run_on_loop
from glassline.collector.errors import RetryableError
from glassline.collector.receivers.grpc import _details
from glassline.collector.testing import RunningCollector, run_collector

# 100 LLM spans: 120 KB, more than HTTP/2's initial 64 KB flow-control window.
BODY = make_batch(random.Random(1), 100)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    db = tmp_path_factory.mktemp("wire") / "gl.db"
    with run_collector({"storage": {"url": f"sqlite:///{db}"}}) as running:
        yield running


def _unique(n: int) -> bytes:
    """Another 100-span request, with trace ids of its own, so that the store takes it as new."""
    return make_batch(random.Random(1000 + n), 100)


async def _answer(send: object, *args: object) -> tuple[str, bool]:
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[tuple[str, bool]] = loop.create_future()
    send(*args, lambda code, hint: answered.set_result((code, hint)))  # type: ignore[operator]
    return await asyncio.wait_for(answered, 30)


async def _connected(connection: asyncio.Protocol, endpoint: str) -> None:
    host, _, port = endpoint.removeprefix("http://").rpartition(":")
    await asyncio.get_running_loop().create_connection(lambda: connection, host, int(port))


async def test_grpc_calls_bigger_than_the_window_are_answered_on_one_connection(
    collector: RunningCollector,
) -> None:
    key = {"x-glassline-api-key": collector.api_key}
    connection = GrpcConnection(collector.grpc_endpoint, EXPORT, key, 10.0)
    await _connected(connection, collector.grpc_endpoint)
    answers = await asyncio.gather(*(_answer(connection.call, _unique(n)) for n in range(4)))
    assert answers == [("OK", False)] * 4
    connection.close()


async def test_a_grpc_call_without_a_key_is_unauthenticated(collector: RunningCollector) -> None:
    connection = GrpcConnection(collector.grpc_endpoint, EXPORT, {}, 10.0)
    await _connected(connection, collector.grpc_endpoint)
    assert await _answer(connection.call, BODY) == ("UNAUTHENTICATED", False)
    connection.close()


@pytest.fixture
def refusing_server() -> Iterator[int]:
    """A grpc.aio server whose Export refuses as the collector's admission does: the status
    and RetryInfo of a RetryableError, before the message is read."""

    async def refuse(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        error = RetryableError("at its queue wait limit; retry later", overloaded=True)
        await context.abort(error.grpc_code, error.message, trailing_metadata=_details(error))
        raise AssertionError("unreachable")

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        handler = grpc.stream_unary_rpc_method_handler(refuse)
        service, method = EXPORT.strip("/").split("/")
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {method: handler}),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = run_on_loop(start())
    yield port
    run_on_loop(server.stop(None))


async def test_a_grpc_refusal_mid_message_gives_its_status_and_retry_hint(
    refusing_server: int,
) -> None:
    endpoint = f"127.0.0.1:{refusing_server}"
    connection = GrpcConnection(endpoint, EXPORT, {}, 10.0)
    await _connected(connection, endpoint)
    # The second call also shows the first one's unsent rest was given up cleanly.
    for _ in range(2):
        assert await _answer(connection.call, BODY) == ("RESOURCE_EXHAUSTED", True)
    assert connection.usable
    connection.close()


async def test_http_answers_keep_the_connection_alive(collector: RunningCollector) -> None:
    connection = Http1Connection(10.0)
    await _connected(connection, collector.http_endpoint)
    for n in range(2):
        body = _unique(10 + n)
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            f"x-glassline-api-key: {collector.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        assert await _answer(connection.send, head.encode() + body) == ("200", False)
        assert connection.reusable
    connection.close()
    assert not connection.reusable


def test_an_http_head_gives_code_hint_reuse_and_body_length() -> None:
    refusal = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\ncontent-length: 42"
    assert answer_hint(refusal) == ("429", True, True, 42)
    closing = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 7"
    assert answer_hint(closing) == ("400", False, False, 7)
    assert answer_hint(b"HTTP/1.1 200 OK\r\nServer: x") == ("200", False, True, 0)


def test_a_repeated_header_block_is_decoded_once_while_the_table_holds() -> None:
    """grpc-core's refusals repeat one trailers block that only refers to the table: decoded
    once, its headers kept; a block that changes the table drops what was kept, since the
    same bytes may then mean other headers."""
    from hpack import Decoder, Encoder

    from bench.wire import _Headers

    encoder = Encoder()
    trailers = [(":status", "200"), ("grpc-status", "8"), ("grpc-message", "full")]
    first = encoder.encode(trailers)  # indexes its fields
    again = encoder.encode(trailers)  # refers to the table only
    headers = _Headers()
    decodes = []
    real = Decoder.decode
    Decoder.decode = lambda self, block: decodes.append(block) or real(self, block)  # type: ignore[method-assign]
    try:
        assert headers.decode(first) == dict(trailers)
        assert headers.decode(again) == dict(trailers)
        assert headers.decode(again) == dict(trailers)
        assert decodes == [first, again]  # the third was not decoded
        encoder.header_table_size = 0  # a size update empties the table
        emptied = encoder.encode([("grpc-status", "0")])
        assert headers.decode(emptied) == {"grpc-status": "0"}
        assert len(decodes) == 3
    finally:
        Decoder.decode = real  # type: ignore[method-assign]


def test_kept_header_blocks_decode_as_hpack_does_in_any_order() -> None:
    """Random blocks with and without indexing, a table that fills, evicts and resizes:
    every block's headers equal a plain decoder's."""
    from hpack import Decoder, Encoder, NeverIndexedHeaderTuple

    from bench.wire import _Headers

    rng = random.Random(5)
    encoder, plain, kept = Encoder(), Decoder(), _Headers()
    for _ in range(2000):
        if rng.random() < 0.02:
            encoder.header_table_size = rng.choice([0, 256, 4096])
        fields = [
            (f"h{rng.randrange(6)}", f"v{rng.randrange(4)}") for _ in range(rng.randrange(1, 5))
        ]
        if rng.random() < 0.5:
            fields = [NeverIndexedHeaderTuple(k, v) for k, v in fields]
        block = encoder.encode(fields)
        assert kept.decode(block) == dict(plain.decode(block))
