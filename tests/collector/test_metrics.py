"""metrics.py: /metrics counts received, accepted, rejected by reason; health endpoints."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_received_accepted_and_rejected_by_reason(receivers: Any, h: Any) -> None:
    request = h.make_request(h.make_span(1), h.make_span(2, span_id=b"x"), h.make_span(3))
    reply = httpx.post(
        f"{receivers.http_url}/v1/traces", content=request.SerializeToString(), timeout=10,
        headers={"content-type": "application/x-protobuf", "x-glassline-api-key": h.API_KEY},
    )  # fmt: skip
    assert reply.status_code == 200
    m = scrape(receivers.http_url)
    assert m[("glassline_spans_received_total", (("transport", "http"),))] == 3
    assert m[("glassline_spans_accepted_total", ())] == 2
    assert m[("glassline_spans_rejected_total", (("reason", "invalid_span_id"),))] == 1
    assert m[("glassline_requests_total", (("outcome", "200"), ("transport", "http")))] == 1
    assert m[("glassline_processing_seconds_count", ())] == 1
    assert m[("glassline_inflight_requests", ())] == 0


def test_failed_requests_are_counted_by_outcome(receivers: Any, h: Any) -> None:
    reply = httpx.post(f"{receivers.http_url}/v1/traces", content=b"{}", timeout=10,
                       headers={"content-type": "text/csv", "x-glassline-api-key": h.API_KEY})  # fmt: skip
    assert reply.status_code == 415
    m = scrape(receivers.http_url)
    assert m[("glassline_requests_total", (("outcome", "415"), ("transport", "http")))] == 1
    assert m.get(("glassline_spans_received_total", (("transport", "http"),)), 0) == 0


def test_healthz_and_readyz_answer(receivers: Any) -> None:
    assert httpx.get(f"{receivers.http_url}/healthz", timeout=10).text == "ok\n"
    assert httpx.get(f"{receivers.http_url}/readyz", timeout=10).status_code == 200
