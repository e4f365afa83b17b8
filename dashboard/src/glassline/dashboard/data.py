"""Cached access to the store from Streamlit: one engine per URL, query results for a few seconds.

Pages call :func:`run` with a query function from :mod:`glassline.dashboard.queries`; results are
cached by (query, window, arguments) so reruns from widget clicks do not hit the database again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from glassline.dashboard import queries
from glassline.dashboard.db import check_connection, db_url_from_env, make_engine

__all__ = ["QUERY_TTL_S", "engine", "run", "store_state"]

QUERY_TTL_S = 15
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    return make_engine(url)


@st.cache_data(ttl=5, show_spinner=False)
def store_state(url: str) -> str:
    """``"ready"``, ``"empty"`` (no tables yet) or raises ``DatabaseUnavailable``."""
    eng = engine(url)
    check_connection(eng)
    with eng.connect() as conn:
        return "ready" if inspect(conn).has_table("rollups") else "empty"


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def _cached(url: str, name: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    with engine(url).connect() as conn:
        return getattr(queries, name)(conn, *args, **dict(kwargs))


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(conn, *args, **kwargs)`` for a public function of :mod:`queries`, cached briefly."""
    if getattr(queries, fn.__name__, None) is not fn:
        raise ValueError(f"{fn.__name__} is not a dashboard query")
    result: T = _cached(db_url_from_env(), fn.__name__, args, tuple(sorted(kwargs.items())))
    return result
