"""How dollars read: one rule for every page, alert and message (``format_usd``)."""

from __future__ import annotations

import math

import pytest

from glassline.pricing import format_usd


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # From a dollar: cents, thousands separated (a month's bill, a budget).
        (1, "$1.00"),
        (3.2, "$3.20"),
        (1234.5, "$1,234.50"),
        (1_234_567.891, "$1,234,567.89"),
        # Under a dollar: three significant digits, at least to the cent.
        (0.5386, "$0.539"),  # `make demo`'s hourly budget (it read $0.54 in Slack)
        (0.12345, "$0.123"),
        (0.5, "$0.50"),
        (0.1, "$0.10"),
        (0.05, "$0.05"),  # not $0.0500: zeros past the cents say nothing
        (0.0447, "$0.0447"),
        # A call's cost stays readable: never $0.00 for something that cost money.
        (0.000123, "$0.000123"),
        (0.0000345, "$0.0000345"),
        (0.000000001, "$0.000000001"),
        # Rounding to three digits can reach the next power of ten, or a whole dollar.
        (0.00099996, "$0.001"),
        (0.9996, "$1.00"),
        # Nothing, and amounts below zero (a change between two periods).
        (0, "$0.00"),
        (-0.0, "$0.00"),
        (-0.5386, "-$0.539"),
        (-1234.5, "-$1,234.50"),
    ],
)
def test_dollars_read_in_cents_from_a_dollar_and_in_three_digits_below(
    value: float, text: str
) -> None:
    assert format_usd(value) == text


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_no_amount_reads_n_a(value: float | None) -> None:
    assert format_usd(value) == "n/a"


@pytest.mark.parametrize("value", [0.0000447, 0.0031, 0.5386, 0.999, 17.5, 98_765.4321])
def test_the_text_is_the_amount_to_its_shown_precision(value: float) -> None:
    shown = float(format_usd(value).lstrip("$").replace(",", ""))
    assert shown == pytest.approx(value, rel=5e-3)
