"""How numbers read on every page: durations, counts, rates, changes, and the tile showing one."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.delta_generator import DeltaGenerator

__all__ = ["fmt_delta", "fmt_int", "fmt_ms", "fmt_num", "fmt_pct", "fmt_status", "tile"]


def fmt_ms(value: float | None) -> str:
    """Seconds from 1 s, whole ms from 10 ms, else two significant digits (0.35 ms, 0.0040 ms:
    a 4 µs cache lookup read "0.00 ms", as if it took no time)."""
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    if value >= 10 or value == 0:
        return f"{value:,.0f} ms"
    return f"{value:#.2g} ms" if value < 1 else f"{value:.1f} ms"


def fmt_status(status: str | None) -> str:
    """A span's or request's status as a person reads it: OTel's ``unset`` means no error."""
    return "failed" if status == "error" else "ok"


def fmt_num(value: float | None) -> str:
    """A count or a mean: whole numbers without decimals, others with one."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def tile(
    col: DeltaGenerator,
    label: str,
    now: float | None,
    before: float | None,
    fmt: Callable[[float | None], str] = fmt_int,
    up_is_bad: bool = False,
    *,
    help: str | None = None,
) -> None:
    """A metric with its change versus the previous period (red when it got worse)."""
    col.metric(
        label,
        fmt(now),
        fmt_delta(now, before),
        delta_color="inverse" if up_is_bad else "normal",
        border=True,
        help=help,
    )


def fmt_delta(now: float | None, before: float | None) -> str | None:
    """Change versus the previous period as a percentage, or ``None`` when undefined."""
    if now is None or before is None:
        return None
    if before == 0:
        return "new" if now else None
    return f"{(now - before) / before:+.0%}"
