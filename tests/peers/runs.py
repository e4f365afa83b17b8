"""The peer runs: which app, in which venv, and what that library can be expected to send.

A check a library cannot pass because it does not send the information at all (not because
Glassline loses it) is listed in ``not_sent`` with the reason; the table shows it as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The fake provider's fixed usage (tests/instrumentation/fake_llm_server.py).
OPENAI_USAGE = {"input": 120, "output": 30, "cache_read": 20, "cache_creation": 0, "reasoning": 5}
ANTHROPIC_USAGE = {
    "input": 120,
    "output": 25,
    "cache_read": 40,
    "cache_creation": 50,
    "reasoning": 0,
}
OPENAI_TEXT = "Hello from fake"


@dataclass(frozen=True)
class Run:
    name: str  # the tenant too
    title: str
    venv: str  # tests/peers/requirements/<venv>.txt
    app: str  # tests/peers/apps/peer_<app>.py
    args: tuple[str, ...] = ()
    provider: str = "openai"
    calls: int = 3  # sync, async, stream
    stage: str | None = None  # the stage the library names around the calls
    not_sent: dict[str, str] = field(default_factory=dict)  # check -> why it cannot pass
    library_bugs: dict[str, str] = field(
        default_factory=dict
    )  # check -> what the library gets wrong
    allowed_egress: frozenset[str] = frozenset()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def usage(self) -> dict[str, int]:
        """The provider's usage as far as the library reports it (what it does not send is 0)."""
        usage = dict(ANTHROPIC_USAGE if self.provider == "anthropic" else OPENAI_USAGE)
        if "cached" in self.not_sent:
            usage["cache_read"] = usage["cache_creation"] = 0
        if "reasoning" in self.not_sent:
            usage["reasoning"] = 0
        return usage


NO_REASONING = "the library does not send reasoning tokens"

RUNS: tuple[Run, ...] = (
    Run("otel", "Plain OpenTelemetry (OTLP/gRPC)", "otel", "otel", stage="support"),
    Run("openinference", "OpenInference openai", "openinference", "openinference", stage="answer"),
    Run(
        "openai_v2",
        "opentelemetry-instrumentation-openai-v2",
        "openai_v2",
        "openai_v2",
        not_sent={"cached": "the library does not send cached tokens", "reasoning": NO_REASONING},
    ),
    Run(
        "traceloop",
        "Traceloop / OpenLLMetry",
        "traceloop",
        "traceloop",
        stage="generate",
        library_bugs={"reasoning": "Traceloop 0.62.4 sends no reasoning tokens for streams"},
    ),
    Run(
        "traceloop_anthropic",
        "Anthropic via Traceloop",
        "traceloop",
        "traceloop",
        args=("anthropic",),
        provider="anthropic",
        calls=2,
        stage="generate",
        # anthropic >= 2 traces itself too: with Traceloop on, turn the client's own spans off
        # or every call is reported twice.
        env={"ANTHROPIC_OPEN_TELEMETRY": "false"},
        library_bugs={
            "tokens": "Traceloop 0.62.4 adds message_start's output count (1) on streams: 26 for 25",
            "cost": "priced on Traceloop's stream output count (26 for 25)",
        },
    ),
    Run(
        "anthropic_native",
        "Anthropic client's own tracing",
        "anthropic",
        "anthropic",
        provider="anthropic",
        calls=2,
        stage="generate",
        env={"ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE": "content"},
    ),
    Run(
        "openinference_anthropic",
        "OpenInference anthropic",
        "openinference",
        "openinference",
        args=("anthropic",),
        provider="anthropic",
        calls=2,
        stage="answer",
    ),
    Run(
        "openinference_langchain",
        "OpenInference LangChain (langchain-openai)",
        "openinference",
        "openinference",
        args=("langchain",),
        stage="answer",
    ),
    Run(
        "openllmetry_anthropic",
        "OpenLLMetry anthropic (without traceloop-sdk)",
        "anthropic",
        "anthropic",
        args=("openllmetry",),
        provider="anthropic",
        calls=2,
        stage="generate",
        env={"ANTHROPIC_OPEN_TELEMETRY": "false"},  # see traceloop_anthropic
        library_bugs={
            "tokens": "0.62.4 adds message_start's output count (1) on streams: 26 for 25",
            "cost": "priced on its stream output count (26 for 25)",
        },
    ),
    Run(
        "litellm",
        "LiteLLM OpenTelemetry callback",
        "litellm",
        "litellm",
        # LiteLLM fetches its price list from the internet at import; refused here, harmlessly.
        allowed_egress=frozenset({"raw.githubusercontent.com"}),
    ),
    Run(
        "litellm_anthropic",
        "Anthropic via LiteLLM's OpenTelemetry callback",
        "litellm",
        "litellm",
        args=("anthropic",),
        provider="anthropic",
        calls=2,
        allowed_egress=frozenset({"raw.githubusercontent.com"}),
    ),
    Run(
        "openlit",
        "OpenLIT",
        "openlit",
        "openlit",
        # OpenLIT fetches its price list from the internet at start; refused here, harmlessly.
        allowed_egress=frozenset({"raw.githubusercontent.com"}),
        not_sent={"reasoning": NO_REASONING},
    ),
    Run(
        "langfuse",
        "Langfuse (OTel SDK)",
        "langfuse",
        "langfuse",
        stage="generate",
    ),
    Run("logfire", "Pydantic Logfire", "logfire", "logfire"),
    Run("pydantic_ai", "pydantic-ai via Logfire", "pydantic_ai", "pydantic_ai", stage="support"),
)
