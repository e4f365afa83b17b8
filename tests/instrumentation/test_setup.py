"""init()/shutdown() in fresh processes: real OTLP export on loopback, env vars, existing providers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from glassline.instrumentation import init


@pytest.fixture
def otlp_http() -> Iterator[dict[str, Any]]:
    """A loopback OTLP/HTTP protobuf receiver that keeps each request's headers and spans."""
    got: dict[str, Any] = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            request = ExportTraceServiceRequest.FromString(body)
            got["requests"].append((self.path, dict(self.headers.items()), request))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    got["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSLINE_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        check=False,
    )


APP = """
    from glassline.instrumentation import init, shutdown, stage, llm, context
    {init}
    @stage("retrieve")
    @llm(provider="openai", model="gpt-4o-mini")
    def call():
        return {{"usage": {{"prompt_tokens": 10, "completion_tokens": 2}}}}
    with context(user="u1"):
        call()
    shutdown()
    print("app-finished")
"""


def _spans(got: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    out = []
    for _path, _headers, request in got["requests"]:
        for resource_spans in request.resource_spans:
            resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                out.extend((span.name, resource, span) for span in scope.spans)
    return out


def test_init_exports_over_http_with_the_api_key(otlp_http: dict[str, Any]) -> None:
    init_line = (
        f'init(service_name="svc", endpoint="{otlp_http["url"]}", api_key="key-1", protocol="http")'
    )
    result = _run(APP.format(init=init_line))
    assert "app-finished" in result.stdout, result.stderr
    path, headers, _ = otlp_http["requests"][0]
    assert path == "/v1/traces"
    assert headers.get("x-glassline-api-key") == "key-1"
    spans = {name: (resource, span) for name, resource, span in _spans(otlp_http)}
    assert set(spans) == {"retrieve", "chat gpt-4o-mini"}
    resource, span = spans["chat gpt-4o-mini"]
    assert resource["service.name"] == "svc"
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["user.id"].string_value == "u1"
    assert attrs["glassline.stage"].string_value == "retrieve"
    assert attrs["glassline.cost.usd"].double_value > 0


def test_environment_variables_configure_init(otlp_http: dict[str, Any]) -> None:
    env = {
        "GLASSLINE_ENDPOINT": otlp_http["url"],
        "GLASSLINE_PROTOCOL": "http",
        "GLASSLINE_API_KEY": "env-key",
        "OTEL_SERVICE_NAME": "env-svc",
        "GLASSLINE_CAPTURE_CONTENT": "false",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-team=search,x-env=ci",
    }
    result = _run(APP.format(init="init()"), env)
    assert "app-finished" in result.stdout, result.stderr
    headers = otlp_http["requests"][0][1]
    assert headers.get("x-glassline-api-key") == "env-key"
    assert (headers.get("x-team"), headers.get("x-env")) == ("search", "ci")
    names = {name: resource["service.name"] for name, resource, _ in _spans(otlp_http)}
    assert names == {"retrieve": "env-svc", "chat gpt-4o-mini": "env-svc"}


def test_init_adds_to_an_existing_provider(otlp_http: dict[str, Any]) -> None:
    code = f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        mine = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(mine))
        trace.set_tracer_provider(provider)
        from glassline.instrumentation import init, shutdown, stage
        init(endpoint="{otlp_http["url"]}", protocol="http")
        assert trace.get_tracer_provider() is provider
        stage("s")(lambda: None)()
        shutdown()
        print("mine:", [s.name for s in mine.get_finished_spans()])
    """
    result = _run(code)
    assert "mine: ['s']" in result.stdout, result.stderr
    assert [name for name, _, _ in _spans(otlp_http)] == ["s"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_exporter_down_never_breaks_the_app(protocol: str) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    init_line = f'init(endpoint="{endpoint}", protocol="{protocol}", export_timeout=1.0)'
    result = _run(APP.format(init=init_line).replace("shutdown()", "shutdown(); call()"))
    assert result.returncode == 0, result.stderr
    assert "app-finished" in result.stdout


def test_without_init_decorators_are_noops() -> None:
    result = _run(
        """
        from opentelemetry import trace
        from glassline.instrumentation import llm
        @llm(model="m")
        def f(x):
            assert not trace.get_current_span().is_recording()
            return x * 2
        print("result", f(21))
        """
    )
    assert "result 42" in result.stdout, result.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "carrier-pigeon"}, "init.protocol"),
        ({"sample_rate": 2.0}, "init.sample_rate"),
        ({"prices": {"m": {"input": -1.0, "output": 1.0}}}, "init.prices\\['m'\\]"),
    ],
)
def test_bad_init_arguments_are_reported_with_their_name(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        init(**kwargs)


def test_prices_file_and_arguments_become_overrides(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glassline.instrumentation.setup import _call_settings
    from glassline.pricing import ModelPrice

    path = tmp_path / "prices.json"
    path.write_text(
        '{"in-house": {"input": 1.0, "output": 2.0}, "other": {"input": 5, "output": 5}}'
    )
    monkeypatch.setenv("GLASSLINE_PRICES_FILE", str(path))
    monkeypatch.setenv("GLASSLINE_CAPTURE_CONTENT", "off")
    settings = _call_settings(None, None, None, {"other": ModelPrice(input=0.5, output=0.5)})
    assert settings.prices["in-house"] == ModelPrice(input=1.0, output=2.0)
    assert settings.prices["other"] == ModelPrice(input=0.5, output=0.5)  # argument wins
    assert settings.capture_content is False


def test_bad_sample_rate_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSLINE_SAMPLE_RATE", "half")
    with pytest.raises(ValueError, match="GLASSLINE_SAMPLE_RATE"):
        init()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GLASSLINE_CAPTURE_CONTENT", "disabled", "expected true or false"),  # was: captured
        ("GLASSLINE_MAX_CONTENT_CHARS", "lots", "expected a whole number >= 0"),
        ("GLASSLINE_MAX_CONTENT_CHARS", "-3", "expected a whole number >= 0"),
    ],
)
def test_a_setting_variable_init_cannot_take_is_named(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glassline.instrumentation._settings import Settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}: {message}.*, got '{value}'"):
        init()
    assert Settings.from_env() == Settings()  # importing the SDK keeps the defaults


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read .* \\(No such file or directory\\)"),
        (b"{nope", "is not JSON"),
        (b'{"caf\xe9": {}}', "is not JSON .*utf-8"),
        (b"[1, 2]", "must hold an object of model: prices"),
    ],
)
def test_a_prices_file_init_cannot_read_is_named(
    content: bytes | None, message: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("GLASSLINE_PRICES_FILE", str(path))
    with pytest.raises(ValueError, match=f"^GLASSLINE_PRICES_FILE: .*{message}"):
        init()
